"""One measured training step (forward + backward + AdamW step) on a random window.

Used by ``tools/benchmark.py``, which runs each measurement in a fresh process so that
one model's allocations (and the CPU allocator's cached blocks) cannot hide another's.

Peak memory is :class:`~losa_plugin.utils.memory.PeakMemoryMeter`'s: CUDA max-allocated
growth on GPU, peak-RSS growth on CPU, **above the built model** (its weights and
buffers) and above the random input window, which both exist before the step starts.
The paper's figures are totals (weights included); ``weights_mb`` is reported so the two
can be added (``peak_total_mb``).
"""
import time
from typing import Dict, List, Optional

import torch
from mmengine.structures import InstanceData
from mmaction.structures import ActionDataSample
from torch import nn

from losa_plugin.utils.memory import PeakMemoryMeter


def random_window(frames: int, height: int, width: int, num_classes: int,
                  grid_len: int, num_gt: int = 3, seed: int = 0,
                  fps: float = 30.0, feature_stride: float = 8.0) -> Dict:
    """A random un-normalised window and ground truth, as ``PackTALInputs`` gives them.

    Args:
        frames (int): ``F``.
        height (int): ``H``.
        width (int): ``W``.
        num_classes (int): label range.
        grid_len (int): the head's grid length ``L`` (segments are drawn inside it).
        num_gt (int): segments. Defaults to 3.
        seed (int): RNG seed. Defaults to 0.
        fps (float): Defaults to 30.
        feature_stride (float): frames per grid cell. Defaults to 8.

    Returns:
        dict: ``inputs`` (list of one ``[3, F, H, W]`` uint8) and ``data_samples``.
    """
    gen = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 256, (3, frames, height, width), generator=gen, dtype=torch.uint8)
    starts = torch.rand(num_gt, generator=gen) * grid_len * 0.8
    lengths = 1.0 + torch.rand(num_gt, generator=gen) * grid_len * 0.2
    segments = torch.stack([starts, (starts + lengths).clamp(max=grid_len - 1e-3)], dim=1)
    sample = ActionDataSample()
    sample.set_metainfo(dict(video_id=f'random_{seed}', fps=fps, duration=frames / fps,
                             window_offset=feature_stride / 2, feature_stride=feature_stride,
                             valid_len=frames, window_start=0))
    gt = InstanceData()
    gt.segments = segments.float()
    gt.segments_sec = segments.float() * feature_stride / fps
    gt.labels = torch.randint(0, num_classes, (num_gt, ), generator=gen)
    sample.gt_instances = gt
    return dict(inputs=[video], data_samples=[sample])


def grid_length(model: nn.Module, frames: int) -> int:
    """The neck's output length ``L = T * T_N`` for a window of ``frames`` frames."""
    backbone = model.backbone
    t_last = backbone.tap_specs()['temporal_sizes'][-1]
    return frames // backbone.clip_len * t_last


def learnable_parameters(model: nn.Module) -> List[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def module_mb(model: nn.Module) -> float:
    """Bytes of parameters and buffers, MiB."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def _warm_up(model: nn.Module, height: int, width: int, num_classes: int,
             seed: int) -> None:
    clip_len = model.backbone.clip_len
    data = model.data_preprocessor(
        random_window(clip_len, height, width, num_classes, grid_length(model, clip_len),
                      num_gt=1, seed=seed + 1), training=True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    model.zero_grad(set_to_none=True)
    scratch = nn.Parameter(torch.zeros(8, device=next(model.parameters()).device))
    scratch.grad = torch.ones_like(scratch)
    torch.optim.AdamW([scratch]).step()


def measure_train_step(model: nn.Module, frames: int, height: int, width: int,
                       num_classes: int, lr: float = 1e-4, seed: int = 0,
                       device: Optional[str] = None, warmup: bool = True
                       ) -> Dict[str, float]:
    """Peak memory and time of one training step of a built ``TALDetector``.

    Args:
        model (nn.Module): the detector (built, weights initialised).
        frames (int): window length ``F`` (a multiple of the backbone's ``clip_len``).
        height (int): frame height.
        width (int): frame width.
        num_classes (int): the head's classes.
        lr (float): AdamW learning rate. Defaults to 1e-4.
        seed (int): Defaults to 0.
        device (str, optional): ``'cuda'`` or ``'cpu'``; default: CUDA when available.
        warmup (bool): first run one clip forward + backward and an AdamW step on a
            scratch tensor, so that one-time costs (kernel code pages, thread pools,
            autograd engine) are not counted. Defaults to True.

    Returns:
        dict: ``peak_mem_mb`` (growth above model + input), ``step_time_s``,
        ``forward_s``, ``backward_s``, ``optimizer_s``, ``learnable_params``,
        ``total_params``, ``weights_mb``, ``input_mb``, ``loss``.
    """
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = model.to(device).train()
    params = learnable_parameters(model)
    if not params:
        raise ValueError('measure_train_step: the model has no learnable parameters')
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    if warmup:
        _warm_up(model, height, width, num_classes, seed)
    data = random_window(frames, height, width, num_classes, grid_length(model, frames),
                         seed=seed)
    # Normalise and pad before the meter: the window is the same for every strategy.
    data = model.data_preprocessor(data, training=True)
    input_mb = data['inputs'].numel() * data['inputs'].element_size() / 2**20
    weights_mb = module_mb(model)
    with PeakMemoryMeter(device) as meter:
        _sync(device)
        t0 = time.perf_counter()
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        _sync(device)
        t1 = time.perf_counter()
        loss.backward()
        _sync(device)
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        _sync(device)
        t3 = time.perf_counter()
    return dict(peak_mem_mb=meter.peak_mb, step_time_s=t3 - t0, forward_s=t1 - t0,
                backward_s=t2 - t1, optimizer_s=t3 - t2,
                learnable_params=sum(p.numel() for p in params),
                total_params=sum(p.numel() for p in model.parameters()),
                weights_mb=weights_mb, input_mb=input_mb, loss=float(loss.detach()))
