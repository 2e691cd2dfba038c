"""Long-Short-range Fusion: gated sums of the adapters' outputs, residual on F_N, Proj."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

GATE_INITS = ('zero', 'one', 'random', 'cosine_layer', 'cosine_token')
#: parameter-free gates computed from the features (no learnable scalar)
COSINE_GATES = ('cosine_layer', 'cosine_token')
FUSIONS = ('gated', 'add')


class LongShortFusion(nn.Module):
    """Fuse per-layer short / long adapter outputs with the last layer's features.

    ``fusion='gated'`` (the paper's)::

        FS = sum_i p_i^sh * FS_i,   FL = sum_i p_i^lo * FL_i
        FS' = FS + F_N,             FL' = FL + F_N
        FT = Proj([FS', FL'])       # Linear(2C, C), initialised as [I/2, I/2], bias 0

    so with zero gates ``FT == F_N`` exactly. With only one branch enabled
    (w/o short-range or w/o long-range) there is nothing to fuse: ``FT = F_N + FL``
    (or ``F_N + FS``) and no Proj is built.

    ``fusion='add'`` (the w/o-fusion ablation): ``FT = F_N + sum_i FS_i + sum_i FL_i``;
    no gates, no Proj.

    Gates (``fusion='gated'``), one scalar per adapted layer and branch:
    ``gate_init='zero'`` (paper), ``'one'``, ``'random'`` (uniform in [0, 1)) are
    learnable initialisations. The cosine-similarity gating is parameter-free,
    computed on the fly, so layers whose adapted features agree with the last layer's
    contribute more:

    * ``'cosine_layer'`` (the paper's "similarity between the intermediate and
      last-layer features", one weight a layer): per sample,
      ``p_i = cos(vec FS_i, vec F_N)`` over the valid tokens and all channels
      (resp. ``FL_i``);
    * ``'cosine_token'``: one weight a layer *and token*, ``p_i[l] = cos(FS_i[l],
      F_N[l])``.

    Args:
        channels (int): ``C``.
        num_layers (int): adapted layers (>= 1).
        use_short (bool): Defaults to True.
        use_long (bool): Defaults to True.
        fusion (str): ``'gated'`` or ``'add'``. Defaults to ``'gated'``.
        gate_init (str): one of ``GATE_INITS``. Defaults to ``'zero'``.
    """

    def __init__(self, channels: int, num_layers: int, use_short: bool = True,
                 use_long: bool = True, fusion: str = 'gated',
                 gate_init: str = 'zero') -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f'LongShortFusion: fusion must be one of {FUSIONS}, got {fusion!r}')
        if gate_init not in GATE_INITS:
            hint = (" ('cosine' is now 'cosine_layer', one weight a layer, or "
                    "'cosine_token', one a token)" if gate_init == 'cosine' else '')
            raise ValueError(f'LongShortFusion: gate_init must be one of {GATE_INITS}, '
                             f'got {gate_init!r}{hint}')
        if not (use_short or use_long):
            raise ValueError('LongShortFusion: at least one of use_short / use_long is needed')
        self.channels = channels
        self.num_layers = num_layers
        self.use_short = use_short
        self.use_long = use_long
        self.fusion = fusion
        self.gate_init = gate_init
        learnable = fusion == 'gated' and gate_init not in COSINE_GATES
        self.gates_short = (nn.Parameter(torch.zeros(num_layers))
                            if learnable and use_short else None)
        self.gates_long = (nn.Parameter(torch.zeros(num_layers))
                           if learnable and use_long else None)
        self.proj = (nn.Linear(2 * channels, channels)
                     if fusion == 'gated' and use_short and use_long else None)
        self._last_cosine: Dict[str, torch.Tensor] = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gates per ``gate_init``; Proj = ``[I/2, I/2]``, bias 0 (identity at init)."""
        with torch.no_grad():
            for gates in (self.gates_short, self.gates_long):
                if gates is None:
                    continue
                if self.gate_init == 'zero':
                    gates.zero_()
                elif self.gate_init == 'one':
                    gates.fill_(1.0)
                else:
                    gates.uniform_(0.0, 1.0)
            if self.proj is not None:
                eye = torch.eye(self.channels) * 0.5
                self.proj.weight.copy_(torch.cat([eye, eye], dim=1))
                self.proj.bias.zero_()

    def _cosine_gates(self, feats: Sequence[torch.Tensor], f_last: torch.Tensor,
                      mask: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """Per layer, weights broadcastable to ``f_last`` ``[B, ..., C]``:
        ``[B, ..., 1]`` per token, or ``[B, 1, .., 1]`` per layer (valid tokens only)."""
        if self.gate_init == 'cosine_token':
            return [F.cosine_similarity(f, f_last, dim=-1)[..., None] for f in feats]
        keep = (torch.ones_like(f_last[..., :1]) if mask is None
                else mask[..., None].to(f_last.dtype))
        last = (f_last * keep).flatten(1)
        gates = []
        for f in feats:
            cos = F.cosine_similarity((f * keep).flatten(1), last, dim=1)  # [B]
            gates.append(cos.view((-1, ) + (1, ) * (f_last.dim() - 1)))
        return gates

    def _gated_sum(self, feats: Sequence[torch.Tensor], gates, f_last: torch.Tensor,
                   branch: str, mask: Optional[torch.Tensor]) -> torch.Tensor:
        if self.fusion == 'add':
            return torch.stack(list(feats)).sum(0)
        if gates is None:  # cosine gating, from the features
            cos = self._cosine_gates(feats, f_last, mask)
            self._last_cosine[branch] = torch.stack([c.mean() for c in cos]).detach()
            return sum(c * f for c, f in zip(cos, feats))
        return torch.einsum('l,l...->...', gates.to(f_last.dtype), torch.stack(list(feats)))

    def gated_sum(self, branch: str, feats: Sequence[torch.Tensor], f_last: torch.Tensor,
                  mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``FS`` (``branch='short'``) or ``FL`` (``'long'``): the branch's gated sum of
        ``feats`` (each shaped like ``f_last``), as :meth:`forward` computes it."""
        gates = self.gates_short if branch == 'short' else self.gates_long
        return self._gated_sum(feats, gates, f_last, branch, mask)

    def forward(self, f_last: torch.Tensor, short: List[torch.Tensor],
                long: List[torch.Tensor],
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args:
            f_last (Tensor): ``F_N``, ``[B, ..., C]`` (e.g. ``[B, T, T_N, C]``).
            short (list[Tensor]): ``FS_i``, each shaped like ``f_last``
                (empty when ``use_short=False``).
            long (list[Tensor]): ``FL_i``, likewise.
            mask (Tensor, optional): ``[B, ...]`` bool, the valid tokens; only the
                per-layer cosine gate reads it (default: every token).

        Returns:
            Tensor: ``FT``, shaped like ``f_last``.
        """
        for name, feats, used in (('short', short, self.use_short),
                                  ('long', long, self.use_long)):
            expected = self.num_layers if used else 0
            if len(feats) != expected:
                raise ValueError(f'LongShortFusion: got {len(feats)} {name}-range outputs, '
                                 f'expected {expected}')
        out_short = (self._gated_sum(short, self.gates_short, f_last, 'short', mask)
                     if self.use_short else None)
        out_long = (self._gated_sum(long, self.gates_long, f_last, 'long', mask)
                    if self.use_long else None)
        if self.fusion == 'add' or self.proj is None:
            return f_last + sum(x for x in (out_short, out_long) if x is not None)
        return self.proj(torch.cat([out_short + f_last, out_long + f_last], dim=-1))

    def gate_values(self, layer_names: Sequence[str]) -> Dict[str, float]:
        """Current gates as ``{'short/<layer>': value, 'long/<layer>': value}``.
        For the cosine gates the mean similarity of the last forward pass (empty
        before one); for ``fusion='add'`` every gate is 1."""
        out: Dict[str, float] = {}
        for branch, gates, used in (('short', self.gates_short, self.use_short),
                                    ('long', self.gates_long, self.use_long)):
            if not used:
                continue
            if self.fusion == 'add':
                values = [1.0] * self.num_layers
            elif gates is not None:
                values = gates.detach().float().cpu().tolist()
            elif branch in self._last_cosine:
                values = self._last_cosine[branch].float().cpu().tolist()
            else:
                continue
            out.update({f'{branch}/{n}': float(v) for n, v in zip(layer_names, values)})
        return out
