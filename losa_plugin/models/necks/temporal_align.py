"""Linear map over time aligning a layer's ``T_i`` tokens per clip to ``T_N``."""
import torch
from torch import nn

from ...utils.temporal_resample import sampled_step_weights


class TemporalAlign(nn.Module):
    """``[B, T, T_i, C] -> [B, T, T_N, C]`` by a learnable ``Linear(T_i, T_N)`` over
    the tokens of each clip (shared across channels). Initialised so that output token
    ``o`` averages the input tokens around the same frame (:func:`sampled_step_weights`:
    for SlowFast's 16 fast steps onto 2 slow steps, fast steps 0-4 / 4-12 around frames 0
    and 8, as the backbone pools the fast half of ``F_N``), so the map is sensible and
    time-aligned before training. Use only when ``T_i != T_N`` (the neck skips it
    otherwise).

    Args:
        in_len (int): ``T_i``.
        out_len (int): ``T_N``.
    """

    def __init__(self, in_len: int, out_len: int) -> None:
        super().__init__()
        if in_len < 1 or out_len < 1:
            raise ValueError(f'TemporalAlign: lengths must be positive, got {in_len}, {out_len}')
        self.in_len = in_len
        self.out_len = out_len
        self.weight = nn.Parameter(torch.empty(out_len, in_len))
        self.bias = nn.Parameter(torch.zeros(out_len))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights of :func:`sampled_step_weights` (row o: the input tokens around
        output token o's frame), bias 0."""
        with torch.no_grad():
            self.weight.copy_(sampled_step_weights(self.in_len, self.out_len))
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): ``[B, T, T_i, C]``.

        Returns:
            Tensor: ``[B, T, T_N, C]``.
        """
        if x.shape[2] != self.in_len:
            raise ValueError(f'TemporalAlign: expected {self.in_len} tokens per clip '
                             f'(dim 2), got shape {tuple(x.shape)}')
        return torch.einsum('btic,oi->btoc', x, self.weight) + self.bias[:, None]
