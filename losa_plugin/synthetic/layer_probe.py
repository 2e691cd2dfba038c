"""Linear probes of a layer-tap backbone's layers on the synthetic trimmed clips.

What does each block of the pretrained tiny ViT carry about the classes? For every
tapped layer, clip features are pooled two ways and a logistic-regression probe is fit on
the train list and scored on the val list:

* ``mean``: the spatio-temporal mean of the tokens, ``[C]`` (what a head-only baseline
  sees, per clip);
* ``grid``: the spatial mean kept per temporal step, ``[T_i * C]`` (order in time kept,
  as LoSA's temporal tokens keep it).

Used by ``tools/synthetic_benchmark.py --probe`` to explain whether intermediate layers
hold information the last layer lost (the premise of LoSA).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from einops import reduce
from mmengine.logging import MMLogger


def _read_list(list_file: str, clip_dir: str) -> List[Tuple[str, int]]:
    items = []
    with open(list_file) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f'{list_file}:{line_no}: expected "<path> <label>", got '
                                 f'{line.strip()!r}')
            items.append((f'{clip_dir}/{parts[0]}', int(parts[1])))
    return items


def _load_clip(path: str, clip_len: int) -> np.ndarray:
    from ..datasets.video_reader import probe_video, read_frames
    n = probe_video(path).num_frames
    start = max((n - clip_len) // 2, 0)
    idx = [min(start + i, n - 1) for i in range(clip_len)]
    return read_frames(path, idx)  # [clip_len, H, W, 3]


@torch.no_grad()
def extract_layer_features(backbone: torch.nn.Module, items: Sequence[Tuple[str, int]],
                           mean: Sequence[float], std: Sequence[float],
                           batch_size: int = 16) -> Dict[str, np.ndarray]:
    """Per tapped layer, ``{'mean': [N, C], 'grid': [N, T_i * C]}`` pooled features of
    the centre ``clip_len`` frames of each clip (keys ``layer<id>/mean`` ...), the
    backbone's own pooling of the last layer (``F_N``, ``TapOutput.pooled_last``) as
    ``last_pooled/mean`` and ``last_pooled/grid`` when it gives one, and ``labels``
    ``[N]``."""
    backbone.eval()
    clip_len = backbone.clip_len
    m = torch.tensor(mean).view(1, 3, 1, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1, 1)
    feats: Dict[str, List[np.ndarray]] = {}
    labels = []
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        frames = np.stack([_load_clip(p, clip_len) for p, _ in chunk])
        x = (torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() - m) / s
        taps = backbone(x, torch.ones(x.shape[0], clip_len, dtype=torch.bool))
        for lid, tap in zip(taps.layer_ids, taps.feats):
            # tap [B, 1, T_i, H_i, W_i, C] (one clip per sample)
            tap = tap[:, 0]
            feats.setdefault(f'layer{lid}/mean', []).append(
                reduce(tap, 'b t h w c -> b c', 'mean').numpy())
            feats.setdefault(f'layer{lid}/grid', []).append(
                reduce(tap, 'b t h w c -> b (t c)', 'mean').numpy())
        if taps.pooled_last is not None:  # [B, 1, T_N, C]
            pooled = taps.pooled_last[:, 0].float()
            feats.setdefault('last_pooled/mean', []).append(pooled.mean(1).numpy())
            feats.setdefault('last_pooled/grid', []).append(pooled.flatten(1).numpy())
        labels.extend(label for _, label in chunk)
    out = {k: np.concatenate(v) for k, v in feats.items()}
    out['labels'] = np.asarray(labels)
    return out


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
              y_val: np.ndarray, num_classes: int, steps: int = 300,
              weight_decay: float = 1e-3) -> float:
    """Multinomial logistic regression on standardised inputs (full-batch AdamW,
    ``steps`` steps); returns the val accuracy."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.from_numpy((x_train - mu) / sd).float()
    xv = torch.from_numpy((x_val - mu) / sd).float()
    yt = torch.from_numpy(y_train).long()
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(xt.shape[1], num_classes)
    torch.nn.init.normal_(lin.weight, std=0.01, generator=g)
    opt = torch.optim.AdamW(lin.parameters(), lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(lin(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = lin(xv).argmax(1).numpy()
    return float((pred == y_val).mean())


def probe_layers(backbone: torch.nn.Module, train_list: str, val_list: str, clip_dir: str,
                 num_classes: int, mean: Sequence[float], std: Sequence[float],
                 max_per_split: int = 600) -> Dict[str, float]:
    """Val accuracy of a linear probe per ``layer<id>/{mean,grid}``; chance is
    ``1 / num_classes``."""
    rng = np.random.default_rng(0)
    splits = {}
    for name, path in (('train', train_list), ('val', val_list)):
        items = _read_list(path, clip_dir)
        if len(items) > max_per_split:
            items = [items[i] for i in sorted(rng.choice(len(items), max_per_split,
                                                         replace=False))]
        splits[name] = extract_layer_features(backbone, items, mean, std)
    acc = {}
    for key in splits['train']:
        if key == 'labels':
            continue
        acc[key] = fit_probe(splits['train'][key], splits['train']['labels'],
                             splits['val'][key], splits['val']['labels'], num_classes)
    MMLogger.get_current_instance().info(
        'linear probes (val accuracy): ' + ', '.join(f'{k} {v:.2f}' for k, v in acc.items()))
    return acc
