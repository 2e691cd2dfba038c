# Adapter output read as the attention alone (values from the last layer only), the
# project's earlier reading; the default transforms the intermediate features,
# FS_i = F'_i + CrossAttn(F'_i, F'_N) (docs/method.md, "Adapter output").
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(adapter_output='attention'))
