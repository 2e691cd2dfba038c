"""Layer-tap wrappers whose frozen backbone carries adapters inside its blocks.

``PEFTLayerTapViT`` / ``PEFTLayerTapSlowFast`` are :class:`LayerTapViT` /
:class:`LayerTapSlowFast` plus one :class:`BlockAdapter` per adapted block
(``adapter=dict(type='STAdapter' | 'AIMAdapter' | 'TIAdapter', ...)``). What differs from
the frozen (LoSA, head-only) wrappers:

* The backbone's own parameters are frozen exactly as there (``requires_grad=False``,
  the backbone kept in eval mode across ``model.train()``: BatchNorm statistics,
  dropout and drop path off), re-applied on every forward. The adapters live on the
  wrapper (``backbone.adapters.*`` in a detector's state dict), so the wrapped
  backbone's keys and pretrained loading are unchanged.
* The forward is **not** run under ``torch.no_grad``: the adapters sit inside the
  blocks, so their gradients flow back through every later frozen block. Autograd
  keeps what those blocks need for the input gradient -- the memory cost these methods
  pay and the benchmark measures. ``with_cp=True`` checkpoints each (adapted) block.
* A ``window_coupled`` adapter (AdaTAD's TIA) needs every clip of a window in each
  block at once: then all clips form one micro-batch (``clip_batch`` is ignored) and
  padded clips are run too (their features are masked inside the adapter).

Only what the neck reads needs tapping: the baseline configs set ``tap_layers=[-1]``
with a ``LastLayerNeck``, so the head sees ``F_N`` of the adapted backbone.
"""
import functools
from typing import Dict, List, Optional, Sequence, Union

import torch
from einops import rearrange
from mmaction.models.backbones.resnet3d import Bottleneck3d
from mmaction.registry import MODELS
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..base_layer_tap import BaseLayerTap
from ..layer_tap_slowfast import LayerTapSlowFast
from ..layer_tap_vit import LayerTapViT
from ..tap_output import TapOutput
from .block_adapter import BlockAdapter, WindowInfo

# every clip of every window in one micro-batch (window-coupled adapters)
_ALL_CLIPS = 2**31 - 1


def _adapter_class(adapter: dict, owner: str) -> type:
    if not isinstance(adapter, dict) or 'type' not in adapter:
        raise ValueError(f"{owner}: adapter must be a dict with a 'type' (e.g. "
                         f"dict(type='STAdapter')), got {adapter!r}")
    cls = MODELS.get(adapter['type']) if isinstance(adapter['type'], str) else adapter['type']
    if cls is None or not (isinstance(cls, type) and issubclass(cls, BlockAdapter)):
        raise ValueError(f"{owner}: adapter type {adapter['type']!r} is not a registered "
                         'BlockAdapter (STAdapter, AIMAdapter, TIAdapter)')
    return cls


class PEFTMixin:
    """Freezing, train mode and window bookkeeping shared by the PEFT wrappers.

    Subclasses call :meth:`_init_peft` at the end of ``__init__``.
    """
    adapters: nn.ModuleDict

    def _init_peft(self, adapter_cls: type) -> None:
        self.window_coupled = bool(adapter_cls.window_coupled)
        self._window: Optional[WindowInfo] = None
        if self.window_coupled:
            self.clip_batch = _ALL_CLIPS
            self.skip_padded_clips = False
        self._freeze()

    @staticmethod
    def _check_frozen(frozen: bool, owner: str) -> None:
        if not frozen:
            raise ValueError(f'{owner}: the backbone of a parameter-efficient method stays '
                             'frozen (only its adapters learn); got frozen=False. Use the '
                             'plain wrapper with frozen=False for full fine-tuning')

    def train(self, mode: bool = True):
        BaseLayerTap.train(self, mode)
        self._freeze()  # the backbone stays in eval mode; the adapters follow ``mode``
        return self

    def forward(self, frames: Tensor, frame_mask: Optional[Tensor] = None) -> TapOutput:
        """As :meth:`BaseLayerTap.forward`, with autograd on (see the module docstring)."""
        self._freeze()
        if self.window_coupled and frames.dim() == 5 and frames.shape[2] % self.clip_len == 0:
            b, _, f = frames.shape[:3]
            mask = frames.new_ones((b, f), dtype=torch.bool) if frame_mask is None else frame_mask
            clip_mask = mask.bool().reshape(b, f // self.clip_len, self.clip_len).any(-1)
            self._window = WindowInfo(f // self.clip_len, clip_mask)
        try:
            return BaseLayerTap.forward(self, frames, frame_mask)
        finally:
            self._window = None

    def _use_cp(self, x: Tensor) -> bool:
        return self.with_cp and self.training and x.requires_grad

    def adapter_params(self) -> int:
        """Learnable parameters of the adapters."""
        return sum(p.numel() for p in self.adapters.parameters() if p.requires_grad)


@MODELS.register_module()
class PEFTLayerTapViT(PEFTMixin, LayerTapViT):
    """A frozen mmaction ``VisionTransformer`` with adapters in its blocks.

    Args:
        vit (dict): the ``VisionTransformer`` config (see :class:`LayerTapViT`).
        adapter (dict): a :class:`BlockAdapter` config without its width, e.g.
            ``dict(type='STAdapter', ratio=0.5)``; built once per adapted block.
        adapter_blocks (str | Sequence[int]): ``'all'`` blocks up to the last tapped
            one, or 1-based block ids. Defaults to ``'all'``.
        tap_layers, fused_attention, clip_len, clip_batch, dtype, with_cp, tap_reduce,
        tap_pool_size, skip_padded_clips, pretrained, init_cfg: see
        :class:`LayerTapViT`.
        frozen (bool): must be True (the backbone's weights never learn).

    Input / output: as :class:`LayerTapViT`.
    """

    def __init__(self, vit: Dict, adapter: Dict,
                 adapter_blocks: Union[str, Sequence[int]] = 'all',
                 frozen: bool = True, **kwargs) -> None:
        self._check_frozen(frozen, 'PEFTLayerTapViT')
        cls = _adapter_class(adapter, 'PEFTLayerTapViT')
        super().__init__(vit=vit, frozen=False, **kwargs)
        blocks = self.backbone.blocks[:self.layer_ids[-1]]
        ids = range(1, len(blocks) + 1) if adapter_blocks == 'all' else adapter_blocks
        cfg = {k: v for k, v in adapter.items() if k != 'type'}
        self.adapters = nn.ModuleDict()
        for i in ids:
            if not isinstance(i, int) or not 1 <= i <= len(blocks):
                raise ValueError(f'PEFTLayerTapViT: adapter block {i!r} is not a block id in '
                                 f'1..{len(blocks)} (blocks up to the last tapped layer)')
            self.adapters[str(i)] = cls.for_vit_block(blocks[i - 1], self.out_channels, **cfg)
        self._init_peft(cls)

    def _forward_clips(self, clips: Tensor) -> List[Tensor]:
        vit = self.backbone
        h, w = clips.shape[-2] // vit.patch_size, clips.shape[-1] // vit.patch_size
        t = self.clip_len // self.tubelet_size
        x = self._embed(clips)
        wanted = set(self.layer_ids)
        taps = []
        for i, blk in enumerate(vit.blocks[:self.layer_ids[-1]], start=1):
            adapter = self.adapters[str(i)] if str(i) in self.adapters else None
            fn = blk if adapter is None else functools.partial(
                adapter.forward_vit, blk, thw=(t, h, w), window=self._window)
            x = checkpoint(fn, x, use_reentrant=False) if self._use_cp(x) else fn(x)
            if i in wanted:
                taps.append(rearrange(x, 'n (t h w) c -> n t h w c', t=t, h=h, w=w))
        return taps


@MODELS.register_module()
class PEFTLayerTapSlowFast(PEFTMixin, LayerTapSlowFast):
    """A frozen mmaction ``ResNet3dSlowFast`` with adapters in its residual blocks.

    The backbone still runs by its own forward (laterals, stems and taps as in
    :class:`LayerTapSlowFast`); for the duration of one call each adapted
    ``Bottleneck3d`` gets an instance ``forward`` that runs it with its adapter
    (and checkpointing with ``with_cp``), removed afterwards, so copies of the model
    (e.g. an EMA) hold no bound state.

    Args:
        slowfast (dict): the ``ResNet3dSlowFast`` config.
        adapter (dict): a :class:`BlockAdapter` config, built per residual block.
        adapter_blocks (str | Sequence[str]): ``'all'`` or block names such as
            ``'slow_path.layer3.0'``. Defaults to ``'all'``.
        frozen (bool): must be True.
        Other arguments: see :class:`LayerTapSlowFast`.
    """

    def __init__(self, slowfast: Dict, adapter: Dict,
                 adapter_blocks: Union[str, Sequence[str]] = 'all',
                 frozen: bool = True, with_cp: bool = False, **kwargs) -> None:
        self._check_frozen(frozen, 'PEFTLayerTapSlowFast')
        cls = _adapter_class(adapter, 'PEFTLayerTapSlowFast')
        # the blocks' own (reentrant) checkpointing stays off: we checkpoint block + adapter
        super().__init__(slowfast=slowfast, frozen=False, with_cp=False, **kwargs)
        self.with_cp = with_cp
        blocks = {name: m for name, m in self.backbone.named_modules()
                  if isinstance(m, Bottleneck3d)}
        names = list(blocks) if adapter_blocks == 'all' else list(adapter_blocks)
        cfg = {k: v for k, v in adapter.items() if k != 'type'}
        self.adapters = nn.ModuleDict()
        self._adapted = []
        for name in names:
            if name not in blocks:
                raise ValueError(f'PEFTLayerTapSlowFast: {name!r} is not a residual block; '
                                 f'blocks are e.g. {list(blocks)[:3]}')
            key = name.replace('.', '__')
            self.adapters[key] = cls.for_cnn_block(blocks[name], **cfg)
            self._adapted.append((key, blocks[name]))
        self._init_peft(cls)

    def _block_forward(self, key: str, block: nn.Module, x: Tensor) -> Tensor:
        fn = functools.partial(self.adapters[key].forward_cnn, block, window=self._window)
        return checkpoint(fn, x, use_reentrant=False) if self._use_cp(x) else fn(x)

    def _forward_clips(self, clips: Tensor) -> List[Tensor]:
        for key, block in self._adapted:
            block.forward = functools.partial(self._block_forward, key, block)
        try:
            return super()._forward_clips(clips)
        finally:
            for _, block in self._adapted:
                block.__dict__.pop('forward', None)
