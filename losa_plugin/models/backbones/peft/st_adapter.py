"""ST-Adapter: Pan et al., "ST-Adapter: Parameter-Efficient Image-to-Video Transfer
Learning", NeurIPS 2022 (code: github.com/linziyi96/st-adapter).

Sec. 3 of the paper ("Spatio-Temporal Adapter"): a bottleneck whose middle is a
depth-wise 3-D convolution over the clip's token grid,

    ST-Adapter(X) = X + f(DWConv3D(X W_down)) W_up,

with ``X`` the ``[t, h, w, C]`` tokens of one clip, ``W_down: C -> r``, ``W_up: r -> C``.
The paper places one adapter before the multi-head self-attention of every block
(its Fig. 2); the released code can also place it before the MLP (its
``adapter_pre_mlp``; its Kinetics-400 "12x384" model uses only that position, its
SSv2 "24x384" model both). Settings of the released models for ViT-B: ``r = 384`` (half
the width: ``ratio=0.5`` here), kernel ``(3, 1, 1)``.

Deliberate choices, documented in docs/baselines.md:

* Activation ``f``: the paper's equation has one after the convolution, the released
  code has none. Default ``act_cfg=None`` (the released code, which produced the
  released models); ``act_cfg=dict(type='GELU')`` gives the paper's equation.
* Initialisation as the released code: the convolution's weight and bias and both
  projection biases are zero, the projection weights keep PyTorch's default
  initialisation. So the adapter's residual branch is exactly zero at initialisation
  (``up(0) = 0``) and an adapted block computes the pretrained block.
* SlowFast (a CNN, not in the paper): one adapter before every residual block
  (``Bottleneck3d``), on the block's input channels (the analogue of "before the token
  mixer"), ``r = ratio * C_in``.
"""
from typing import Optional, Sequence, Tuple

from mmaction.registry import MODELS
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn
from einops import rearrange

from .block_adapter import (BlockAdapter, WindowInfo, channels_first, channels_last,
                            vit_attn_branch, vit_mlp_branch)

POSITIONS = ('attn', 'mlp', 'both')


def bottleneck_width(channels: int, ratio: Optional[float], width: Optional[int]) -> int:
    """``width`` if given, else ``round(channels * ratio)`` (at least 1)."""
    if width is not None:
        if width < 1:
            raise ValueError(f'adapter width must be >= 1, got {width}')
        return int(width)
    if ratio is None or ratio <= 0:
        raise ValueError(f'adapter ratio must be > 0 (or give a width), got {ratio}')
    return max(1, int(round(channels * ratio)))


class STAdapterLayer(nn.Module):
    """One ST-Adapter: ``X + f(DWConv3D(X W_down)) W_up`` on ``[n, t, h, w, C]``.

    Args:
        channels (int): ``C``.
        width (int): bottleneck ``r``.
        kernel_size (Sequence[int]): depth-wise kernel ``(k_t, k_h, k_w)``, odd sizes.
        act_cfg (dict, optional): activation after the convolution; None = none.
    """

    def __init__(self, channels: int, width: int, kernel_size: Sequence[int] = (3, 1, 1),
                 act_cfg: Optional[dict] = None) -> None:
        super().__init__()
        kernel_size = tuple(int(k) for k in kernel_size)
        if len(kernel_size) != 3 or any(k < 1 or k % 2 == 0 for k in kernel_size):
            raise ValueError(f'STAdapter: kernel_size must be three odd sizes (t, h, w), '
                             f'got {kernel_size}')
        self.down = nn.Linear(channels, width)
        self.conv = nn.Conv3d(width, width, kernel_size, padding=tuple(k // 2 for k in kernel_size),
                              groups=width)
        self.act = build_activation_layer(act_cfg) if act_cfg else nn.Identity()
        self.up = nn.Linear(width, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The released code's initialisation: zero convolution and biases."""
        for m in (self.down, self.up):
            m.reset_parameters()
            nn.init.zeros_(m.bias)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, t, h, w, C] -> [n, t, h, w, C]``."""
        z = channels_first(self.down(x))                  # [n, r, t, h, w]
        z = self.act(self.conv(z))
        return x + self.up(channels_last(z))


@MODELS.register_module()
class STAdapter(BlockAdapter):
    """The ST-Adapter(s) of one block.

    Args:
        channels (int): the block's width ``C`` (ViT) or input channels (CNN).
        ratio (float): bottleneck ``r = ratio * C`` unless ``width`` is given.
            Defaults to 0.5 (the released ViT-B models: 384 of 768).
        width (int, optional): bottleneck ``r``. Defaults to None.
        kernel_size (Sequence[int]): depth-wise kernel. Defaults to ``(3, 1, 1)``.
        act_cfg (dict, optional): activation after the convolution. Defaults to None.
        position (str): ``'attn'`` (before the attention, the paper), ``'mlp'`` (before
            the MLP) or ``'both'``; CNN blocks take ``'attn'`` only (before the block).
            Defaults to ``'attn'``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, channels: int, ratio: float = 0.5, width: Optional[int] = None,
                 kernel_size: Sequence[int] = (3, 1, 1), act_cfg: Optional[dict] = None,
                 position: str = 'attn', init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if position not in POSITIONS:
            raise ValueError(f'STAdapter: position must be one of {POSITIONS}, got {position!r}')
        self.position = position
        r = bottleneck_width(channels, ratio, width)
        self.pre_attn = (STAdapterLayer(channels, r, kernel_size, act_cfg)
                         if position in ('attn', 'both') else None)
        self.pre_mlp = (STAdapterLayer(channels, r, kernel_size, act_cfg)
                        if position in ('mlp', 'both') else None)

    @classmethod
    def for_vit_block(cls, block: nn.Module, embed_dims: int, **cfg) -> 'STAdapter':
        return cls(embed_dims, **cfg)

    @classmethod
    def for_cnn_block(cls, block: nn.Module, **cfg) -> 'STAdapter':
        if cfg.get('position', 'attn') != 'attn':
            raise ValueError("STAdapter: a CNN block takes position='attn' only (one adapter "
                             f"before the block), got {cfg['position']!r}")
        return cls(block.inplanes, **cfg)

    def reset_parameters(self) -> None:
        for layer in (self.pre_attn, self.pre_mlp):
            if layer is not None:
                layer.reset_parameters()

    def forward_vit(self, block: nn.Module, x: Tensor, thw: Tuple[int, int, int],
                    window: Optional[WindowInfo] = None) -> Tensor:
        t, h, w = thw

        def adapt(layer: STAdapterLayer, tokens: Tensor) -> Tensor:
            grid = rearrange(tokens, 'n (t h w) c -> n t h w c', t=t, h=h, w=w)
            return rearrange(layer(grid), 'n t h w c -> n (t h w) c')

        if self.pre_attn is not None:
            x = adapt(self.pre_attn, x)
        if self.pre_mlp is None:
            return block(x)
        x = x + vit_attn_branch(block, x)
        x = adapt(self.pre_mlp, x)
        return x + vit_mlp_branch(block, x)

    def forward_cnn(self, block: nn.Module, x: Tensor,
                    window: Optional[WindowInfo] = None) -> Tensor:
        x = channels_first(self.pre_attn(channels_last(x)))
        return type(block).forward(block, x)  # the class forward: the block as built
