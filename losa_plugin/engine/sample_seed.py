"""Per-sample seeds: a random training window that depends only on (seed, epoch, position).

Why: the shipped training pipelines crop a random window per sample
(``RandomTruncateFeature``, ``SampleVideoWindow``) and draw augmentations, all from
numpy's, Python's and torch's *global* random states. In a data-loader worker those
states are seeded once, when the worker starts (mmengine's ``worker_init_fn``), and with
``persistent_workers=True`` they then run on across epochs. They live in the worker
processes, which a checkpoint cannot reach; a resumed run starts fresh workers with
fresh states, so every window after ``--resume`` differs from the uninterrupted run's,
and which worker loads a sample (a matter of timing) decides its window too.

What: :class:`SeededSampler` (mmengine's ``DefaultSampler`` plus a seed per index)
yields each index as a :class:`SeededIndex`, an ``int`` that also carries
``seed = H(sampler seed, epoch, position in the epoch's order)``. The dataset
(:meth:`TALDataset.prepare_data <losa_plugin.datasets.TALDataset.prepare_data>`) runs
that sample's pipeline inside :func:`seeded_random_states`, which seeds the three global
states from it and restores the caller's afterwards. A sample's randomness is then a
pure function of the sampler's seed, the epoch and its position: the same in every
worker, with any ``num_workers``, and after any interruption, because the sampler's seed
is saved in checkpoints and restored on resume (:class:`ExactResumeHook`), and the
epoch is restored by mmengine. This is the usual remedy (e.g. detectron2's and
webdataset's per-sample seeding); capturing each worker's state instead would not
survive a change of ``num_workers`` and needs the workers' cooperation.
"""
import contextlib
import random
from typing import Any, Iterator, Optional

import numpy as np
import torch
from mmaction.registry import DATA_SAMPLERS
from mmengine.dataset import DefaultSampler


class SeededIndex(int):
    """A dataset index that carries the seed of its sample (``.seed``, 32-bit)."""

    seed: int

    def __new__(cls, value: int, seed: int) -> 'SeededIndex':
        obj = super().__new__(cls, value)
        obj.seed = int(seed)
        return obj

    def __reduce__(self):  # data-loader workers receive indices pickled
        return SeededIndex, (int(self), self.seed)

    def __repr__(self) -> str:
        return f'SeededIndex({int(self)}, seed={self.seed})'


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """32-bit seed of the sample at ``position`` of ``epoch``'s order (numpy's
    ``SeedSequence``: well mixed, so neighbouring positions get unrelated streams)."""
    state = np.random.SeedSequence([int(seed) % 2**32, int(epoch), int(position)])
    return int(state.generate_state(1, dtype=np.uint32)[0])


def sample_seed_of(idx: Any) -> Optional[int]:
    """The seed an index carries, or None for a plain index."""
    return getattr(idx, 'seed', None)


@contextlib.contextmanager
def seeded_random_states(seed: int) -> Iterator[None]:
    """Run the body with numpy's, Python's and torch's (CPU) global random states
    seeded from ``seed``; the caller's states are restored afterwards, so that loading
    a sample in the main process (``num_workers=0``) leaves the training's randomness
    untouched."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        np.random.seed(seed)
        random.seed(seed)
        torch.random.default_generator.manual_seed(seed)  # CPU only: CUDA's untouched
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order, same rank split, same ``set_epoch``)
    whose indices carry per-sample seeds (:class:`SeededIndex`).

    The seed of the sample at position ``p`` of epoch ``e``'s (rounded-up) order is
    ``sample_seed(self.seed, e, p)``: positions, not dataset indices, so a sample that
    ``round_up`` repeats within an epoch gets a second, different draw. Datasets that
    understand the seed (:class:`~losa_plugin.datasets.TALDataset`) use it; others see
    an ordinary ``int``.

    Args: as :class:`mmengine.dataset.DefaultSampler`.
    """

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        positions = range(self.rank, self.total_size, self.world_size)
        return iter(SeededIndex(i, sample_seed(self.seed, self.epoch, p))
                    for i, p in zip(indices, positions))
