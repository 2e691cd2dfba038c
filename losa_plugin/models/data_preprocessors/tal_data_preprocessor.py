"""Batching for temporal action localization: pad the time axis, normalise frames."""
import math
from typing import List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmaction.registry import MODELS


@MODELS.register_module()
class TALDataPreprocessor(BaseDataPreprocessor):
    """Stacks a batch of windows of different lengths.

    Inputs are pre-extracted features ``[C, T]`` or frames ``[3, F, H, W]`` (uint8 or
    float, RGB, 0-255). The time axis (last for features, second for frames) is padded
    with zeros to the batch maximum rounded up to ``pad_multiple`` (or to
    ``fixed_len`` when given, as ActionFormer pads training batches to the maximum
    sequence length). Each sample's ``valid_len`` metainfo stays the unpadded length;
    the detector builds the validity mask from it.

    Args:
        mean (Sequence[float], optional): per-channel mean for frames (0-255 scale).
            Defaults to None (no normalisation).
        std (Sequence[float], optional): per-channel std for frames. Defaults to None.
        pad_multiple (int): round the padded length up to a multiple of this.
            Defaults to 1.
        fixed_len (int, optional): pad every batch to exactly this length (an input
            longer than it is an error). Defaults to None.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 pad_multiple: int = 1,
                 fixed_len: Optional[int] = None) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError('TALDataPreprocessor: give both mean and std, or neither')
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1, 1), False)
        self.pad_multiple = int(pad_multiple)
        self.fixed_len = fixed_len

    def _target_len(self, lengths: List[int]) -> int:
        longest = max(lengths)
        if self.fixed_len is not None:
            if longest > self.fixed_len:
                raise ValueError(f'TALDataPreprocessor: an input has {longest} time steps, more '
                                 f'than fixed_len={self.fixed_len}')
            longest = self.fixed_len
        return int(math.ceil(longest / self.pad_multiple) * self.pad_multiple)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Args:
            data: ``dict(inputs=list of [C, T] or [3, F, H, W], data_samples=list)``.

        Returns:
            ``dict(inputs=[B, C, T'] or [B, 3, F', H, W] float32, data_samples)``.
        """
        data = self.cast_data(data)
        inputs: Union[List[torch.Tensor], torch.Tensor] = data['inputs']
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs)
        if not inputs:
            raise ValueError('TALDataPreprocessor: empty batch')
        is_video = inputs[0].dim() == 4
        time_dim = 1 if is_video else -1
        lengths = [int(x.shape[time_dim]) for x in inputs]
        target = self._target_len(lengths)
        # one float32 buffer, zero-padded, filled in place (the padding is normalised
        # like the frames, as if padded before normalising)
        shape = list(inputs[0].shape)
        shape[time_dim] = target
        batch = inputs[0].new_empty([len(inputs)] + shape, dtype=torch.float32)
        for out, x, length in zip(batch, inputs, lengths):
            out.narrow(time_dim, 0, length).copy_(x)
            out.narrow(time_dim, length, target - length).zero_()
        if is_video and self.normalize:
            batch.sub_(self.mean).div_(self.std)
        data_samples = data.get('data_samples')
        if data_samples is not None:
            for sample, length in zip(data_samples, lengths):
                if 'valid_len' not in sample:
                    sample.set_metainfo(dict(valid_len=length))
        return dict(inputs=batch, data_samples=data_samples)
