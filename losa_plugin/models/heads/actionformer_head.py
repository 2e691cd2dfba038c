"""ActionFormer (Zhang et al., ECCV 2022) as a TAL head on ``[B, C, L]`` features."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from einops import rearrange
from mmengine.dist import all_reduce
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from mmaction.registry import MODELS, TASK_UTILS

from .actionformer_nms import actionformer_nms
from .actionformer_padding import PADDING_MODES, max_div_factor, readable_mask
from .actionformer_projection import ActionFormerProjection
from .center_sampling_assigner import CenterSamplingAssigner1D
from .channel_layer_norm import ChannelLayerNorm
from .masked_conv1d import as_time_mask
from .masked_conv_head import MaskedConvHead
from .point_generator import PointGenerator1D

THUMOS_REGRESS_RANGES = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000))

# ActionFormer's THUMOS-14 test settings (configs/thumos_i3d.yaml over its defaults).
DEFAULT_TEST_CFG = dict(
    pre_nms_thresh=0.001,      # drop (point, class) scores at or below this
    pre_nms_topk=2000,         # keep the k best scores ...
    topk_per_level=True,       # ... per pyramid level (as ActionFormer) or over all levels
    duration_thresh=0.05,      # drop segments not longer than this (grid units)
    multiclass_nms=True,       # per-class NMS; False: class-agnostic (ActivityNet)
    # ActionFormer's THUMOS file sets voting_thresh 0.7, but its code votes only with
    # class-agnostic NMS, so 0.0 here is the same behaviour stated plainly.
    nms=dict(method='soft', iou_threshold=0.1, sigma=0.5, min_score=0.001,
             max_num=200, voting_thresh=0.0),
)


def build_loss(cfg: dict) -> nn.Module:
    """Build a loss from mmaction's MODELS, resolving scope-prefixed types such as
    ``'mmdet.FocalLoss'``; mmdet's models are imported only when first needed."""
    try:
        return MODELS.build(cfg)
    except KeyError:
        if not str(cfg.get('type', '')).startswith('mmdet.'):
            raise
        import mmdet.models  # noqa: F401  (registers mmdet's losses)
        return MODELS.build(cfg)


@MODELS.register_module()
class ActionFormerHead(BaseModule):
    """ActionFormer: conv + local-attention transformer pyramid, identity FPN (a
    LayerNorm per level), shared classification and regression conv heads, sigmoid
    focal + 1-D DIoU losses with centre sampling, and soft-NMS inference.

    All positions are in grid units of the input ``[B, C, L]``: pyramid level ``l``
    has stride ``scale_factor ** l``; a point at position ``t`` predicts
    ``[t - o_l * stride, t + o_r * stride]``.

    Args:
        num_classes (int): number of action classes C (no background class).
        in_channels (int): channels of the input features.
        embed_dims (int): width of the projection / pyramid (and of the identity FPN).
            Defaults to 512.
        arch (tuple[int]): (#embedding convs, #stem blocks, #downsampling blocks).
            Defaults to (2, 2, 5) → 6 levels.
        n_mha_win_size (int | Sequence[int]): local attention window (odd), -1 global.
            Defaults to 19.
        num_heads (int): attention heads. Defaults to 4.
        scale_factor (int): downsampling between levels. Defaults to 2.
        embed_kernel_size (int): Defaults to 3.
        embed_with_ln (bool): Defaults to True.
        fpn_with_ln (bool): LayerNorm per level in the identity FPN. Defaults to True.
        head_dims (int): width of the cls / reg conv towers. Defaults to 512.
        head_num_layers (int): conv layers per head, the output conv included.
            Defaults to 3.
        head_kernel_size (int): Defaults to 3.
        head_with_ln (bool): Defaults to True.
        regress_ranges (Sequence[tuple]): (min, max) per level, in grid units.
            Defaults to THUMOS-14's ((0, 4), (4, 8), …, (64, 10000)).
        center_radius (float): centre sampling radius in strides. Defaults to 1.5.
        cls_prior_prob (float): initial foreground probability of the classifier.
            Defaults to 0.01.
        attn_drop (float): Defaults to 0.0.
        proj_drop (float): Defaults to 0.0.
        drop_path (float): Defaults to 0.1.
        loss_cls (dict): classification loss; it must sum (``reduction='sum'``), the
            head divides by the positive-count EMA. Defaults to mmdet's sigmoid
            FocalLoss (gamma 2, alpha 0.25).
        loss_reg (dict): regression loss on positive points (its ``loss_weight`` is
            the regression weight). Defaults to ``DIoULoss1D`` (weight 1.0, sum).
        init_loss_norm (float): initial EMA of the number of positives. Defaults to 100.
        loss_norm_momentum (float): EMA momentum. Defaults to 0.9.
        label_smoothing (float): ``target * (1 - eps) + eps / (C + 1)``. Defaults to 0.
        padding (str): how padded steps take part in the arithmetic
            (docs/actionformer.md). ``'actionformer'`` (default): as ActionFormer, on
            its padded array (:mod:`.actionformer_padding`): convs read padded steps as
            they are (``relu(LayerNorm(0))``), stride-2 max-pools see them as 0, so a
            converted ActionFormer checkpoint gives ActionFormer's outputs at the end
            of every sequence. ``'invariant'``: padded steps read as zero / -inf, so
            valid outputs never depend on the padding (nor on the batch).
        max_seq_len (int, optional): ActionFormer's ``max_seq_len``: the padded array
            length for ``padding='actionformer'`` and the position-embedding table.
            None: arrays are multiples of ActionFormer's ``max_div_factor``.
        use_abs_pe (bool): sinusoidal absolute position embedding after the
            embedding convs (ActionFormer on ActivityNet). Needs ``max_seq_len``.
            Defaults to False.
        with_cp (bool): activation checkpointing of the projection's transformer
            blocks in training (:class:`ActionFormerProjection`). Defaults to False.
        test_cfg (dict, optional): overrides of :data:`DEFAULT_TEST_CFG` (keys
            ``pre_nms_thresh``, ``pre_nms_topk``, ``topk_per_level``,
            ``duration_thresh``, ``multiclass_nms``, ``nms`` = dict(method 'soft' |
            'linear' | 'hard' | 'none', iou_threshold, sigma, min_score, max_num,
            voting_thresh) or None); see :func:`actionformer_nms`.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 embed_dims: int = 512,
                 arch: Sequence[int] = (2, 2, 5),
                 n_mha_win_size: Union[int, Sequence[int]] = 19,
                 num_heads: int = 4,
                 scale_factor: int = 2,
                 embed_kernel_size: int = 3,
                 embed_with_ln: bool = True,
                 fpn_with_ln: bool = True,
                 head_dims: int = 512,
                 head_num_layers: int = 3,
                 head_kernel_size: int = 3,
                 head_with_ln: bool = True,
                 regress_ranges: Sequence[Sequence[float]] = THUMOS_REGRESS_RANGES,
                 center_radius: float = 1.5,
                 cls_prior_prob: float = 0.01,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 drop_path: float = 0.1,
                 loss_cls: Optional[dict] = None,
                 loss_reg: Optional[dict] = None,
                 init_loss_norm: float = 100.0,
                 loss_norm_momentum: float = 0.9,
                 label_smoothing: float = 0.0,
                 padding: str = 'actionformer',
                 max_seq_len: Optional[int] = None,
                 use_abs_pe: bool = False,
                 with_cp: bool = False,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_levels = arch[2] + 1 if len(arch) == 3 else -1
        if len(regress_ranges) != num_levels:
            raise ValueError(f'ActionFormerHead: regress_ranges has {len(regress_ranges)} '
                             f'levels but arch={tuple(arch)} gives {num_levels} '
                             f'(len(arch[2]) + 1)')
        if not 0 < cls_prior_prob < 1:
            raise ValueError(f'ActionFormerHead: cls_prior_prob must be in (0, 1), '
                             f'got {cls_prior_prob}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.projection = ActionFormerProjection(
            in_channels, embed_dims, arch, num_heads, n_mha_win_size, scale_factor,
            embed_kernel_size, embed_with_ln, attn_drop, proj_drop, drop_path,
            use_abs_pe=use_abs_pe, max_seq_len=max_seq_len, with_cp=with_cp)
        self.fpn_norms = nn.ModuleList(
            ChannelLayerNorm(embed_dims) if fpn_with_ln else nn.Identity()
            for _ in range(num_levels))
        prior_bias = -math.log((1 - cls_prior_prob) / cls_prior_prob)
        self.cls_head = MaskedConvHead(embed_dims, head_dims, num_classes, head_num_layers,
                                       head_kernel_size, head_with_ln, out_bias=prior_bias)
        self.reg_head = MaskedConvHead(embed_dims, head_dims, 2, head_num_layers,
                                       head_kernel_size, head_with_ln)
        self.scales = nn.ParameterList(nn.Parameter(torch.tensor(1.0)) for _ in range(num_levels))
        self.strides = [scale_factor ** i for i in range(num_levels)]
        self._check_padding(padding, max_seq_len, n_mha_win_size, num_levels)
        self.point_generator = PointGenerator1D(self.strides, regress_ranges)
        self.assigner = CenterSamplingAssigner1D(num_classes, center_radius)

        if loss_cls is None:
            loss_cls = dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                            reduction='sum', loss_weight=1.0)
        if loss_reg is None:
            loss_reg = dict(type='DIoULoss1D', reduction='sum', loss_weight=1.0)
        self.loss_cls = build_loss(loss_cls)
        self.loss_reg = build_loss(loss_reg)
        for name, loss in (('loss_cls', self.loss_cls), ('loss_reg', self.loss_reg)):
            if getattr(loss, 'reduction', 'sum') != 'sum':
                raise ValueError(f"ActionFormerHead: {name} must use reduction='sum' (the "
                                 f'head normalises by the positive-count EMA), got '
                                 f'{loss.reduction!r}')
        # A buffer so that checkpoints (and resume) keep the normaliser's state.
        self.register_buffer('loss_normalizer', torch.tensor(float(init_loss_norm)))
        self.loss_norm_momentum = loss_norm_momentum
        self.label_smoothing = label_smoothing

        self.test_cfg = dict(DEFAULT_TEST_CFG)
        if test_cfg is not None:
            test_cfg = dict(test_cfg)
            nms = test_cfg.pop('nms', self.test_cfg['nms'])
            unknown = set(test_cfg) - set(DEFAULT_TEST_CFG)
            if unknown:
                raise ValueError(f'ActionFormerHead: unknown test_cfg keys {sorted(unknown)}; '
                                 f'expected {sorted(DEFAULT_TEST_CFG)}')
            unknown = set(nms or {}) - set(DEFAULT_TEST_CFG['nms'])
            if unknown:
                raise ValueError(f'ActionFormerHead: unknown test_cfg.nms keys '
                                 f'{sorted(unknown)}; expected {sorted(DEFAULT_TEST_CFG["nms"])}')
            self.test_cfg.update(test_cfg)
            self.test_cfg['nms'] = None if nms is None else {**DEFAULT_TEST_CFG['nms'], **nms}

    def _check_padding(self, padding: str, max_seq_len: Optional[int],
                       windows: Union[int, Sequence[int]], num_levels: int) -> None:
        if padding not in PADDING_MODES:
            raise ValueError(f'ActionFormerHead: padding must be one of {PADDING_MODES}, '
                             f'got {padding!r}')
        windows = [windows] * num_levels if isinstance(windows, int) else list(windows)
        self.padding = padding
        self.max_seq_len = None if max_seq_len is None else int(max_seq_len)
        self.max_div_factor = max_div_factor(self.strides, windows)
        if padding != 'actionformer':
            return
        if self.max_div_factor % self.pad_multiple:
            raise ValueError(f'ActionFormerHead: max_div_factor {self.max_div_factor} '
                             f'(strides x windows) is not a multiple of the largest stride '
                             f'{self.pad_multiple}; use padding=\'invariant\'')
        if self.max_seq_len is not None:
            for s, w in zip(self.strides, windows):
                factor = s * (w // 2) * 2 if w > 1 else s
                if self.max_seq_len % factor:
                    raise ValueError(f'ActionFormerHead: max_seq_len={self.max_seq_len} '
                                     f'must be divisible by every level\'s stride x window '
                                     f'(as in ActionFormer); {factor} does not divide it')

    def init_weights(self) -> None:
        super().init_weights()
        # Generic init may overwrite the focal-loss prior on the classifier bias.
        self.cls_head.reset_out_bias()

    @property
    def pad_multiple(self) -> int:
        """L must be a multiple of this (``scale_factor ** len(arch[2])``)."""
        return self.projection.pad_multiple

    # ------------------------------------------------------------------ forward
    def forward(self, feats: torch.Tensor, mask: torch.Tensor
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
        """Raw per-level outputs.

        Args:
            feats (Tensor): ``[B, C_in, L]``, L a multiple of :attr:`pad_multiple`.
            mask (Tensor): ``[B, L]`` bool, True = valid.

        Returns:
            tuple of lists over levels: ``cls_logits [B, num_classes, L_l]``,
            ``offsets [B, 2, L_l]`` (>= 0, in units of the level's stride) and
            ``masks [B, L_l]``.
        """
        if feats.dim() != 3 or feats.shape[1] != self.in_channels:
            raise ValueError(f'ActionFormerHead: feats must be [B, {self.in_channels}, L], '
                             f'got {tuple(feats.shape)}')
        if feats.shape[-1] % self.pad_multiple:
            raise ValueError(f'ActionFormerHead: L={feats.shape[-1]} is not divisible by '
                             f'{self.pad_multiple} = scale_factor ** len(arch[2]); the '
                             f'data preprocessor / detector must pad to pad_multiple')
        mask = as_time_mask(mask, feats.shape[0], feats.shape[-1], 'ActionFormerHead')
        length = feats.shape[-1]
        # Padded inputs are zero, as ActionFormer pads its features.
        feats = feats * mask[:, None].to(feats.dtype)
        readable, mask = readable_mask(mask, self.padding, self.max_seq_len,
                                       self.max_div_factor, 'ActionFormerHead')
        if mask.shape[1] > length:  # ActionFormer's array is longer than the batch
            feats = nn.functional.pad(feats, (0, mask.shape[1] - length))
        levels, masks = self.projection(feats, mask, readable)
        cls_logits, offsets = [], []
        for lvl, (norm, scale, x, m) in enumerate(zip(self.fpn_norms, self.scales, levels,
                                                      masks)):
            pad = readable[:, ::self.strides[lvl]]
            x = norm(x)
            keep = length // self.strides[lvl]  # outputs on the caller's grid
            cls_logits.append(self.cls_head(x, m, pad)[..., :keep])
            offsets.append(torch.relu(self.reg_head(x, m, pad) * scale)[..., :keep])
            masks[lvl] = m[:, :keep]
        return cls_logits, offsets, masks

    def _flat_outputs(self, cls_logits, offsets, masks):
        """Concatenate levels: ``[B, P, C]``, ``[B, P, 2]``, ``[B, P]`` and points ``[P, 4]``."""
        points = self.point_generator([m.shape[1] for m in masks], masks[0].device)
        cls = torch.cat([rearrange(c, 'b c t -> b t c') for c in cls_logits], dim=1)
        off = torch.cat([rearrange(o, 'b c t -> b t c') for o in offsets], dim=1)
        return cls, off, torch.cat(masks, dim=1), torch.cat(points, dim=0)

    # --------------------------------------------------------------------- loss
    @staticmethod
    def _gt(sample, device) -> Tuple[torch.Tensor, torch.Tensor]:
        gt = sample.get('gt_instances', None)
        if gt is None or 'segments' not in gt or 'labels' not in gt:
            raise KeyError('ActionFormerHead.loss: each data sample needs gt_instances with '
                           "'segments' [N, 2] (grid units) and 'labels' [N]")
        segments = torch.as_tensor(gt.segments, dtype=torch.float32, device=device).reshape(-1, 2)
        labels = torch.as_tensor(gt.labels, dtype=torch.long, device=device).reshape(-1)
        return segments, labels

    def loss(self, feats: torch.Tensor, mask: torch.Tensor, data_samples: List
             ) -> Dict[str, torch.Tensor]:
        """Focal + DIoU losses, both divided by the EMA of the number of positives.

        Args:
            feats (Tensor): ``[B, C_in, L]``.
            mask (Tensor): ``[B, L]`` bool.
            data_samples (list): B samples with ``gt_instances.segments [N, 2]`` (grid
                units) and ``gt_instances.labels [N]``.

        Returns:
            dict: ``loss_cls`` and ``loss_reg`` (scalars).
        """
        if len(data_samples) != feats.shape[0]:
            raise ValueError(f'ActionFormerHead.loss: {len(data_samples)} data samples for '
                             f'a batch of {feats.shape[0]}')
        cls, off, valid, points = self._flat_outputs(*self(feats, mask))
        targets = [self.assigner.assign(points, *self._gt(s, feats.device)) for s in data_samples]
        gt_cls = torch.stack([t[0] for t in targets])  # [B, P, C]
        gt_reg = torch.stack([t[1] for t in targets])  # [B, P, 2]
        pos = (gt_cls.sum(-1) > 0) & valid

        with torch.no_grad():
            # Mean over ranks, so every rank keeps the same normaliser.
            num_pos = pos.sum().float()
            all_reduce(num_pos, op='mean')  # in place; a no-op without a process group
            self.loss_normalizer.mul_(self.loss_norm_momentum).add_(
                (1 - self.loss_norm_momentum) * num_pos.clamp(min=1))
        norm = self.loss_normalizer.item()

        target = gt_cls[valid]
        if self.label_smoothing > 0:
            target = target * (1 - self.label_smoothing) + self.label_smoothing / (self.num_classes + 1)
        loss_cls = self.loss_cls(cls[valid], target) / norm
        if pos.any():
            loss_reg = self.loss_reg(off[pos], gt_reg[pos]) / norm
        else:
            loss_reg = off.sum() * 0.0  # keeps the graph (DDP) without a signal
        return dict(loss_cls=loss_cls, loss_reg=loss_reg)

    # ---------------------------------------------------------------- inference
    def _candidates(self, cls: torch.Tensor, off: torch.Tensor, valid: torch.Tensor,
                    points: torch.Tensor, level_sizes: List[int]
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One window: ``cls [P, C]``, ``off [P, 2]``, ``valid [P]`` → pre-NMS
        ``segments [K, 2]``, ``scores [K]``, ``labels [K]``."""
        cfg = self.test_cfg
        probs = (cls.sigmoid() * valid[:, None]).flatten()  # index = point * C + class
        groups = probs.split([n * self.num_classes for n in level_sizes]) \
            if cfg['topk_per_level'] else [probs]
        keep, start = [], 0
        for group in groups:
            idx = (group > cfg['pre_nms_thresh']).nonzero(as_tuple=True)[0]
            order = group[idx].argsort(descending=True)[:cfg['pre_nms_topk']]
            keep.append(idx[order] + start)
            start += group.numel()
        keep = torch.cat(keep)
        scores = probs[keep]
        pt = torch.div(keep, self.num_classes, rounding_mode='floor')
        labels = keep % self.num_classes
        pos, stride = points[pt, 0], points[pt, 3]
        segments = torch.stack([pos - off[pt, 0] * stride, pos + off[pt, 1] * stride], dim=1)
        long_enough = (segments[:, 1] - segments[:, 0]) > cfg['duration_thresh']
        return segments[long_enough], scores[long_enough], labels[long_enough]

    @torch.no_grad()
    def predict(self, feats: torch.Tensor, mask: torch.Tensor,
                data_samples: Optional[List] = None) -> List[InstanceData]:
        """Per-window detections after (soft-)NMS (:func:`actionformer_nms`).

        Args:
            feats (Tensor): ``[B, C_in, L]``.
            mask (Tensor): ``[B, L]`` bool.
            data_samples (list, optional): unused (kept for the head interface).

        Returns:
            list[InstanceData]: B results with ``segments [K, 2]`` (grid units),
            ``scores [K]`` and ``labels [K]`` (int64), best first.
        """
        cls_logits, offsets, masks = self(feats, mask)
        cls, off, valid, points = self._flat_outputs(cls_logits, offsets, masks)
        sizes = [m.shape[1] for m in masks]
        nms = self.test_cfg['nms']
        results = []
        for b in range(feats.shape[0]):
            segments, scores, labels = self._candidates(cls[b], off[b], valid[b], points, sizes)
            if nms is not None and nms['method'] != 'none' and segments.numel():
                segments, scores, labels = actionformer_nms(
                    segments, scores, labels, multiclass=self.test_cfg['multiclass_nms'],
                    **nms)
            else:
                order = scores.argsort(descending=True)
                if nms is not None and nms.get('max_num', -1) > 0:
                    order = order[:nms['max_num']]
                segments, scores, labels = segments[order], scores[order], labels[order]
            results.append(InstanceData(segments=segments, scores=scores, labels=labels.long()))
        return results
