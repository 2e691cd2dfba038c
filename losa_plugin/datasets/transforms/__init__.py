# Components are imported here so that importing losa_plugin registers them.
# Pre-extracted-feature pipeline and the shared window sampling.
from .load_tal_feature import LoadTALFeature, set_feature_window
from .pack_tal_inputs import PackTALInputs
from .random_truncate_feature import RandomTruncateFeature
from .resize_tal_feature import ResizeTALFeature
from .window_sampling import sample_train_window, sliding_windows

# ---- video transforms (owned by the video-pipeline engineer): add imports below ----
from .cached_decord_init import CachedDecordInit
from .consistent_augment import ConsistentAugment
from .decode_video_window import DecodeVideoWindow
from .sample_video_window import SampleVideoWindow

# ---- end of video transforms ----

__all__ = ['CachedDecordInit', 'ConsistentAugment', 'DecodeVideoWindow', 'LoadTALFeature',
           'PackTALInputs', 'RandomTruncateFeature', 'ResizeTALFeature', 'SampleVideoWindow',
           'sample_train_window', 'set_feature_window', 'sliding_windows']
