"""The interface of an adapter that lives inside the blocks of a frozen backbone.

The parameter-efficient baselines (ST-Adapter, AIM, AdaTAD's TIA) change what a
backbone block computes. The block's own modules stay where they are (inside the
wrapped mmaction backbone, frozen, with their checkpoint keys); one
:class:`BlockAdapter` per adapted block holds only the new parameters and says how the
block runs with them:

* :meth:`BlockAdapter.forward_vit` -- an mmaction ``vit_mae.Block`` on tokens
  ``[n, t*h*w, C]`` (token order ``(t h w)``, as ``VisionTransformer`` flattens them);
* :meth:`BlockAdapter.forward_cnn` -- an mmaction ``Bottleneck3d`` on ``[n, C, t, H, W]``.

``n`` is a micro-batch of clips; an adapter that mixes clips (``window_coupled``,
AdaTAD's TIA) receives all clips of the windows at once, ordered ``(b clip)``, and a
:class:`WindowInfo` to un-flatten them.
"""
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from mmengine.model import BaseModule


class WindowInfo(NamedTuple):
    """Which windows a batch of clips belongs to.

    Attributes:
        num_clips: ``T``, clips per window; a batch of ``n`` clips holds ``n // T``
            windows, clip-major within each window (``(b T)``).
        clip_mask: ``[B, T]`` bool, True where a clip holds a valid frame.
    """
    num_clips: int
    clip_mask: Tensor


def vit_attn_branch(block: nn.Module, x: Tensor) -> Tensor:
    """The attention residual branch of an mmaction ``vit_mae.Block``:
    ``drop_path(gamma_1 * attn(norm1(x)))``, ``[n, N, C] -> [n, N, C]``."""
    y = block.attn(block.norm1(x))
    if hasattr(block, 'gamma_1'):
        y = block.gamma_1 * y
    return block.drop_path(y)


def vit_mlp_branch(block: nn.Module, x: Tensor) -> Tensor:
    """The MLP residual branch of an mmaction ``vit_mae.Block``:
    ``drop_path(gamma_2 * mlp(norm2(x)))``."""
    y = block.mlp(block.norm2(x))
    if hasattr(block, 'gamma_2'):
        y = block.gamma_2 * y
    return block.drop_path(y)


def channels_last(x: Tensor) -> Tensor:
    """``[n, C, t, H, W] -> [n, t, H, W, C]``."""
    return x.permute(0, 2, 3, 4, 1)


def channels_first(x: Tensor) -> Tensor:
    """``[n, t, H, W, C] -> [n, C, t, H, W]``."""
    return x.permute(0, 4, 1, 2, 3)


class BlockAdapter(BaseModule):
    """Base class of the adapters of one backbone block (not registered).

    Subclasses set ``window_coupled`` (True when the adapter mixes the clips of a
    window, so that every clip must pass each block together) and implement the
    forward of the block kinds they support. Parameters are created in ``__init__``;
    :meth:`reset_parameters` applies the published initialisation and runs again in
    :meth:`init_weights`, so a parent's ``init_cfg`` cannot undo an identity init.
    """
    window_coupled = False

    def reset_parameters(self) -> None:
        raise NotImplementedError

    def init_weights(self) -> None:
        super().init_weights()
        self.reset_parameters()

    def forward_vit(self, block: nn.Module, x: Tensor, thw: Tuple[int, int, int],
                    window: Optional[WindowInfo] = None) -> Tensor:
        """Run an mmaction ``vit_mae.Block`` with this adapter.

        Args:
            block: the frozen block.
            x: tokens ``[n, t*h*w, C]``.
            thw: ``(t, h, w)`` token grid of one clip.
            window: set for ``window_coupled`` adapters.

        Returns:
            ``[n, t*h*w, C]``.
        """
        raise NotImplementedError(f'{type(self).__name__} does not support ViT blocks')

    def forward_cnn(self, block: nn.Module, x: Tensor,
                    window: Optional[WindowInfo] = None) -> Tensor:
        """Run an mmaction ``Bottleneck3d`` with this adapter, ``[n, C_in, t, H, W] ->
        [n, C_out, t', H', W']``."""
        raise NotImplementedError(f'{type(self).__name__} does not support CNN blocks')


def num_learnable(module: nn.Module) -> int:
    """Learnable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def zero_(module: nn.Module) -> None:
    """Set every parameter of ``module`` to zero (the identity-at-init projections)."""
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
