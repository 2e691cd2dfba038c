"""Fused attention for mmaction's ``VisionTransformer`` (issue "Backbone throughput").

mmaction's ``Attention`` (``mmaction/models/backbones/vit_mae.py``) materialises the
``[B, heads, N, N]`` attention matrix (``q @ k^T``, softmax, ``@ v``). For a 16x224x224
clip N = 1568 tokens, so that matrix dominates memory and time. Here the same module is
run through ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient
kernels where available) with the module's own parameters:

* the qkv projection is ``F.linear(x, qkv.weight, cat(q_bias, 0, v_bias))`` when the
  module has ``q_bias`` / ``v_bias`` (``qkv_bias=True``: VideoMAE keeps no key bias),
  else ``qkv`` as it is (no bias in mmaction);
* the channels split as ``(3, heads, head_dim)`` like mmaction's reshape;
* the softmax scale is the module's ``scale`` (``qk_scale`` or ``head_dim ** -0.5``);
* attention dropout uses ``attn_drop.p`` in training mode only; ``proj`` and
  ``proj_drop`` follow unchanged.

Nothing is copied: :func:`enable_fused_attention` binds :func:`fused_attention_forward`
as the ``forward`` of each existing ``Attention`` instance (parameters, state-dict keys
and hooks stay as they are) and :func:`disable_fused_attention` removes the binding,
restoring the class's own forward. Results equal the plain forward up to float rounding
(tests check 1e-5 in fp32). ``LayerTapViT(fused_attention=True)`` (the default) enables
it for both the frozen and the full fine-tuning (``frozen=False``) paths.
"""
import types

import torch
import torch.nn.functional as F
from einops import rearrange
from mmaction.models.backbones.vit_mae import Attention
from torch import Tensor, nn


def fused_attention_forward(attn: Attention, x: Tensor) -> Tensor:
    """mmaction ``Attention.forward`` computed with ``scaled_dot_product_attention``.

    Args:
        attn: the mmaction ``Attention`` module whose parameters are used.
        x: tokens ``[B, N, C]``.

    Returns:
        ``[B, N, C]``.
    """
    if getattr(attn, 'q_bias', None) is not None:
        k_bias = attn.v_bias.new_zeros(attn.v_bias.shape)
        qkv = F.linear(x, attn.qkv.weight, torch.cat((attn.q_bias, k_bias, attn.v_bias)))
    else:
        qkv = attn.qkv(x)
    q, k, v = rearrange(qkv, 'b n (three h d) -> three b h n d', three=3,
                        h=attn.num_heads).unbind(0)
    dropout_p = attn.attn_drop.p if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=attn.scale)
    out = rearrange(out, 'b h n d -> b n (h d)')
    return attn.proj_drop(attn.proj(out))


def _attention_modules(model: nn.Module) -> list:
    mods = [m for m in model.modules() if isinstance(m, Attention)]
    if not mods:
        raise TypeError(f'{type(model).__name__} holds no mmaction vit_mae.Attention '
                        'module; fused attention applies to mmaction VisionTransformer only')
    return mods


def enable_fused_attention(model: nn.Module) -> int:
    """Route every mmaction ``Attention`` inside ``model`` through SDPA.

    Returns:
        The number of attention modules switched.
    """
    mods = _attention_modules(model)
    for m in mods:
        m.forward = types.MethodType(fused_attention_forward, m)
    return len(mods)


def disable_fused_attention(model: nn.Module) -> int:
    """Restore the plain (class) forward of every mmaction ``Attention`` in ``model``."""
    mods = _attention_modules(model)
    for m in mods:
        m.__dict__.pop('forward', None)
    return len(mods)


def is_fused(attn: Attention) -> bool:
    """True when ``attn`` currently runs :func:`fused_attention_forward`."""
    fwd = attn.__dict__.get('forward')
    return getattr(fwd, '__func__', None) is fused_attention_forward
