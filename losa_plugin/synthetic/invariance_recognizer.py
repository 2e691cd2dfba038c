"""A recognizer whose pretraining builds the invariant regime's premise into the backbone
(docs/synthetic_benchmark.md, "The invariant regime", candidate C, ``invariant-built``).

The clips carry directed labels ``y`` whose classes come in mirror pairs, in order
(MoveRight, MoveLeft, RotateClockwise, RotateCounterClockwise, Grow, Shrink): the pair is
``y // 2``, the direction within it ``y % 2``. Three losses train the backbone:

* ``loss_cls``: the usual mmaction head on the backbone's usual output (``fc_norm`` of
  the mean of all last-block tokens), target the pair ``y // 2`` (Move, Rotate, Scale);
* ``loss_aux`` (deep supervision): block ``aux_block``'s tokens, averaged over space per
  temporal step (``[N, T, C]``), flattened, a linear layer, target the directed label
  ``y``: that block must carry direction;
* ``loss_adv``: an adversary (an MLP with one hidden layer) reads the direction ``y % 2``
  from ``F_N`` per temporal step, the features the TAL head-only strategy gets
  (:class:`LayerTapViT`'s ``pooled_last``: ``fc_norm`` of the spatial mean of the last
  block's tokens per temporal step, ``[N, T, C]``), through a gradient reversal: the
  adversary learns to read direction, the backbone learns to remove it from ``F_N``.

The backbone's keys stay ``backbone.*``, so :class:`LayerTapViT` loads the checkpoint as
any recognizer's (``aux_head.*`` and ``adversary.*`` are extra keys it ignores).
Validation and test report the pair: the data samples' ``gt_label`` becomes ``y // 2``
(the directed label is kept as ``directed_label``), so ``AccMetric``'s ``acc/top1`` is the
merged-class accuracy that :class:`TakeoffLRSchedule` watches.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, List

import torch
import torch.nn.functional as F
from einops import rearrange
from mmaction.models import Recognizer3D
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import ConfigType, SampleList
from torch import Tensor, nn

from .gradient_reversal import reverse_gradient

#: directions per pair (a motion and its mirror)
PAIR_SIZE = 2


def spatial_mean(tokens: Tensor, h: int, w: int) -> Tensor:
    """Block tokens ``[N, T*h*w, C]`` (mmaction ViT order: time, then rows, then
    columns) -> their mean over space per temporal step ``[N, T, C]``."""
    return rearrange(tokens, 'n (t s) c -> n t s c', s=h * w).mean(dim=2)


def pooled_last(vit: nn.Module, tokens: Tensor, h: int, w: int) -> Tensor:
    """``F_N`` per temporal step ``[N, T, C]`` from the last block's tokens
    ``[N, T*h*w, C]``, as the TAL head-only features are computed: the ViT's ``fc_norm``
    of the spatial mean (mean pooling), or its final ``norm`` per token, then the mean."""
    if getattr(vit, 'fc_norm', None) is not None:
        return vit.fc_norm(spatial_mean(tokens, h, w))
    return spatial_mean(vit.norm(tokens), h, w)


@MODELS.register_module()
class InvariancePretrainRecognizer(Recognizer3D):
    """:class:`Recognizer3D` with deep supervision of the directed label at one block and
    an adversary removing the direction from the pooled last layer.

    Args:
        backbone (dict): an mmaction ``VisionTransformer`` config.
        cls_head (dict): the main head on the backbone's output; its ``num_classes`` is
            the number of mirror pairs (the data's labels run over twice as many).
        aux_block (int): 1-based block whose tokens carry the directed label (block
            ``i`` = ``backbone.blocks[i - 1]``, as :class:`LayerTapViT`'s layer ids).
            Defaults to 4.
        aux_weight (float): weight of ``loss_aux``. Defaults to 1.0.
        adv_weight (float): weight of ``loss_adv``. Defaults to 1.0.
        adv_lambda (float): gradient reversal scale between ``F_N`` and the adversary
            (the backbone receives ``-adv_lambda * adv_weight`` times the adversary's
            gradient). Defaults to 1.0.
        adv_hidden_dims (int): hidden width of the adversary. Defaults to 64.
        **kwargs: the other :class:`Recognizer3D` arguments (``data_preprocessor``,
            ``train_cfg``, ``test_cfg``, ``neck``).
    """

    def __init__(self,
                 backbone: ConfigType,
                 cls_head: ConfigType,
                 aux_block: int = 4,
                 aux_weight: float = 1.0,
                 adv_weight: float = 1.0,
                 adv_lambda: float = 1.0,
                 adv_hidden_dims: int = 64,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, cls_head=cls_head, **kwargs)
        vit = self.backbone
        for attr in ('blocks', 'pos_embed', 'grid_size', 'patch_size', 'embed_dims'):
            if not hasattr(vit, attr):
                raise TypeError(f'InvariancePretrainRecognizer: the backbone '
                                f'({type(vit).__name__}) has no {attr!r}; expected an '
                                'mmaction VisionTransformer')
        depth = len(vit.blocks)
        if not 1 <= aux_block <= depth:
            raise ValueError(f'InvariancePretrainRecognizer: aux_block={aux_block} must lie '
                             f'in 1..{depth} (the backbone\'s blocks, 1-based)')
        if adv_lambda < 0 or aux_weight < 0 or adv_weight < 0:
            raise ValueError('InvariancePretrainRecognizer: aux_weight, adv_weight and '
                             f'adv_lambda must be >= 0, got {aux_weight}, {adv_weight}, '
                             f'{adv_lambda}')
        self.aux_block = aux_block
        self.aux_weight = float(aux_weight)
        self.adv_weight = float(adv_weight)
        self.adv_lambda = float(adv_lambda)
        self.num_pairs = int(self.cls_head.num_classes)
        gh, gw = vit.grid_size
        #: temporal tokens a clip at the built size (the flattened heads' input is T x C)
        self.temporal_tokens = vit.pos_embed.shape[1] // (gh * gw)
        width = self.temporal_tokens * vit.embed_dims
        self.aux_head = nn.Linear(width, PAIR_SIZE * self.num_pairs)
        self.adversary = nn.Sequential(nn.Linear(width, adv_hidden_dims), nn.ReLU(),
                                       nn.Linear(adv_hidden_dims, PAIR_SIZE))

    @contextmanager
    def _block_outputs(self, block_ids: List[int]) -> Iterator[Dict[int, Tensor]]:
        """Within the block, ``outs[i]`` holds the output tokens of 1-based block ``i``
        of the last backbone forward (hooks removed on exit)."""
        outs: Dict[int, Tensor] = {}
        handles = []
        for i in sorted(set(block_ids)):
            def hook(module, args, output, i=i):
                outs[i] = output
            handles.append(self.backbone.blocks[i - 1].register_forward_hook(hook))
        try:
            yield outs
        finally:
            for handle in handles:
                handle.remove()

    def _directed_labels(self, data_samples: SampleList, device: torch.device) -> Tensor:
        labels = torch.cat([ds.gt_label.reshape(-1) for ds in data_samples]).to(device)
        num = PAIR_SIZE * self.num_pairs
        if labels.numel() != len(data_samples) or labels.min() < 0 or labels.max() >= num:
            raise ValueError(f'InvariancePretrainRecognizer: expected one directed label in '
                             f'0..{num - 1} per clip ({self.num_pairs} mirror pairs, '
                             f'cls_head.num_classes), got {labels.tolist()}')
        return labels

    def loss(self, inputs: Tensor, data_samples: SampleList, **kwargs) -> Dict[str, Tensor]:
        """The three losses and the side heads' accuracies.

        Args:
            inputs: ``[N, 1, 3, F, H, W]`` (one clip a sample).
            data_samples: with the directed ``gt_label``.

        Returns:
            dict: ``loss_cls`` (and the head's ``top*_acc``), ``loss_aux``, ``loss_adv``,
            ``aux_acc`` (directed label from block ``aux_block``), ``adv_acc`` (direction
            from ``F_N``; chance 0.5).
        """
        if inputs.shape[1] != 1:
            raise ValueError(f'InvariancePretrainRecognizer: training takes one clip a '
                             f'sample, got {inputs.shape[1]} (inputs {tuple(inputs.shape)})')
        labels = self._directed_labels(data_samples, inputs.device)
        last = len(self.backbone.blocks)
        with self._block_outputs([self.aux_block, last]) as outs:
            feats, loss_kwargs = self.extract_feat(inputs, data_samples=data_samples)
        h, w = (s // self.backbone.patch_size for s in inputs.shape[-2:])
        pairs = labels // PAIR_SIZE
        merged = [ActionDataSample().set_gt_label(int(p)) for p in pairs]
        losses = self.cls_head.loss(feats, merged, **loss_kwargs)
        losses.update(loss_kwargs.get('loss_aux', {}))  # a neck's own losses, if any

        aux_logits = self.aux_head(spatial_mean(outs[self.aux_block], h, w).flatten(1))
        f_n = pooled_last(self.backbone, outs[last], h, w)
        adv_logits = self.adversary(reverse_gradient(f_n, self.adv_lambda).flatten(1))
        directions = labels % PAIR_SIZE
        losses['loss_aux'] = self.aux_weight * F.cross_entropy(aux_logits, labels)
        losses['loss_adv'] = self.adv_weight * F.cross_entropy(adv_logits, directions)
        with torch.no_grad():
            losses['aux_acc'] = (aux_logits.argmax(1) == labels).float().mean()
            losses['adv_acc'] = (adv_logits.argmax(1) == directions).float().mean()
        return losses

    def predict(self, inputs: Tensor, data_samples: SampleList, **kwargs) -> SampleList:
        """The main head's scores over the pairs; each sample's ``gt_label`` (if any)
        becomes its pair, the directed label is kept as ``directed_label``."""
        for ds in data_samples:
            if 'gt_label' in ds:
                directed = ds.get('directed_label', ds.gt_label)
                ds.set_field(directed, 'directed_label')
                ds.set_gt_label(directed // PAIR_SIZE)
        return super().predict(inputs, data_samples, **kwargs)
