"""Biquad designs as second-order sections, after the RBJ Audio EQ Cookbook.

Every design here is Robert Bristow-Johnson's "Cookbook formulae for audio EQ biquad filter
coefficients" (the analogue prototype discretised by the bilinear transform with the centre
or corner frequency pre-warped, so it lands exactly at f0). Each function returns an array of
shape (1, 6) in scipy's sos layout, b0 b1 b2 a0 a1 a2 with a0 = 1, so designs cascade with
np.vstack and run with scipy.signal.sosfilt, or with `filter_rows` here, which computes the
same numbers (the same transposed direct form II, operation for operation) into a given
array, one thread per channel.

Notation as in the cookbook: w0 = 2 pi f0 / fs, A = 10^(gain_db / 40), alpha = sin(w0) / 2Q.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import scipy.signal
from numba import njit
from numpy.typing import ArrayLike, NDArray

from voidline.audio.format import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from voidline.dsp.parallel import run_parallel
from voidline.errors import InvalidInputError

BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)
MAX_GAIN_DB = 48.0  # far beyond any EQ use; guards against overflowing A


def _check(f0_hz: float, fs: float, gain_db: float = 0.0, q: float = BUTTERWORTH_Q) -> None:
    """Validate the parameters shared by every design."""
    if not (math.isfinite(fs) and fs > 0.0):
        raise InvalidInputError(f"fs must be a positive sample rate in Hz, got {fs}")
    if not (math.isfinite(f0_hz) and 0.0 < f0_hz < fs / 2.0):
        raise InvalidInputError(
            f"f0_hz must lie strictly between 0 and fs/2 = {fs / 2.0:g} Hz, got {f0_hz}"
        )
    if not (math.isfinite(gain_db) and abs(gain_db) <= MAX_GAIN_DB):
        raise InvalidInputError(f"gain_db must lie within +-{MAX_GAIN_DB:g} dB, got {gain_db}")
    if not (math.isfinite(q) and q > 0.0):
        raise InvalidInputError(f"q must be positive, got {q}")


def _section(b: tuple[float, float, float], a: tuple[float, float, float]) -> NDArray[np.float64]:
    """One normalised section (divide everything by a0)."""
    a0 = a[0]
    return np.array([[b[0] / a0, b[1] / a0, b[2] / a0, 1.0, a[1] / a0, a[2] / a0]])


def peaking(f0_hz: float, gain_db: float, q: float, fs: float) -> NDArray[np.float64]:
    """Peaking EQ (cookbook "peakingEQ"): gain_db at f0, unity far from it; Q sets the width."""
    _check(f0_hz, fs, gain_db, q)
    A = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0_hz / fs
    alpha = math.sin(w0) / (2.0 * q)
    cos_w0 = math.cos(w0)
    return _section(
        (1.0 + alpha * A, -2.0 * cos_w0, 1.0 - alpha * A),
        (1.0 + alpha / A, -2.0 * cos_w0, 1.0 - alpha / A),
    )


def _shelf_alpha(A: float, w0: float, slope: float) -> float:
    """Cookbook shelf alpha from the shelf slope S (S = 1: steepest without overshoot)."""
    return math.sin(w0) / 2.0 * math.sqrt((A + 1.0 / A) * (1.0 / slope - 1.0) + 2.0)


def _check_slope(slope: float) -> None:
    if not (math.isfinite(slope) and 0.0 < slope <= 1.0):
        raise InvalidInputError(f"slope must lie in (0, 1], got {slope}")


def low_shelf(f0_hz: float, gain_db: float, fs: float, slope: float = 1.0) -> NDArray[np.float64]:
    """Low shelf (cookbook "lowShelf"): gain_db at DC, half of it (in dB) at f0, unity above."""
    _check(f0_hz, fs, gain_db)
    _check_slope(slope)
    A = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0_hz / fs
    cos_w0 = math.cos(w0)
    root = 2.0 * math.sqrt(A) * _shelf_alpha(A, w0, slope)
    return _section(
        (
            A * ((A + 1.0) - (A - 1.0) * cos_w0 + root),
            2.0 * A * ((A - 1.0) - (A + 1.0) * cos_w0),
            A * ((A + 1.0) - (A - 1.0) * cos_w0 - root),
        ),
        (
            (A + 1.0) + (A - 1.0) * cos_w0 + root,
            -2.0 * ((A - 1.0) + (A + 1.0) * cos_w0),
            (A + 1.0) + (A - 1.0) * cos_w0 - root,
        ),
    )


def high_shelf(f0_hz: float, gain_db: float, fs: float, slope: float = 1.0) -> NDArray[np.float64]:
    """High shelf (cookbook "highShelf"): gain_db at Nyquist, half of it at f0, unity below."""
    _check(f0_hz, fs, gain_db)
    _check_slope(slope)
    A = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0_hz / fs
    cos_w0 = math.cos(w0)
    root = 2.0 * math.sqrt(A) * _shelf_alpha(A, w0, slope)
    return _section(
        (
            A * ((A + 1.0) + (A - 1.0) * cos_w0 + root),
            -2.0 * A * ((A - 1.0) + (A + 1.0) * cos_w0),
            A * ((A + 1.0) + (A - 1.0) * cos_w0 - root),
        ),
        (
            (A + 1.0) - (A - 1.0) * cos_w0 + root,
            2.0 * ((A - 1.0) - (A + 1.0) * cos_w0),
            (A + 1.0) - (A - 1.0) * cos_w0 - root,
        ),
    )


def lowpass(f0_hz: float, fs: float, q: float = BUTTERWORTH_Q) -> NDArray[np.float64]:
    """Second-order low-pass (cookbook "LPF"); Q = 1/sqrt(2) is Butterworth (-3 dB at f0)."""
    _check(f0_hz, fs, q=q)
    w0 = 2.0 * math.pi * f0_hz / fs
    alpha = math.sin(w0) / (2.0 * q)
    cos_w0 = math.cos(w0)
    return _section(
        ((1.0 - cos_w0) / 2.0, 1.0 - cos_w0, (1.0 - cos_w0) / 2.0),
        (1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha),
    )


def highpass(f0_hz: float, fs: float, q: float = BUTTERWORTH_Q) -> NDArray[np.float64]:
    """Second-order high-pass (cookbook "HPF"); Q = 1/sqrt(2) is Butterworth (-3 dB at f0)."""
    _check(f0_hz, fs, q=q)
    w0 = 2.0 * math.pi * f0_hz / fs
    alpha = math.sin(w0) / (2.0 * q)
    cos_w0 = math.cos(w0)
    return _section(
        ((1.0 + cos_w0) / 2.0, -(1.0 + cos_w0), (1.0 + cos_w0) / 2.0),
        (1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha),
    )


def allpass(f0_hz: float, fs: float, q: float = BUTTERWORTH_Q) -> NDArray[np.float64]:
    """Second-order all-pass (cookbook "APF"): unity magnitude, -180 degrees phase at f0."""
    _check(f0_hz, fs, q=q)
    w0 = 2.0 * math.pi * f0_hz / fs
    alpha = math.sin(w0) / (2.0 * q)
    cos_w0 = math.cos(w0)
    return _section(
        (1.0 - alpha, -2.0 * cos_w0, 1.0 + alpha),
        (1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha),
    )


def butterworth_lowpass(f0_hz: float, fs: float) -> NDArray[np.float64]:
    """Second-order Butterworth low-pass: the building block of a Linkwitz-Riley crossover."""
    return lowpass(f0_hz, fs, BUTTERWORTH_Q)


def butterworth_highpass(f0_hz: float, fs: float) -> NDArray[np.float64]:
    """Second-order Butterworth high-pass: the building block of a Linkwitz-Riley crossover."""
    return highpass(f0_hz, fs, BUTTERWORTH_Q)


def sos_response_db(
    sos: NDArray[np.float64], freqs_hz: ArrayLike, fs: float
) -> NDArray[np.float64]:
    """Magnitude response of a cascade of sections, dB, at the given frequencies.

    An empty cascade (shape (0, 6)) is the identity: 0 dB everywhere.
    """
    freqs = np.atleast_1d(np.asarray(freqs_hz, dtype=np.float64))
    if sos.shape[0] == 0:
        return np.zeros(freqs.shape)
    _, h = scipy.signal.freqz_sos(sos, worN=freqs, fs=fs)
    with np.errstate(divide="ignore"):
        return np.asarray(20.0 * np.log10(np.abs(h)), dtype=np.float64)


# --- running cascades ---------------------------------------------------------------------


@njit(cache=True, nogil=True)
def sections_step(
    sos: NDArray[np.float64], state: NDArray[np.float64], first: int, stop: int, value: float
) -> float:  # pragma: no cover - compiled
    """One sample through sections first..stop-1 of a cascade; updates their state.

    Transposed direct form II with the operations in scipy.signal.sosfilt's order, so the
    output is bit for bit sosfilt's. state[s] holds section s's two memories.
    """
    for s in range(first, stop):
        new = sos[s, 0] * value + state[s, 0]
        state[s, 0] = sos[s, 1] * value - sos[s, 4] * new + state[s, 1]
        state[s, 1] = sos[s, 2] * value - sos[s, 5] * new
        value = new
    return value


@njit(cache=True, nogil=True)
def _cascade(
    sos: NDArray[np.float64],
    x: NDArray[np.float64],
    state: NDArray[np.float64],
    out: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """out[n] = the cascade's output for x[n], from and into `state`; out may be x. Returns 0."""
    sections = sos.shape[0]
    for n in range(x.shape[0]):
        out[n] = sections_step(sos, state, 0, sections, x[n])
    return 0.0


def filter_rows(
    sos: NDArray[np.float64],
    rows: NDArray[np.float64],
    out: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Run a cascade along each row of rows (channels, frames), one thread per row.

    The same numbers as scipy.signal.sosfilt(sos, rows, axis=-1) (filters starting at rest),
    written into out (a new array when None; `rows` itself filters in place). An empty
    cascade copies.
    """
    if out is None:
        out = np.empty_like(rows, dtype=np.float64)
    if sos.shape[0] == 0:
        out[...] = rows
        return out
    coefficients = np.ascontiguousarray(sos, dtype=np.float64)
    jobs = [
        partial(_cascade, coefficients, rows[c], np.zeros((sos.shape[0], 2)), out[c])
        for c in range(rows.shape[0])
    ]
    run_parallel(jobs)
    return out


def to_rows(frames: NDArray[np.float64]) -> NDArray[np.float64]:
    """(frames, channels) as channel-major rows (channels, frames), contiguous; may be a view."""
    return np.ascontiguousarray(frames.T, dtype=np.float64)


def to_frames(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Channel-major rows back as a C-ordered (frames, channels) array."""
    return np.ascontiguousarray(rows.T)


# --- validation shared by the dsp stages ---------------------------------------------------


def check_sample_rate(fs: int) -> None:
    """Raise InvalidInputError unless fs is a supported sample rate (8-384 kHz, whole Hz)."""
    if isinstance(fs, bool) or not isinstance(fs, int | np.integer):
        raise InvalidInputError(f"fs must be a whole number of Hz, got {fs!r}")
    if not MIN_SAMPLE_RATE_HZ <= fs <= MAX_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"fs must lie within {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz, got {fs}"
        )


def as_frames(x: ArrayLike, max_channels: int = 2) -> NDArray[np.float64]:
    """x as a float64 array of shape (frames, channels); no copy when it already is one."""
    frames = np.asarray(x, dtype=np.float64)
    if frames.ndim != 2 or not 1 <= frames.shape[1] <= max_channels:
        raise InvalidInputError(
            f"x must have shape (frames, channels) with 1-{max_channels} channels, "
            f"got shape {frames.shape}"
        )
    return frames
