# The adapters' output read as the attention alone (values from the last layer only): the
# project's earlier reading, measured as the "previous reading" of the synthetic benchmark.
# The default transforms the intermediate features, FS_i = F'_i + CrossAttn(F'_i, F'_N)
# (docs/method.md, "Adapter output").
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(adapter_output='attention'))
