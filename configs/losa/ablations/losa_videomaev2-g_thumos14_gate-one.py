# Table 4: gate initialisation 'one' instead of zero.
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(gate_init='one'))
