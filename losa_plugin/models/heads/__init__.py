"""ActionFormer TAL head and its building blocks (registered in mmaction's MODELS;
the point generator and assigner in TASK_UTILS)."""
from .actionformer_head import ActionFormerHead
from .actionformer_nms import actionformer_nms, score_iou_voting
from .actionformer_projection import ActionFormerProjection
from .affine_drop_path import AffineDropPath
from .center_sampling_assigner import CenterSamplingAssigner1D
from .channel_layer_norm import ChannelLayerNorm
from .diou_loss import DIoULoss1D, diou_loss_1d
from .masked_conv1d import MaskedConv1D
from .masked_conv_head import MaskedConvHead
from .masked_local_attention import MaskedLocalAttention
from .masked_transformer_block import MaskedTransformerBlock
from .point_generator import PointGenerator1D

__all__ = [
    'ActionFormerHead', 'actionformer_nms', 'score_iou_voting', 'ActionFormerProjection',
    'AffineDropPath', 'CenterSamplingAssigner1D', 'ChannelLayerNorm', 'DIoULoss1D', 'diou_loss_1d', 'MaskedConv1D', 'MaskedConvHead',
    'MaskedLocalAttention', 'MaskedTransformerBlock', 'PointGenerator1D'
]
