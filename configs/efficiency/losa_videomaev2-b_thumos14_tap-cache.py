# Memory / speed mode "tap cache" at the paper's setting. Taps of fixed, un-augmented
# training windows are computed by the frozen backbone in the first epoch, stored
# spatially reduced under cache_dir, and read back in every later epoch.
# The training set therefore uses the test-style deterministic sliding windows and the
# test pipeline (resize + centre crop, no random crop / flip / AutoAugment); the cache
# keys are the window contents, so any augmentation would only cause misses.
_base_ = ['./losa_videomaev2-b_thumos14_stream.py']
custom_imports = dict(imports=['losa_plugin', 'losa_plugin.models.backbones.tap_cache'],
                      allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='CachedLayerTap',
                           backbone={{_base_.model.backbone}},
                           cache_dir='work_dirs/tap_cache/videomaev2-b_thumos14'))
train_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(test_mode=True, test_window=dict(size={{_base_.window_frames}}, overlap=0.25),
                 remove_duplicates=True, filter_empty_gt=True, clip_to_duration=True,
                 pipeline={{_base_.test_pipeline}}))
