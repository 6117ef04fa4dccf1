"""Stereo image of the L/R pair: correlation, correlation over time, mid/side width.

The meter works on mid M = (L + R) / 2 and side S = (L - R) / 2 (exact in floating point for
dual mono and for L = -R, so those cases read exactly +1 / -1 and width -inf / +inf). It keeps,
per 100 ms block, the sums of M, S, M^2, M*S and S^2; every L/R statistic follows from them:
L = M + S, R = M - S, so L*R = M^2 - S^2, L^2 = M^2 + 2MS + S^2, R^2 = M^2 - 2MS + S^2.

Correlation over time uses 400 ms windows hopped at 100 ms (the momentary meter's grid of
BS.1770-5 section 2.6), built from four consecutive blocks, so the windows are identical
however the stream is chunked. Windows quieter than -70 dBFS mean square are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numba import njit
from numpy.typing import NDArray

from voidline.analysis.accumulators import CompensatedSum, Histogram
from voidline.analysis.report import NEG_INF, StereoReport

FloatArray = NDArray[np.float64]

HOP_S = 0.1
BLOCKS_PER_WINDOW = 4  # 400 ms
# Windows whose mean square (average of L and R) is below -70 dBFS count as silence.
SILENCE_FLOOR_POWER = 1e-7
CORRELATION_PERCENTILES = (5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0)
# Width of a window in dB (side over mid energy); -inf / +inf land in the end bins.
WIDTH_DB_RANGE = (-60.0, 20.0)

# Columns of the per-block statistics.
_M, _S, _MM, _MS, _SS = range(5)
# Block statistics collected before the windows over them are evaluated (vectorised).
_PENDING_BLOCKS = 64


class StereoLoudness(Protocol):
    """What the stereo report takes from the loudness meter (K-weighted, BS.1770-5)."""

    def balance_db(self) -> float: ...

    def mono_loudness_change_db(self) -> float: ...


@dataclass(frozen=True)
class StereoStatistics:
    """Running statistics the feature vector reads (see docs/features.md)."""

    correlation: float
    width_db: float
    width: float
    windows: int
    window_correlation: Histogram
    window_width_db: Histogram


def pearson(stats: FloatArray, n: float) -> float:
    """Pearson correlation of L and R from the sums (M, S, MM, MS, SS) of n frames.

    0 when either channel is constant (no variance): nothing to correlate.
    """
    s_l = stats[_M] + stats[_S]
    s_r = stats[_M] - stats[_S]
    s_ll = stats[_MM] + 2.0 * stats[_MS] + stats[_SS]
    s_rr = stats[_MM] - 2.0 * stats[_MS] + stats[_SS]
    s_lr = stats[_MM] - stats[_SS]
    var_l = s_ll / n - (s_l / n) ** 2
    var_r = s_rr / n - (s_r / n) ** 2
    cov = s_lr / n - (s_l / n) * (s_r / n)
    # Relative floor: a constant (DC-only) channel leaves only rounding noise in its variance.
    if var_l <= 1e-12 * s_ll / n or var_r <= 1e-12 * s_rr / n or var_l <= 0 or var_r <= 0:
        return 0.0
    return float(np.clip(cov / math.sqrt(var_l * var_r), -1.0, 1.0))


def _window_correlations(windows: FloatArray, n: float) -> FloatArray:
    """Vectorised `pearson` over rows of window sums."""
    w = windows
    s_l = w[:, _M] + w[:, _S]
    s_r = w[:, _M] - w[:, _S]
    s_ll = w[:, _MM] + 2.0 * w[:, _MS] + w[:, _SS]
    s_rr = w[:, _MM] - 2.0 * w[:, _MS] + w[:, _SS]
    var_l = s_ll / n - (s_l / n) ** 2
    var_r = s_rr / n - (s_r / n) ** 2
    cov = (w[:, _MM] - w[:, _SS]) / n - (s_l / n) * (s_r / n)
    valid = (var_l > 1e-12 * s_ll / n) & (var_r > 1e-12 * s_rr / n) & (var_l > 0) & (var_r > 0)
    r = np.zeros(w.shape[0])
    r[valid] = cov[valid] / np.sqrt(var_l[valid] * var_r[valid])
    return np.clip(r, -1.0, 1.0)


def _width_db(side: float, mid: float) -> float:
    if side == 0.0:
        return NEG_INF
    if mid == 0.0:
        return math.inf
    return 10.0 * math.log10(side / mid)


@njit(cache=True, nogil=True)
def _mid_side_blocks(
    x: FloatArray, left: int, right: int, hop: int, partial: FloatArray, out: FloatArray
) -> int:  # pragma: no cover - compiled
    """Sums of M, S, M^2, M*S, S^2 per block of `hop` frames, in one pass over x.

    `partial` = (frames so far, the five sums) carries the unfinished block from call to call,
    so each block's sums are the same however the stream is chunked. Completed blocks go to
    the rows of `out`; returns how many.
    """
    count = int(partial[0])
    s_m, s_s, s_mm, s_ms, s_ss = partial[1], partial[2], partial[3], partial[4], partial[5]
    rows = 0
    for i in range(x.shape[0]):
        lv = x[i, left]
        rv = x[i, right]
        m = 0.5 * lv + 0.5 * rv
        s = 0.5 * lv - 0.5 * rv
        s_m += m
        s_s += s
        s_mm += m * m
        s_ms += m * s
        s_ss += s * s
        count += 1
        if count == hop:
            out[rows, 0] = s_m
            out[rows, 1] = s_s
            out[rows, 2] = s_mm
            out[rows, 3] = s_ms
            out[rows, 4] = s_ss
            rows += 1
            count = 0
            s_m = s_s = s_mm = s_ms = s_ss = 0.0
    partial[0] = count
    partial[1], partial[2], partial[3], partial[4], partial[5] = s_m, s_s, s_mm, s_ms, s_ss
    return rows


class StereoMeter:
    """Correlation and width of channels `pair` = (left index, right index)."""

    def __init__(self, sample_rate_hz: int, pair: tuple[int, int]) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.pair = pair
        self.hop = max(1, round(HOP_S * sample_rate_hz))
        self._partial = np.zeros(6)  # frames and sums of the unfinished block
        self._pending = np.zeros((_PENDING_BLOCKS, 5))  # finished blocks not yet windowed
        self._n_pending = 0
        # The last blocks already windowed: the start of the next windows.
        self._recent = np.zeros((0, 5))
        self._totals = CompensatedSum(5)
        self._blocks = 0
        self._correlation = Histogram(-1.0, 1.0, 2000)
        self._width = Histogram(WIDTH_DB_RANGE[0], WIDTH_DB_RANGE[1], 800)

    def push(self, x: NDArray[np.floating]) -> None:
        frames: FloatArray = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty((frames.shape[0] // self.hop + 1, 5))
        rows = _mid_side_blocks(frames, self.pair[0], self.pair[1], self.hop, self._partial, out)
        done = 0
        while done < rows:
            take = min(rows - done, _PENDING_BLOCKS - self._n_pending)
            self._pending[self._n_pending : self._n_pending + take] = out[done : done + take]
            self._n_pending += take
            done += take
            if self._n_pending == _PENDING_BLOCKS:
                self._add_blocks()

    def _add_blocks(self) -> None:
        """Fold the pending blocks into the totals and evaluate the windows they complete."""
        stats = self._pending[: self._n_pending]
        self._n_pending = 0
        if stats.shape[0] == 0:
            return
        self._totals.add(stats.sum(axis=0))
        self._blocks += stats.shape[0]
        seq = np.concatenate([self._recent, stats])
        count = seq.shape[0] - BLOCKS_PER_WINDOW + 1
        if count > 0:
            # Each window adds its four blocks in the same order, whatever the batching.
            windows = seq[0:count].copy()
            for k in range(1, BLOCKS_PER_WINDOW):
                windows += seq[k : k + count]
            self._add_windows(windows)
        self._recent = seq[-(BLOCKS_PER_WINDOW - 1) :].copy()

    def _add_windows(self, windows: FloatArray) -> None:
        n = float(BLOCKS_PER_WINDOW * self.hop)
        # Mean square of L and R averaged = (M^2 + S^2) / n.
        loud = (windows[:, _MM] + windows[:, _SS]) / n >= SILENCE_FLOOR_POWER
        windows = windows[loud]
        if windows.shape[0] == 0:
            return
        self._correlation.add(_window_correlations(windows, n))
        with np.errstate(divide="ignore"):
            width = 10.0 * np.log10(windows[:, _SS]) - 10.0 * np.log10(windows[:, _MM])
        self._width.add(np.clip(width, WIDTH_DB_RANGE[0], WIDTH_DB_RANGE[1]))

    def _programme_totals(self) -> tuple[FloatArray, int]:
        """Sums over every frame pushed, the unfinished block included."""
        self._add_blocks()
        frames = self._blocks * self.hop + int(self._partial[0])
        return self._totals.value + self._partial[1:], frames

    def statistics(self) -> StereoStatistics:
        totals, frames = self._programme_totals()
        side, mid = float(totals[_SS]), float(totals[_MM])
        return StereoStatistics(
            correlation=pearson(totals, float(frames)) if frames else 0.0,
            width_db=_width_db(side, mid),
            width=side / (side + mid) if side + mid > 0 else 0.0,
            windows=self._correlation.count,
            window_correlation=self._correlation,
            window_width_db=self._width,
        )

    def report(self, loudness: StereoLoudness) -> StereoReport:
        stats = self.statistics()
        percentiles = (
            [(p, self._correlation.percentile(p)) for p in CORRELATION_PERCENTILES]
            if stats.windows
            else []
        )
        return StereoReport(
            is_stereo=True,
            correlation=stats.correlation,
            correlation_percentiles=percentiles,
            width_db=stats.width_db,
            width=stats.width,
            balance_db=loudness.balance_db(),
            mono_loudness_change_db=loudness.mono_loudness_change_db(),
        )
