"""Constant-memory gating for BS.1770 integrated loudness and EBU Tech 3342 loudness range.

Instead of keeping every 400 ms block (a 3-hour stream has 108 000), blocks are binned by
loudness in 0.01 LU bins. Each bin keeps the count, the sum of the blocks' mean-square energies
and the sum of their loudness values, so:
- gated means use the exact energies of the blocks in every bin fully above a gate (only the one
  bin that straddles a gate is decided by its mean loudness);
- a percentile reads the mean loudness of the blocks in its bin, exact when they are equal and
  never more than 0.01 LU off.
libebur128 keeps counts only, in 0.1 LU bins (up to about 0.05 LU quantisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit
from numpy.typing import NDArray

ABSOLUTE_GATE_LUFS = -70.0
BIN_WIDTH_LU = 0.01
TOP_LUFS = 30.0  # above any real programme: 8 channels at full scale read about +15 LUFS
N_BINS = round((TOP_LUFS - ABSOLUTE_GATE_LUFS) / BIN_WIDTH_LU)
LOWER_EDGES = ABSOLUTE_GATE_LUFS + BIN_WIDTH_LU * np.arange(N_BINS)
LOUDNESS_OFFSET = -0.691  # BS.1770-5 equation (2): L = -0.691 + 10 log10(z)


def loudness_of(energy: float) -> float:
    """Loudness in LUFS of a channel-weighted mean-square energy z."""
    return LOUDNESS_OFFSET + 10.0 * math.log10(energy) if energy > 0 else -math.inf


def loudness_array(energy: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET + 10.0 * np.log10(energy)


class GatedHistogram:
    """Loudness values above the -70 LUFS absolute gate, binned with their energies.

    `bins` rows: count, sum of energies z, sum of loudness values (float64 keeps counts exact
    to 2^53). The loudness meter's compiled kernel adds to it with `add_to_bins`.
    """

    def __init__(self) -> None:
        self.bins: NDArray[np.float64] = np.zeros((3, N_BINS))

    @property
    def counts(self) -> NDArray[np.float64]:
        row: NDArray[np.float64] = self.bins[0]
        return row

    @property
    def energy_sums(self) -> NDArray[np.float64]:
        row: NDArray[np.float64] = self.bins[1]
        return row

    @property
    def loudness_sums(self) -> NDArray[np.float64]:
        row: NDArray[np.float64] = self.bins[2]
        return row

    def add(self, energies: NDArray[np.float64]) -> None:
        """Add block energies z (channel-weighted mean squares); keeps those above -70 LUFS."""
        for z in energies:
            add_to_bins(self.bins, float(z))

    @property
    def total(self) -> int:
        """Values above the absolute gate."""
        return int(self.counts.sum())

    def _bins_above(self, gate_lufs: float) -> NDArray[np.bool_]:
        """Bins whose values lie above the gate; the straddling bin goes by its mean loudness."""
        above = gate_lufs <= LOWER_EDGES
        straddle = math.floor((gate_lufs - ABSOLUTE_GATE_LUFS) / BIN_WIDTH_LU)
        if 0 <= straddle < N_BINS and self.counts[straddle] > 0:
            mean = self.loudness_sums[straddle] / self.counts[straddle]
            above[straddle] = mean > gate_lufs
        return above

    def relative_gate(self, offset_lu: float) -> float:
        """Power mean of the absolutely gated values plus offset_lu (BS.1770-5 eq. 5; -10 LU)."""
        n = self.total
        if n == 0:
            return -math.inf
        return loudness_of(float(self.energy_sums.sum()) / n) + offset_lu

    def gated_loudness(self, offset_lu: float) -> tuple[float, float, int]:
        """(loudness of the values above both gates, the relative gate, how many passed)."""
        gate = self.relative_gate(offset_lu)
        if not math.isfinite(gate):
            return -math.inf, gate, 0
        above = self._bins_above(gate)
        n = int(self.counts[above].sum())
        if n == 0:
            return -math.inf, gate, 0
        return loudness_of(float(self.energy_sums[above].sum()) / n), gate, n

    def percentiles(self, ps: Sequence[float], gate_lufs: float = -math.inf) -> list[float]:
        """Nearest-rank percentiles (0-100) of the values above gate_lufs; -inf when empty."""
        counts = (
            self.counts
            if not math.isfinite(gate_lufs)
            else self.counts * self._bins_above(gate_lufs)
        )
        n = int(counts.sum())
        if n == 0:
            return [-math.inf for _ in ps]
        cumulative = np.cumsum(counts)
        values = []
        for p in ps:
            rank = max(1, math.ceil(p / 100.0 * n))
            b = int(np.searchsorted(cumulative, rank))
            values.append(float(self.loudness_sums[b] / self.counts[b]))
        return values

    def coarse(self, width_lu: float = 1.0) -> tuple[float, list[int]]:
        """Counts in width_lu bins, trimmed to the occupied range: (lowest edge, counts)."""
        group = round(width_lu / BIN_WIDTH_LU)
        grouped = self.counts.reshape(-1, group).sum(axis=1)
        occupied = np.flatnonzero(grouped)
        if occupied.size == 0:
            return ABSOLUTE_GATE_LUFS, []
        first, last = int(occupied[0]), int(occupied[-1])
        return ABSOLUTE_GATE_LUFS + first * width_lu, [int(c) for c in grouped[first : last + 1]]


@njit(cache=True, nogil=True)
def add_to_bins(bins: NDArray[np.float64], energy: float) -> None:  # pragma: no cover - compiled
    """Add one block energy z to a GatedHistogram's bins if it is above the absolute gate."""
    if energy <= 0.0:
        return
    loudness = LOUDNESS_OFFSET + 10.0 * np.log10(energy)
    if loudness <= ABSOLUTE_GATE_LUFS:
        return
    b = min(int((loudness - ABSOLUTE_GATE_LUFS) / BIN_WIDTH_LU), N_BINS - 1)
    bins[0, b] += 1.0
    bins[1, b] += energy
    bins[2, b] += loudness
