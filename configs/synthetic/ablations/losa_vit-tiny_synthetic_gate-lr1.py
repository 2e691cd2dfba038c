# Diagnostic on the synthetic benchmark: the fusion gates at the base lr (gate_lr_mult 1,
# the project's earlier default; the default is 10x, as in the THUMOS-14 schedule). Under
# AdamW a gate moves at most ~lr a step: over the 320-step synthetic schedule at most
# ~0.17 at the base lr (docs/method.md, "Gate learning rate").
_base_ = ['../losa_vit-tiny_synthetic.py']
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'fusion.gates': dict(lr_mult=1.0)}))
