# ActionFormer / LoSA THUMOS-14 schedule: AdamW, linear warm-up for 5 epochs, cosine decay.
max_epochs = 35
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# LoSA's fusion gates learn at the paper's one learning rate (it states no other). They
# are scalars: under AdamW each moves at most ~lr per step, so over the whole schedule at
# most sum_t lr_t; a larger gate lr is the ablation *_gate-lr10.py (docs/method.md, "Gate
# learning rate").
gate_lr_mult = 1.0
# ActionFormer's make_optimizer: AdamW (lr 1e-4, weight decay 0.05 on THUMOS-14); only
# the weights of convs / linear layers decay. No decay on biases, LayerNorms, the
# per-level regression scales (head.scales.*) and the LayerScale of every transformer
# block (drop_path_*.scale): the '.scale' key catches both.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'.scale': dict(decay_mult=0.0),
                                    'fusion.gates': dict(decay_mult=0.0,
                                                         lr_mult=gate_lr_mult)}),
    clip_grad=dict(max_norm=1.0, norm_type=2))  # train_cfg.clip_grad_l2norm

# ActionFormer's LinearWarmupCosineAnnealingLR, per iteration: lr rises linearly from 0
# (warmup_start_lr) to lr over the warm-up (reached at its last iteration), then a
# cosine to eta_min 1e-8 at the end of max_epochs = epochs + warmup_epochs (30 + 5).
param_scheduler = [
    dict(type='ClosedFormLinearLR', start_factor=0.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-8,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

# ActionFormer evaluates the exponential moving average of the weights (decay 0.999).
# TrainableEMAHook is mmengine's EMAHook over the trainable parameters only: a frozen
# backbone is neither copied nor averaged (docs/checkpoints.md); with full fine-tuning
# it averages the whole model, as EMAHook does.
custom_hooks = [dict(type='TrainableEMAHook', ema_type='ExponentialMovingAverage',
                     momentum=0.001, update_buffers=True, priority=49)]

# Batch sizes in the dataset configs are per GPU (per process); the effective batch is
# batch_size * number of processes. auto_scale_lr scales lr from this base.
auto_scale_lr = dict(enable=False, base_batch_size=2)
