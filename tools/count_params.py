"""Count learnable and frozen parameters of a config's model, per part.

    python tools/count_params.py CONFIG [--cfg-options k=v ...] [--depth 2]

The model is built on the meta device (no memory is allocated, so ViT-g is instant).
The last line is ``learnable_params=<int> total_params=<int>``.
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
    print(f'learnable_params={learnable} total_params={total}')


if __name__ == '__main__':
    main()
