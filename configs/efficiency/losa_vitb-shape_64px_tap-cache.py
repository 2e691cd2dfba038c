# Memory / speed mode "tap cache" at the measurement size: streamed (spatially reduced)
# taps written to cache_dir on first sight of a window and read back afterwards.
_base_ = ['./losa_vitb-shape_64px_stream.py']
custom_imports = dict(imports=['losa_plugin', 'losa_plugin.models.backbones.tap_cache'],
                      allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='CachedLayerTap',
                           backbone={{_base_.model.backbone}},
                           cache_dir='work_dirs/tap_cache/vitb-shape_64px'))
