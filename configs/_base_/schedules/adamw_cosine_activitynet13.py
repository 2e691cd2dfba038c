# ActivityNet-v1.3 schedule: as THUMOS-14 with lr 1e-3 (LoSA paper) and 15 epochs.
_base_ = ['./adamw_cosine_thumos14.py']
max_epochs = 15
warmup_epochs = 5
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-8,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
