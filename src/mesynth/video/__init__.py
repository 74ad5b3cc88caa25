"""Frame sources, annotations, writers and the demo-clip maker."""

from mesynth.video.decoders import FrameError, VideoSource
from mesynth.video.layouts import LayoutError, detect_layout, open_sources
from mesynth.video.writers import IncompleteVideoError, open_writer

__all__ = [
    "FrameError",
    "IncompleteVideoError",
    "LayoutError",
    "VideoSource",
    "detect_layout",
    "open_sources",
    "open_writer",
]
