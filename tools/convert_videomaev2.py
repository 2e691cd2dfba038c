"""Convert an original VideoMAEv2 checkpoint to MMAction2's ``VisionTransformer`` layout.

Usage::

    python tools/convert_videomaev2.py IN.pth OUT.pth [--num-frames 16] [--img-size 224]
        [--drop-head]

Input: a fine-tuned or distilled VideoMAEv2 encoder (``models/modeling_finetune.py`` of
OpenGVLab/VideoMAEv2), state under ``'model'``, ``'module'`` or at the top level. Its
keys map to ``mmaction/models/backbones/vit_mae.py`` as::

    patch_embed.proj.{weight,bias}      -> backbone.patch_embed.projection.{weight,bias}
    pos_embed (learnable only)          -> backbone.pos_embed
    blocks.N.norm1/norm2.*              -> backbone.blocks.N.norm1/norm2.*
    blocks.N.attn.qkv.weight            -> backbone.blocks.N.attn.qkv.weight
    blocks.N.attn.{q_bias,v_bias}       -> backbone.blocks.N.attn.{q_bias,v_bias}
    blocks.N.attn.proj.*                -> backbone.blocks.N.attn.proj.*
    blocks.N.mlp.fc1.*                  -> backbone.blocks.N.mlp.layers.0.0.*
    blocks.N.mlp.fc2.*                  -> backbone.blocks.N.mlp.layers.1.*
    blocks.N.gamma_1/gamma_2            -> backbone.blocks.N.gamma_1/gamma_2
    fc_norm.* / norm.*                  -> backbone.fc_norm.* / backbone.norm.*
    head.{weight,bias}                  -> cls_head.fc_cls.{weight,bias} (unless --drop-head)

VideoMAEv2 keeps its sinusoid position table outside the state dict while mmaction
stores it as a buffer, so when ``pos_embed`` is absent the table is written with
mmaction's own ``get_sinusoid_encoding`` for ``--num-frames`` x ``--img-size`` (patch
size read from the weights); the output then loads with ``strict=True``. Any other key
(a pre-training checkpoint's ``encoder.`` / ``decoder.`` keys, cos-attention ``scale``
...) or a shape inconsistent with the embedding width is an error. Files are read with
``torch.load(weights_only=True)``.
"""
import argparse
import os
import re
import sys
from typing import Dict

import torch

_RULES = [
    (r'patch_embed\.proj\.(weight|bias)', r'backbone.patch_embed.projection.\1'),
    (r'pos_embed', r'backbone.pos_embed'),
    (r'blocks\.(\d+)\.(norm1|norm2)\.(weight|bias)', r'backbone.blocks.\1.\2.\3'),
    (r'blocks\.(\d+)\.attn\.qkv\.weight', r'backbone.blocks.\1.attn.qkv.weight'),
    (r'blocks\.(\d+)\.attn\.(q_bias|v_bias)', r'backbone.blocks.\1.attn.\2'),
    (r'blocks\.(\d+)\.attn\.proj\.(weight|bias)', r'backbone.blocks.\1.attn.proj.\2'),
    (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)', r'backbone.blocks.\1.mlp.layers.0.0.\2'),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)', r'backbone.blocks.\1.mlp.layers.1.\2'),
    (r'blocks\.(\d+)\.(gamma_1|gamma_2)', r'backbone.blocks.\1.\2'),
    (r'(fc_norm|norm)\.(weight|bias)', r'backbone.\1.\2'),
    (r'head\.(weight|bias)', r'cls_head.fc_cls.\1'),
]


def _state_of(ckpt: object, path: str) -> Dict[str, torch.Tensor]:
    if not isinstance(ckpt, dict):
        raise TypeError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    for key in ('model', 'module', 'state_dict'):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def convert_state_dict(state: Dict[str, torch.Tensor], num_frames: int = 16,
                       img_size: int = 224, drop_head: bool = False,
                       source: str = '<state>') -> Dict[str, torch.Tensor]:
    """Map a VideoMAEv2 encoder state dict to mmaction ``VisionTransformer`` keys.

    Args:
        state: VideoMAEv2 keys -> tensors.
        num_frames: clip length the sinusoid table is built for. Defaults to 16.
        img_size: input size the sinusoid table is built for. Defaults to 224.
        drop_head: leave out ``head.*``. Defaults to False.
        source: name used in error messages.

    Returns:
        ``backbone.*`` (and ``cls_head.fc_cls.*``) keys -> tensors.
    """
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith('module.'):  # saved from a DDP-wrapped model
            key = key[len('module.'):]
        for pattern, target in _RULES:
            if re.fullmatch(pattern, key):
                new = re.sub(pattern, target, key)
                break
        else:
            unknown.append(key)
            continue
        if new.startswith('cls_head.') and drop_head:
            continue
        out[new] = value
    if unknown:
        hint = (' (a pre-training checkpoint? convert a fine-tuned or distilled encoder)'
                if any(k.startswith(('encoder.', 'decoder.')) for k in unknown) else '')
        raise KeyError(f'{source}: {len(unknown)} keys have no MMAction2 '
                       f'VisionTransformer counterpart{hint}: {unknown[:10]}')

    proj = out.get('backbone.patch_embed.projection.weight')
    if proj is None or proj.dim() != 5:
        raise KeyError(f'{source}: expected patch_embed.proj.weight of shape '
                       f'[C, 3, tubelet, patch, patch]')
    dim, _, tubelet, patch, _ = proj.shape
    for key, value in out.items():
        if key.endswith(('norm1.weight', 'norm2.weight', 'q_bias', 'v_bias', 'gamma_1',
                         'gamma_2')) and tuple(value.shape) != (dim, ):
            raise ValueError(f'{source}: {key} has shape {tuple(value.shape)}, expected '
                             f'({dim},) for embedding width {dim}')
        if key.endswith('attn.qkv.weight') and tuple(value.shape) != (3 * dim, dim):
            raise ValueError(f'{source}: {key} has shape {tuple(value.shape)}, expected '
                             f'({3 * dim}, {dim})')
    if 'backbone.pos_embed' not in out:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import losa_plugin  # noqa: F401  (its compat shims must precede mmaction.models)
        from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
        if num_frames % tubelet or img_size % patch:
            raise ValueError(f'{source}: num_frames={num_frames} / img_size={img_size} '
                             f'not divisible by tubelet={tubelet} / patch={patch}')
        num_patches = (num_frames // tubelet) * (img_size // patch)**2
        out['backbone.pos_embed'] = get_sinusoid_encoding(num_patches, dim)
    elif out['backbone.pos_embed'].shape[-1] != dim:
        raise ValueError(f'{source}: pos_embed width {out["backbone.pos_embed"].shape[-1]}'
                         f' != embedding width {dim}')
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='original VideoMAEv2 checkpoint')
    parser.add_argument('dst', help='output MMAction2 checkpoint')
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--drop-head', action='store_true', help='leave out head.*')
    args = parser.parse_args(argv)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    state = convert_state_dict(_state_of(ckpt, args.src), args.num_frames, args.img_size,
                               args.drop_head, source=args.src)
    torch.save(dict(state_dict=state, meta=dict(converted_from=args.src)), args.dst)
    sys.stdout.write(f'wrote {len(state)} tensors to {args.dst}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
