"""True-peak look-ahead brickwall limiter.

The output never exceeds the ceiling in dBTP as the analysis service measures it
(ITU-R BS.1770-5 Annex 2, `TruePeakMeter` in its 16x high-precision mode), is aligned with
the input sample for sample, and has the same length. Steps, for the whole signal at once:

1. Inter-sample peaks (BS.1770-5 Annex 2). Each channel is oversampled 8x with the analysis
   package's polyphase interpolator (the 16x meter's filter), and each local maximum on the
   8x grid is refined by quadratic interpolation; `segment peak[n]` is the largest absolute
   value on the interval from sample n to n + 1, over every channel (one gain for all
   channels keeps the stereo image).
2. Required gain. A gain applied at sample n scales both intervals that touch it, so
   `required[n] = min(1, target / max(peak[n - 1], peak[n]))`, with the target a small safety
   margin (`SAFETY_MARGIN_DB`) below the ceiling.
3. Look-ahead. `held[n] = min(required[n .. n + K])` (a running minimum over the K + 1 samples
   of the look-ahead window, in numba).
4. Release. Gain reduction r = 1 - gain follows `held` at once when it deepens and decays
   exponentially otherwise (a peak-hold one-pole release). See `_release` for the adaptive
   rule.
5. Attack smoothing. Two cascaded moving averages whose lengths add up to K + 1 samples turn
   each step down into a smooth S-shaped ramp spread over the look-ahead. Because every
   average only reaches K samples back and `held` looks K samples ahead, the smoothed gain is
   an average of values that are all <= required[n]: it never rises above the required gain,
   and a brickwall limiter needs no further clipping.
6. Apply. An online limiter delays the audio by the look-ahead and the gain computer runs K
   samples ahead; offline we compute the gain on the undelayed time axis instead, which is
   the same thing with the latency already compensated.
7. Verify. The gain changes over a few samples, and the 8x grid can miss the top of a peak
   by a hair, so the result is measured with the 16x meter; if it is over the ceiling, the
   limiter runs again with the target lowered by the excess (`MAX_PASSES` in all), and a last
   static trim guarantees the ceiling whatever happens. The meter only needs to look where
   the output can come near the ceiling: step 1's peaks bound the input between samples, and
   with the gain they bound the output, so the 16x meter skips every block whose bound stays
   below the ceiling (`_bounded_true_peak`; exact, about 2 % of the blocks of a loud master
   are measured).

Where no limiting is needed the gain is exactly 1.0, so untouched passages are bit-exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.truepeak import (
    interpolation_phases,
    max_interpolated,
    oversampling_plan,
)
from voidline.dsp import fastmath
from voidline.dsp.biquad import as_frames, check_sample_rate
from voidline.dsp.parallel import run_parallel
from voidline.errors import InvalidInputError

# Peak detection: 8x oversampling (BS.1770-5 Annex 2 asks for >= 4x) with the filter of the
# 16x meter (48 taps, Kaiser beta 8): its 8x phases are exactly every other 16x phase, so the
# detector and the meter agree except between the 16x points.
DETECTION_FACTOR = 8
DETECTION_TAPS = 48
DETECTION_BETA = 8.0
BLOCK = 32  # intervals per block in the peak detector's skip test

SAFETY_MARGIN_DB = 0.02  # aim this far below the ceiling
# The 16x meter's check measures the blocks whose output bound reaches this far below the
# target. Step 1's refined 8x peaks read at most 0.003 dB under the 16x meter's points
# between samples on tones and at most 0.11 dB on white noise (the worst case measured: all
# its energy sits near Nyquist, where the parabola fits worst); PEAK_BOUND_MARGIN_DB
# covers that.
CHECK_BELOW_TARGET_DB = 0.5
# Step 1's peaks are exact down to this factor (3 dB) below the level the gain needs, so the
# check's bounds are tight there, and loudness targeting can try a little more gain without
# detecting again.
EXACT_PEAKS_BELOW = 10.0 ** (-3.0 / 20.0)
PEAK_BOUND_MARGIN_DB = 0.25
CHECK_BLOCK = 256  # intervals per block of the bounded check
MAX_PASSES = 3  # limiter passes before the static trim
CEILING_RANGE_DBTP = (-20.0, 0.0)
LOOKAHEAD_RANGE_MS = (0.5, 20.0)
RELEASE_RANGE_MS = (5.0, 2000.0)
DEFAULT_LOOKAHEAD_MS = 1.5
DEFAULT_RELEASE_MS = 100.0

# Adaptive release (see `_release`): after isolated transients the release is
# FAST_RELEASE_RATIO times the given one; after limiting sustained for about SUSTAIN_MS or
# longer it is the given one. MEMORY_MS: how long the limiter remembers sustained limiting.
FAST_RELEASE_RATIO = 0.2
SUSTAIN_MS = 100.0
MEMORY_MS = 1000.0
REDUCTION_FLOOR = 1e-9  # a reduction below this (-9e-9 dB) is treated as none


def _halves(n: int, step: int) -> list[tuple[int, int]]:
    """[0, n) cut in two at a multiple of step (one piece when n is short)."""
    middle = (n // 2) // step * step
    return [(0, middle), (middle, n)] if 0 < middle < n else [(0, n)]


def _segment_peaks(frames: NDArray[np.float64], threshold: float) -> NDArray[np.float64]:
    """Peak |value| of the band-limited signal on each interval [n, n + 1], max over channels.

    frames: shape (frames, channels); channel-major memory (a transposed view of contiguous
    rows) is read in place. The result has one value per frame; the last interval runs into
    the silence after the signal. Values that cannot exceed `threshold` may be under-read
    (see `_interval_peaks`). The two halves of the signal run in parallel (cut at a block
    boundary, so the blocks and the result are as in one run), each taking the channels in
    turn into the same maxima.
    """
    taps = DETECTION_TAPS
    phases = interpolation_phases(DETECTION_FACTOR, taps, DETECTION_BETA)
    gain_bound = float(np.abs(phases).sum(axis=1).max())
    rows = np.ascontiguousarray(frames.T)
    n_frames = rows.shape[1]
    # The kernel reads each channel with taps/2 zeros before it and taps/2 + 1 after: window
    # n - 1 (for the point 1/F before sample n) must exist for n = 0, and window n + 1 for
    # the last interval (one more zero on each side than the meter uses).
    lead, tail = taps // 2, taps // 2 + 1
    peaks = np.zeros(n_frames)

    def half(start: int, stop: int) -> None:
        for first, last in _pieces(start, stop, n_frames, lead, tail):
            for row in rows:
                window = _zero_padded(row, first, last + taps + 1, lead)
                _interval_peaks(window, phases, gain_bound, threshold, peaks[first:last])

    run_parallel([partial(half, start, stop) for start, stop in _halves(n_frames, BLOCK)])
    return peaks


def _pieces(start: int, stop: int, n: int, lead: int, tail: int) -> list[tuple[int, int]]:
    """[start, stop) cut at whole blocks from start: edges, and the stretch between them.

    The kernel's windows for the middle stretch (lead samples before each interval, tail
    after) lie inside the signal's n samples; those of the edges reach past its ends.
    """
    inner_first = start + -(-max(0, lead - start) // BLOCK) * BLOCK
    inner_last = start + max(0, n - tail - start) // BLOCK * BLOCK
    inner_first = min(inner_first, stop)
    inner_last = min(max(inner_last, inner_first), stop)
    cuts = [(start, inner_first), (inner_first, inner_last), (inner_last, stop)]
    return [(first, last) for first, last in cuts if first < last]


def _zero_padded(row: NDArray[np.float64], first: int, stop: int, lead: int) -> NDArray[np.float64]:
    """Items first..stop-1 of row as if it had `lead` zeros before it and zeros after it.

    A view of row where they are all samples, else a (small) copy with the zeros.
    """
    low, high = first - lead, stop - lead
    if low >= 0 and high <= row.shape[0]:
        return row[low:high]
    out = np.zeros(stop - first)
    inside = slice(max(low, 0), min(high, row.shape[0]))
    if inside.start < inside.stop:
        out[inside.start - low : inside.stop - low] = row[inside]
    return out


@njit(cache=True, fastmath=True, nogil=True)
def _interval_peaks(
    padded: NDArray[np.float64],
    phases: NDArray[np.float64],
    gain_bound: float,
    threshold: float,
    peaks: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """peaks[n] = max(peaks[n], peak of |x(t)| for t in [n, n + 1]); returns 0.0.

    x(t) is sampled on the oversampled grid: row k of `grid` holds t = n + (k - 1) / F for
    k = 0 .. F + 2, i.e. one grid point either side of the interval too. The grid can miss the
    top of a peak by up to 1/(2F) sample (0.14 dB for a tone near Nyquist at 8x), so every
    local maximum of |x| on the grid is refined by the vertex of the parabola through it and
    its two neighbours (quadratic peak interpolation), which a finer meter's grid points cannot beat
    by more than a few thousandths of a dB.

    `padded` is the channel with taps/2 zeros before and taps/2 + 1 after: the window for
    grid point n + p/F starts at padded[n + 1] (padded[n] for the point before sample n).
    Only peaks above `threshold` matter to the limiter: in a block whose largest sample times
    sum(|h|) (a bound on any interpolated value) stays below it, the sample peaks stand in for
    the interpolated ones, which saves most of the work on quiet passages.
    """
    taps = phases.shape[1]
    half = taps // 2
    frames = peaks.shape[0]
    for start in range(0, frames, BLOCK):
        stop = min(start + BLOCK, frames)
        block_max = 0.0
        for i in range(start, stop + taps + 1):
            block_max = max(block_max, abs(padded[i]))
        if block_max * gain_bound > threshold:
            _refined_peaks(padded[start : stop + taps + 1], phases, peaks[start:stop])
        else:
            for n in range(start, stop):
                peaks[n] = max(peaks[n], abs(padded[n + half]), abs(padded[n + half + 1]))
    return 0.0


@njit(cache=True, fastmath=True, nogil=True)
def _refined_peaks(
    padded: NDArray[np.float64], phases: NDArray[np.float64], peaks: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    """The grid and parabola refinement of `_interval_peaks` for a block of intervals.

    Window n's phases serve three intervals (n - 1 needs its last, n all of them, n + 1
    its first), so each window is interpolated once: `current` holds window n's phases and
    `upcoming` window n + 1's. The dot products start at index 0 of their slices so numba
    can drop negative-index checks and vectorise them.
    """
    n_phases, taps = phases.shape
    factor = n_phases + 1
    half = taps // 2
    grid = np.empty(factor + 3)
    current = np.empty(n_phases)
    upcoming = np.empty(n_phases)
    before = _dot(phases[n_phases - 1], padded[0:taps])  # window -1's last phase
    for p in range(n_phases):
        current[p] = _dot(phases[p], padded[1 : 1 + taps])
    for n in range(peaks.shape[0]):
        for p in range(n_phases):
            upcoming[p] = _dot(phases[p], padded[n + 2 : n + 2 + taps])
        grid[0] = before  # 1/F before sample n: the last phase of window n - 1
        grid[1] = padded[n + half]
        grid[2 : factor + 1] = current
        grid[factor + 1] = padded[n + half + 1]
        grid[factor + 2] = upcoming[0]  # 1/F after sample n + 1: window n + 1's first phase
        best = 0.0
        for row in range(1, factor + 2):
            value = abs(grid[row])
            sign = 1.0 if grid[row] >= 0.0 else -1.0
            before_value = sign * grid[row - 1]
            after = sign * grid[row + 1]
            curvature = 2.0 * value - before_value - after
            if before_value <= value and after <= value and curvature > 0.0:  # a local maximum
                value += (after - before_value) ** 2 / (8.0 * curvature)
            best = max(best, value)
        peaks[n] = max(peaks[n], best)
        before = current[n_phases - 1]
        current, upcoming = upcoming, current


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:  # pragma: no cover
    acc = 0.0
    for j in range(a.shape[0]):
        acc += a[j] * b[j]
    return acc


@njit(cache=True, nogil=True)
def _required_reduction(
    peaks: NDArray[np.float64], scale: float, target: float, out: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    """Step 2 into out: 1 - required gain per sample, for segment peaks scaled by `scale`.

    A sample's gain scales the intervals on both sides of it: the pair peak is
    max(scale peaks[n - 1], scale peaks[n]), and the reduction 1 - target / pair where that
    exceeds the target, else exactly 0.
    """
    previous = 0.0
    for i in range(peaks.shape[0]):
        value = peaks[i] * scale
        pair = max(value, previous) if i > 0 else value
        out[i] = 1.0 - target / pair if pair > target else 0.0
        previous = value


@njit(cache=True, nogil=True)
def _lookahead_max(
    reduction: NDArray[np.float64], window: int, out: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    """out[n] = max(reduction[n .. n + window - 1]), the window cut at the end; O(n).

    (The maximum of the reduction 1 - g is the minimum of the gain.) The van Herk/Gil-Werman
    scheme: cut the signal into blocks of `window` samples; the window from n is the rest of
    n's block plus the start of the next block, so its maximum is a backward running maximum
    within the block and a forward one from the next block's start. About three comparisons
    per sample and no branches that depend on the data. out must not be reduction.
    """
    n = reduction.shape[0]
    for start in range(0, n, window):
        stop = min(start + window, n)
        running = reduction[stop - 1]
        out[stop - 1] = running
        for i in range(stop - 2, start - 1, -1):  # max from i to the block's end
            running = max(running, reduction[i])
            out[i] = running
        running = 0.0  # reductions are >= 0
        for i in range(start + 1, stop):  # window from i ends at stop + (i - start) - 1
            ahead = stop + (i - start) - 1
            if ahead < n:  # past the end, running already holds the rest of the signal
                running = max(running, reduction[ahead])
            out[i] = max(out[i], running)


@njit(cache=True, nogil=True)
def _release(
    held: NDArray[np.float64],
    fs: float,
    release_ms: float,
    adaptive: bool,
    out: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """Peak-hold with exponential release of the gain reduction (1 - gain).

    r[n] = max(held[n], a[n] * r[n - 1]), a[n] = exp(-1 / (tau[n] fs)).

    Adaptive rule: s[n] in [0, 1] measures how sustained the limiting has been. While
    limiting is demanded (held[n] > 0) it rises towards 1 with time constant SUSTAIN_MS
    (100 ms); otherwise it falls towards 0 with time constant MEMORY_MS (1 s), so gaps
    between the peaks of dense material do not reset it. The release time constant is
    tau[n] = release_ms * (FAST_RELEASE_RATIO + (1 - FAST_RELEASE_RATIO) * s[n]): after an
    isolated drum hit (a few ms, s near 0) the gain recovers five times faster than
    release_ms and leaves no audible hole; after 100 ms or more of limiting (s near 1) it
    recovers at release_ms and does not pump. Without adaptation, tau = release_ms.

    Written into out, which may be held itself.
    """
    n = held.shape[0]
    rise = math.exp(-1000.0 / (SUSTAIN_MS * fs))
    fall = math.exp(-1000.0 / (MEMORY_MS * fs))
    slow = release_ms / 1000.0 * fs  # time constant in samples
    fixed_coeff = math.exp(-1.0 / slow)
    s = 0.0
    r = 0.0
    for i in range(n):
        if adaptive:
            s = 1.0 + rise * (s - 1.0) if held[i] > 0.0 else fall * s
            coeff = 0.0  # moot while no reduction is decaying
            if r > 0.0:
                tau = slow * (FAST_RELEASE_RATIO + (1.0 - FAST_RELEASE_RATIO) * s)
                coeff = fastmath.exp(-1.0 / tau)  # no libm call per sample
        else:
            coeff = fixed_coeff
        r *= coeff
        if r < REDUCTION_FLOOR:
            r = 0.0
        r = max(r, held[i])
        out[i] = r


@njit(cache=True, nogil=True)
def _moving_average(
    x: NDArray[np.float64], length: int, out: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    """out[n] = mean(x[n - length + 1 .. n]), x >= 0, with x[0] repeated before the start.

    Repeating the first value (rather than zeros) keeps the average >= the reduction a peak in
    the first samples needs. A running sum, reset to exactly 0 whenever the window holds only
    zeros, so stretches without reduction come out exactly 0 (gain exactly 1) however long
    the signal. out must not be x.
    """
    n = x.shape[0]
    total = x[0] * length
    nonzero = length if x[0] != 0.0 else 0
    for i in range(n):
        leaving = x[i - length] if i >= length else x[0]
        total += x[i] - leaving
        nonzero += (x[i] != 0.0) - (leaving != 0.0)
        if nonzero == 0:
            total = 0.0
        out[i] = max(total, 0.0) / length


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> float:
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInputError(f"{name} must lie within {low:g} to {high:g} {unit}, got {value}")
    return float(value)


def limiter_gain(
    x: ArrayLike,
    fs: int,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
    release_ms: float = DEFAULT_RELEASE_MS,
    adaptive_release: bool = True,
) -> NDArray[np.float64]:
    """One pass of the gain computer (steps 1-5 of the module docstring): shape (frames,).

    x: shape (frames, channels), full scale 1.0. The gain is in (0, 1], 1.0 exactly where no
    limiting is needed, and aims SAFETY_MARGIN_DB below the ceiling.
    """
    frames = _validated(x, fs)
    ceiling = _check_range("ceiling_dbtp", ceiling_dbtp, CEILING_RANGE_DBTP, "dBTP")
    lookahead = _check_range("lookahead_ms", lookahead_ms, LOOKAHEAD_RANGE_MS, "ms")
    release = _check_range("release_ms", release_ms, RELEASE_RANGE_MS, "ms")
    return _gain(frames, fs, ceiling, lookahead, release, adaptive_release)[0]


def target_peak(ceiling_dbtp: float) -> float:
    """The linear peak the gain computer aims at: SAFETY_MARGIN_DB below the ceiling."""
    return float(10.0 ** ((ceiling_dbtp - SAFETY_MARGIN_DB) / 20.0))


@dataclass(frozen=True)
class PeakBounds:
    """Upper bounds of a signal's true peak per interval: scale * max(peaks[n], exact_above).

    `peaks` are step 1's segment peaks of the unscaled signal, exact above `exact_above`
    (every interpolated value of an inexact block is at most exact_above), and the signal
    the bounds are for is the unscaled one times `scale`.
    """

    peaks: NDArray[np.float64]
    scale: float
    exact_above: float


def _gain(
    frames: NDArray[np.float64],
    fs: int,
    ceiling_dbtp: float,
    lookahead_ms: float,
    release_ms: float,
    adaptive: bool,
) -> tuple[NDArray[np.float64], PeakBounds]:
    """Steps 1-5 on frames: the gain and the peaks it came from.

    Peaks are detected exactly down to 3 dB below the target rather than at it: the
    gain only depends on those above the target, but the bounded check after limiting
    needs tight bounds for the rest.
    """
    exact_above = target_peak(ceiling_dbtp) * EXACT_PEAKS_BELOW
    peaks = _segment_peaks(frames, exact_above)  # step 1
    gain = gain_from_peaks(peaks, 1.0, fs, ceiling_dbtp, lookahead_ms, release_ms, adaptive)
    return gain, PeakBounds(peaks, 1.0, exact_above)


def gain_from_peaks(
    peaks: NDArray[np.float64],
    scale: float,
    fs: int,
    ceiling_dbtp: float,
    lookahead_ms: float,
    release_ms: float,
    adaptive: bool,
    buffers: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> NDArray[np.float64]:
    """Steps 2-5 for the signal `scale` times the one whose segment peaks are `peaks`.

    The peak detector is linear, so the peaks of a scaled signal are the scaled peaks: a
    caller that tries several input gains (loudness matching) detects the peaks once. The
    peaks must be exact above target / scale (see `_segment_peaks`); `peaks` is not changed.
    buffers: two arrays of peaks' length to work in, the second of which is returned (new
    ones when None).
    """
    # Two arrays hold every step's result in turn (fresh memory is costly at this size).
    a, b = buffers or (np.empty(peaks.shape[0]), np.empty(peaks.shape[0]))
    _required_reduction(peaks, scale, target_peak(ceiling_dbtp), a)  # step 2
    window = max(2, round(lookahead_ms * fs / 1000.0))  # K + 1 samples
    _lookahead_max(a, window, b)  # step 3
    _release(b, float(fs), release_ms, adaptive, b)  # step 4
    first = window // 2
    _moving_average(b, first, a)  # step 5
    _moving_average(a, window - first + 1, b)
    return np.subtract(1.0, b, out=b)


def segment_peaks(x: NDArray[np.float64], threshold: float) -> NDArray[np.float64]:
    """Step 1 for x (frames, channels): per-interval true peaks, exact above `threshold`."""
    return _segment_peaks(x, threshold)


def _validated(x: ArrayLike, fs: int) -> NDArray[np.float64]:
    check_sample_rate(fs)
    frames = as_frames(x, max_channels=8)
    if not np.isfinite(frames).all():
        raise InvalidInputError("x must hold finite samples (no NaN or infinity)")
    return frames


def true_peak_dbtp(x: NDArray[np.float64], fs: int) -> float:
    """Largest true peak over channels with the analysis service's 16x meter, dBTP.

    The same interpolation as `TruePeakMeter(fs, channels, high_precision=True)` after one
    push and a flush (every window over the signal with taps/2 - 1 zeros either side), and
    the same result; channels and halves of the signal run in parallel.
    """
    if x.shape[0] == 0:
        return -math.inf
    factor, taps, beta = oversampling_plan(fs, high_precision=True)
    phases = interpolation_phases(factor, taps, beta)
    gain_bound = float(np.abs(phases).sum(axis=1).max())
    # Skipping blocks below the floor is exact for the maximum, so every job starts from the
    # largest sample of any channel (Annex 2 reports max(true peak, sample peak) anyway).
    floor = _abs_max(x)
    zeros = np.zeros(taps // 2 - 1)
    jobs: list[Callable[[], float]] = []
    for c in range(x.shape[1]):
        padded = np.concatenate([zeros, x[:, c], zeros])
        windows = padded.shape[0] - taps + 1
        for start, stop in _halves(windows, 1):
            window_samples = padded[start : stop + taps - 1]
            jobs.append(partial(max_interpolated, window_samples, phases, gain_bound, floor))
    peak = max(run_parallel(jobs), default=floor)
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


@njit(cache=True, nogil=True)
def _abs_max(x: NDArray[np.float64]) -> float:  # pragma: no cover - compiled
    """max |x| over a 2-D array (0 when empty), without a temporary |x| array."""
    largest = 0.0
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            largest = max(largest, abs(x[i, c]))
    return largest


def _checked_true_peak(
    out: NDArray[np.float64],
    frames: NDArray[np.float64],
    gain: NDArray[np.float64],
    bounds: PeakBounds | None,
    fs: int,
    aim_dbtp: float,
) -> float:
    """The 16x meter's true peak of out = frames * gain, dBTP, measuring only where needed.

    Without bounds, or when the measured blocks all stay below the level that decides which
    blocks are measured, the whole output is measured (`true_peak_dbtp`).
    """
    if bounds is not None:
        factor, taps, beta = oversampling_plan(fs, high_precision=True)
        level = target_peak(aim_dbtp) * 10.0 ** (-CHECK_BELOW_TARGET_DB / 20.0)
        peak = _bounded_true_peak(out, frames, gain, bounds, (factor, taps, beta), level)
        if peak >= level:
            return 20.0 * math.log10(peak)
    return true_peak_dbtp(out, fs)


def _bounded_true_peak(
    out: NDArray[np.float64],
    frames: NDArray[np.float64],
    gain: NDArray[np.float64],
    bounds: PeakBounds,
    plan: tuple[int, int, float],
    level: float,
) -> float:
    """Largest 16x true peak (linear) of out over the blocks whose bound reaches `level`.

    Over the 16x meter's window of `taps` samples around interval n, with G and g the
    largest and smallest gain there and M the largest |frames|:
        |out(t)| = |sum h_j g_j x_j| <= G |x(t)| + (G - g) sum |h_j| M,
    and |x(t)| <= bounds (times PEAK_BOUND_MARGIN_DB for the 16x points between the 8x
    ones). Taken per block of CHECK_BLOCK intervals (extremes over the block's windows),
    a block whose bound stays below `level` cannot reach it, so it is skipped. The result
    is the whole output's true peak whenever it is >= level; below that it is only a lower
    bound (the caller then measures everything).
    """
    factor, taps, beta = plan
    phases = interpolation_phases(factor, taps, beta)
    gain_bound = float(np.abs(phases).sum(axis=1).max())
    lead = taps // 2 - 1  # the meter's zeros before the signal: window n is interval n
    margin = 10.0 ** (PEAK_BOUND_MARGIN_DB / 20.0)
    flagged = _flag_blocks(
        frames,
        gain,
        bounds.peaks,
        bounds.scale * margin,
        bounds.exact_above,
        gain_bound,
        lead,
        taps - lead,
        level,
    )
    best = 0.0
    n = out.shape[0]
    windows = n + 2 * lead - taps + 1  # as many as the meter has
    for first, last in _runs(flagged):
        start, stop = first * CHECK_BLOCK, min(windows, last * CHECK_BLOCK)
        if start >= stop:
            continue
        for c in range(out.shape[1]):
            samples = np.ascontiguousarray(_zero_padded(out[:, c], start, stop + taps - 1, lead))
            best = max(best, _abs_max(samples[:, None]))
            best = max_interpolated(samples, phases, gain_bound, best)
    return best


def _runs(flags: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[first, last) index ranges of the consecutive True items of flags."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@njit(cache=True, nogil=True)
def _flag_blocks(
    frames: NDArray[np.float64],
    gain: NDArray[np.float64],
    peaks: NDArray[np.float64],
    peak_scale: float,
    exact_above: float,
    gain_bound: float,
    before: int,
    after: int,
    level: float,
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Per block of CHECK_BLOCK intervals: can out = frames * gain reach `level` there?

    The bound of `_bounded_true_peak`, with the block's windows spanning `before` samples
    before its first interval and `after` after its last. peak_scale * max(peaks, exact_above)
    bounds |frames| between samples.
    """
    n = frames.shape[0]
    blocks = (n + CHECK_BLOCK - 1) // CHECK_BLOCK
    flagged = np.zeros(blocks, dtype=np.bool_)
    for b in range(blocks):
        start = b * CHECK_BLOCK
        stop = min(n, start + CHECK_BLOCK)
        largest_bound = 0.0
        for i in range(start, stop):
            largest_bound = max(largest_bound, peaks[i], exact_above)
        high = 0.0
        low = 1.0
        largest_sample = 0.0
        for i in range(max(0, start - before), min(n, stop + after)):
            high = max(high, gain[i])
            low = min(low, gain[i])
            for c in range(frames.shape[1]):
                largest_sample = max(largest_sample, abs(frames[i, c]))
        bound = high * largest_bound * peak_scale + (high - low) * gain_bound * largest_sample
        flagged[b] = bound >= level
    return flagged


@njit(cache=True, nogil=True)
def scale_frames(
    x: NDArray[np.float64], scale: float, curve: NDArray[np.float64], out: NDArray[np.float64]
) -> None:  # pragma: no cover - compiled
    """out[n, c] = x[n, c] * (scale * curve[n]): `x * (scale * curve)[:, None]`, no temporary.

    Several times faster than numpy's broadcast multiply when x is a channel-major view and
    out is frame-major (numpy then buffers small strided blocks).
    """
    for n in range(x.shape[0]):
        factor = scale * curve[n]
        for c in range(x.shape[1]):
            out[n, c] = x[n, c] * factor


def limit_with_gain(
    x: ArrayLike,
    fs: int,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
    release_ms: float = DEFAULT_RELEASE_MS,
    adaptive_release: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`limit`, also returning the gain applied to every frame, shape (frames,)."""
    frames = _validated(x, fs)
    ceiling = _check_range("ceiling_dbtp", ceiling_dbtp, CEILING_RANGE_DBTP, "dBTP")
    lookahead = _check_range("lookahead_ms", lookahead_ms, LOOKAHEAD_RANGE_MS, "ms")
    release = _check_range("release_ms", release_ms, RELEASE_RANGE_MS, "ms")
    out, gain, _ = checked_limit(frames, fs, ceiling, lookahead, release, adaptive_release)
    return out, gain


def checked_limit(
    frames: NDArray[np.float64],
    fs: int,
    ceiling_dbtp: float,
    lookahead_ms: float,
    release_ms: float,
    adaptive: bool,
    first_gain: NDArray[np.float64] | None = None,
    first_bounds: PeakBounds | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float | None]:
    """Steps 6-7 on validated frames: (output, gain, output true peak in dBTP or None).

    first_gain: the first pass's gain when the caller already has it (`gain_from_peaks`),
    with first_bounds, the peak bounds of frames it came from (None: the check measures the
    whole output). The true peak is the 16x meter's reading of the output, returned so that
    callers need not measure it again; None when it was not measured (pass-through, trim).
    """
    if frames.shape[0] == 0:
        return frames.copy(), np.ones(0), None
    aim = ceiling_dbtp
    for attempt in range(MAX_PASSES):
        bounds: PeakBounds | None
        if attempt or first_gain is None:
            gain, bounds = _gain(frames, fs, aim, lookahead_ms, release_ms, adaptive)
        else:
            gain, bounds = first_gain, first_bounds
        if gain.min() == 1.0:  # nothing to limit: bit-exact pass-through
            return frames.copy(), gain, None
        out = np.empty(frames.shape)  # C order, whatever the order of frames
        scale_frames(frames, 1.0, gain, out)
        peak = _checked_true_peak(out, frames, gain, bounds, fs, aim)
        excess = peak - ceiling_dbtp
        if excess <= 0.0:
            return out, gain, peak
        aim -= excess + SAFETY_MARGIN_DB
    # Last resort (not reached in the tests): a static trim by the remaining excess.
    trim = 10.0 ** (-excess / 20.0) * (1.0 - 1e-9)
    gain = gain * trim  # a new array: never scale a caller's first_gain in place
    out *= trim
    return out, gain, None


def limit(
    x: ArrayLike,
    fs: int,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
    release_ms: float = DEFAULT_RELEASE_MS,
    adaptive_release: bool = True,
) -> NDArray[np.float64]:
    """Brickwall-limit x (frames, channels) so its 16x true peak is <= ceiling_dbtp.

    lookahead_ms (0.5-20): how far ahead the gain starts to fall, i.e. the attack ramp length.
    release_ms (5-2000): the release time constant (after sustained limiting when
    adaptive_release; see `_release` for the rule). The output has the input's shape and
    timing; where the input's true peak stays below the ceiling it is returned unchanged.
    """
    out, _ = limit_with_gain(x, fs, ceiling_dbtp, lookahead_ms, release_ms, adaptive_release)
    return out
