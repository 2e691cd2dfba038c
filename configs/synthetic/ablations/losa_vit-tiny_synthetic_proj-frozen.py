# Diagnostic on the synthetic benchmark (not in the paper's Table 4): the fusion's Proj
# (2C -> C) stays at its identity init [I/2, I/2] (lr 0). With the gates near zero, a
# trained LoSA neck is head-only plus this learned linear map on F_N; freezing it tells
# whether the map, rather than the adapters, moves LoSA's mAP.
_base_ = ['../losa_vit-tiny_synthetic.py']
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'neck.fusion.proj': dict(lr_mult=0.0, decay_mult=0.0)}))
