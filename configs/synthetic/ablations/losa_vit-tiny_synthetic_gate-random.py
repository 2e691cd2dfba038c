# Table 4 on the synthetic benchmark: gate initialisation 'random' instead of zero.
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(gate_init='random'))
