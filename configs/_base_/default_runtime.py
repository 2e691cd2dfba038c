# Runtime shared by every config: registries, hooks, logging, environment.
default_scope = 'mmaction'
custom_imports = dict(imports=['losa_plugin'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # frozen, pretrained backbone: checkpoints hold the trainable part plus the backbone
    # file's path and hash, re-attached when loading (docs/checkpoints.md);
    # save_trainable_only=False keeps full checkpoints
    trainable_checkpoint=dict(type='TrainableCheckpointHook', save_trainable_only=True))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py replaces the backend: nccl with CUDA, gloo without.
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
