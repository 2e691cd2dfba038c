# ActivityNet-v1.3 schedule: as THUMOS-14 with ActionFormer's anet_tsp.yaml values
# (also the LoSA paper's): lr 1e-3, weight decay 0.05, 10 epochs + 5 warm-up = 15.
_base_ = ['./adamw_cosine_thumos14.py']
max_epochs = 15
warmup_epochs = 5
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
# LoSA's gates need no higher lr here: at lr 1e-3 they can travel ~38 over the schedule
# (docs/method.md, "Gate learning rate").
optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'fusion.gates': dict(decay_mult=0.0, lr_mult=1.0)}))
param_scheduler = [
    dict(type='ClosedFormLinearLR', start_factor=0.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-8,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
