"""Temporally consistent image augmentation over all frames of a window.

What MMAction2 1.2.0 already does consistently (one parameter set per call, applied to
every frame of ``results['imgs']``), so configs use them directly:
``RandomResizedCrop`` / ``RandomCrop`` / ``MultiScaleCrop`` (one crop box), ``Flip``
(one coin), ``ColorJitter`` (one brightness / contrast / saturation / hue draw;
its order of the four operations is fixed when the transform is built),
``Resize`` / ``CenterCrop`` (deterministic).

What it lacks here: its AutoAugment / RandAugment routes (``PytorchVideoWrapper``,
``ImgAug``) need pytorchvideo or imgaug, which this stack does not install, and
``TorchVisionWrapper`` needs torchvision. Per-image augmentation policies exist in
mmdet (``mmdet.AutoAugment``, ``mmdet.RandAugment``, ``mmdet.Rotate`` ...), which act
on one ``results['img']``. :class:`ConsistentAugment` wraps any such per-image
transform and applies it to every frame with the same random draws.
"""
import random
from typing import List, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.registry import DefaultScope

from mmaction.registry import TRANSFORMS


def _build_in_own_scope(cfg: dict) -> BaseTransform:
    """Build ``cfg``; a ``'scope.Name'`` type is built with that scope as default, so
    the sub-transforms it builds itself (mmdet's policies) resolve in their own
    registry rather than in mmaction's."""
    typ = cfg.get('type') if isinstance(cfg, dict) else None
    if isinstance(typ, str) and '.' in typ:
        with DefaultScope.overwrite_default_scope(typ.split('.', 1)[0]):
            return TRANSFORMS.build(cfg)
    return TRANSFORMS.build(cfg)


@TRANSFORMS.register_module()
class ConsistentAugment(BaseTransform):
    """Apply per-image transforms to every frame of a window with one random draw.

    Each frame goes through ``transforms`` as ``dict(img=frame, img_shape=(H, W))``,
    with numpy's, Python's and torch's global random states reset to the same snapshot
    before each frame, so every random choice (which policy, which magnitude, which
    sign) is the same for all frames. After the call the states are those the first
    frame left, so the next window draws afresh.

    The wrapped transforms must draw their randomness from ``np.random``, ``random`` or
    ``torch`` global state (mmdet's and mmcv's do) and keep the frame size, or change it
    identically for every frame.

    Required keys: ``imgs`` (list of ``[H, W, 3]`` uint8). Modified keys: ``imgs``,
    ``img_shape``.

    Args:
        transforms (list[dict] | dict): per-image transform configs, e.g.
            ``[dict(type='mmdet.AutoAugment')]`` or
            ``[dict(type='mmdet.RandAugment', aug_num=2)]``.

    Example:
        >>> aug = ConsistentAugment([dict(type='mmdet.RandAugment', aug_num=2)])
        >>> results = aug(dict(imgs=[frame] * 16))  # the same ops on all 16 frames
    """

    def __init__(self, transforms: Union[dict, List[dict]]) -> None:
        if isinstance(transforms, dict):
            transforms = [transforms]
        if not transforms:
            raise ValueError('ConsistentAugment: transforms must not be empty')
        self.transforms = [_build_in_own_scope(t) if isinstance(t, dict) else t
                           for t in transforms]

    def _apply(self, img: np.ndarray) -> np.ndarray:
        r = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        for t in self.transforms:
            r = t(r)
            if r is None:
                raise RuntimeError(f'ConsistentAugment: {t!r} dropped a frame; only '
                                   'transforms that always return a frame can be wrapped')
        return r['img']

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        if len(imgs) == 0:
            raise ValueError('ConsistentAugment: results["imgs"] is empty')
        np_state, py_state = np.random.get_state(), random.getstate()
        torch_state = torch.random.get_rng_state()
        out = []
        for k, img in enumerate(imgs):
            if k:
                np.random.set_state(np_state)
                random.setstate(py_state)
                torch.random.set_rng_state(torch_state)
            out.append(self._apply(img))
            if k == 0:  # remember where the first frame left the generators
                after = (np.random.get_state(), random.getstate(),
                         torch.random.get_rng_state())
        np.random.set_state(after[0])
        random.setstate(after[1])
        torch.random.set_rng_state(after[2])
        shapes = {o.shape for o in out}
        if len(shapes) != 1:
            raise RuntimeError(f'ConsistentAugment: frames came out with different shapes '
                               f'{sorted(shapes)}')
        results['imgs'] = out
        results['img_shape'] = out[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.transforms!r})'
