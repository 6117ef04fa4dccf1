"""Mid/side stereo width per band, mono bass, and a mono-compatibility guard.

Method (mid/side, as in any M/S matrix: M = (L + R) / 2, S = (L - R) / 2, L = M + S,
R = M - S):

1. Width: S is split with the Linkwitz-Riley crossover and band b is scaled by its width
   w_b (0 = mono, 1 = unchanged, 2 = twice the side). The bands of S sum to the crossover's
   all-pass of S, so M goes through the same all-pass: M and S keep their phase relation and
   L and R get the same all-pass, which leaves every magnitude response flat. When every
   band has the same width no crossover is needed and S is simply scaled; with width 1 and
   mono bass off the input is returned unchanged (bit for bit).
2. Mono bass: below mono_below_hz the side is removed with a 4th-order Linkwitz-Riley
   high-pass on S; M gets the matching 2nd-order all-pass (LP + HP = AP), so above the
   corner the image is as before.
3. Mono-compatibility guard: the mono loudness change (integrated loudness, ITU-R BS.1770-5,
   of (L + R) / 2 on both loudspeakers minus that of L and R; LoudnessMeter's
   mono_loudness_change_db) may not get more than 1 dB worse than the input's. If it does,
   all side gains are scaled by a common factor g in [0, 1], found by bisection: the largest
   g (to 1/256) whose output passes. g = 0 always passes: the output is then mono and its
   mono loudness change is 0 dB, never worse than any input's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.loudness import LoudnessMeter
from voidline.audio.format import AudioFormat
from voidline.dsp.biquad import allpass, as_frames, check_sample_rate
from voidline.dsp.crossover import (
    MAX_FREQUENCY_FRACTION,
    MIN_CROSSOVER_HZ,
    Crossover,
    linkwitz_riley_highpass,
)
from voidline.errors import InvalidInputError

MAX_WIDTH = 2.0
MAX_MONO_LOSS_DB = 1.0  # how much worse than the input's the mono loudness change may get
GUARD_STEPS = 8  # bisection steps: g to within 1/256


def mono_loudness_change_db(x: NDArray[np.float64], fs: int) -> float:
    """Integrated loudness of (L + R) / 2 on both channels minus that of L, R (stereo x)."""
    meter = LoudnessMeter(AudioFormat(fs, 2))
    meter.push(x)
    return meter.mono_loudness_change_db()


def _check(
    widths: tuple[float, ...], crossover: Crossover | None, mono_below_hz: float, fs: int
) -> None:
    check_sample_rate(fs)
    n_bands = 1 if crossover is None else crossover.n_bands
    if len(widths) != n_bands:
        raise InvalidInputError(
            f"width_per_band must hold one width per crossover band ({n_bands}), got {len(widths)}"
        )
    for w in widths:
        if not (math.isfinite(w) and 0.0 <= w <= MAX_WIDTH):
            raise InvalidInputError(f"width_per_band values must lie within 0-2, got {w}")
    if crossover is not None and crossover.fs != fs:
        raise InvalidInputError(f"crossover was made for fs {crossover.fs} Hz, not fs {fs} Hz")
    top = MAX_FREQUENCY_FRACTION * fs
    if mono_below_hz != 0.0 and not (
        math.isfinite(mono_below_hz) and MIN_CROSSOVER_HZ <= mono_below_hz < top
    ):
        raise InvalidInputError(
            f"mono_below_hz must be 0 (off) or lie within {MIN_CROSSOVER_HZ:g} Hz and "
            f"0.45 fs = {top:g} Hz, got {mono_below_hz}"
        )


def _assemble(
    mid: NDArray[np.float64], side: NDArray[np.float64], g: float, out: NDArray[np.float64]
) -> NDArray[np.float64]:
    """out[:, 0] = M + g S and out[:, 1] = M - g S, written in place."""
    np.multiply(side, g, out=out[:, 1])
    np.add(mid, out[:, 1], out=out[:, 0])
    np.subtract(mid, out[:, 1], out=out[:, 1])
    return out


def widen(
    x: ArrayLike,
    width_per_band: Sequence[float],
    crossover: Crossover | None,
    mono_below_hz: float,
    fs: int,
) -> NDArray[np.float64]:
    """Set the stereo width of x (frames, channels) per band; returns a new array.

    crossover None means one band (width_per_band then holds one value). mono_below_hz 0
    turns mono bass off. Mono input is returned unchanged.
    """
    widths = tuple(float(w) for w in width_per_band)
    _check(widths, crossover, mono_below_hz, fs)
    frames = as_frames(x)
    uniform = all(w == widths[0] for w in widths)
    if frames.shape[1] == 1 or (uniform and widths[0] == 1.0 and mono_below_hz == 0.0):
        return frames.copy()

    mid = 0.5 * (frames[:, 0] + frames[:, 1])
    side = 0.5 * (frames[:, 0] - frames[:, 1])
    mid_allpass: list[NDArray[np.float64]] = []
    if uniform:
        side *= widths[0]
    else:
        assert crossover is not None  # one band is always uniform
        scaled = np.zeros_like(side)
        for band, w in zip(crossover.bands(side[:, np.newaxis]), widths, strict=True):
            if w != 0.0:
                scaled += w * band[:, 0]
        side = scaled
        mid_allpass.append(crossover.allpass_sos)
    if mono_below_hz != 0.0:
        side = scipy.signal.sosfilt(linkwitz_riley_highpass(mono_below_hz, fs), side)
        mid_allpass.append(allpass(mono_below_hz, fs))
    if mid_allpass:
        mid = scipy.signal.sosfilt(np.vstack(mid_allpass), mid)

    out = _assemble(mid, side, 1.0, np.empty_like(frames))
    floor = mono_loudness_change_db(frames, fs) - MAX_MONO_LOSS_DB
    if mono_loudness_change_db(out, fs) >= floor:
        return out
    # Guard: bisect the common side factor; `low` always passes (0: mono output).
    low, high = 0.0, 1.0
    for _ in range(GUARD_STEPS):
        g = 0.5 * (low + high)
        if mono_loudness_change_db(_assemble(mid, side, g, out), fs) >= floor:
            low = g
        else:
            high = g
    return _assemble(mid, side, low, out)
