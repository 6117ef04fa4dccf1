"""True-peak meter, ITU-R BS.1770-5 Annex 2, streaming with filter state across chunks.

Each channel is oversampled by a polyphase interpolator and the largest absolute value is
kept; the reported true peak is max(true peak, sample peak) as Annex 2 asks.

The interpolator is a Kaiser-windowed sinc of T taps per phase. Phase 0 is the input sample
itself (a Nyquist filter), and every phase is normalised to unity DC gain (the standard's
example 48-tap filter has -0.24 dB DC gain on two phases and reproduces no input sample).
T = 32 at 4x under-reads broadband noise by about half as much as libebur128's 12-tap
filter; the high-precision mode (16x, T = 48) comes within about 0.03 dB of a 32x reference.

Speed: interpolation is the dominant cost, so windows are processed in blocks, and a block is
skipped when even its worst case, sum(|h|) times the block's largest sample, cannot beat the
peak found so far. The skip is exact: it never changes the result.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

BLOCK_WINDOWS = 256
PUSH_BLOCK_FRAMES = 1 << 16


def oversampling_plan(sample_rate_hz: int, high_precision: bool) -> tuple[int, int, float]:
    """(oversampling factor, taps per phase, Kaiser beta) for a rate and mode.

    BS.1770-5 Annex 2 asks for at least 4x at 48 kHz; we keep 4x (16x in high precision) up
    to 192 kHz and halve it above, where the audio band is a small part of the spectrum.
    """
    if high_precision:
        return (16, 48, 8.0) if sample_rate_hz < 192_000 else (8, 48, 8.0)
    # Annex 2 allows 2x from 96 kHz, but a 24 kHz burst at 96 kHz then under-reads by 0.5 dB.
    return (4, 32, 8.0) if sample_rate_hz < 192_000 else (2, 32, 8.0)


def interpolation_phases(factor: int, taps: int, beta: float) -> NDArray[np.float64]:
    """Phases 1..factor-1 of the interpolator, shape (factor - 1, taps).

    Row p-1 holds the taps that, applied to samples x[w .. w + taps - 1], give the value at
    fractional position p / factor between x[w + taps/2 - 1] and x[w + taps/2].
    """
    half = taps // 2
    phases = np.empty((factor - 1, taps))
    for p in range(1, factor):
        distance = half - 1 + p / factor - np.arange(taps)
        window = np.i0(beta * np.sqrt(np.clip(1.0 - (distance / half) ** 2, 0.0, None)))
        h = np.sinc(distance) * window / np.i0(beta)
        phases[p - 1] = h / h.sum()
    return phases


@njit(cache=True, fastmath=True, nogil=True)
def _max_over_windows(
    samples: NDArray[np.float64], phases: NDArray[np.float64], best: float
) -> float:  # pragma: no cover - compiled
    """max(best, largest |interpolated value| over every full window of `samples`).

    The loops start at 0 so numba can drop negative-index checks and vectorise the dot product.
    """
    n_phases, taps = phases.shape
    for w in range(samples.shape[0] - taps + 1):
        for p in range(n_phases):
            acc = 0.0
            for j in range(taps):
                acc += phases[p, j] * samples[w + j]
            value = abs(acc)
            if value > best:
                best = value
    return best


@njit(cache=True, fastmath=True, nogil=True)
def max_interpolated(
    samples: NDArray[np.float64], phases: NDArray[np.float64], gain_bound: float, best: float
) -> float:  # pragma: no cover - compiled
    """Like _max_over_windows, skipping blocks of windows that cannot beat `best`."""
    taps = phases.shape[1]
    n_windows = samples.shape[0] - taps + 1
    start = 0
    while start < n_windows:
        stop = min(start + BLOCK_WINDOWS, n_windows)
        block = samples[start : stop + taps - 1]
        if np.abs(block).max() * gain_bound > best:
            best = _max_over_windows(block, phases, best)
        start = stop
    return best


@njit(cache=True, nogil=True)
def _abs_max(samples: NDArray[np.float64]) -> float:  # pragma: no cover - compiled
    largest = 0.0
    for value in samples:
        largest = max(largest, abs(value))
    return largest


def _to_db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


class TruePeakMeter:
    """Per-channel true peak and sample peak of a stream of frames (full scale 1.0)."""

    def __init__(self, sample_rate_hz: int, channels: int, high_precision: bool = False) -> None:
        factor, taps, beta = oversampling_plan(sample_rate_hz, high_precision)
        self.oversampling_factor = factor
        self._phases = interpolation_phases(factor, taps, beta)
        self._gain_bound = float(np.abs(self._phases).sum(axis=1).max())
        self._taps = taps
        # Leading zeros so that the first window interpolates between samples 0 and 1.
        self._history = np.zeros((channels, taps // 2 - 1))
        self._true_peak = np.zeros(channels)
        self._sample_peak = np.zeros(channels)
        self._flushed = False

    def push(self, x: NDArray[np.float64]) -> None:
        """Measure the next frames, shape (n, channels)."""
        if self._flushed:
            raise RuntimeError("TruePeakMeter.push after flush()")
        # All of x's sample peaks first: every block's skip test then starts from them.
        for c in range(x.shape[1]):
            self._sample_peak[c] = max(self._sample_peak[c], _abs_max(x[:, c]))
        # The interpolator reads one contiguous row per channel, history first; a long push
        # goes through in blocks so those rows stay small (cache-sized, no fresh memory).
        for start in range(0, x.shape[0], PUSH_BLOCK_FRAMES):
            block = x[start : start + PUSH_BLOCK_FRAMES]
            self._interpolate(np.concatenate([self._history, block.T], axis=1))

    def flush(self) -> None:
        """End of stream: interpolate up to the last sample (the signal is silent afterwards)."""
        if not self._flushed:
            tail = np.zeros((self._history.shape[0], self._taps // 2 - 1))
            self._interpolate(np.concatenate([self._history, tail], axis=1))
            self._flushed = True

    def _interpolate(self, buffer: NDArray[np.float64]) -> None:
        windows = max(0, buffer.shape[1] - self._taps + 1)
        for c in range(buffer.shape[0]):
            if windows:
                floor = max(self._true_peak[c], self._sample_peak[c])
                self._true_peak[c] = max_interpolated(
                    buffer[c], self._phases, self._gain_bound, floor
                )
        self._history = buffer[:, windows:].copy()

    def true_peak_dbtp(self) -> list[float]:
        """max(true peak, sample peak) per channel, dBTP."""
        return [_to_db(v) for v in np.maximum(self._true_peak, self._sample_peak)]

    def sample_peak_dbfs(self) -> list[float]:
        return [_to_db(v) for v in self._sample_peak]
