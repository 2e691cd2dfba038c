"""Weights that resample a clip's temporal steps onto another layer's steps, with every
step at the frame its pathway samples (step ``j`` of ``T_i`` on clip frame
``j * T' / T_i``; :func:`losa_plugin.models.necks.token_positions.clip_token_positions`)."""
from typing import Optional

import torch


def sampled_step_weights(in_len: int, out_len: int,
                         device: Optional[torch.device] = None) -> torch.Tensor:
    """``[out_len, in_len]`` rows summing to 1 that map ``in_len`` steps of a clip onto
    ``out_len`` steps, output step ``o`` centred on input position ``s = o * in_len /
    out_len`` (the same frame).

    * ``in_len`` a multiple of ``out_len`` (``r = in_len / out_len``, e.g. SlowFast's
      fast steps onto slow steps): input steps within ``r / 2`` of ``s`` weigh 1, those
      exactly ``r / 2`` away 1/2 (so every input step weighs 1 in total across outputs
      and the weighted centre is ``s``), renormalised over the steps inside the clip.
    * otherwise: linear interpolation at ``s`` (clamped to the clip).
    """
    if in_len < 1 or out_len < 1:
        raise ValueError(f'sampled_step_weights: lengths must be positive, got {in_len}, '
                         f'{out_len}')
    steps = torch.arange(in_len, device=device, dtype=torch.float32)
    if in_len % out_len == 0:
        r = in_len // out_len
        dist = (steps[None] - r * torch.arange(out_len, device=device)[:, None]).abs()
        weights = (dist < r / 2).float() + 0.5 * (dist == r / 2).float()
    else:
        s = (torch.arange(out_len, device=device, dtype=torch.float32)
             * (in_len / out_len)).clamp(max=in_len - 1)
        weights = (1.0 - (steps[None] - s[:, None]).abs()).clamp(min=0.0)
    return weights / weights.sum(dim=1, keepdim=True)
