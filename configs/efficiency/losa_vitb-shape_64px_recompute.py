# Memory mode "recompute": the paper's learnable spatial blocks on the full token grid,
# run clip by clip inside the backbone's clip loop under activation checkpointing; only
# their outputs [T, T_i, C] are kept, and the backward pass recomputes each micro-batch's
# taps with one more frozen forward. Same losses and gradients as the default mode.
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(backbone=dict(tap_recompute=True))
