"""Linear map over time aligning a layer's ``T_i`` tokens per clip to ``T_N``."""
import torch
import torch.nn.functional as F
from torch import nn


class TemporalAlign(nn.Module):
    """``[B, T, T_i, C] -> [B, T, T_N, C]`` by a learnable ``Linear(T_i, T_N)`` over
    the tokens of each clip (shared across channels). Initialised as linear
    interpolation so that the map is sensible before training. Use only when
    ``T_i != T_N`` (the neck skips it otherwise).

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
        """Linear-interpolation weights (row o: where output token o samples input)."""
        eye = torch.eye(self.in_len)[None]  # [1, T_i (as channels), T_i]
        interp = F.interpolate(eye, size=self.out_len, mode='linear', align_corners=False)
        with torch.no_grad():
            self.weight.copy_(interp[0].t())  # [T_N, T_i]
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
