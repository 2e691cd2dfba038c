from . import backbones, data_preprocessors, detectors, heads, necks  # noqa: F401
