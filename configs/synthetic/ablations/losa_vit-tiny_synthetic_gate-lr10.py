# Diagnostic on the synthetic benchmark (not in the paper's Table 4): the fusion gates
# learn at 10x the base lr. Separates "the adapters carry nothing useful" from "the zero
# gates do not open within the short schedule".
_base_ = ['../losa_vit-tiny_synthetic.py']
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'gate': dict(lr_mult=10.0, decay_mult=0.0)}))
