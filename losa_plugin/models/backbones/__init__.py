# Components are imported here so that importing losa_plugin registers them.
from .base_layer_tap import BaseLayerTap, resolve_tap_layers  # noqa: F401
from .fused_attention import (disable_fused_attention,  # noqa: F401
                              enable_fused_attention, fused_attention_forward)
from .layer_tap_slowfast import LayerTapSlowFast  # noqa: F401
from .layer_tap_vit import LayerTapViT  # noqa: F401
from .tap_output import TapOutput  # noqa: F401
from .tap_cache import CachedLayerTap  # noqa: F401
from .peft import *  # noqa: F401,F403  (ST-Adapter, AIM, AdaTAD wrappers)
