"""LoSA (Long-Short-range Adapter) for end-to-end temporal action localization.

An MMAction2 plugin: importing it (``custom_imports=dict(imports=['losa_plugin'])``)
registers every component in MMAction2's registries (``default_scope='mmaction'``).
"""
from . import compat  # noqa: F401  (must run before mmaction / mmengine are used)
from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__  # noqa: F401
