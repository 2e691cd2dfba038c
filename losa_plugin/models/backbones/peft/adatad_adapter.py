"""AdaTAD's temporal-informative adapter (TIA): Liu et al., "End-to-End Temporal Action
Detection with 1B Parameters Across 1000 Frames", CVPR 2024 (code: OpenTAD,
``opentad/models/backbones/vit_adapter.py``).

Sec. 3 of the paper ("Temporal-Informative Adapter"): after every frozen block, a
bottleneck whose middle aggregates context from adjacent frames *of the whole window*
(the clips are concatenated in time, so the adapter crosses clip boundaries, unlike the
backbone's attention):

    z = GELU(x W_down)                                   # [B, T*t, h, w, r]
    z = z + PWConv1D(DWConv1D_k(z))                       # along time, per position
    TIA(x) = x + gamma * z W_up

``r = C / 4``, depth-wise kernel ``k = 3``, ``gamma`` a learnable scalar (init 1). As the
released code: ``W_up`` (weight and bias) is zero so the block is the identity at
initialisation; ``W_down`` truncated-normal (std 0.02, bias 0); the depth-wise and
point-wise convolutions normal with std ``sqrt(2 / k)`` and ``sqrt(2 / r)``, biases 0.

Training as the paper: gradients flow through the frozen backbone to the adapters, with
activation checkpointing per block (``with_cp=True`` in the configs). Because the adapter
mixes clips, every clip of a window passes each block together (the layer-tap wrapper
runs all clips as one micro-batch for a ``window_coupled`` adapter, as OpenTAD feeds all
chunks of a window as one batch).

Deliberate differences (docs/baselines.md): the temporal convolution sees zeros at the
tokens of padded clips (OpenTAD does not mask; padding then leaks into the last valid
clip); for SlowFast (a CNN, not in the paper) one TIA follows every residual block on its
output channels, ``r = C_out / 4``.
"""
import math
from typing import Optional, Tuple

import torch
from einops import rearrange
from mmaction.registry import MODELS
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from .block_adapter import BlockAdapter, WindowInfo, channels_first, channels_last
from .st_adapter import bottleneck_width


@MODELS.register_module()
class TIAdapter(BlockAdapter):
    """Temporal-informative adapter after one block.

    Args:
        channels (int): the block's output width ``C``.
        ratio (float): bottleneck ``r = ratio * C``. Defaults to 0.25.
        kernel_size (int): depth-wise temporal kernel (odd). Defaults to 3.
        dilation (int): its dilation. Defaults to 1.
        mask_padding (bool): zero the bottleneck features of padded clips before the
            temporal convolution. Defaults to True.
        init_cfg (dict, optional): mmengine init config.
    """
    window_coupled = True

    def __init__(self, channels: int, ratio: float = 0.25, kernel_size: int = 3,
                 dilation: int = 1, mask_padding: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'TIAdapter: kernel_size must be odd, got {kernel_size}')
        r = bottleneck_width(channels, ratio, None)
        self.mask_padding = mask_padding
        self.down = nn.Linear(channels, r)
        self.act = nn.GELU()
        self.dwconv = nn.Conv1d(r, r, kernel_size, padding=(kernel_size // 2) * dilation,
                                dilation=dilation, groups=r)
        self.pwconv = nn.Conv1d(r, r, 1)
        self.up = nn.Linear(r, channels)
        self.gamma = nn.Parameter(torch.ones(1))
        self.reset_parameters()

    @classmethod
    def for_vit_block(cls, block: nn.Module, embed_dims: int, **cfg) -> 'TIAdapter':
        return cls(embed_dims, **cfg)

    @classmethod
    def for_cnn_block(cls, block: nn.Module, **cfg) -> 'TIAdapter':
        return cls(block.conv3.conv.out_channels, **cfg)

    def reset_parameters(self) -> None:
        trunc_normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        k = self.dwconv.kernel_size[0]
        nn.init.normal_(self.dwconv.weight, 0.0, math.sqrt(2.0 / k))
        nn.init.zeros_(self.dwconv.bias)
        nn.init.normal_(self.pwconv.weight, 0.0, math.sqrt(2.0 / self.pwconv.in_channels))
        nn.init.zeros_(self.pwconv.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        with torch.no_grad():
            self.gamma.fill_(1.0)

    def adapt(self, x: Tensor, window: WindowInfo) -> Tensor:
        """TIA on channels-last features of all clips of the windows.

        Args:
            x: ``[B*T, t, h, w, C]``, clips ordered ``(b T)``.
            window: ``T`` and the ``[B, T]`` clip mask.

        Returns:
            ``[B*T, t, h, w, C]``.
        """
        n, t, h, w, _ = x.shape
        num_clips = window.num_clips
        if n % num_clips:
            raise ValueError(f'TIAdapter: {n} clips are not whole windows of {num_clips}; '
                             'a window-coupled adapter needs every clip of a window at once')
        z = self.act(self.down(x))
        if self.mask_padding:
            valid = window.clip_mask.reshape(n).to(z.dtype)
            z = z * valid[:, None, None, None, None]
        seq = rearrange(z, '(b k) t h w r -> (b h w) r (k t)', k=num_clips)
        seq = self.pwconv(self.dwconv(seq))
        z = z + rearrange(seq, '(b h w) r (k t) -> (b k) t h w r', h=h, w=w, k=num_clips)
        return x + self.gamma * self.up(z)

    def forward_vit(self, block: nn.Module, x: Tensor, thw: Tuple[int, int, int],
                    window: Optional[WindowInfo] = None) -> Tensor:
        t, h, w = thw
        x = block(x)
        grid = rearrange(x, 'n (t h w) c -> n t h w c', t=t, h=h, w=w)
        return rearrange(self.adapt(grid, window), 'n t h w c -> n (t h w) c')

    def forward_cnn(self, block: nn.Module, x: Tensor,
                    window: Optional[WindowInfo] = None) -> Tensor:
        x = type(block).forward(block, x)
        return channels_first(self.adapt(channels_last(x), window))
