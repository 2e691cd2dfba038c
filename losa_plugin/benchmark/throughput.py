"""Frozen-backbone forward throughput as a fraction of the machine's matmul peak.

Used by ``tools/benchmark.py --throughput`` (issue 17). Three things are measured in
one process, **interleaved**: each round times one ``n x n`` matrix product per dtype
(the peak) and then one frozen forward of every backbone variant, so that a change of
the machine's load between rounds hits the peak and the forwards alike. Figures are
medians over the rounds; ``fraction`` is the median forward GFLOP/s over the median
peak of the variant's compute dtype, ``fraction_paired`` the median of the per-round
ratios.

FLOPs are counted from the architecture (:func:`vit_flops_per_clip`; one multiply-add
= 2 FLOPs; LayerNorm, softmax, GELU, additions are not counted, they are
``O(N * C)`` against the matmuls' ``O(N * C^2)``):

* patch embedding: ``2 * N * (3 * t * p^2) * C``;
* per block: ``qkv`` ``2 N C (3C)``, ``proj`` ``2 N C^2``, MLP ``2 * 2 N C C_h``
  (``C_h = mlp_ratio * C``), attention products ``q k^T`` and ``P v``: ``2 * 2 N^2 C``;
  with ``C_h = 4C``: ``24 N C^2 + 4 N^2 C``;
* ``N = (clip_len / t) * (H / p) * (W / p)`` tokens a clip; blocks up to the last tap.

ViT-B at 16 x 224 x 224 (N = 1568): 3.7 + 12 * (22.2 + 7.6) = 360.7 GFLOP a clip.
"""
import os
import statistics
import subprocess
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

#: profiler op names by what bounds a forward (self time is summed per category)
_CATEGORIES = (
    ('attention', ('scaled_dot_product', 'flash_attention', 'efficient_attention')),
    ('matmul', ('addmm', 'aten::mm', 'aten::bmm', 'linear_pointwise', 'convolution',
                'aten::matmul', 'aten::baddbmm')),
    ('convert / copy', ('copy_', '_to_copy', 'clone', 'contiguous')),
    ('layer norm', ('layer_norm', )),
    ('elementwise', ('add', 'mul', 'gelu', 'div', 'sub', 'mean', 'sum', 'cat', 'index')),
)


def vit_flops_per_clip(embed_dims: int, depth: int, tokens: int, patch_volume: int,
                       mlp_hidden: Optional[int] = None,
                       in_channels: int = 3) -> Dict[str, float]:
    """FLOPs of one clip through a ViT's patch embedding and ``depth`` blocks.

    Args:
        embed_dims (int): ``C``.
        depth (int): blocks run.
        tokens (int): ``N`` tokens a clip.
        patch_volume (int): ``t * p * p`` (tubelet x patch x patch).
        mlp_hidden (int, optional): ``C_h``; default ``4 C``.
        in_channels (int): Defaults to 3.

    Returns:
        dict: ``patch``, ``linear`` (qkv, proj, MLP of all blocks), ``attention``
        (``q k^T`` and ``P v`` of all blocks) and ``total``.
    """
    c, n = embed_dims, tokens
    hidden = 4 * c if mlp_hidden is None else mlp_hidden
    patch = 2.0 * n * in_channels * patch_volume * c
    linear = depth * 2.0 * n * c * (3 * c + c + 2 * hidden)
    attention = depth * 4.0 * n * n * c
    return dict(patch=patch, linear=linear, attention=attention,
                total=patch + linear + attention)


def layer_tap_vit_flops(model: nn.Module, height: int, width: int) -> Dict[str, float]:
    """:func:`vit_flops_per_clip` of a ``LayerTapViT``'s architecture at ``H x W``."""
    vit = model.backbone
    p, t = vit.patch_size, model.tubelet_size
    tokens = (model.clip_len // t) * (height // p) * (width // p)
    blk = vit.blocks[0]
    return vit_flops_per_clip(vit.embed_dims, model.layer_ids[-1], tokens, t * p * p,
                              mlp_hidden=blk.mlp.layers[0][0].out_features,
                              in_channels=vit.patch_embed.projection.in_channels)


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def _seconds_per_call(fn: Callable[[], object], device: str, min_seconds: float) -> float:
    """Mean wall time of ``fn()`` over as many calls as fill ``min_seconds`` (at least
    one), so that short calls are not one scheduler time slice's noise."""
    _sync(device)
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        _sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return elapsed / calls


def matmul_gflops(a: torch.Tensor, b: torch.Tensor, min_seconds: float = 0.0) -> float:
    """GFLOP/s of ``a @ b`` (``2 n^3`` FLOPs for square ``n x n``)."""
    s = _seconds_per_call(lambda: a @ b, a.device.type, min_seconds)
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1] / s / 1e9


def forward_seconds(model: nn.Module, frames: torch.Tensor,
                    min_seconds: float = 0.0) -> float:
    """Wall time of one frozen forward of ``model`` over ``frames``."""
    return _seconds_per_call(lambda: model(frames), frames.device.type, min_seconds)


def load_average() -> Dict:
    """The 1 / 5 / 15-minute load averages and ``uptime``'s line."""
    try:
        line = subprocess.run(['uptime'], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        line = ''
    return dict(loadavg=list(os.getloadavg()), uptime=line, cpus=os.cpu_count())


def measure_throughput(variants: Dict[str, Dict], frames: torch.Tensor,
                       flops_per_clip: float, repeats: int = 5, matmul_n: int = 4096,
                       warmup: int = 1, min_seconds: float = 1.0,
                       progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Interleaved rounds of the matmul peak and the variants' frozen forwards.

    Args:
        variants (dict): name -> ``dict(model=..., dtype=torch.float32 | bfloat16 |
            float16)``, the dtype whose matmul peak the variant is compared with.
        frames (Tensor): ``[1, 3, F, H, W]``, ``F / clip_len`` clips.
        flops_per_clip (float): the architecture's count (:func:`vit_flops_per_clip`).
        repeats (int): rounds. Defaults to 5.
        matmul_n (int): size of the square products. Defaults to 4096.
        warmup (int): untimed rounds first (one-time costs: the 16-bit weight copy,
            kernel selection, allocator growth). Defaults to 1.
        min_seconds (float): each timing repeats its call until this much time has
            passed and takes the mean (small models, small products). Defaults to 1.
        progress (callable, optional): called with a short message per round.

    Returns:
        dict: ``peaks`` (per dtype: ``gflops`` median and ``rounds``), ``rows`` (per
        variant: ``clips_per_s``, ``gflops``, ``fraction``, ``fraction_paired``,
        ``seconds`` per round), ``load_before`` / ``load_after``.
    """
    if repeats < 1:
        raise ValueError(f'measure_throughput: repeats must be >= 1, got {repeats}')
    device = frames.device
    clips = frames.shape[2] // next(iter(variants.values()))['model'].clip_len
    gen = torch.Generator(device='cpu').manual_seed(0)
    dtypes = sorted({v['dtype'] for v in variants.values()}, key=str)
    mats = {dt: (torch.randn(matmul_n, matmul_n, generator=gen).to(device=device, dtype=dt),
                 torch.randn(matmul_n, matmul_n, generator=gen).to(device=device, dtype=dt))
            for dt in dtypes}
    peaks: Dict[torch.dtype, List[float]] = {dt: [] for dt in dtypes}
    seconds: Dict[str, List[float]] = {name: [] for name in variants}
    load_before = load_average()
    with torch.no_grad():
        for r in range(-warmup, repeats):
            for dt in dtypes:
                g = matmul_gflops(*mats[dt], min_seconds=min_seconds)
                if r >= 0:
                    peaks[dt].append(g)
            for name, v in variants.items():
                s = forward_seconds(v['model'], frames, min_seconds=min_seconds)
                if r >= 0:
                    seconds[name].append(s)
            if progress is not None and r >= 0:
                progress(f'round {r + 1}/{repeats}: ' + ', '.join(
                    f'{n} {clips / seconds[n][-1]:.3f} clips/s' for n in variants))
    peak_med = {dt: statistics.median(v) for dt, v in peaks.items()}
    rows = []
    for name, v in variants.items():
        dt = v['dtype']
        gflops = [clips * flops_per_clip / s / 1e9 for s in seconds[name]]
        rows.append(dict(
            variant=name, dtype=str(dt).replace('torch.', ''), clips=clips,
            clips_per_s=statistics.median(clips / s for s in seconds[name]),
            gflops=statistics.median(gflops), peak_gflops=peak_med[dt],
            fraction=statistics.median(gflops) / peak_med[dt],
            fraction_paired=statistics.median(g / p for g, p in zip(gflops, peaks[dt])),
            seconds=seconds[name]))
    return dict(peaks={str(dt).replace('torch.', ''): dict(gflops=peak_med[dt],
                                                            rounds=peaks[dt])
                       for dt in dtypes},
                rows=rows, clips=clips, repeats=repeats, matmul_n=matmul_n,
                min_seconds=min_seconds,
                gflop_per_clip=flops_per_clip / 1e9, load_before=load_before,
                load_after=load_average())


def profile_forward(model: nn.Module, frames: torch.Tensor, flops: Dict[str, float],
                    clips: int, top: int = 12) -> Dict:
    """Self CPU time of one forward by category (attention kernel, matmuls, dtype
    conversions and copies, LayerNorm, other elementwise) and the GFLOP/s the matmuls
    and the attention kernel reach on their own FLOPs.

    Args:
        model: the frozen backbone.
        frames: ``[1, 3, F, H, W]``.
        flops: :func:`vit_flops_per_clip` of one clip.
        clips: clips in ``frames``.
        top: how many ops to list.
    """
    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad():
        model(frames)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            model(frames)
            wall = time.perf_counter() - t0
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    cats = {name: 0.0 for name, _ in _CATEGORIES}
    cats['other'] = 0.0
    for e in events:
        for name, keys in _CATEGORIES:
            if any(k in e.key for k in keys):
                cats[name] += e.self_cpu_time_total / 1e6
                break
        else:
            cats['other'] += e.self_cpu_time_total / 1e6
    ops = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    mm_flops = clips * (flops['linear'] + flops['patch'])
    return dict(
        wall_s=wall, self_s=total,
        categories={k: dict(seconds=v, share=v / total if total else 0.0)
                    for k, v in cats.items()},
        matmul_gflops=mm_flops / cats['matmul'] / 1e9 if cats['matmul'] else None,
        attention_gflops=(clips * flops['attention'] / cats['attention'] / 1e9
                          if cats['attention'] else None),
        top_ops=[dict(op=e.key, self_s=e.self_cpu_time_total / 1e6, calls=e.count)
                 for e in ops])


# --------------------------------------------------------------------------- variants
#: variant name -> (LayerTapViT overrides, compute dtype of its matmul peak, compile)
VARIANTS = {
    'fp32': (dict(dtype=None), torch.float32, None),
    'bf16': (dict(dtype='bf16', lowp_mode='native'), torch.bfloat16, None),
    'bf16-autocast': (dict(dtype='bf16', lowp_mode='autocast'), torch.bfloat16, None),
    # torch.compile (inductor) of the clip's blocks on the autocast path; '-freezing'
    # also folds the frozen weights into the graph (inductor's ``freezing`` switch)
    'bf16-compile': (dict(dtype='bf16', lowp_mode='autocast'), torch.bfloat16, 'plain'),
    'bf16-compile-freezing': (dict(dtype='bf16', lowp_mode='autocast'), torch.bfloat16,
                              'freezing'),
}

#: the ViT-B shape of docs/efficiency.md (VideoMAEv2 ViT-B: 768 wide, 12 blocks)
VIT_B = dict(type='VisionTransformer', img_size=224, patch_size=16, embed_dims=768,
             depth=12, num_heads=12, mlp_ratio=4, qkv_bias=True, num_frames=16,
             tubelet_size=2)


def build_variants(backbone_cfg: Dict, names: List[str], device: str = 'cpu',
                   seed: int = 0) -> Dict[str, Dict]:
    """One frozen ``LayerTapViT`` per variant name, all with the same random weights.

    Args:
        backbone_cfg (dict): a ``LayerTapViT`` config (``pretrained`` is dropped:
            throughput does not depend on the weights' values).
        names (list[str]): keys of :data:`VARIANTS`.
        device (str): Defaults to ``'cpu'``.
        seed (int): Defaults to 0.

    Returns:
        dict: name -> ``dict(model=..., dtype=<the peak's dtype>)``.
    """
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f'build_variants: unknown variant(s) {unknown}; choose from '
                         f'{list(VARIANTS)}')
    if backbone_cfg.get('type', 'LayerTapViT') != 'LayerTapViT':
        raise ValueError(f"build_variants: a LayerTapViT config is needed, got type "
                         f"{backbone_cfg.get('type')!r}")
    state, out = None, {}
    for name in names:
        over, dtype, compile_mode = VARIANTS[name]
        cfg = dict(backbone_cfg, type='LayerTapViT', frozen=True, pretrained=None,
                   init_cfg=None, **over)
        torch.manual_seed(seed)
        model = MODELS.build(cfg)
        if state is None:  # the constructors' random init (values do not matter here)
            state = model.state_dict()
        else:
            model.load_state_dict(state)
        model = model.to(device).eval()
        if compile_mode is not None:
            if compile_mode == 'freezing':
                import torch._inductor.config as inductor_config
                inductor_config.freezing = True  # this process only (a tool's choice)
            model._forward_clips = torch.compile(model._forward_clips, dynamic=False)
        if device != 'cuda' and dtype == torch.float16:
            dtype = torch.bfloat16
        out[name] = dict(model=model, dtype=dtype)
    return out


def format_table(result: Dict) -> str:
    """The throughput result as a text table."""
    lines = [result.get('setting', ''),
             'matmul peak ({0}^2): '.format(result['matmul_n']) + ', '.join(
                 f'{k} {v["gflops"]:.0f} GFLOP/s' for k, v in result['peaks'].items())]
    head = (f'{"variant":<24}{"dtype":<10}{"clips/s":>9}{"GFLOP/s":>9}{"peak":>7}'
            f'{"fraction":>10}{"(paired)":>10}')
    lines += [head, '-' * len(head)]
    for r in result['rows']:
        lines.append(f'{r["variant"]:<24}{r["dtype"]:<10}{r["clips_per_s"]:>9.3f}'
                     f'{r["gflops"]:>9.1f}{r["peak_gflops"]:>7.0f}{r["fraction"]:>10.3f}'
                     f'{r["fraction_paired"]:>10.3f}')
    lb, la = result['load_before']['loadavg'], result['load_after']['loadavg']
    lines.append(f'load average (1 / 5 / 15 min): before {lb[0]:.2f} / {lb[1]:.2f} / '
                 f'{lb[2]:.2f}, after {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}')
    for name, prof in (result.get('profiles') or {}).items():
        cats = ', '.join(f'{k} {v["share"]:.0%}' for k, v in prof['categories'].items()
                         if v['share'] >= 0.005)
        mm = prof['matmul_gflops'] or 0.0
        att = prof['attention_gflops'] or 0.0
        lines.append(f'profile {name}: {cats}; matmuls {mm:.0f} GFLOP/s, attention '
                     f'kernel {att:.0f} GFLOP/s')
    return '\n'.join(lines) + '\n'


def backbone_of(config: Optional[str]) -> Tuple[Dict, str]:
    """``(LayerTapViT config, label)``: ``config``'s backbone (inside a tap cache if
    wrapped), or the ViT-B shape (:data:`VIT_B`, all 12 layers tapped) for None."""
    if config is None:
        return (dict(type='LayerTapViT', vit=dict(VIT_B), clip_len=16, clip_batch=4),
                'ViT-B shape, all 12 layers tapped')
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    from .strategies import _inner_backbone
    import losa_plugin  # noqa: F401
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    return dict(_inner_backbone(cfg.model.to_dict())), config


def throughput_report(config: Optional[str], names: List[str],
                      size: Optional[int] = None, clips: Optional[int] = None,
                      repeats: int = 5, matmul_n: int = 4096, device: str = 'cpu',
                      profile: bool = False, min_seconds: float = 1.0,
                      progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Build the variants of ``backbone_cfg`` and measure them (``--throughput``).

    Args:
        config (str, optional): a model config whose backbone is measured; None: the
            ViT-B shape (:func:`backbone_of`).
        names (list[str]): :data:`VARIANTS` keys.
        size (int, optional): frame height = width; default the ViT's ``img_size``.
        clips (int, optional): clips a forward; default the config's ``clip_batch``
            (one micro-batch).
        repeats, matmul_n, min_seconds: see :func:`measure_throughput`.
        device (str): Defaults to ``'cpu'``.
        profile (bool): add :func:`profile_forward` of each variant.
        progress (callable, optional): per-round messages.

    Returns:
        dict: :func:`measure_throughput`'s result plus ``setting``, ``config``,
        ``size``, ``flops_per_clip``, ``threads`` and, with ``profile``, ``profiles``.
    """
    backbone_cfg, label = backbone_of(config)
    size = size or int(backbone_cfg['vit'].get('img_size', 224))
    clips = clips or int(backbone_cfg.get('clip_batch', 4))
    backbone_cfg['clip_batch'] = clips  # one micro-batch a forward
    variants = build_variants(backbone_cfg, names, device=device)
    first = next(iter(variants.values()))['model']
    flops = layer_tap_vit_flops(first, size, size)
    gen = torch.Generator().manual_seed(0)
    frames = torch.randn(1, 3, clips * first.clip_len, size, size,
                         generator=gen).to(device)
    result = measure_throughput(variants, frames, flops['total'], repeats=repeats,
                                matmul_n=matmul_n, min_seconds=min_seconds,
                                progress=progress)
    threads = torch.get_num_threads()
    result.update(
        config=label, size=size, flops_per_clip=flops, threads=threads, device=device,
        setting=f'{label}: C={first.backbone.embed_dims}, {first.layer_ids[-1]} blocks, '
        f'{first.clip_len}x{size}x{size} clips, {clips} a forward, '
        f'{flops["total"] / 1e9:.2f} GFLOP a clip, {threads} thread(s), {device}, '
        f'{repeats} rounds')
    if profile:
        result['profiles'] = {name: profile_forward(v['model'], frames, flops, clips)
                              for name, v in variants.items()}
    return result
