# Memory mode (docs/efficiency.md): the frozen backbone runs in bf16 and the taps are stored
# in bf16.
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(backbone=dict(dtype='bf16'))
