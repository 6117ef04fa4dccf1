"""Running-statistics building blocks shared by the streaming meters.

Every meter sees the stream in chunks of any size and must give the same answer however it is
chunked. `neumaier_add` / `CompensatedSum` keep float64 sums of a multi-hour stream exact to
rounding; `BlockBatcher` regroups a stream into batches of whole blocks; `Histogram` keeps a
distribution in fixed bins, so memory stays constant however long the stream is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numba import njit
from numpy.typing import NDArray

from voidline.analysis.report import NEG_INF

FloatArray = NDArray[np.float64]

# About 0.7 s of 48 kHz audio: large enough that numpy's per-call overhead vanishes, small
# enough that a batch and its temporaries stay in the CPU cache.
DEFAULT_BATCH_FRAMES = 32_768


def power_db(power: float) -> float:
    """10 log10(power), -inf for zero."""
    return 10.0 * math.log10(power) if power > 0.0 else NEG_INF


class CompensatedSum:
    """Running elementwise sum of float64 arrays, Neumaier-compensated.

    Each batch is summed by numpy (pairwise or BLAS, error ~1e-16 of the batch); adding the
    batch totals with compensation keeps the grand total of a multi-hour stream just as exact.
    """

    def __init__(self, shape: int | tuple[int, ...]) -> None:
        self._sum = np.zeros(shape)
        self._carry = np.zeros(shape)

    def add(self, value: FloatArray | float) -> None:
        v = np.asarray(value, dtype=np.float64)
        total = self._sum + v
        # Neumaier: recover the low-order bits lost by whichever operand is smaller.
        self._carry += np.where(
            np.abs(self._sum) >= np.abs(v), (self._sum - total) + v, (v - total) + self._sum
        )
        self._sum = total

    @property
    def value(self) -> FloatArray:
        return self._sum + self._carry


class BlockBatcher:
    """Regroups a stream of frames (n, channels) into batches of whole blocks.

    `push` yields arrays whose length is a whole number of `block` frames (at most
    `batch_frames` rounded down to whole blocks, at least one block). Frames that do not fill a
    batch yet are copied into an internal buffer, so whatever the chunking, every block a
    consumer sees holds exactly the same samples. The yielded array may be that internal buffer:
    use it before the next `push` and keep no reference.
    """

    def __init__(
        self,
        channels: int,
        block: int = 1,
        batch_frames: int = DEFAULT_BATCH_FRAMES,
        dtype: type[np.floating] = np.float64,
    ) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1 frame, got {block}")
        self.block = block
        self.batch = max(block, batch_frames // block * block)
        self._buf = np.empty((self.batch, channels), dtype=dtype)
        self._fill = 0

    def push(self, x: NDArray[np.floating]) -> Iterator[NDArray[np.floating]]:
        n = x.shape[0]
        i = 0
        if self._fill:
            take = min(self.batch - self._fill, n)
            self._buf[self._fill : self._fill + take] = x[:take]
            self._fill += take
            i = take
            if self._fill < self.batch:
                return
            self._fill = 0
            yield self._buf
        while n - i >= self.batch:
            yield x[i : i + self.batch]
            i += self.batch
        if i < n:
            self._buf[: n - i] = x[i:]
            self._fill = n - i

    def flush(self) -> NDArray[np.floating]:
        """The whole blocks still buffered (possibly none); the partial block stays buffered."""
        whole = self._fill // self.block * self.block
        out = self._buf[:whole].copy()
        rest = self._fill - whole
        self._buf[:rest] = self._buf[whole : self._fill]
        self._fill = rest
        return out

    @property
    def pending(self) -> NDArray[np.floating]:
        """The buffered frames, a view (valid until the next push or flush)."""
        return self._buf[: self._fill]


class Histogram:
    """Fixed-bin histogram of a scalar over the stream, with exact min and max, mean and std.

    Values outside [lo, hi) go to the first or last bin. Percentiles are nearest-rank
    (the smallest bin whose cumulative count reaches p % of the total), read at the bin centre
    and clamped to the observed range, so a constant input reads back exactly.
    """

    def __init__(self, lo: float, hi: float, bins: int) -> None:
        self.lo = lo
        self.hi = hi
        self.width = (hi - lo) / bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self.min = math.inf
        self.max = -math.inf
        self._sum = 0.0
        self._sum_sq = 0.0

    def add(self, values: FloatArray) -> None:
        if values.size == 0:
            return
        idx = np.clip((values - self.lo) / self.width, 0, self.counts.size - 1).astype(np.int64)
        self.counts += np.bincount(idx, minlength=self.counts.size)
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        self._sum += float(values.sum())
        self._sum_sq += float(np.dot(values, values))

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def mean(self, default: float = 0.0) -> float:
        n = self.count
        return self._sum / n if n else default

    def std(self, default: float = 0.0) -> float:
        n = self.count
        if n == 0:
            return default
        return math.sqrt(max(0.0, self._sum_sq / n - (self._sum / n) ** 2))

    def percentile(self, p: float, default: float = 0.0) -> float:
        n = self.count
        if n == 0:
            return default
        rank = max(1, math.ceil(p / 100.0 * n))
        b = int(np.searchsorted(np.cumsum(self.counts), rank))
        centre = self.lo + (b + 0.5) * self.width
        return min(max(centre, self.min), self.max)

    def fraction_below(self, threshold: float) -> float:
        """Share of values below threshold, to the resolution of one bin."""
        n = self.count
        if n == 0:
            return 0.0
        b = int(np.clip(math.floor((threshold - self.lo) / self.width), 0, self.counts.size))
        return float(self.counts[:b].sum() / n)


@njit(cache=True, nogil=True)
def neumaier_add(total: FloatArray, carry: FloatArray, i: int, value: float) -> None:
    """total[i] += value, with the rounding error kept in carry[i] (Neumaier)."""
    t = total[i] + value
    if abs(total[i]) >= abs(value):
        carry[i] += (total[i] - t) + value
    else:
        carry[i] += (value - t) + total[i]
    total[i] = t
