"""Efficiency measurement: training-step memory / speed, and the analytic estimate.

Not imported by ``losa_plugin`` itself (it registers no component); used by
``tools/benchmark.py`` and the tests. The tap cache lives in
``losa_plugin/models/backbones/tap_cache.py`` (``CachedLayerTap``) and
``losa_plugin/datasets/tap_cache_store.py`` (``TapCacheStore``).
"""
from .memory_estimate import MemoryEstimate, estimate_memory  # noqa: F401
from .strategies import STRATEGIES, derive_strategy_cfg, infer_strategy  # noqa: F401
from .train_step import measure_train_step, random_window  # noqa: F401
