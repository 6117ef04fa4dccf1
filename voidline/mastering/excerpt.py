"""Preview excerpts: the loudest window of a track, by BS.1770 K-weighted energy.

The window with the highest mean K-weighted power (ITU-R BS.1770-5 section 2.1-2.4, channel
weights 1.0 for a mono or stereo input) over 100 ms blocks is where a listener hears the
master working hardest, so it is the default excerpt for quick A/B listening.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
from numpy.typing import NDArray

from voidline.analysis.kweighting import k_weighting_sos
from voidline.errors import InvalidInputError

DEFAULT_EXCERPT_S = 30.0
EXCERPT_RANGE_S = (1.0, 120.0)
BLOCK_S = 0.1


def check_excerpt_seconds(start_s: float | None, duration_s: float) -> None:
    low, high = EXCERPT_RANGE_S
    if not (math.isfinite(duration_s) and low <= duration_s <= high):
        raise InvalidInputError(
            f"the excerpt length must lie within {low:g} to {high:g} s, got {duration_s}"
        )
    if start_s is not None and not (math.isfinite(start_s) and start_s >= 0.0):
        raise InvalidInputError(f"the excerpt start must be 0 s or later, got {start_s}")


def loudest_window(frames: NDArray[np.float64], fs: int, length: int) -> int:
    """First frame of the `length`-frame window with the most K-weighted energy.

    The search runs on 100 ms blocks, so the start is a multiple of 100 ms; a track no longer
    than the window starts at 0.
    """
    if frames.shape[0] <= length:
        return 0
    weighted = scipy.signal.sosfilt(k_weighting_sos(fs), np.ascontiguousarray(frames.T), axis=-1)
    block = max(round(BLOCK_S * fs), 1)
    n_blocks = weighted.shape[1] // block
    power = (weighted[:, : n_blocks * block] ** 2).reshape(weighted.shape[0], n_blocks, block)
    energy = power.sum(axis=(0, 2))
    window = max(length // block, 1)
    if n_blocks <= window:
        return 0
    sums = np.convolve(energy, np.ones(window), mode="valid")
    start = int(np.argmax(sums)) * block
    return min(start, int(frames.shape[0]) - length)
