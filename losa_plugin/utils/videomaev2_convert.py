"""Convert an original VideoMAEv2 checkpoint to MMAction2's ``VisionTransformer`` layout
(the logic of ``tools/convert_videomaev2.py``).

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
    head.{weight,bias}                  -> cls_head.fc_cls.{weight,bias} (unless drop_head)

VideoMAEv2 keeps its sinusoid position table outside the state dict while mmaction
stores it as a buffer, so when ``pos_embed`` is absent the table is written with
mmaction's own ``get_sinusoid_encoding`` for ``num_frames`` x ``img_size`` (patch
size read from the weights); the output then loads with ``strict=True``. Any other key
(a pre-training checkpoint's ``encoder.`` / ``decoder.`` keys, cos-attention ``scale``
...) or a shape inconsistent with the embedding width is an error.

Files are read with ``torch.load(weights_only=True)``. VideoMAEv2's training script
saves its command line (``args``, an ``argparse.Namespace``) beside the weights; that
one class is allow-listed for the load (``torch.serialization.safe_globals``, scoped
to it). Anything else outside torch's allow-list is refused with an error naming it:
the file is never unpickled with ``weights_only=False``.
"""
import argparse
import pickle
import re
from typing import Dict

import torch

# what VideoMAEv2's checkpoints hold beside tensors and plain containers
SAFE_GLOBALS = (argparse.Namespace, )

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


def load_checkpoint(path: str) -> object:
    """``torch.load(path, weights_only=True)`` with :data:`SAFE_GLOBALS` allowed.

    Raises:
        ValueError: the file holds another class; names it and the file.
    """
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r'GLOBAL ([\w.]+)', str(e))
        what = found.group(1) if found else str(e).splitlines()[0]
        raise ValueError(
            f'{path}: holds {what}, which is outside the allow-list of a weights-only '
            f'load (tensors, containers and {[c.__name__ for c in SAFE_GLOBALS]}); '
            'the converter unpickles nothing else. If you trust the file, save its '
            "state dict ('model') to a file of its own and convert that") from None


def state_of(ckpt: object, path: str) -> Dict[str, torch.Tensor]:
    """The state dict inside a checkpoint (under 'model', 'module', 'state_dict' or at
    the top level)."""
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


def convert_file(src: str, dst: str, num_frames: int = 16, img_size: int = 224,
                 drop_head: bool = False) -> int:
    """Convert the checkpoint ``src`` and save it to ``dst``; returns the tensor count."""
    state = convert_state_dict(state_of(load_checkpoint(src), src), num_frames, img_size,
                               drop_head, source=src)
    torch.save(dict(state_dict=state, meta=dict(converted_from=src)), dst)
    return len(state)
