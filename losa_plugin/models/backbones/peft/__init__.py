"""Parameter-efficient baselines with adapters inside the frozen backbone's blocks
(ST-Adapter, AIM, AdaTAD's TIA) and the layer-tap wrappers that run them; see
docs/baselines.md. Importing this package registers them in ``mmaction.registry``."""
from .adatad_adapter import TIAdapter  # noqa: F401
from .aim_adapter import AIMAdapter, AIMAdapterLayer  # noqa: F401
from .block_adapter import BlockAdapter, WindowInfo  # noqa: F401
from .peft_layer_tap import PEFTLayerTapSlowFast, PEFTLayerTapViT  # noqa: F401
from .st_adapter import STAdapter, STAdapterLayer  # noqa: F401
