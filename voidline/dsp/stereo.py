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

   The bisection needs no loudness measurements of its own (see `_MonoChange`): with
   L = M + g S and R = M - g S and K-weighting linear, a gating block's L and R energies add
   up to 2 (E_M + g^2 E_S) and its mono energy is 2 E_M, where E_M and E_S are the block's
   K-weighted mid and side energies. Those are measured once; the chosen output is then
   checked with the meter itself (and g lowered by 1/256 steps in the unlikely case that
   rounding put it on the wrong side of the limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.signal
from numba import njit
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.histogram import GatedHistogram
from voidline.analysis.kweighting import k_weighting_sos
from voidline.analysis.loudness import (
    HOP_SUB_BLOCKS,
    INTEGRATED_RELATIVE_GATE_LU,
    MOMENTARY_SUB_BLOCKS,
    SUB_BLOCKS_PER_SECOND,
    LoudnessMeter,
)
from voidline.audio.format import AudioFormat
from voidline.dsp.biquad import (
    allpass,
    as_frames,
    check_sample_rate,
    filter_rows,
    to_frames,
    to_rows,
)
from voidline.dsp.crossover import (
    MAX_FREQUENCY_FRACTION,
    MIN_CROSSOVER_HZ,
    Crossover,
    linkwitz_riley_highpass,
)
from voidline.dsp.parallel import run_parallel
from voidline.errors import InvalidInputError

MAX_WIDTH = 2.0
MAX_MONO_LOSS_DB = 1.0  # how much worse than the input's the mono loudness change may get
GUARD_STEPS = 8  # bisection steps: g to within 1/256
SEGMENT_FRAMES = 1 << 16  # the side's bands are made and summed this many frames at a time


def mono_loudness_change_db(x: NDArray[np.float64], fs: int) -> float:
    """Integrated loudness of (L + R) / 2 on both channels minus that of L, R (stereo x)."""
    meter = LoudnessMeter(AudioFormat(fs, 2))
    meter.push(x)
    return meter.mono_loudness_change_db()


class _MonoChange:
    """`mono_loudness_change_db` of the stereo pair M + g S, M - g S, for any g.

    The gating blocks are the meter's: 400 ms windows of 10 ms sub-blocks (sub-block k ends
    at frame (k + 1) fs // 100), one every 10 sub-blocks. Each block's K-weighted mid and
    side energies are measured once; the pair's block energies follow for any g.
    """

    def __init__(self, mid: NDArray[np.float64], side: NDArray[np.float64], fs: int) -> None:
        sos = k_weighting_sos(fs)
        n = mid.shape[0]
        edges = np.arange(n * SUB_BLOCKS_PER_SECOND // fs + 1) * fs // SUB_BLOCKS_PER_SECOND
        sums = []
        for signal in (mid, side):
            weighted = scipy.signal.sosfilt(sos, signal)
            running = np.concatenate([[0.0], np.cumsum(weighted * weighted)])
            sums.append(np.diff(running[edges]))  # per sub-block
        sub_m, sub_s = sums
        # Blocks end at sub-blocks k = 39, 49, 59, ...: sums over 40 sub-blocks and frames.
        ends = np.arange(MOMENTARY_SUB_BLOCKS, sub_m.shape[0] + 1, HOP_SUB_BLOCKS)
        cum_m = np.concatenate([[0.0], np.cumsum(sub_m)])
        cum_s = np.concatenate([[0.0], np.cumsum(sub_s)])
        starts = ends - MOMENTARY_SUB_BLOCKS
        frames = (edges[ends] - edges[starts]).astype(np.float64)
        self._mid = 2.0 * (cum_m[ends] - cum_m[starts]) / frames
        self._side = 2.0 * (cum_s[ends] - cum_s[starts]) / frames
        mono = GatedHistogram()
        mono.add(self._mid)
        self._mono_lufs = mono.gated_loudness(INTEGRATED_RELATIVE_GATE_LU)[0]

    def __call__(self, g: float) -> float:
        pair = GatedHistogram()
        pair.add(self._mid + g * g * self._side)
        stereo = pair.gated_loudness(INTEGRATED_RELATIVE_GATE_LU)[0]
        if not math.isfinite(stereo):
            return 0.0
        return self._mono_lufs - stereo


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


def _mid_side(
    rows: NDArray[np.float64], work: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """M = (L + R) / 2 and S = (L - R) / 2 of rows (2, frames), in work (new when None)."""
    mid_side = np.empty_like(rows) if work is None else work
    mid, side = mid_side[0], mid_side[1]
    np.add(rows[0], rows[1], out=mid)
    mid *= 0.5
    np.subtract(rows[0], rows[1], out=side)
    side *= 0.5
    return mid, side


def _assemble(
    mid: NDArray[np.float64], side: NDArray[np.float64], g: float, out: NDArray[np.float64]
) -> NDArray[np.float64]:
    """out[0] = M + g S and out[1] = M - g S (rows: channels, frames), written in place."""
    np.multiply(side, g, out=out[1])
    np.add(mid, out[1], out=out[0])
    np.subtract(mid, out[1], out=out[1])
    return out


@njit(cache=True, nogil=True)
def _weighted_sum(
    bands: NDArray[np.float64], weights: NDArray[np.float64], out: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    """out[n] = sum of weights[b] * bands[b, n] over the bands with a non-zero weight.

    Summed from 0.0, lowest band first, each product rounded before it is added: the numbers
    of `scaled += w * band` band by band.
    """
    for n in range(out.shape[0]):
        total = 0.0
        for b in range(bands.shape[0]):
            if weights[b] != 0.0:
                product = weights[b] * bands[b, n]
                total = total + product
        out[n] = total


def _scale_bands(
    side: NDArray[np.float64], widths: tuple[float, ...], crossover: Crossover
) -> None:
    """side = sum of w_b times its band b, in place, a stretch at a time (little memory)."""
    weights = np.array(widths)
    state = crossover.new_state()
    length = max(1, min(SEGMENT_FRAMES, side.shape[0]))
    bands = np.empty((crossover.n_bands, length))
    for start in range(0, side.shape[0], length):
        stretch = side[start : start + length]
        crossover.split_into(stretch, state, bands)
        _weighted_sum(bands[:, : stretch.shape[0]], weights, stretch)


def _side_path(
    side: NDArray[np.float64],
    widths: tuple[float, ...],
    crossover: Crossover | None,
    mono_below_hz: float,
    fs: int,
) -> None:
    """Step 1 and the side's half of step 2 of the module docstring, on side in place."""
    if all(w == widths[0] for w in widths):
        side *= widths[0]
    else:
        assert crossover is not None  # one band is always uniform
        _scale_bands(side, widths, crossover)
    if mono_below_hz != 0.0:
        filter_rows(linkwitz_riley_highpass(mono_below_hz, fs), side[np.newaxis], side[np.newaxis])


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
    _check(tuple(float(w) for w in width_per_band), crossover, mono_below_hz, fs)
    frames = as_frames(x)
    if frames.shape[1] == 1:
        return frames.copy()
    rows = to_rows(frames)
    out = np.empty_like(rows)
    widen_rows(rows, width_per_band, crossover, mono_below_hz, fs, out)
    return to_frames(out)


def widen_rows(
    rows: NDArray[np.float64],
    width_per_band: Sequence[float],
    crossover: Crossover | None,
    mono_below_hz: float,
    fs: int,
    out: NDArray[np.float64],
    work: NDArray[np.float64] | None = None,
) -> None:
    """`widen` for stereo rows (2, frames), written into out (which may be rows itself).

    work: an array of rows' shape to hold the mid and side signals (a new one when None).

    The side's filters run in one thread while the mid's all-pass and the input's mono
    loudness change (the guard's floor) are measured in another.
    """
    widths = tuple(float(w) for w in width_per_band)
    _check(widths, crossover, mono_below_hz, fs)
    uniform = all(w == widths[0] for w in widths)
    if uniform and widths[0] == 1.0 and mono_below_hz == 0.0:
        out[...] = rows
        return

    mid, side = _mid_side(rows, work)
    mid_allpass: list[NDArray[np.float64]] = []
    if not uniform:
        assert crossover is not None  # one band is always uniform
        mid_allpass.append(crossover.allpass_sos)
    if mono_below_hz != 0.0:
        mid_allpass.append(allpass(mono_below_hz, fs))

    def mid_path() -> float:
        if mid_allpass:
            filter_rows(np.vstack(mid_allpass), mid[np.newaxis], mid[np.newaxis])
        return mono_loudness_change_db(rows.T, fs) - MAX_MONO_LOSS_DB

    def side_path() -> float:
        _side_path(side, widths, crossover, mono_below_hz, fs)
        return 0.0

    floor, _ = run_parallel([mid_path, side_path])
    _assemble(mid, side, 1.0, out)
    if mono_loudness_change_db(out.T, fs) >= floor:
        return
    # Guard: bisect the common side factor on the model; `low` always passes (0: mono).
    change = _MonoChange(mid, side, fs)
    low, high = 0.0, 1.0
    for _ in range(GUARD_STEPS):
        g = 0.5 * (low + high)
        if change(g) >= floor:
            low = g
        else:
            high = g
    # The meter has the last word (the model agrees with it to rounding).
    while mono_loudness_change_db(_assemble(mid, side, low, out).T, fs) < floor and low > 0.0:
        low = max(0.0, low - 0.5**GUARD_STEPS)
