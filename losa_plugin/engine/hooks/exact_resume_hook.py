"""Exact resume: an interrupted run continues as the uninterrupted one would have.

What a resumed run must reproduce, and where each piece comes from:

* model, optimizer, parameter schedulers, EMA, message hub, epoch / iteration:
  mmengine's checkpoint (``Runner.resume``).
* the order of the samples: ``DefaultSampler`` shuffles with ``seed + epoch``; mmengine
  restores the epoch, but the sampler is built *before* the checkpoint is read, with the
  new run's seed (random when the config sets none). This hook saves the sampler's seed
  in ``meta['exact_resume']`` and puts it back on resume.
* each sample's randomness (random window, augmentation): drawn in data-loader workers
  whose random states no checkpoint can hold. :class:`SeededSampler` gives every sample
  its own seed from (sampler seed, epoch, position) (:mod:`..sample_seed`).
* the main process's randomness (dropout, drop-path, anything drawing from torch's,
  numpy's or Python's global states during a step): mmengine re-seeds with the run's
  seed on resume, i.e. the state of iteration 0, not of the iteration resumed at, and
  what ran between the checkpoint and the next step (validation, a data-loader
  iterator drawing its base seed) moves the states on. This hook re-seeds the three
  global states (and CUDA's) before every training iteration from (run seed,
  iteration), so the draws of iteration ``i`` are the same in every run reaching it.

Together: the state entering iteration ``i`` (weights, optimizer, schedulers, data,
random draws) is a function of the checkpointed state and ``i`` alone, so by induction
an interrupted run equals the uninterrupted one (tests/test_robustness_resume.py checks
this bitwise with 2 persistent workers and random windows).
"""
import random
from typing import Optional

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from ..sample_seed import SeededSampler

META_KEY = 'exact_resume'
_ITER_TAG = 0x5EED  # keeps the per-iteration seed streams apart from the per-sample ones


def _train_sampler(runner):
    loop = runner.train_loop
    loader = getattr(loop, 'dataloader', None)
    return getattr(loader, 'sampler', None)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save / restore the sampler's seed and re-seed the global random states before
    every training iteration (see the module docstring).

    Args:
        reseed_iters (str | bool): ``'auto'`` (default) re-seeds only when the training
            sampler is a :class:`SeededSampler` (the shipped dataset configs), so that a
            config keeping ``DefaultSampler`` trains exactly as before; True / False
            force it on / off.
    """

    priority = 'VERY_HIGH'

    def __init__(self, reseed_iters='auto') -> None:
        if reseed_iters not in ('auto', True, False):
            raise ValueError(f"ExactResumeHook: reseed_iters must be 'auto', True or "
                             f'False, got {reseed_iters!r}')
        self.reseed_iters = reseed_iters
        self._active = False

    def before_train(self, runner) -> None:
        sampler = _train_sampler(runner)
        seeded = isinstance(sampler, SeededSampler)
        self._active = seeded if self.reseed_iters == 'auto' else bool(self.reseed_iters)
        if seeded:
            runner.logger.info(
                f'ExactResumeHook: per-sample seeds from sampler seed {sampler.seed}, '
                f'global random states re-seeded every iteration from seed {runner.seed}')
        elif self.reseed_iters == 'auto':
            runner.logger.info(
                'ExactResumeHook: the training sampler is not a SeededSampler, so random '
                'training windows after --resume will differ from an uninterrupted run '
                "(set train_dataloader.sampler.type='SeededSampler'; docs/robustness.md)")

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self._active:
            return
        seed = int(np.random.SeedSequence(
            [int(runner.seed) % 2**32, int(runner.iter), _ITER_TAG]).generate_state(1)[0])
        torch.manual_seed(seed)  # CPU and every CUDA device
        np.random.seed(seed)
        random.seed(seed)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        sampler = _train_sampler(runner)
        record = dict(run_seed=runner.seed)
        if sampler is not None and hasattr(sampler, 'seed'):
            record['sampler_seed'] = int(sampler.seed)
        checkpoint.setdefault('meta', {})[META_KEY] = record

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        record: Optional[dict] = (checkpoint.get('meta') or {}).get(META_KEY)
        if not record or 'sampler_seed' not in record:
            runner.logger.warning('ExactResumeHook: the checkpoint holds no sampler seed '
                                  '(written without this hook); the sample order and '
                                  'random windows of the resumed run may differ')
            return
        sampler = _train_sampler(runner)
        if sampler is not None and hasattr(sampler, 'seed') \
                and sampler.seed != record['sampler_seed']:
            runner.logger.info(f"ExactResumeHook: sampler seed {record['sampler_seed']} "
                               f'restored (this run drew {sampler.seed})')
            sampler.seed = int(record['sampler_seed'])

