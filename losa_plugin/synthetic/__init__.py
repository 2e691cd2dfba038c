"""Procedural synthetic videos for temporal action localization (the embedded dataset).

Untrimmed mp4 videos with a THUMOS-14-format annotation file, and trimmed clips with
MMAction2 ``VideoDataset`` lists, whose classes are defined by motion over time. See
``docs/synthetic.md``. Nothing here is registered: it writes files the datasets read.
"""
from .config import BACKGROUND_CLASS, DEFAULT_CLASSES, SyntheticConfig
from .motions import MOTIONS, Track, register_motion
from .summary import format_summary, summarize_trimmed, summarize_untrimmed
from .trimmed import generate_trimmed, render_trimmed
from .untrimmed import generate_untrimmed, render_untrimmed

__all__ = [
    'SyntheticConfig', 'DEFAULT_CLASSES', 'BACKGROUND_CLASS', 'MOTIONS', 'Track',
    'register_motion', 'generate_untrimmed', 'generate_trimmed', 'render_untrimmed',
    'render_trimmed', 'summarize_untrimmed', 'summarize_trimmed', 'format_summary'
]
