"""The temporal action localization detector: data preprocessor → backbone → neck → head."""
import inspect
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmaction.registry import MODELS

from losa_plugin.utils.time_grid import grid_to_seconds


@MODELS.register_module()
class TALDetector(BaseModel):
    """A one-stage TAL detector for pre-extracted features or raw frames.

    * Features ``[B, C, T]``: no backbone; the features (and their mask) go to the
      optional neck, then the head. This is the head-only baseline on stored features.
    * Frames ``[B, 3, F, H, W]``: a layer-tap backbone gives ``TapOutput``; the neck
      (``LoSANeck`` or ``LastLayerNeck``) turns it into ``[B, C, L]`` and a ``[B, L]``
      mask. Head-only-online, LoSA and full fine-tuning differ only in their config.
      With ``backbone.tap_recompute=True`` the detector hands the neck's per-clip
      reduction (``neck.reduce_clip_taps``) to the backbone, which runs it inside its
      clip loop and recomputes the taps in the backward pass (``tap_recompute.py``).

    Head outputs are in grid units; :meth:`predict` converts them to seconds with each
    window's ``feature_stride``, ``window_offset`` and ``fps`` (see
    ``losa_plugin/utils/time_grid.py``) and clips them to ``[0, duration]``.

    Args:
        head (dict): the TAL head config (e.g. ``ActionFormerHead``).
        backbone (dict, optional): a layer-tap backbone config. Defaults to None.
        neck (dict, optional): a neck config. Defaults to None.
        data_preprocessor (dict, optional): defaults to ``TALDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 head: dict,
                 backbone: Optional[dict] = None,
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='TALDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # built from mmaction's registry whatever the current default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if backbone is not None else None
        if neck is not None and self.backbone is not None:
            neck = self._complete_neck_cfg(dict(neck))
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head)
        if getattr(self.backbone, 'tap_recompute', False) and \
                not callable(getattr(self.neck, 'reduce_clip_taps', None)):
            raise ValueError('TALDetector: model.backbone.tap_recompute=True needs a neck '
                             'that reduces each clip\'s taps (LoSANeck.reduce_clip_taps); '
                             f'got neck {type(self.neck).__name__}. Set tap_recompute=False')

    def _complete_neck_cfg(self, neck: dict) -> dict:
        """Fill the tap layout (``layer_ids``, ``in_channels``, ``temporal_sizes``) of a
        neck that takes it (``LoSANeck``) from the backbone, so configs need not repeat
        what the backbone already knows. Keys the config gives are kept."""
        if not hasattr(self.backbone, 'tap_specs'):
            return neck
        neck_cls = MODELS.get(neck['type']) if isinstance(neck.get('type'), str) else neck.get('type')
        accepted = inspect.signature(neck_cls.__init__).parameters if neck_cls else {}
        if 'layer_ids' not in accepted:
            return neck
        for key, value in self.backbone.tap_specs().items():
            if key in accepted and neck.get(key) is None:
                neck[key] = value
        return neck

    @staticmethod
    def _valid_mask(data_samples: List, length: int, device: torch.device) -> torch.Tensor:
        """``[B, length]`` bool, True for the first ``valid_len`` steps of each sample."""
        valid = torch.tensor([int(s.valid_len) for s in data_samples], device=device)
        return torch.arange(length, device=device)[None] < valid[:, None]

    def _pad_for_head(self, feats: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # The head's pyramid halves L several times; pad L here rather than force every
        # dataset config to know the neck's output length.
        multiple = int(getattr(self.head, 'pad_multiple', 1))
        pad = (-feats.shape[-1]) % multiple
        if pad:
            feats = F.pad(feats, (0, pad))
            mask = F.pad(mask, (0, pad), value=False)
        return feats, mask

    def extract_feat(self, inputs: torch.Tensor, data_samples: List) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(feats [B, C, L], mask [B, L] bool)`` for the head."""
        if inputs.dim() == 5:
            if self.backbone is None:
                raise ValueError('TALDetector: frame inputs [B, 3, F, H, W] need a backbone')
            frame_mask = self._valid_mask(data_samples, inputs.shape[2], inputs.device)
            if getattr(self.backbone, 'tap_recompute', False):
                taps = self.backbone(inputs, frame_mask,
                                     clip_reducer=self.neck.reduce_clip_taps)
            else:
                taps = self.backbone(inputs, frame_mask)
            if self.neck is None:
                raise ValueError('TALDetector: a backbone needs a neck to turn taps into [B, C, L]')
            feats, mask = self.neck(taps)
        else:
            mask = self._valid_mask(data_samples, inputs.shape[-1], inputs.device)
            feats = inputs
            if self.neck is not None:
                feats, mask = self.neck(feats, mask)
        return self._pad_for_head(feats, mask)

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List, tuple]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            if data_samples is None:
                raise ValueError("TALDetector: 'tensor' mode needs data_samples for valid_len")
            feats, mask = self.extract_feat(inputs, data_samples)
            return self.head(feats, mask)
        raise RuntimeError(f"TALDetector: invalid mode '{mode}' (loss | predict | tensor)")

    def loss(self, inputs: torch.Tensor, data_samples: List) -> Dict[str, torch.Tensor]:
        feats, mask = self.extract_feat(inputs, data_samples)
        return self.head.loss(feats, mask, data_samples)

    def predict(self, inputs: torch.Tensor, data_samples: List) -> List:
        """Returns the data samples with ``pred_instances`` (segments in seconds)."""
        feats, mask = self.extract_feat(inputs, data_samples)
        results = self.head.predict(feats, mask, data_samples)
        for sample, pred in zip(data_samples, results):
            segments = grid_to_seconds(pred.segments.float(), float(sample.feature_stride),
                                       float(sample.window_offset), float(sample.fps))
            duration = sample.get('duration')
            segments = segments.clamp(min=0) if duration is None else segments.clamp(0, float(duration))
            out = InstanceData()
            out.segments = segments
            out.scores = pred.scores
            out.labels = pred.labels
            sample.pred_instances = out
        return data_samples
