"""A frozen mmaction ``VisionTransformer`` run natively in bf16 / fp16 (issue 17).

Under ``torch.autocast`` a frozen ViT pays, on every call, for what never changes: each
linear layer's float32 weight is cast to 16 bit, the float32 residual stream is cast
before every matmul and back after it, the LayerNorms run in float32 and the bias and
residual additions are separate passes over memory. On a CPU these conversions and
passes cost as much as the matmuls they feed (docs/efficiency.md, section 8).

:class:`FrozenViTLowp` holds a 16-bit copy of the frozen weights, made once and
refreshed only when the float32 weights change (a loaded checkpoint, ``init_weights``,
a device move), and runs the blocks with it, activations in 16 bit throughout:

* weights: ``qkv`` with mmaction's ``cat(q_bias, 0, v_bias)`` bias precomputed; the
  layer scales ``gamma_1`` / ``gamma_2`` (``init_values > 0``) folded into ``proj`` and
  the MLP's second linear (``gamma * (W x + b) = (gamma W) x + gamma b``, in float32,
  then rounded once);
* the residual stream is 16 bit (each residual addition rounds; the measured cost:
  taps ~2.3 bf16 units ``u = 2^-8`` from float32 against ~1.0 ``u`` under autocast,
  ``tests/test_bf16_throughput.py`` states the bound);
* on a CPU with oneDNN the linear layers run through ``torch.ops.mkldnn._linear_pointwise``
  (the kernel ``torch.compile`` emits for frozen CPU linears) with the bias, the exact
  (erf) GELU and the residual addition fused into the matmul; each is checked once
  against ``F.linear`` on a small input and the plain ops are used if it is missing or
  disagrees. Elsewhere (CUDA) plain ``F.linear`` (cuBLAS adds the bias in its epilogue);
* attention is ``F.scaled_dot_product_attention`` (flash / memory-efficient kernels),
  as in ``fused_attention.py``.

The copy is kept as non-persistent buffers: ``state_dict`` and checkpoints hold the
float32 weights only, ``.to(device)`` moves the copy, and the benchmark's weight count
includes it (2 B per frozen block / patch-embedding parameter, +50 % of those weights).

Eval-mode only (dropout, drop path are identities; the wrapper keeps a frozen backbone
in eval mode). :func:`lowp_unsupported` names what the fast path does not cover (e.g.
a norm other than ``nn.LayerNorm``, an FFN with more than two layers or its own layer
scale); the wrapper then stays on autocast.
"""
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import Attention, Block
from mmengine.logging import MMLogger
from torch import Tensor, nn

_LINEARS = ('qkv', 'proj', 'fc1', 'fc2')


def lowp_unsupported(vit: nn.Module) -> Optional[str]:
    """Why :class:`FrozenViTLowp` cannot run ``vit`` (None when it can)."""
    blocks = getattr(vit, 'blocks', None)
    if blocks is None or not len(blocks):
        return 'no blocks'
    for i, blk in enumerate(blocks):
        if not isinstance(blk, Block) or not isinstance(blk.attn, Attention):
            return f'block {i} is not an mmaction vit_mae.Block'
        if not (isinstance(blk.norm1, nn.LayerNorm) and isinstance(blk.norm2, nn.LayerNorm)):
            return f'block {i}: norms are not nn.LayerNorm'
        mlp = blk.mlp
        if getattr(mlp, 'num_fcs', None) != 2 or not isinstance(mlp.gamma2, nn.Identity):
            return f'block {i}: FFN is not Linear-act-Linear without layer scale'
        if not isinstance(mlp.layers[0][0], nn.Linear) or not isinstance(mlp.layers[1],
                                                                          nn.Linear):
            return f'block {i}: FFN layers are not nn.Linear'
    return None


def _gelu_algorithm(act: nn.Module) -> Optional[str]:
    """oneDNN's name of the GELU ``act`` computes, None if ``act`` is not a GELU."""
    if type(act) is nn.GELU:
        return {'none': 'none', 'tanh': 'tanh'}.get(act.approximate)
    return None


class _BlockCopy(nn.Module):
    """16-bit copy of one block's weights (non-persistent buffers)."""

    def __init__(self, blk: Block, dtype: torch.dtype) -> None:
        super().__init__()
        attn, mlp = blk.attn, blk.mlp
        c = attn.proj.in_features
        self.num_heads = attn.num_heads
        self.scale = float(attn.scale)
        self.eps = (blk.norm1.eps, blk.norm2.eps)
        self.width = c
        self._act = (mlp.layers[0][1], )  # shared with the block, not registered
        self.gelu = _gelu_algorithm(self._act[0])
        dev = attn.qkv.weight.device
        shapes = dict(ln1_w=(c, ), ln1_b=(c, ), ln2_w=(c, ), ln2_b=(c, ),
                      qkv_w=tuple(attn.qkv.weight.shape), qkv_b=(attn.qkv.out_features, ),
                      proj_w=tuple(attn.proj.weight.shape), proj_b=(c, ),
                      fc1_w=tuple(mlp.layers[0][0].weight.shape),
                      fc1_b=(mlp.layers[0][0].out_features, ),
                      fc2_w=tuple(mlp.layers[1].weight.shape), fc2_b=(c, ))
        for name, shape in shapes.items():
            self.register_buffer(name, torch.empty(shape, dtype=dtype, device=dev),
                                 persistent=False)

    @torch.no_grad()
    def fill(self, blk: Block) -> None:
        """Copy (and fold) ``blk``'s float32 weights into the 16-bit buffers."""
        attn, mlp = blk.attn, blk.mlp
        w_qkv = attn.qkv.weight
        if getattr(attn, 'q_bias', None) is not None:
            b_qkv = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))
        elif attn.qkv.bias is not None:
            b_qkv = attn.qkv.bias
        else:
            b_qkv = w_qkv.new_zeros(w_qkv.shape[0])
        g1 = getattr(blk, 'gamma_1', None)
        g2 = getattr(blk, 'gamma_2', None)
        w_proj, b_proj = attn.proj.weight, attn.proj.bias
        fc1, fc2 = mlp.layers[0][0], mlp.layers[1]
        w_fc2, b_fc2 = fc2.weight, fc2.bias
        if g1 is not None:
            w_proj, b_proj = g1[:, None] * w_proj, g1 * b_proj
        if g2 is not None:
            w_fc2, b_fc2 = g2[:, None] * w_fc2, g2 * b_fc2
        src = dict(ln1_w=blk.norm1.weight, ln1_b=blk.norm1.bias, ln2_w=blk.norm2.weight,
                   ln2_b=blk.norm2.bias, qkv_w=w_qkv, qkv_b=b_qkv, proj_w=w_proj,
                   proj_b=b_proj, fc1_w=fc1.weight, fc1_b=fc1.bias, fc2_w=w_fc2,
                   fc2_b=b_fc2)
        for name, value in src.items():
            getattr(self, name).copy_(value)


class FrozenViTLowp(nn.Module):
    """16-bit weight copy and eval-mode forward of a frozen mmaction ViT.

    Args:
        vit (nn.Module): the mmaction ``VisionTransformer`` (not registered as a
            submodule here: its float32 weights stay where they are).
        dtype (torch.dtype): ``torch.bfloat16`` or ``torch.float16``.
        num_blocks (int): blocks to copy (the wrapper runs blocks up to its last tap).
    """

    def __init__(self, vit: nn.Module, dtype: torch.dtype, num_blocks: int) -> None:
        super().__init__()
        reason = lowp_unsupported(vit)
        if reason is not None:
            raise ValueError(f'FrozenViTLowp: {reason}')
        if dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f'FrozenViTLowp: dtype must be bfloat16 or float16, got {dtype}')
        self.requested = dtype
        self._vit = (vit, )  # a tuple hides it from nn.Module's registration
        proj = vit.patch_embed.projection
        self.register_buffer('patch_w', torch.empty(proj.weight.shape, dtype=dtype,
                                                    device=proj.weight.device),
                             persistent=False)
        self.register_buffer('patch_b', torch.empty(proj.weight.shape[0], dtype=dtype,
                                                     device=proj.weight.device),
                             persistent=False)
        self.blocks = nn.ModuleList(_BlockCopy(b, dtype) for b in vit.blocks[:num_blocks])
        self.stride = proj.stride
        self._stamp: Optional[tuple] = None
        self._ops: Optional[Tuple[Callable, Callable, Callable]] = None

    # ------------------------------------------------------------------ weights
    def _sources(self) -> List[Tensor]:
        vit = self._vit[0]
        tensors = [vit.patch_embed.projection.weight, vit.patch_embed.projection.bias]
        for blk in vit.blocks[:len(self.blocks)]:
            tensors += [p for p in blk.parameters()]
        return tensors

    def _fingerprint(self) -> tuple:
        # storage, in-place version and device of every source tensor: a checkpoint
        # load (copy_), init_weights or a .to() changes one of them
        return tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in self._sources())

    def refresh(self) -> bool:
        """Re-copy the weights if the float32 ones changed (or moved); True when it
        copied. fp16 is kept on CUDA only; on other devices the copy is bf16 (as
        autocast does on a CPU)."""
        vit = self._vit[0]
        device = vit.patch_embed.projection.weight.device
        dtype = self.requested if device.type == 'cuda' else torch.bfloat16
        if self.patch_w.device != device or self.patch_w.dtype != dtype:
            self.to(device=device, dtype=dtype)  # e.g. after model.float() / .cuda()
            self._stamp = None
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return False
        with torch.no_grad():
            self.patch_w.copy_(vit.patch_embed.projection.weight)
            self.patch_b.copy_(vit.patch_embed.projection.bias)
            for copy_, blk in zip(self.blocks, vit.blocks):
                copy_.fill(blk)
        self._stamp = stamp
        self._ops = None
        return True

    @property
    def dtype(self) -> torch.dtype:
        """The copy's dtype (bf16 on a CPU even when fp16 was asked for)."""
        return self.patch_w.dtype

    # ------------------------------------------------------------------ kernels
    def _select_ops(self, x: Tensor) -> Tuple[Callable, Callable, Callable]:
        """``(linear, linear_act, linear_add)`` for ``x``'s device: oneDNN's fused
        linear on CPU when it is there and agrees with ``F.linear``, else plain ops."""
        if self._ops is not None:
            return self._ops
        plain = (_plain_linear, _plain_linear_act, _plain_linear_add)
        self._ops = plain
        if x.device.type == 'cpu' and _onednn_linear_works(x.dtype):
            self._ops = (_onednn_linear, _onednn_linear_act, _onednn_linear_add)
        MMLogger.get_current_instance().debug(
            f'FrozenViTLowp: {"oneDNN fused" if self._ops is not plain else "plain"} '
            f'linear kernels on {x.device.type}, {x.dtype}')
        return self._ops

    # ------------------------------------------------------------------ forward
    def embed(self, clips: Tensor, pos: Tensor) -> Tensor:
        """``[n, 3, L, H, W]`` frames -> ``[n, N, C]`` 16-bit tokens (+ ``pos``)."""
        x = F.conv3d(clips.to(self.dtype), self.patch_w, self.patch_b, stride=self.stride)
        return x.flatten(2).transpose(1, 2) + pos.to(self.dtype)

    def block(self, i: int, x: Tensor) -> Tensor:
        """Block ``i`` (0-based) on 16-bit tokens ``[n, N, C]``."""
        w = self.blocks[i]
        linear, linear_act, linear_add = self._select_ops(x)
        n, tokens, c = x.shape
        y = F.layer_norm(x, (c, ), w.ln1_w, w.ln1_b, w.eps[0])
        qkv = linear(y, w.qkv_w, w.qkv_b)
        q, k, v = qkv.unflatten(-1, (3, w.num_heads, -1)).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, scale=w.scale)
        # the CPU / CUDA kernels return [n, h, N, d] views of [n, N, h, d]: no copy
        out = out.transpose(1, 2).reshape(n, tokens, c)
        x = linear_add(out, w.proj_w, w.proj_b, x)
        y = F.layer_norm(x, (c, ), w.ln2_w, w.ln2_b, w.eps[1])
        y = linear_act(y, w.fc1_w, w.fc1_b, w._act[0], w.gelu)
        return linear_add(y, w.fc2_w, w.fc2_b, x)


# ---------------------------------------------------------------------- kernels
def _plain_linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return F.linear(x, w, b)


def _plain_linear_act(x: Tensor, w: Tensor, b: Tensor, act: nn.Module,
                      gelu: Optional[str]) -> Tensor:
    return act(F.linear(x, w, b))


def _plain_linear_add(x: Tensor, w: Tensor, b: Tensor, residual: Tensor) -> Tensor:
    return residual + F.linear(x, w, b)


def _onednn_linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, w, b, 'none', [], '')


def _onednn_linear_act(x: Tensor, w: Tensor, b: Tensor, act: nn.Module,
                       gelu: Optional[str]) -> Tensor:
    if gelu is None:
        return act(_onednn_linear(x, w, b))
    return torch.ops.mkldnn._linear_pointwise(x, w, b, 'gelu', [], gelu)


def _onednn_linear_add(x: Tensor, w: Tensor, b: Tensor, residual: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise.binary(x, residual, w, b, 'add')


_ONEDNN_OK = {}


def _onednn_linear_works(dtype: torch.dtype) -> bool:
    """oneDNN's fused linear exists for ``dtype`` and matches the plain ops (checked
    once per dtype on a small random problem, within 4 units of the dtype's rounding)."""
    if dtype in _ONEDNN_OK:
        return _ONEDNN_OK[dtype]
    ok = False
    try:
        if torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                            '_linear_pointwise'):
            g = torch.Generator().manual_seed(0)

            def rand(*shape, scale=1.0):  # a CPU kernel check: on the CPU explicitly
                return (torch.randn(shape, generator=g, device='cpu') * scale).to(dtype)

            x, r = rand(2, 24, 32), rand(2, 24, 32)
            w, b = rand(48, 32, scale=32**-0.5), rand(48)
            w2, b2 = rand(32, 48, scale=48**-0.5), rand(32)
            tol = 4 * torch.finfo(dtype).eps
            with torch.no_grad():
                h = F.linear(x, w, b)
                checks = [
                    (_onednn_linear(x, w, b), F.linear(x.float(), w.float(), b.float())),
                    (_onednn_linear_act(x, w, b, nn.GELU(), 'none'),
                     F.gelu(F.linear(x.float(), w.float(), b.float()))),
                    (_onednn_linear_add(h, w2, b2, r),
                     r.float() + F.linear(h.float(), w2.float(), b2.float()))]
            ok = all(got.dtype == dtype and got.shape == ref.shape and
                     bool(((got.float() - ref).abs() <= tol * (1 + ref.abs())).all())
                     for got, ref in checks)
    except (RuntimeError, NotImplementedError, AttributeError):
        ok = False
    _ONEDNN_OK[dtype] = ok
    return ok
