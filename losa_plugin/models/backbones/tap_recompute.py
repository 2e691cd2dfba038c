"""Tap recompute: a neck's per-clip reduction run inside the clip loop, each clip's
taps recomputed in the backward pass instead of stored.

LoSA's learnable spatial blocks turn every clip's tap ``[T_i, H_i, W_i, C_i]`` into
``[T_i, C'_i]``; their backward needs the full taps, which is why the default mode keeps
the taps of every clip until the backward pass (docs/efficiency.md, section 3). The
backbone is frozen, in eval mode (no dropout, no drop path) and deterministic, so a
clip's taps can be produced again from its frames. With ``tap_recompute=True`` and a
``clip_reducer`` (``LoSANeck.reduce_clip_taps``, handed over by ``TALDetector``) the
wrapper runs, per micro-batch of clips::

    frames -> frozen backbone (no_grad) -> stored form of the taps (cast / pool)
           -> clip_reducer (the neck's spatial blocks, with grad)

inside ``torch.utils.checkpoint`` (non-reentrant). Between forward and backward only
the reducer's outputs (``[n, T_i, C'_i]`` per adapted layer and layer N) and ``F_N``
are kept, plus the checkpoint's references to its arguments: the window's frames (a
view of the input, which exists anyway) and the micro-batch's clip ids. In the backward
pass each micro-batch reruns its frozen forward and spatial blocks once, when autograd
first needs one of its saved tensors; the engine runs the micro-batches' nodes after
the neck's and the head's (they were created earlier), one micro-batch after another,
so at most one micro-batch's recomputed taps are alive.

Same results: the reducer does per clip what the neck does on the whole window (the
spatial blocks never mix clips), on the same stored-form taps, so losses and gradients
equal the default mode's up to float summation order. Cost: one more frozen forward a
step. Without autograd (evaluation, ``torch.no_grad``) there is nothing to recompute:
the reducer runs in the loop directly, so inference stores no full taps either.
"""
from typing import Callable, List, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

#: ``reducer(taps) -> outputs``: one micro-batch's taps in their stored form, one
#: ``[n, ...]`` tensor per tapped layer, to per-clip tensors ``[n, ...]``
ClipReducer = Callable[[Sequence[Tensor]], Sequence[Tensor]]


class ClipPlan(NamedTuple):
    """Which clips of a window run, and where their outputs go.

    Attributes:
        run_idx: ``[R]`` flat clip ids ``b * T + t`` that the backbone runs, in order.
        keep: ``[R]`` bool, which of them hold a valid frame (the others stay zero).
        scatter: True when some clip is skipped or not kept, so outputs are written at
            ``run_idx[keep]`` into zeros rather than in order.
    """
    run_idx: Tensor
    keep: Tensor
    scatter: bool


def gather_clips(grid: Tensor, idx: Tensor) -> Tensor:
    """Clips ``idx`` (flat ids ``b * T + t``) of a window.

    Args:
        grid: ``[B, 3, T, T', H, W]``, a view of the window's frames.
        idx: ``[n]`` long.

    Returns:
        Tensor: ``[n, 3, T', H, W]`` (a copy of those clips only).
    """
    t = grid.shape[2]
    return grid[idx // t, :, idx % t]


def _reduce_clip_batch(tap, grid: Tensor, idx: Tensor,
                       reducer: ClipReducer) -> Tuple[Tensor, ...]:
    """One micro-batch: frozen forward without autograd, then the reducer with it.

    Returns the reducer's outputs ``[n, ...]`` and ``F_N`` ``[n, T_N, C_N]`` float32.
    """
    with torch.no_grad(), tap._autocast(grid.device.type):
        raw = tap._forward_clips(gather_clips(grid, idx))
        # F_N from the full last tap, as the default clip loop computes it
        pooled = tap._pool_last(raw[-1]).float()
        stored = [tap._reduce(t) for t in raw]
    del raw
    # the reducer runs outside the backbone's autocast, as the neck does in the default
    # mode; an enclosing autocast (AMP training) applies to both alike
    return tuple(reducer(stored)) + (pooled, )


def reduce_clips(tap, frames: Tensor, plan: ClipPlan, reducer: ClipReducer) -> List[Tensor]:
    """Run the frozen backbone and ``reducer`` over a window, micro-batch by micro-batch,
    checkpointed when autograd is on (module docstring).

    Args:
        tap (BaseLayerTap): the frozen layer-tap wrapper.
        frames: ``[B, 3, F, H, W]`` normalised frames, ``F = T * clip_len``.
        plan (ClipPlan): the clips to run.
        reducer (callable): see :data:`ClipReducer`.

    Returns:
        list[Tensor]: the reducer's outputs over all clips, ``[B * T, ...]`` each (zero
        at clips not run or not kept), then ``F_N`` ``[B * T, T_N, C_N]``.
    """
    b, _, f = frames.shape[:3]
    num_clips = f // tap.clip_len
    grid = frames.unflatten(2, (num_clips, tap.clip_len))  # a view: no copy to keep
    grad = torch.is_grad_enabled()
    pieces: List[List[Tensor]] = []
    for start in range(0, plan.run_idx.numel(), tap.clip_batch):
        idx = plan.run_idx[start:start + tap.clip_batch]
        if grad:
            outs = checkpoint(_reduce_clip_batch, tap, grid, idx, reducer,
                              use_reentrant=False)
        else:
            outs = _reduce_clip_batch(tap, grid, idx, reducer)
        if plan.scatter:
            k = plan.keep[start:start + tap.clip_batch]
            outs = [o[k] for o in outs]
        pieces.append(list(outs))
    kept = plan.run_idx[plan.keep] if plan.scatter else None
    results = []
    for j in range(len(pieces[0])):
        x = torch.cat([p[j] for p in pieces])
        for p in pieces:  # the pieces go as soon as they are joined
            p[j] = None
        if kept is not None:
            x = x.new_zeros((b * num_clips, ) + tuple(x.shape[1:])).index_copy(0, kept, x)
        results.append(x)
    return results
