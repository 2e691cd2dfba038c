"""Plain vs fused attention in ``LayerTapViT`` (issue "Backbone throughput").

Reports, for a ViT-B/16 (random weights) at ``--frames`` x ``--size`` x ``--size``:

* frozen forward throughput (clips/s) with mmaction's attention and with SDPA;
* peak memory of one full fine-tuning step (``frozen=False``, forward + backward)
  with each path. On CUDA this is ``torch.cuda.max_memory_allocated``; on CPU it is the
  rise of the process's resident-set high-water mark during the step (``VmHWM`` after
  resetting it through ``/proc/self/clear_refs``), each path in a fresh subprocess so
  one does not hide the other.

Usage::

    python tools/benchmark_attention.py [--clips 2] [--frames 16] [--size 224]
        [--threads 1] [--repeats 1]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VIT_B = dict(type='VisionTransformer', img_size=224, patch_size=16, embed_dims=768, depth=12,
             num_heads=12, mlp_ratio=4, qkv_bias=True, num_frames=16, tubelet_size=2)


def build(fused: bool, frozen: bool, args) -> torch.nn.Module:
    import losa_plugin  # noqa: F401
    from mmaction.registry import MODELS
    vit = dict(VIT_B, img_size=args.size, num_frames=args.frames)
    model = MODELS.build(dict(type='LayerTapViT', vit=vit, clip_len=args.frames,
                              clip_batch=args.clips, frozen=frozen, fused_attention=fused,
                              tap_layers=[-1]))
    return model.to(args.device)


def _rss_kib():
    fields = dict(line.split(':', 1) for line in open('/proc/self/status'))
    return int(fields['VmRSS'].split()[0]), int(fields['VmHWM'].split()[0])


def throughput(fused: bool, args) -> float:
    model = build(fused, True, args)
    frames = torch.randn(1, 3, args.clips * args.frames, args.size, args.size,
                         device=args.device)
    model(frames)  # warm-up
    _sync(args)
    start = time.perf_counter()
    for _ in range(args.repeats):
        model(frames)
    _sync(args)
    return args.repeats * args.clips / (time.perf_counter() - start)


def train_step_peak_mib(fused: bool, args) -> float:
    model = build(fused, False, args).train()
    frames = torch.randn(1, 3, args.clips * args.frames, args.size, args.size,
                         device=args.device)
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM to the current RSS
        base = _rss_kib()[0] * 1024
    model(frames).feats[-1].float().square().mean().backward()
    peak = (torch.cuda.max_memory_allocated() if args.device == 'cuda' else
            _rss_kib()[1] * 1024)
    return (peak - base) / 2**20


def _sync(args):
    if args.device == 'cuda':
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description='plain vs fused attention benchmark')
    parser.add_argument('--clips', type=int, default=2)
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--only', choices=['speed-plain', 'speed-fused', 'mem-plain',
                                           'mem-fused'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.only:  # child process: one measurement, JSON on stdout
        kind, path = args.only.split('-')
        fn = throughput if kind == 'speed' else train_step_peak_mib
        sys.stdout.write(json.dumps(fn(path == 'fused', args)) + '\n')
        return
    results = {}
    for key in ('speed-plain', 'speed-fused', 'mem-plain', 'mem-fused'):
        cmd = [sys.executable, __file__, '--only', key] + sys.argv[1:]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[key] = json.loads(out.strip().splitlines()[-1])
    sys.stdout.write(
        f'ViT-B {args.frames}x{args.size}x{args.size}, {args.clips} clips, fp32, '
        f'{args.device}, {args.threads} thread(s)\n'
        f'frozen forward clips/s   plain {results["speed-plain"]:.3f}   '
        f'fused {results["speed-fused"]:.3f}   '
        f'(x{results["speed-fused"] / results["speed-plain"]:.2f})\n'
        f'full-FT step peak MiB    plain {results["mem-plain"]:.0f}   '
        f'fused {results["mem-fused"]:.0f}\n')


if __name__ == '__main__':
    main()
