# Components are imported here so that importing losa_plugin registers them.
from .bottleneck_cross_attention import BottleneckCrossAttention  # noqa: F401
from .cross_attention_adapter import CrossAttentionAdapter  # noqa: F401
from .last_layer_neck import LastLayerNeck  # noqa: F401
from .long_range_adapter import LongRangeAdapter  # noqa: F401
from .long_short_fusion import LongShortFusion  # noqa: F401
from .losa_neck import LoSANeck  # noqa: F401
from .short_range_adapter import ShortRangeAdapter  # noqa: F401
from .spatial_reduction import SpatialReduction  # noqa: F401
from .temporal_align import TemporalAlign  # noqa: F401
from .unipt_neck import UniPTNeck  # noqa: F401
