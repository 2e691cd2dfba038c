"""Analytic estimate of peak training memory for a ``TALDetector`` config at any scale.

Nothing is computed at full size: the model is built on the meta device (parameter
counts) and one clip is traced through the backbone on the meta device (tap shapes
``[T_i, H_i, W_i, C_i]``, token count). Memory is then counted term by term:

persistent
    frozen weights (4 B / param), learnable weights (4 B), their gradients (4 B) and
    AdamW's two moments (8 B); with a native 16-bit frozen ViT (``dtype`` set,
    ``lowp_mode='native'``) its 16-bit weight copy (``lowp_weights``: 2 B per
    parameter of the patch embedding and the blocks run, ``frozen_vit_lowp.py``).
backbone phase (frozen backbone)
    the taps of all clips as stored (``T * sum_i T_i*H_i*W_i*C_i`` elements;
    ``T * sum_i T_i*C_i`` with ``tap_reduce='spatial_mean'``; ``T * sum_i
    T_i*p_h*p_w*C_i`` with ``'spatial_pool'``, ``p_h = min(p, H_i)``; 2 B in bf16 /
    fp16, else 4 B), written into one preallocated tensor per layer (held once), plus
    one micro-batch's transient block activations (about
    ``k_block = 10`` tensors of ``[n, N, C]``: input, norm, q/k/v, attention output,
    the MLP's ``4C`` hidden before and after GELU) and its raw taps (float32; 16 bit on
    the native 16-bit path).
neck / head phase
    the stored taps; the LoSA neck's saved activations: with ``mode='conv'`` the
    depthwise conv output of every adapted layer and of layer N on the stored grid, in
    the taps' dtype (the conv runs in it; the output is kept for GELU's backward); per
    used layer two ``[T*T_i, C'_i]`` tensors (the LayerNorm's input and the normalised
    features the projections keep; ``C'_i`` = ``neck.query_channels`` for adapted
    layers, ``C`` for layer N); per adapter
    ``2d`` per query token (q, attention output) and ``2d`` per key token (k, v; the
    short-range windows are unfolded copies, ``2r+1`` keys per clip each); attention
    probabilities only with ``attention_materialized``; the fusion's stacks of every
    layer's output (``n_layers * L * C`` per branch). The head: ``k_head = 180`` floats
    of width ``embed_dims`` per grid step. This one constant is **calibrated**, from the
    head-only measurement at 2048 frames (docs/efficiency.md): ActionFormer's masked
    convs, local-attention chunks, pyramid levels and cls / reg towers are too many
    small tensors to count by hand.
tap recompute (``tap_recompute=True``, ``LoSANeck``)
    no tap is stored and no conv output is kept: the forward keeps the spatial blocks'
    outputs (the neck-phase term above, two ``[T*T_i, C'_i]`` tensors per used layer:
    the joined per-clip outputs and their masked copy). The backward pass recomputes one
    micro-batch at a time, after the neck's and the head's backward: its frozen forward
    (``backbone_transient``) and the spatial blocks' saved tensors for ``n`` clips
    (``recompute_saved``: the stored-form taps and the conv outputs of the used layers
    in the taps' dtype, the LayerNorm inputs in float32), beside the gradient of the
    reduced features (one copy). The activation peak is the largest of the three phases.
adapters inside the frozen backbone (``PEFTLayerTap*``: ST-Adapter, AIM, AdaTAD's TIA)
    autograd runs through the frozen blocks: per clip and block ``K_PEFT_VIT[adapter]``
    tensors of ``[N, C]`` are saved (ViT), or ``K_PEFT_CNN[adapter]`` times the block's
    output (SlowFast, summed over its residual blocks). These were **counted**, not
    fitted: ``torch.autograd.graph.saved_tensors_hooks`` on one ViT-B-wide block (fused
    attention) and on SlowFast-101 at 64 px with the configs' adapters, unique storages,
    parameters excluded (a frozen block alone keeps 10.0 ``[N, C]``: the LayerNorm
    inputs, q / k / v / output of attention, the MLP's hidden before and after GELU...).
    With ``with_cp`` one block input per clip and block is kept, plus one block's
    recompute for a micro-batch (all clips of the window for AdaTAD, whose adapter mixes
    them); backward transients ``k_bwd`` as for full fine-tuning;
other necks (UniPT)
    the neck is run on the meta device over the window's stored tap shapes and the
    tensors autograd saves are summed (unique bases; the taps themselves excluded, they
    are counted once above);
full fine-tuning
    saved backbone activations of every clip: ``k_saved = 20`` tensors of ``[N, C]``
    per block (without checkpointing; plus ``2 * heads * N^2`` attention
    probabilities with the plain attention path), or one ``[N, C]`` block input per
    block with checkpointing plus one block's recompute for one micro-batch (SlowFast:
    ``K_FULL_CNN = 3.75`` per element of its residual blocks' outputs, counted as for
    the adapters below, at 64 and 96 px alike; before, its largest tap stood in); the clip
    copy the patch embedding saves; and backward transients (``k_bwd = 10`` tensors of
    one micro-batch's ``[n, N, C]``).

Two totals are given:

* ``step_growth_mb``: what ``tools/benchmark.py`` measures — the growth above the
  built model and the input window during one step in a fresh process:
  ``max(activation_peak + grads, grads + AdamW)`` (AdamW's moments are created at the
  first step, after the activations are freed);
* ``peak_mb``: steady-state training total, comparable with the paper's figures:
  weights (and a native 16-bit copy) + AdamW + grads + activation peak + the input
  window (float32).

The constants ``k_*`` are operation counts, not fits; docs/efficiency.md gives the
measured error.
"""
import dataclasses
import math
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from losa_plugin.utils.meta_build import build_model_on_meta
from .strategies import _inner_backbone

MB = 2.0**20
K_BLOCK = 10
K_SAVED = 20
K_BWD = 10
K_HEAD = 180
#: saved tensors per clip and block, in [N, C] units, of a frozen ViT block run with
#: autograd, with the adapter (configs' widths); see the module docstring
K_PEFT_VIT = {'STAdapter': 12.0, 'AIMAdapter': 19.5, 'TIAdapter': 13.0}
#: the same for SlowFast, per element of the residual blocks' outputs
K_PEFT_CNN = {'STAdapter': 4.7, 'AIMAdapter': 5.1, 'TIAdapter': 6.0}
#: full fine-tuning of SlowFast (weights learn): saved per residual-block output element
K_FULL_CNN = 3.75


@dataclasses.dataclass
class MemoryEstimate:
    """Estimated memory, MiB per term; see the module docstring."""
    frames: int
    clips: int
    learnable_params: int
    total_params: int
    terms: Dict[str, float]
    activation_peak_mb: float
    step_growth_mb: float
    peak_mb: float

    def as_dict(self) -> Dict:
        return dataclasses.asdict(self)


def _trace_clip(backbone: torch.nn.Module, height: int,
                width: int) -> Tuple[List[tuple], List[int]]:
    """Per tap ``(T_i, H_i, W_i, C_i)`` of one clip, and the output sizes of its
    residual blocks (SlowFast; empty for a ViT), traced on the meta device."""
    from mmaction.models.backbones.resnet3d import Bottleneck3d
    from losa_plugin.models.backbones.peft import WindowInfo
    backbone = backbone.to('meta')
    clip = torch.empty(1, 3, backbone.clip_len, height, width, device='meta')
    sizes: List[int] = []
    hooks = [m.register_forward_hook(lambda mod, args, out: sizes.append(out.numel()))
             for m in backbone.modules() if isinstance(m, Bottleneck3d)]
    if hasattr(backbone, 'adapters'):
        backbone._window = WindowInfo(1, torch.ones(1, 1, dtype=torch.bool, device='meta'))
    try:
        with torch.no_grad():
            taps = backbone._forward_clips(clip)
    finally:
        backbone._window = None
        for h in hooks:
            h.remove()
    return [tuple(t.shape[1:]) for t in taps], sizes


def _tap_shapes(backbone: torch.nn.Module, height: int, width: int) -> List[tuple]:
    """Per tap ``(T_i, H_i, W_i, C_i)`` of one clip, traced on the meta device."""
    return _trace_clip(backbone, height, width)[0]


def _traced_neck_bytes(neck: torch.nn.Module, shapes: List[tuple], clips: int,
                       tap_dtype: torch.dtype) -> float:
    """Bytes autograd saves in ``neck`` over one window of stored taps (meta device)."""
    from losa_plugin.models.backbones.tap_output import TapOutput
    neck = neck.to('meta')
    feats = tuple(torch.empty((1, clips) + tuple(s), dtype=tap_dtype, device='meta')
                  for s in shapes)
    taps = TapOutput(feats, tuple(range(1, len(feats) + 1)),
                     torch.ones(1, clips, dtype=torch.bool, device='meta'))
    if getattr(neck, 'layer_ids', None) is not None:
        taps = taps._replace(layer_ids=tuple(neck.layer_ids))
    inputs = {id(f) for f in feats}
    seen, total = set(), [0]

    def pack(t):
        base = t._base if t._base is not None else t
        if not isinstance(t, torch.nn.Parameter) and id(base) not in inputs | seen:
            seen.add(id(base))
            total[0] += base.numel() * base.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        neck(taps)
    return float(total[0])


def _vit_tokens(backbone: torch.nn.Module, height: int, width: int) -> Optional[Dict]:
    """Token count ``N``, width ``C``, heads and blocks run, for a ``LayerTapViT``."""
    vit = getattr(backbone, 'backbone', None)
    if vit is None or not hasattr(vit, 'blocks'):
        return None
    t = backbone.clip_len // backbone.tubelet_size
    n_tok = t * (height // vit.patch_size) * (width // vit.patch_size)
    heads = getattr(vit.blocks[0].attn, 'num_heads', 1)
    return dict(tokens=n_tok, channels=vit.embed_dims, heads=heads,
                blocks=backbone.layer_ids[-1],
                fused=bool(getattr(backbone, 'fused_attention', True)))


def _head_terms(head_cfg: Dict, grid_len: int) -> float:
    width = head_cfg.get('embed_dims', 512)
    return grid_len * width * K_HEAD * 4


def _stored_shape(shape: tuple, tap_reduce: Optional[str], pool: int) -> tuple:
    """Per clip, the stored form of a tap ``(T_i, H_i, W_i, C_i)``."""
    t, h, w, c = shape
    if tap_reduce == 'spatial_mean':
        return (t, c)
    if tap_reduce == 'spatial_pool':
        return (t, min(pool, h), min(pool, w), c)
    return shape


def _neck_terms(model, neck_cfg: Dict, shapes: List[tuple], clips: int,
                tap_bytes: int, reduced: bool,
                attention_materialized: bool) -> Dict[str, float]:
    """``shapes``: the stored (possibly pooled) per-clip tap shapes; ``reduced``: no
    conv output is kept until the backward pass (taps already spatially averaged
    ``[T_i, C_i]``, or recomputed per clip)."""
    neck = getattr(model, 'neck', None)
    out = dict(neck_spatial=0.0, neck_adapters=0.0)
    if neck is None or not getattr(neck, 'has_adapters', False):
        return out
    c = neck.out_channels
    adapted = list(neck.adapter_taps)
    spatial_mode = (neck_cfg.get('spatial_cfg') or {}).get('mode', 'conv')
    if spatial_mode == 'conv' and not reduced:
        # the conv output, in the taps' dtype (the conv runs in it), kept for GELU
        for i in adapted + [len(shapes) - 1]:
            out['neck_spatial'] += clips * math.prod(shapes[i]) * tap_bytes
    # reduced features of every used layer: LayerNorm input and the normalised,
    # masked output the adapters' projections keep; adapted layers at their own width
    widths = list(getattr(neck, 'query_channels', [c] * len(adapted))) + [c]
    for i, width in zip(adapted + [len(shapes) - 1], widths):
        out['neck_spatial'] += clips * shapes[i][0] * width * 4 * 2
    branches = []
    if neck.use_short:
        branches.append(neck.short_adapters)
    if neck.use_long:
        branches.append(neck.long_adapters)
    t_n = shapes[-1][0]
    kv_tokens = clips * t_n
    for k, i in enumerate(adapted):
        q_tokens = clips * shapes[i][0]
        for adapters in branches:
            attn = adapters[k].attn
            d, h = attn.dim, attn.n_heads
            if adapters is neck.short_adapters:
                r = adapters[k].short_range_clips
                win = clips if r is None else min(2 * r + 1, clips)
                keys = clips * win * t_n  # the unfolded windows are copies
            else:
                keys = kv_tokens
            probs = h * q_tokens * keys // clips if adapters is neck.short_adapters \
                else h * q_tokens * keys
            # q (after +pos) and the attention output; k and v (after +pos)
            saved = q_tokens * 2 * d + keys * 2 * d
            out['neck_adapters'] += 4 * (saved + (probs if attention_materialized else 0))
    # the fusion keeps the stack of every layer's output per branch, and Proj's input
    out['neck_adapters'] += 4 * kv_tokens * c * (len(branches) * len(adapted) + 2)
    return out


def _recompute_saved(neck, neck_cfg: Dict, shapes: List[tuple], n: int,
                    tap_bytes: int) -> float:
    """Bytes the spatial blocks of one micro-batch of ``n`` clips save when the backward
    pass recomputes it (``tap_recompute``): the stored-form taps (the conv's input) and
    the conv outputs (kept for GELU) in the taps' dtype, the LayerNorm inputs (float32)."""
    if neck is None or not getattr(neck, 'has_adapters', False):
        return 0.0
    used = list(neck.adapter_taps) + [len(shapes) - 1]
    widths = list(neck.query_channels) + [neck.out_channels]
    conv = (neck_cfg.get('spatial_cfg') or {}).get('mode', 'conv') == 'conv' \
        and len(shapes[-1]) == 4
    total = 0.0
    for i, width in zip(used, widths):
        total += (2 if conv else 1) * math.prod(shapes[i]) * tap_bytes
        total += shapes[i][0] * width * 4
    return n * total


def _peft_saved(backbone, bb_cfg: Dict, vit: Optional[Dict], tok_c: int,
                block_sizes: List[int], clips: int, n: int, act_bytes: int) -> float:
    """Bytes saved for the backward pass through a frozen backbone with adapters
    (``PEFTLayerTap*``): see the module docstring."""
    adapter = type(next(iter(backbone.adapters.values()))).__name__
    if vit is not None:
        blocks = vit['blocks']
        per_block = K_PEFT_VIT[adapter] * tok_c                 # elements, one clip
        per_clip, block_in = blocks * per_block, blocks * tok_c
        largest = per_block
    else:
        per_clip = K_PEFT_CNN[adapter] * sum(block_sizes)
        block_in = sum(block_sizes)
        largest = K_PEFT_CNN[adapter] * max(block_sizes)
        tok_c = max(block_sizes)
    if bb_cfg.get('with_cp', False):
        # block inputs kept; one block recomputed for a micro-batch in the backward
        saved = clips * block_in * act_bytes + n * largest * act_bytes
    else:
        saved = clips * per_clip * act_bytes
    return saved + n * K_BWD * tok_c * 4


def estimate_memory(cfg, frames: int, height: int = 224, width: int = 224,
                    attention_materialized: bool = False) -> MemoryEstimate:
    """Estimate peak training memory of ``cfg.model`` on one window (batch 1).

    Args:
        cfg (Config | dict | str): a config (file name, ``Config``) or a model dict.
        frames (int): window length ``F`` (a multiple of ``clip_len``).
        height (int): frame height. Defaults to 224.
        width (int): frame width. Defaults to 224.
        attention_materialized (bool): count the adapters' attention probabilities
            (a math-path SDPA keeps them; the fused CPU / CUDA kernels do not).
            Defaults to False.

    Returns:
        MemoryEstimate
    """
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    model_cfg = cfg.get('model', cfg) if isinstance(cfg, (Config, dict)) else cfg
    model_cfg = dict(model_cfg)
    if 'backbone' not in model_cfg or model_cfg['backbone'] is None:
        raise ValueError('estimate_memory: the model config has no backbone')
    init_default_scope('mmaction')
    model = build_model_on_meta(model_cfg)
    learnable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    frozen_params = total - learnable
    backbone = getattr(model.backbone, 'inner', model.backbone)
    bb_cfg = _inner_backbone(model_cfg)
    if frames % backbone.clip_len:
        raise ValueError(f'estimate_memory: frames={frames} is not a multiple of '
                         f'clip_len={backbone.clip_len}')
    clips = frames // backbone.clip_len
    n = min(backbone.clip_batch, clips)
    shapes, block_sizes = _trace_clip(backbone, height, width)
    peft = hasattr(backbone, 'adapters')  # adapters inside the frozen backbone
    tap_reduce = bb_cfg.get('tap_reduce')
    reduced = tap_reduce == 'spatial_mean'
    neck = getattr(model, 'neck', None)
    # the spatial blocks run per clip in the clip loop, the taps recomputed in backward
    recompute = bool(bb_cfg.get('tap_recompute', False)) and hasattr(neck, 'reduce_clip_taps')
    stored_shapes = [_stored_shape(s, tap_reduce, bb_cfg.get('tap_pool_size', 4))
                     for s in shapes]
    frozen = bb_cfg.get('frozen', True) and not peft
    tap_bytes = 2 if (bb_cfg.get('dtype') and (frozen or peft)) else 4
    act_bytes = 2 if (bb_cfg.get('dtype') and (frozen or peft)) else 4
    raw = [math.prod(s) for s in shapes]
    stored = [math.prod(s) for s in stored_shapes]
    terms: Dict[str, float] = {}
    terms['frozen_weights'] = frozen_params * 4
    lowp = getattr(backbone, 'lowp', None)  # the native 16-bit path's weight copy
    terms['lowp_weights'] = float(sum(b.numel() * b.element_size()
                                      for b in lowp.buffers())) if lowp is not None else 0.0
    terms['learnable_weights'] = learnable * 4
    terms['grads'] = learnable * 4
    terms['adamw'] = learnable * 8
    terms['input'] = frames * height * width * 3 * 4
    terms['taps'] = 0.0 if recompute else clips * sum(stored) * tap_bytes
    vit = _vit_tokens(backbone, height, width)
    if vit is not None:
        tok_c = vit['tokens'] * vit['channels']
        attn = 0 if vit['fused'] else 2 * vit['heads'] * vit['tokens']**2
    else:  # SlowFast: the largest tap stands in for a stage's activations
        tok_c, attn = max(raw), 0
    raw_bytes = 2 if lowp is not None else 4
    terms['backbone_transient'] = n * (K_BLOCK * tok_c * act_bytes + attn * act_bytes
                                       + sum(raw) * raw_bytes)
    if frozen:
        terms['backbone_saved'] = 0.0
    elif peft:
        terms['backbone_saved'] = _peft_saved(backbone, bb_cfg, vit, tok_c, block_sizes,
                                              clips, n, act_bytes)
    elif vit is None and block_sizes:  # SlowFast: counted per residual block
        clip_copy = frames * height * width * 3 * 4
        if bb_cfg.get('with_cp', False):
            saved = clips * sum(block_sizes) * 4 + n * K_FULL_CNN * max(block_sizes) * 4
        else:
            saved = clips * K_FULL_CNN * sum(block_sizes) * 4
        terms['backbone_saved'] = saved + clip_copy + n * K_BWD * max(block_sizes) * 4
    else:
        blocks = vit['blocks'] if vit is not None else len(shapes)
        clip_copy = frames * height * width * 3 * 4
        if bb_cfg.get('with_cp', False):
            saved = clips * blocks * tok_c * 4 + n * (K_SAVED * tok_c + attn) * 4
        else:
            saved = clips * blocks * (K_SAVED * tok_c + attn) * 4
        terms['backbone_saved'] = saved + clip_copy + n * K_BWD * tok_c * 4
    neck_cfg = model_cfg.get('neck') or {}
    terms.update(_neck_terms(model, neck_cfg, stored_shapes, clips, tap_bytes,
                             reduced or recompute, attention_materialized))
    terms['recompute_saved'] = _recompute_saved(neck, neck_cfg, stored_shapes, n, tap_bytes) \
        if recompute else 0.0
    if neck is not None and not hasattr(neck, 'has_adapters') and \
            any(p.requires_grad for p in neck.parameters()):
        # a neck other than LoSA's with parameters (UniPT): count what autograd saves
        tap_dtype = torch.bfloat16 if tap_bytes == 2 else torch.float32
        terms['neck_adapters'] += _traced_neck_bytes(neck, stored_shapes, clips, tap_dtype)
    grid_len = clips * shapes[-1][0]
    terms['head'] = _head_terms(model_cfg.get('head') or {}, grid_len)

    if frozen:
        backbone_phase = terms['taps'] + terms['backbone_transient']
        neck_phase = (terms['taps'] + terms['neck_spatial'] + terms['neck_adapters']
                      + terms['head'])
        act_peak = max(backbone_phase, neck_phase)
        if recompute:
            # one copy of the reduced features (half the neck_spatial term) in the
            # clip loop; in the backward pass, their gradient beside one micro-batch's
            # recomputed frozen forward and spatial blocks
            kept = terms['neck_spatial'] / 2
            act_peak = max(kept + terms['backbone_transient'], neck_phase,
                           kept + terms['backbone_transient'] + terms['recompute_saved'])
    else:
        act_peak = (terms['backbone_saved'] + terms['taps'] + terms['head']
                    + terms['neck_spatial'] + terms['neck_adapters'])
    step_growth = max(act_peak + terms['grads'], terms['grads'] + terms['adamw'])
    peak = (terms['frozen_weights'] + terms['lowp_weights'] + terms['learnable_weights']
            + terms['adamw'] + terms['grads'] + act_peak + terms['input'])
    return MemoryEstimate(frames=frames, clips=clips, learnable_params=learnable,
                          total_params=total,
                          terms={k: v / MB for k, v in terms.items()},
                          activation_peak_mb=act_peak / MB, step_growth_mb=step_growth / MB,
                          peak_mb=peak / MB)
