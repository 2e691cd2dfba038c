"""Count learnable and frozen parameters of a config's model, per part.

    python tools/count_params.py CONFIG [--cfg-options k=v ...] [--depth 2]

The model is built on the meta device (no memory is allocated, so ViT-g is instant).
The line before the last is ``neck_params=<int> head_params=<int>``: ``neck_params`` counts
every learnable parameter outside the TAL head (the neck and, for full fine-tuning or
adapters inside the backbone, the backbone's learnable ones), i.e. the *backbone-side*
learnable parameters that the LoSA paper's Table 2 "learnable" column reports (its "Full"
rows are the backbones alone); ``head_params`` counts the head's. The last line is
``learnable_params=<int> total_params=<int>``.
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Tuple

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import losa_plugin  # noqa: E402,F401
from losa_plugin.utils.meta_build import build_model_on_meta  # noqa: E402


def count_by_part(model: torch.nn.Module, depth: int = 2) -> Dict[str, Tuple[int, int]]:
    """``{part: (learnable, frozen)}`` grouping parameter names by their first ``depth``
    components (e.g. ``neck.short_adapters``)."""
    parts: Dict[str, Tuple[int, int]] = OrderedDict()
    for name, p in model.named_parameters():
        key = '.'.join(name.split('.')[:depth])
        learn, frozen = parts.get(key, (0, 0))
        if p.requires_grad:
            learn += p.numel()
        else:
            frozen += p.numel()
        parts[key] = (learn, frozen)
    return parts


def split_neck_head(model: torch.nn.Module) -> Tuple[int, int]:
    """Learnable parameters ``(outside the head, in the head)``; the first is the
    backbone-side count of the paper's Table 2."""
    neck = head = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith('head.'):
            head += p.numel()
        else:
            neck += p.numel()
    return neck, head


def build_on_meta(cfg: Config) -> torch.nn.Module:
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return build_model_on_meta(cfg.model)


def main() -> None:
    parser = argparse.ArgumentParser(description='Count learnable / frozen parameters')
    parser.add_argument('config')
    parser.add_argument('--depth', type=int, default=2,
                        help='group parameters by this many name components')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_on_meta(cfg)
    parts = count_by_part(model, args.depth)
    width = max(len(k) for k in parts) if parts else 10
    print(f'{"part":<{width}}  {"learnable":>14}  {"frozen":>14}')
    for key, (learn, frozen) in parts.items():
        print(f'{key:<{width}}  {learn:>14,}  {frozen:>14,}')
    learnable = sum(v[0] for v in parts.values())
    total = learnable + sum(v[1] for v in parts.values())
    print(f'{"total":<{width}}  {learnable:>14,}  {total - learnable:>14,}')
    neck, head = split_neck_head(model)
    print(f'backbone-side learnable (neck + learnable backbone parts; the paper\'s Table 2 '
          f'column): {neck:,} = {neck / 1e6:.1f} M; TAL head: {head:,} = {head / 1e6:.1f} M')
    print(f'neck_params={neck} head_params={head}')
    print(f'learnable_params={learnable} total_params={total}')


if __name__ == '__main__':
    main()
