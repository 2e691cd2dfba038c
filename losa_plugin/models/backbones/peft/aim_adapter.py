"""AIM: Yang et al., "AIM: Adapting Image Models for Efficient Video Action
Recognition", ICLR 2023 (code: github.com/taoyang1122/adapt-image-models).

Sec. 3 of the paper ("Spatial adaptation", "Temporal adaptation", "Joint adaptation")
adds three bottleneck adapters ``fc2(GELU(fc1(x)))`` (``fc1: C -> ratio*C``, ratio
0.25) to every frozen block:

* temporal adaptation: the block's *own* attention (same frozen weights) applied along
  time -- the ``t`` tokens at each spatial position attend to each other -- followed by
  the temporal adapter (no skip); added to the residual stream before the block's
  attention: ``x = x + T-Adapter(attn(norm1(x_temporal)))``;
* spatial adaptation: the adapter (with its own skip) after the block's attention:
  ``x = x + S-Adapter(attn(norm1(x)))``;
* joint adaptation: an adapter parallel to the MLP, scaled by ``s`` (0.5 in the
  released Kinetics configs): ``x = x + mlp(norm2(x)) + s * MLP-Adapter(norm2(x))``.

The released code zero-initialises every adapter's ``fc2`` (weight and bias), so at
initialisation the temporal and joint branches add zero and the spatial adapter is the
identity: an adapted block computes the pretrained block exactly. ``fc1`` is
truncated-normal (std 0.02), bias zero, as the released ``init_weights``.
``num_tadapter=2`` (an option of the released code) adds a second temporal adapter, with
skip, before the attention of the temporal branch.

Reading for VideoMAE-style video ViTs (the paper adapts image ViTs): the block's
attention is already joint space-time over a clip's tokens; the spatial adaptation keeps
it as pretrained (so the block is unchanged at init) and the temporal adaptation adds
attention along time at each spatial position, as in the paper. The released code adds
a learnable temporal position embedding for image models; a video backbone has its own,
so none is added.

Reading for SlowFast (a CNN; the LoSA paper's Table 2 reports AIM on SlowFast-101
without saying how): in a ``Bottleneck3d`` the token mixer is ``conv2`` (1x3x3) and the
channel mixer ``conv3`` (1x1x1, the "MLP"). With ``h1 = conv1(x)``:

* temporal: ``h1 = h1 + T-Adapter(conv2 run along time)`` -- the frozen ``conv2``
  applied to each spatial position's sequence of ``t`` steps laid out as an image column
  (``[n*H*W, C, 1, t, 1]``), so its kernel's centre column mixes neighbouring time steps,
  as AIM reuses the spatial attention along time. Skipped in blocks whose ``conv2`` is
  strided (it would subsample time): the first block of stages 2-4 of each pathway;
* spatial: ``h2 = S-Adapter(conv2(h1))``;
* joint: ``out = conv3(h2) + s * MLP-Adapter(h2)`` (``planes -> ratio*planes ->
  4*planes``), then the block's residual and ReLU.
"""
from typing import Optional, Tuple

from einops import rearrange
from mmaction.registry import MODELS
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from .block_adapter import BlockAdapter, WindowInfo, channels_first, channels_last
from .st_adapter import bottleneck_width


class AIMAdapterLayer(nn.Module):
    """``fc2(GELU(fc1(x)))`` (+ ``x`` with ``skip``) on channels-last inputs.

    Args:
        in_channels (int): input width.
        width (int): bottleneck width.
        out_channels (int, optional): output width; defaults to ``in_channels``.
        skip (bool): add the input (needs ``out_channels == in_channels``).
    """

    def __init__(self, in_channels: int, width: int, out_channels: Optional[int] = None,
                 skip: bool = False) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        if skip and out_channels != in_channels:
            raise ValueError('AIMAdapterLayer: skip needs out_channels == in_channels')
        self.skip = skip
        self.fc1 = nn.Linear(in_channels, width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(width, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        trunc_normal_(self.fc1.weight, std=0.02)
        nn.init.zeros_(self.fc1.bias)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        y = self.fc2(self.act(self.fc1(x)))
        return x + y if self.skip else y


@MODELS.register_module()
class AIMAdapter(BlockAdapter):
    """The temporal, spatial and joint adapters of one block (see the module docstring).

    Args:
        channels (int): ``C`` of a ViT block, or ``planes`` of a ``Bottleneck3d``
            (the width of its ``conv2``).
        out_channels (int, optional): the joint adapter's output width (CNN:
            ``4 * planes``); defaults to ``channels``.
        ratio (float): bottleneck width / input width. Defaults to 0.25.
        scale (float): ``s`` of the joint adapter. Defaults to 0.5.
        num_tadapter (int): 1, or 2 for a second temporal adapter (with skip) before
            the temporal attention. Defaults to 1.
        temporal (bool): build the temporal adaptation (False in strided CNN blocks).
            Defaults to True.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, channels: int, out_channels: Optional[int] = None,
                 ratio: float = 0.25, scale: float = 0.5, num_tadapter: int = 1,
                 temporal: bool = True, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_tadapter not in (1, 2):
            raise ValueError(f'AIMAdapter: num_tadapter must be 1 or 2, got {num_tadapter}')
        width = bottleneck_width(channels, ratio, None)
        out_channels = out_channels or channels
        self.scale = float(scale)
        self.t_adapter = AIMAdapterLayer(channels, width) if temporal else None
        self.t_adapter_in = (AIMAdapterLayer(channels, width, skip=True)
                             if temporal and num_tadapter == 2 else None)
        self.s_adapter = AIMAdapterLayer(channels, width, skip=True)
        self.mlp_adapter = AIMAdapterLayer(channels, bottleneck_width(channels, ratio, None),
                                           out_channels)

    @classmethod
    def for_vit_block(cls, block: nn.Module, embed_dims: int, **cfg) -> 'AIMAdapter':
        return cls(embed_dims, **cfg)

    @classmethod
    def for_cnn_block(cls, block: nn.Module, **cfg) -> 'AIMAdapter':
        if getattr(block, 'non_local', False):
            raise NotImplementedError('AIMAdapter: non-local Bottleneck3d blocks are not '
                                      'supported')
        strided = any(s != 1 for s in block.conv2.conv.stride)
        return cls(block.planes, out_channels=block.conv3.conv.out_channels,
                   temporal=not strided, **cfg)

    def reset_parameters(self) -> None:
        for layer in (self.t_adapter, self.t_adapter_in, self.s_adapter, self.mlp_adapter):
            if layer is not None:
                layer.reset_parameters()

    # ------------------------------------------------------------------ ViT
    def forward_vit(self, block: nn.Module, x: Tensor, thw: Tuple[int, int, int],
                    window: Optional[WindowInfo] = None) -> Tensor:
        t, h, w = thw
        if self.t_adapter is not None:
            # the block's attention along time: (n h w) sequences of t tokens
            xt = rearrange(x, 'n (t h w) c -> (n h w) t c', t=t, h=h, w=w)
            q = block.norm1(xt)
            if self.t_adapter_in is not None:
                q = self.t_adapter_in(q)
            yt = self.t_adapter(block.attn(q))
            x = x + block.drop_path(rearrange(yt, '(n h w) t c -> n (t h w) c', h=h, w=w))
        y = self.s_adapter(block.attn(block.norm1(x)))
        if hasattr(block, 'gamma_1'):
            y = block.gamma_1 * y
        x = x + block.drop_path(y)
        xn = block.norm2(x)
        return x + _mlp_on_normed(block, xn) + block.drop_path(self.scale * self.mlp_adapter(xn))

    # ------------------------------------------------------------------ CNN
    def _temporal_cnn(self, conv2: nn.Module, h1: Tensor) -> Tensor:
        """``conv2`` along time at every position, then the temporal adapter."""
        n, c, t, hh, ww = h1.shape
        seq = rearrange(h1, 'n c t h w -> (n h w) c 1 t 1')
        y = conv2(seq)                                         # [(n h w), c', 1, t, 1]
        y = rearrange(y, '(n h w) c 1 t 1 -> n t h w c', n=n, h=hh, w=ww)
        return channels_first(self.t_adapter(y))

    def forward_cnn(self, block: nn.Module, x: Tensor,
                    window: Optional[WindowInfo] = None) -> Tensor:
        identity = x
        h1 = block.conv1(x)
        if self.t_adapter is not None:
            h1 = h1 + self._temporal_cnn(block.conv2, h1)
        h2 = channels_first(self.s_adapter(channels_last(block.conv2(h1))))
        out = block.conv3(h2) + self.scale * channels_first(self.mlp_adapter(channels_last(h2)))
        if block.downsample is not None:
            identity = block.downsample(x)
        return block.relu(out + identity)


def _mlp_on_normed(block: nn.Module, xn: Tensor) -> Tensor:
    """``drop_path(gamma_2 * mlp(xn))`` for an already normalised input ``xn``."""
    y = block.mlp(xn)
    if hasattr(block, 'gamma_2'):
        y = block.gamma_2 * y
    return block.drop_path(y)
