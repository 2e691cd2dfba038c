# Components are imported here so that importing losa_plugin registers them.
from .tap_output import TapOutput  # noqa: F401
