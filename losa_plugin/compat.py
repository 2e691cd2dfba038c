"""Workarounds for the pinned stack (Python 3.11, torch 2.13, mmengine 0.10.7, mmcv 2.1.0,
mmaction2 1.2.0, mmdet 3.3.0). Every other module relies on these being applied once,
on ``import losa_plugin``. Each entry says what it works around and when it can go.

Install-time facts live in ``tools/setup_env.sh`` (``setuptools<81`` and
``--no-build-isolation`` for the mmcv source build, ``numpy<2`` because mmaction2 1.2.0
calls ``np.trapz``, torch installed first and pinned, ``importlib_metadata``).
"""
import importlib.util
import os
import sys
import types
from typing import Optional

import torch


def _stub_missing_drn() -> None:
    """mmaction2 1.2.0 on the package index lacks ``mmaction/models/localizers/drn``
    while ``mmaction/models/localizers/__init__.py`` imports it, so ``import
    mmaction.models`` fails. We register an empty stand-in whose ``DRN`` raises when
    built. Remove when a mmaction2 release ships the folder.
    """
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is not None:  # a release that ships DRN: nothing to do
        return

    class DRN:  # noqa: D401
        def __init__(self, *args, **kwargs):
            raise ImportError('DRN is missing from the installed mmaction2 1.2.0 wheel')

    pkg = types.ModuleType(name)
    pkg.__path__ = []  # mark as a package
    mod = types.ModuleType(name + '.drn')
    mod.DRN = DRN
    pkg.drn = mod
    sys.modules[name] = pkg
    sys.modules[name + '.drn'] = mod


def _history_buffer_state_without_methods() -> None:
    """mmengine 0.10.7's ``HistoryBuffer.__getstate__`` pickles its statistics methods
    (bound class methods, stored through ``builtins.getattr``); allowing ``getattr`` in
    ``torch.load(weights_only=True)`` would let a checkpoint call any attribute. The
    methods are class-level and re-registered on unpickling (``__setstate__`` calls
    ``_set_default_statistics``), so we save the buffer's data only. Checkpoints written
    by an unpatched mmengine still need ``weights_only=False`` from a trusted source.
    Remove when mmengine stops pickling the methods.
    """
    from mmengine.logging import HistoryBuffer

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop('statistics_methods', None)
        return state

    HistoryBuffer.__getstate__ = __getstate__


def allow_mmengine_checkpoint_globals() -> None:
    """torch >= 2.6 loads with ``weights_only=True`` by default and mmengine 0.10.7's
    resume then fails on the non-tensor objects its checkpoints hold (message hub
    history, numpy scalars and arrays). We allow-list exactly those classes instead of
    turning the safety check off. Remove when mmengine saves only plain containers.
    """
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return  # torch < 2.4: loads with weights_only=False by default, nothing to allow
    import numpy as np
    from mmengine.logging import HistoryBuffer
    safe = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct,
            np.core.multiarray.scalar]
    safe += [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    torch.serialization.add_safe_globals(safe)


def _format_config_once() -> None:
    """mmengine 0.10.7 reformats a config with yapf on every ``Config.pretty_text``, and
    one train + test of a Runner asks for it seven times (the log, the dump, the
    visualizer's copy, each checkpoint's meta, ``RuntimeInfoHook`` per run): ~0.5 s of CPU
    each for a TAL config, 10 % of a synthetic-benchmark run. The same unformatted text
    gives the same formatted text, so remember the last few. Can go when mmengine
    formats a config once."""
    from mmengine.config import config as mm_config
    format_code = mm_config.FormatCode
    if getattr(format_code, 'remembers', False):
        return
    done: dict = {}

    def remembered(source, *args, **kwargs):
        key = (source, repr(args), repr(sorted(kwargs.items())))
        if key not in done:
            if len(done) >= 16:
                done.clear()
            done[key] = format_code(source, *args, **kwargs)
        return done[key]

    remembered.remembers = True
    mm_config.FormatCode = remembered


def init_cpu_distributed(launcher: str) -> bool:
    """mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device``, which fails on a
    CPU-only machine. When no CUDA device exists we initialise a gloo process group
    ourselves first (the Runner then skips its own ``init_dist``). Remove when mmengine
    supports CPU launchers.

    Returns:
        True when a gloo group was initialised here.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return True


def cpu_ddp_wrapper_cfg(find_unused_parameters: bool = False) -> dict:
    """mmengine wraps DDP with ``device_ids=[LOCAL_RANK]``; on CPU DDP needs
    ``device_ids=None``. Remove together with :func:`init_cpu_distributed`."""
    return dict(type='MMDistributedDataParallel', device_ids=None,
                broadcast_buffers=False, find_unused_parameters=find_unused_parameters)


def default_device() -> str:
    """'cuda' when a GPU is present, else 'cpu' (AMP and nccl follow from it)."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def dist_backend() -> str:
    return 'nccl' if torch.cuda.is_available() else 'gloo'


_stub_missing_drn()
_history_buffer_state_without_methods()
allow_mmengine_checkpoint_globals()
_format_config_once()
