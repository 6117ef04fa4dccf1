"""Sample levels per channel: DC offset, RMS and crest factor, from running sums."""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from voidline.analysis.accumulators import FloatArray, neumaier_add, power_db
from voidline.analysis.report import NEG_INF, ChannelPeak


@njit(cache=True, nogil=True)
def _accumulate_levels(
    x: FloatArray,
    sums: FloatArray,
    sums_carry: FloatArray,
    squares: FloatArray,
    squares_carry: FloatArray,
    extremes: FloatArray,
) -> None:  # pragma: no cover - compiled
    """One pass over x (frames, channels): per-channel sum, sum of squares, max and min.

    Sums run in 4096-frame stretches that then enter the compensated totals, so the rounding
    error stays at the level of one stretch however long the stream is.
    """
    n, channels = x.shape
    for start in range(0, n, 4096):
        stop = min(n, start + 4096)
        for c in range(channels):
            s = 0.0
            ss = 0.0
            hi = extremes[0, c]
            lo = extremes[1, c]
            for i in range(start, stop):
                v = x[i, c]
                s += v
                ss += v * v
                hi = max(hi, v)
                lo = min(lo, v)
            extremes[0, c] = hi
            extremes[1, c] = lo
            neumaier_add(sums, sums_carry, c, s)
            neumaier_add(squares, squares_carry, c, ss)


class LevelMeter:
    """Per-channel DC offset, RMS and crest factor, and the overall crest factor.

    Input: frames (n, channels), full scale 1.0. Crest factor = sample peak (dBFS) minus RMS
    (dBFS); a full-scale sine reads 3.01 dB. Silence reads RMS -inf, crest 0.
    """

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.frames = 0
        self._sums = np.zeros((4, channels))  # sum, its carry, sum of squares, its carry
        self._extremes = np.zeros((2, channels))  # max and min sample (0 before any audio)

    def push(self, x: NDArray[np.floating]) -> None:
        frames: FloatArray = np.ascontiguousarray(x, dtype=np.float64)
        s = self._sums
        _accumulate_levels(frames, s[0], s[1], s[2], s[3], self._extremes)
        self.frames += frames.shape[0]

    def _mean(self, row: int) -> FloatArray:
        total = self._sums[row] + self._sums[row + 1]
        return total / self.frames if self.frames else np.zeros(self.channels)

    def channel_peaks(
        self, true_peak_dbtp: list[float], sample_peak_dbfs: list[float]
    ) -> list[ChannelPeak]:
        """One ChannelPeak per channel, the peaks supplied by the true-peak meter."""
        if len(true_peak_dbtp) != self.channels or len(sample_peak_dbfs) != self.channels:
            raise ValueError(f"expected {self.channels} true and sample peak values")
        means, mean_squares = self._mean(0), self._mean(2)
        peaks = []
        for c in range(self.channels):
            rms_db = power_db(float(mean_squares[c]))
            peak_db = sample_peak_dbfs[c]
            crest = peak_db - rms_db if math.isfinite(rms_db) and math.isfinite(peak_db) else 0.0
            peaks.append(
                ChannelPeak(
                    true_peak_dbtp=true_peak_dbtp[c],
                    sample_peak_dbfs=peak_db,
                    dc_offset=float(means[c]),
                    crest_factor_db=crest,
                    rms_dbfs=rms_db,
                )
            )
        return peaks

    def dc_offsets(self) -> list[float]:
        """Mean sample value per channel."""
        return [float(v) for v in self._mean(0)]

    def sample_peak(self) -> float:
        """Largest |sample| of any channel."""
        return float(max(self._extremes[0].max(), -self._extremes[1].min()))

    def rms_dbfs(self) -> float:
        """RMS of all channels together, dBFS (-inf for silence)."""
        return power_db(float(self._mean(2).mean())) if self.frames else NEG_INF

    def overall_crest_factor_db(self) -> float:
        """Largest sample peak of any channel over the RMS of all channels, dB (0 for silence)."""
        rms_db = self.rms_dbfs()
        peak = self.sample_peak()
        if not math.isfinite(rms_db) or peak == 0.0:
            return 0.0
        return 20.0 * math.log10(peak) - rms_db
