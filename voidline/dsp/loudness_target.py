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
4. Stop within TOLERANCE_LU of the target, after max_iterations limiter runs, or when the
   target is out of reach: the loudness barely moves any more (slope < MIN_SLOPE) or the
   gain would exceed the first estimate by more than MAX_EXTRA_GAIN_DB (that much limiting
   destroys the music). The closest result is returned, with reached = False and a note.
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
from voidline.dsp.limiter import CEILING_RANGE_DBTP, limit, true_peak_dbtp
from voidline.errors import InvalidInputError

Limiter = Callable[[NDArray[np.float64], int, float], NDArray[np.float64]]

TOLERANCE_LU = 0.1
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-5 section 2.8
TARGET_RANGE_LUFS = (-60.0, 0.0)
MIN_SLOPE = 0.05  # LU of loudness per dB of gain below which the target is out of reach
MAX_STEP_DB = 12.0
MAX_EXTRA_GAIN_DB = 20.0
MAX_ITERATIONS = 20


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


def match_loudness(
    x: ArrayLike,
    fs: int,
    target_lufs: float,
    ceiling_dbtp: float = -1.0,
    limiter: Limiter = limit,
    max_iterations: int = 4,
) -> tuple[NDArray[np.float64], LoudnessResult]:
    """Gain and limit x (frames, channels) to target_lufs with true peaks <= ceiling_dbtp.

    target_lufs: -60 to 0 LUFS. ceiling_dbtp: -20 to 0 dBTP. limiter(x, fs, ceiling_dbtp)
    must return x limited to the ceiling, same shape. max_iterations: 1-20 limiter runs.
    Raises InvalidInputError for silent input. Returns the audio and a LoudnessResult.
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
    gain = first_gain
    # (gain, loudness) of the last run; the input itself is the point at 0 dB.
    previous: tuple[float, float] | None = (0.0, input_lufs)
    best: tuple[float, NDArray[np.float64], float, float] | None = None  # (error, y, gain, L)
    note = ""
    runs = 0
    while runs < max_iterations:
        y = limiter(frames * 10.0 ** (gain / 20.0), fs, ceiling_dbtp)
        runs += 1
        loudness = integrated_lufs(y, fs)
        error = target_lufs - loudness
        if best is None or abs(error) < best[0]:
            best = (abs(error), y, gain, loudness)
        if abs(error) <= TOLERANCE_LU:
            break
        slope = 1.0
        if previous is not None and abs(gain - previous[0]) > 1e-6:
            slope = (loudness - previous[1]) / (gain - previous[0])
            if slope < MIN_SLOPE and error > 0:
                note = (
                    f"target {target_lufs:g} LUFS is out of reach under a {ceiling_dbtp:g} "
                    f"dBTP ceiling: more gain no longer raises loudness (best "
                    f"{best[3]:.2f} LUFS)"
                )
                break
            slope = min(1.0, max(MIN_SLOPE, slope))
        previous = (gain, loudness)
        step = max(-MAX_STEP_DB, min(MAX_STEP_DB, error / slope))
        if gain + step > first_gain + MAX_EXTRA_GAIN_DB:
            note = (
                f"target {target_lufs:g} LUFS is out of reach under a {ceiling_dbtp:g} dBTP "
                f"ceiling without more than {MAX_EXTRA_GAIN_DB:g} dB of limiting (best "
                f"{best[3]:.2f} LUFS)"
            )
            break
        gain += step
    assert best is not None  # max_iterations >= 1
    _, out, applied, loudness = best
    reached = abs(target_lufs - loudness) <= TOLERANCE_LU
    if not reached and not note:
        note = (
            f"not within {TOLERANCE_LU:g} LU of {target_lufs:g} LUFS after {runs} limiter "
            f"runs (best {loudness:.2f} LUFS)"
        )
    result = LoudnessResult(
        input_lufs=input_lufs,
        output_lufs=loudness,
        true_peak_dbtp=true_peak_dbtp(out, fs) if out.shape[0] else -math.inf,
        gain_db=applied,
        iterations=runs,
        reached=reached,
        note=note,
    )
    return out, result
