# Components are imported here so that importing losa_plugin registers them.
from .tal_detector import TALDetector  # noqa: F401
