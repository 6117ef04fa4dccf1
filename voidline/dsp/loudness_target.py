"""Loudness targeting: gain plus true-peak limiting to a target integrated loudness.

Integrated loudness is ITU-R BS.1770-5 (K-weighting, 400 ms blocks, absolute gate -70 LUFS,
relative gate -10 LU) as the analysis service measures it (`LoudnessMeter`); the true peak is
BS.1770-5 Annex 2 with the 16x meter. The search:

1. Measure the input, L0. Silence or near-silence (nothing above the -70 LUFS absolute gate)
   is refused: there is no finite gain to compute, and chasing one would only raise noise.
2. Gain g = target - L0, limit to the ceiling, measure L(g).
3. The limiter makes L(g) rise more slowly than g once it works hard, so the next gain is a
   secant step: g += (target - L) / slope, slope = dL/dg from the last two measurements
   (the input itself is the first point, at 0 dB), clamped to [MIN_SLOPE, 1]. Steps are
   capped at MAX_STEP_DB.
4. Stop within TOLERANCE_LU of the target, after the allowed runs, or when the target is out
   of reach: the loudness barely moves any more (slope < MIN_SLOPE) or the gain would exceed
   the first estimate by more than MAX_EXTRA_GAIN_DB (that much limiting destroys the
   music). The closest result is returned, with reached = False and a note.

Speed: steps 2-4 first run on a model, the built-in limiter's gain computer without its 16x
true-peak check. Its peak detector is linear, so the peaks are detected once and every trial
gain costs only the cheap smoothing steps and one loudness measurement. The given limiter
then runs at the model's gain; only if its result misses the target does the secant search
continue with real limiter runs (starting from the model's slope). With the built-in limiter
the model is its first pass, so one run normally suffices and reuses the model's gain and
the model's peaks, which also tell its 16x check where the output can come near the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.loudness import LoudnessMeter
from voidline.audio.format import AudioFormat
from voidline.dsp.biquad import as_frames, check_sample_rate
from voidline.dsp.limiter import (
    CEILING_RANGE_DBTP,
    DEFAULT_LOOKAHEAD_MS,
    DEFAULT_RELEASE_MS,
    EXACT_PEAKS_BELOW,
    RELEASE_RANGE_MS,
    PeakBounds,
    checked_limit,
    gain_from_peaks,
    limit,
    scale_frames,
    segment_peaks,
    target_peak,
    true_peak_dbtp,
)
from voidline.errors import InvalidInputError

Limiter = Callable[[NDArray[np.float64], int, float], NDArray[np.float64]]

TOLERANCE_LU = 0.1
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-5 section 2.8
TARGET_RANGE_LUFS = (-60.0, 0.0)
MIN_SLOPE = 0.05  # LU of loudness per dB of gain below which the target is out of reach
MAX_STEP_DB = 12.0
MAX_EXTRA_GAIN_DB = 20.0
MAX_ITERATIONS = 20
MODEL_TOLERANCE_LU = TOLERANCE_LU / 2  # aim the model closer, so the real run lands inside


@dataclass(frozen=True)
class LoudnessResult:
    """What `match_loudness` did and measured."""

    input_lufs: float  # integrated loudness of the input
    output_lufs: float  # integrated loudness of the returned audio
    true_peak_dbtp: float  # of the returned audio, 16x meter, max over channels
    gain_db: float  # gain applied before the limiter
    iterations: int  # limiter runs
    reached: bool  # output within TOLERANCE_LU of the target
    note: str = ""  # why the target was not reached, for the caller to show


def integrated_lufs(x: NDArray[np.float64], fs: int) -> float:
    """BS.1770-5 integrated loudness of the whole signal, LUFS (-inf when all is gated)."""
    meter = LoudnessMeter(AudioFormat(fs, x.shape[1]))
    meter.push(x)
    return meter.integrated()[0]


class _LimiterModel:
    """The built-in limiter's first pass (`limit` with its defaults) at any input gain.

    The segment peaks of the unscaled input are detected once (again only if a larger gain
    needs them exact further down); the gain curve for input gain g is then
    `gain_from_peaks(peaks, g)`, equal to what `limit` computes on the scaled input.
    """

    def __init__(
        self, frames: NDArray[np.float64], fs: int, ceiling_dbtp: float, release_ms: float
    ) -> None:
        self.frames = frames
        self.fs = fs
        self.ceiling_dbtp = ceiling_dbtp
        self.release_ms = release_ms
        self._peaks: NDArray[np.float64] | None = None
        self._exact_above = math.inf  # input level above which the peaks are exact
        self._last: tuple[float, NDArray[np.float64]] | None = None  # (gain dB, curve)
        # Every trial's curve is computed in the same two arrays (fresh memory is slow).
        self._buffers = (np.empty(frames.shape[0]), np.empty(frames.shape[0]))

    def bounds(self, gain_db: float) -> PeakBounds:
        """Peak bounds of the input scaled by gain_db, as exact as `gain(gain_db)` needs."""
        self.gain(gain_db)
        assert self._peaks is not None
        return PeakBounds(self._peaks, 10.0 ** (gain_db / 20.0), self._exact_above)

    def gain(self, gain_db: float) -> NDArray[np.float64]:
        """The limiter gain per frame for the input scaled by gain_db.

        The array is the model's own: the next call with another gain overwrites it.
        """
        if self._last is not None and self._last[0] == gain_db:
            return self._last[1]
        scale = 10.0 ** (gain_db / 20.0)
        needed = target_peak(self.ceiling_dbtp) / scale
        if self._peaks is None or needed < self._exact_above:
            self._exact_above = needed * EXACT_PEAKS_BELOW
            self._peaks = segment_peaks(self.frames, self._exact_above)
        curve = gain_from_peaks(
            self._peaks,
            scale,
            self.fs,
            self.ceiling_dbtp,
            DEFAULT_LOOKAHEAD_MS,
            self.release_ms,
            True,
            buffers=self._buffers,
        )
        self._last = (gain_db, curve)
        return curve


@dataclass
class _Search:
    """Outcome of one secant search: the best (gain, loudness), runs made, slope, note."""

    gain: float
    loudness: float
    runs: int
    slope: float
    note: str


def _secant_search(
    loudness_at: Callable[[float], float],
    target_lufs: float,
    ceiling_dbtp: float,
    gain: float,
    first_gain: float,
    previous: tuple[float, float] | None,
    slope: float,
    max_runs: int,
    tolerance: float,
) -> _Search:
    """Steps 2-4 of the module docstring from `gain`, with loudness_at(gain) as the limiter.

    previous: the last (gain, loudness) point, or None; slope is then used until two points
    exist. The closest point wins (the first of equals).
    """
    best: tuple[float, float, float] | None = None  # (error, gain, loudness)
    note = ""
    runs = 0
    while runs < max_runs:
        loudness = loudness_at(gain)
        runs += 1
        error = target_lufs - loudness
        if best is None or abs(error) < best[0]:
            best = (abs(error), gain, loudness)
        if abs(error) <= tolerance:
            break
        if previous is not None and abs(gain - previous[0]) > 1e-6:
            slope = (loudness - previous[1]) / (gain - previous[0])
            if slope < MIN_SLOPE and error > 0:
                note = (
                    f"target {target_lufs:g} LUFS is out of reach under a {ceiling_dbtp:g} "
                    f"dBTP ceiling: more gain no longer raises loudness (best "
                    f"{best[2]:.2f} LUFS)"
                )
                break
            slope = min(1.0, max(MIN_SLOPE, slope))
        previous = (gain, loudness)
        step = max(-MAX_STEP_DB, min(MAX_STEP_DB, error / slope))
        if gain + step > first_gain + MAX_EXTRA_GAIN_DB:
            note = (
                f"target {target_lufs:g} LUFS is out of reach under a {ceiling_dbtp:g} dBTP "
                f"ceiling without more than {MAX_EXTRA_GAIN_DB:g} dB of limiting (best "
                f"{best[2]:.2f} LUFS)"
            )
            break
        gain += step
    assert best is not None  # max_runs >= 1
    return _Search(best[1], best[2], runs, slope, note)


def match_loudness(
    x: ArrayLike,
    fs: int,
    target_lufs: float,
    ceiling_dbtp: float = -1.0,
    limiter: Limiter = limit,
    max_iterations: int = 4,
    release_ms: float = DEFAULT_RELEASE_MS,
    work: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], LoudnessResult]:
    """Gain and limit x (frames, channels) to target_lufs with true peaks <= ceiling_dbtp.

    target_lufs: -60 to 0 LUFS. ceiling_dbtp: -20 to 0 dBTP. limiter(x, fs, ceiling_dbtp)
    must return x limited to the ceiling, same shape; it makes the returned audio, while the
    gain search runs on a model of the built-in `limit` (see the module docstring), so a
    limiter that differs from it may need more runs. max_iterations: 1-20 runs of limiter.
    Raises InvalidInputError for silent input. work: an array of x's shape the search may
    overwrite with its trial signals (a new one when None). Returns the audio (a new array)
    and a LoudnessResult (iterations counts the limiter runs).
    """
    check_sample_rate(fs)
    frames = as_frames(x, max_channels=8)
    low, high = TARGET_RANGE_LUFS
    if not (math.isfinite(target_lufs) and low <= target_lufs <= high):
        raise InvalidInputError(
            f"target_lufs must lie within {low:g} to {high:g} LUFS, got {target_lufs}"
        )
    low, high = CEILING_RANGE_DBTP
    if not (math.isfinite(ceiling_dbtp) and low <= ceiling_dbtp <= high):
        raise InvalidInputError(
            f"ceiling_dbtp must lie within {low:g} to {high:g} dBTP, got {ceiling_dbtp}"
        )
    if not 1 <= max_iterations <= MAX_ITERATIONS:
        raise InvalidInputError(
            f"max_iterations must lie within 1 to {MAX_ITERATIONS}, got {max_iterations}"
        )
    if not np.isfinite(frames).all():
        raise InvalidInputError("x must hold finite samples (no NaN or infinity)")
    input_lufs = integrated_lufs(frames, fs)
    if not (math.isfinite(input_lufs) and input_lufs >= ABSOLUTE_GATE_LUFS):
        raise InvalidInputError(
            f"the input is silent or nearly so (integrated loudness {input_lufs:.1f} LUFS, "
            f"nothing above the {ABSOLUTE_GATE_LUFS:g} LUFS gate): there is no loudness to "
            "match; send audio with content"
        )

    first_gain = target_lufs - input_lufs
    low, high = RELEASE_RANGE_MS
    if not (math.isfinite(release_ms) and low <= release_ms <= high):
        raise InvalidInputError(
            f"release_ms must lie within {low:g} to {high:g} ms, got {release_ms}"
        )
    model = _LimiterModel(frames, fs, ceiling_dbtp, release_ms)
    # The trial signals are measured and dropped: one array holds each in turn.
    scratch = np.empty(frames.shape) if work is None else work
    if scratch.shape != frames.shape:
        raise InvalidInputError(f"work must have x's shape {frames.shape}, got {scratch.shape}")

    def modelled(gain: float) -> float:
        scale = 10.0 ** (gain / 20.0)
        scale_frames(frames, scale, model.gain(gain), scratch)
        return integrated_lufs(scratch, fs)

    # The input itself is the first point, at 0 dB.
    guess = _secant_search(
        modelled,
        target_lufs,
        ceiling_dbtp,
        first_gain,
        first_gain,
        (0.0, input_lufs),
        1.0,
        MAX_ITERATIONS,
        MODEL_TOLERANCE_LU,
    )

    # The real limiter: keep the closest output (and its true peak, when it was measured).
    kept: dict[str, tuple[float, NDArray[np.float64], float | None]] = {}

    def limited(gain: float) -> float:
        peak: float | None = None
        if limiter is limit:  # the model is its first pass: reuse that gain
            # checked_limit returns a new array, never its input: scratch can hold the input.
            scaled = np.multiply(frames, 10.0 ** (gain / 20.0), out=scratch)
            y, _, peak = checked_limit(
                scaled,
                fs,
                ceiling_dbtp,
                DEFAULT_LOOKAHEAD_MS,
                release_ms,
                True,
                first_gain=model.gain(gain),
                first_bounds=model.bounds(gain),
            )
        else:
            y = limiter(frames * 10.0 ** (gain / 20.0), fs, ceiling_dbtp)
        loudness = integrated_lufs(y, fs)
        if "best" not in kept or abs(target_lufs - loudness) < kept["best"][0]:
            kept["best"] = (abs(target_lufs - loudness), y, peak)
        return loudness

    # Out of reach for the model: render its best once. Otherwise search on with the real
    # limiter until it is within tolerance (usually at once).
    found = _secant_search(
        limited,
        target_lufs,
        ceiling_dbtp,
        guess.gain,
        first_gain,
        None,
        guess.slope,
        1 if guess.note else max_iterations,
        TOLERANCE_LU,
    )
    _, out, peak = kept["best"]
    applied, loudness, runs = found.gain, found.loudness, found.runs
    note = guess.note or found.note
    reached = abs(target_lufs - loudness) <= TOLERANCE_LU
    if not reached and not note:
        note = (
            f"not within {TOLERANCE_LU:g} LU of {target_lufs:g} LUFS after {runs} limiter "
            f"runs (best {loudness:.2f} LUFS)"
        )
    if peak is None:
        peak = true_peak_dbtp(out, fs) if out.shape[0] else -math.inf
    result = LoudnessResult(
        input_lufs=input_lufs,
        output_lufs=loudness,
        true_peak_dbtp=peak,
        gain_db=applied,
        iterations=runs,
        reached=reached,
        note=note,
    )
    return out, result
