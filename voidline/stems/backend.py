"""What a separation backend provides to the streaming separator (voidline.stems.streaming).

A backend separates one segment at a time. The streaming separator cuts the input into
overlapping segments, runs the backend on each and cross-fades the results exactly as
`demucs.apply.apply_model(split=True)` does, so any backend streams with memory bounded by
the segment length.

Audio arrays are float32 and (frames, channels), like the rest of Voidline.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# The four stems of the 4-stem Demucs models, in their order; 6-stem models add guitar, piano.
FOUR_STEMS = ("drums", "bass", "other", "vocals")


class SegmentSeparator(Protocol):
    """One separation model, applied to one segment at a time."""

    @property
    def name(self) -> str:
        """What ran, as reported to callers: "demucs:htdemucs", "dsp"."""

    @property
    def sources(self) -> tuple[str, ...]:
        """The stems, in the order of separate_segment's first axis."""

    @property
    def samplerate(self) -> int:
        """The rate the model works at; the streaming separator resamples to and from it."""

    @property
    def audio_channels(self) -> int:
        """Channels the model takes (mono input is duplicated, and averaged back after)."""

    @property
    def segment_s(self) -> float | Fraction:
        """The longest (and default) segment, seconds (HTDemucs keeps an exact Fraction)."""

    def valid_length(self, frames: int, segment_frames: int) -> int:
        """Frames the model must be given for a segment of `frames` (padded around it)."""

    def separate_segment(self, segment: FloatArray) -> FloatArray:
        """(frames, channels) -> (sources, frames, channels), the same length as the input."""
