# Table 4 on the synthetic benchmark: adapters on the upper intermediate layers only
# (blocks 2-3; block 4 is layer N).
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(adapter_layers=[2, 3]))
