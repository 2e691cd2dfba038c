# Runtime shared by every config: registries, hooks, logging, environment.
default_scope = 'mmaction'
custom_imports = dict(imports=['losa_plugin'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # reported numbers come from the last epoch's checkpoint (as ActionFormer reports);
    # no "best" checkpoint: THUMOS-14 / ActivityNet validate on their test split.
    # save_best only on held-out training videos (docs/evaluation.md, "Which checkpoint";
    # configs/_base_/datasets/thumos14_features_heldout-val.py)
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best=None),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # frozen, pretrained backbone: checkpoints hold the trainable part plus the backbone
    # file's path and hash, re-attached when loading (docs/checkpoints.md);
    # save_trainable_only=False keeps full checkpoints. Loading is strict: a checkpoint
    # of another model is an error listing the keys (strict_load=False to fine-tune
    # from a partial one)
    trainable_checkpoint=dict(type='TrainableCheckpointHook', save_trainable_only=True,
                              strict_load=True),
    # docs/robustness.md: a non-finite loss / gradient stops training before any weight
    # changes (action='skip' skips and counts such steps instead)
    nonfinite_guard=dict(type='NonFiniteGuardHook', action='raise'),
    # exact resume: sampler seed in checkpoints, global random states re-seeded per
    # iteration when the train sampler is a SeededSampler (per-sample seeds)
    exact_resume=dict(type='ExactResumeHook'),
    # head num_classes vs the datasets' classes, raw-video test window >= one clip
    data_model_check=dict(type='DataModelCheckHook'),
    # save_best on a validation evaluator that scores test videos is refused
    checkpoint_selection_check=dict(type='CheckpointSelectionCheckHook',
                                    on_test_split='error'))

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
