"""Streaming loudness meter: ITU-R BS.1770-5 and EBU Tech 3341 / 3342.

Pipeline per chunk (x: frames x channels):
1. K-weighting (BS.1770-5 section 2.1), filter state carried across chunks.
2. Channel-weighted power sum_i G_i y_i^2 (section 2.4) per sample.
3. Sums over 10 ms sub-blocks. Every meter window is a whole number of sub-blocks:
   momentary 400 ms = 40, short-term 3 s = 300, so both update at 100 Hz (Tech 3341 section
   2.2: max-M tests need 10 ms hops), and the 400 ms gating blocks with 75 % overlap
   (section 2.8) are the momentary values at every 10th sub-block.
4. Gating blocks feed a GatedHistogram for integrated loudness (absolute gate -70 LUFS,
   relative gate -10 LU); short-term values at 10 Hz feed another for LRA (Tech 3342: relative
   gate -20 LU, 10th to 95th percentile). Memory is constant whatever the stream length.

Windows that have not yet filled are reported as not ready rather than padded with silence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit
from numpy.typing import NDArray

from voidline.analysis.histogram import LOUDNESS_OFFSET, GatedHistogram, add_to_bins, loudness_of
from voidline.analysis.kweighting import k_weighting_sos
from voidline.analysis.report import LoudnessReport
from voidline.audio.format import AudioFormat

SUB_BLOCKS_PER_SECOND = 100
MOMENTARY_SUB_BLOCKS = 40  # 400 ms
SHORT_TERM_SUB_BLOCKS = 300  # 3 s
HOP_SUB_BLOCKS = 10  # gating blocks and LRA short-term values every 100 ms
INTEGRATED_RELATIVE_GATE_LU = -10.0  # BS.1770-5 section 2.8
LRA_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342 section 3
LRA_LOW_PERCENTILE = 10.0
LRA_HIGH_PERCENTILE = 95.0
LRA_STABLE_AFTER_S = 60.0

# Columns of the per-sample quantities summed per sub-block.
_WEIGHTED, _LEFT, _RIGHT, _MONO = range(4)


@njit(cache=True, nogil=True)
def _k_weighted_sub_blocks(
    x: NDArray[np.float64],
    sos: NDArray[np.float64],
    state: NDArray[np.float64],
    weights: NDArray[np.float64],
    left: int,
    right: int,
    ends: NDArray[np.int64],
    partial: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """K-weight x (frames, channels) and sum per sub-block, in one pass over the samples.

    Two biquads in transposed direct form II per channel (state: section, channel, 2). Per
    sample it accumulates sum_i G_i y_i^2, y_L^2, y_R^2 and 2((y_L + y_R) / 2)^2 into
    `partial`; at each frame index in `ends` (sub-block ends, relative to x) the sums move to
    the next row of `out`. `partial` carries the unfinished sub-block to the next call, so
    the sums do not depend on how the stream is chunked.
    """
    b10, b11, b12, _, a11, a12 = sos[0]
    b20, b21, b22, _, a21, a22 = sos[1]
    row = 0
    for i in range(x.shape[0]):
        weighted = 0.0
        yl = 0.0
        yr = 0.0
        for c in range(x.shape[1]):
            v = x[i, c]
            y1 = b10 * v + state[0, c, 0]
            state[0, c, 0] = b11 * v - a11 * y1 + state[0, c, 1]
            state[0, c, 1] = b12 * v - a12 * y1
            y2 = b20 * y1 + state[1, c, 0]
            state[1, c, 0] = b21 * y1 - a21 * y2 + state[1, c, 1]
            state[1, c, 1] = b22 * y1 - a22 * y2
            weighted += weights[c] * y2 * y2
            if c == left:
                yl = y2
            elif c == right:
                yr = y2
        mono = yl + yr
        partial[0] += weighted
        partial[1] += yl * yl
        partial[2] += yr * yr
        partial[3] += 0.5 * mono * mono
        if row < ends.shape[0] and i + 1 == ends[row]:
            out[row, :] = partial
            partial[:] = 0.0
            row += 1


@njit(cache=True, nogil=True)
def _energy_loudness(energy: float) -> float:  # pragma: no cover - compiled
    return LOUDNESS_OFFSET + 10.0 * np.log10(energy) if energy > 0.0 else -np.inf


@njit(cache=True, nogil=True)
def _update_meters(
    sums: NDArray[np.float64],
    ring: NDArray[np.float64],
    first_k: int,
    sample_rate_hz: int,
    meters: NDArray[np.float64],
    blocks: NDArray[np.float64],
    short_term: NDArray[np.float64],
    pair_blocks: NDArray[np.float64],
    mono_blocks: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """Advance every meter by the newly completed sub-blocks in `sums`.

    Sub-block k enters the circular ring (the last 300 sub-blocks, columns: the four sums and
    the sub-block's length in frames) at row k % 300. The 400 ms and 3 s windows ending at it
    are summed afresh (40 or 300 additions) rather than kept as running sums, so no rounding
    drift builds up over hours and silence after loud audio reads exactly -inf.
    meters = [momentary, short-term, max momentary, max short-term] in LUFS. Every 10th
    sub-block, the 400 ms window is a gating block (BS.1770-5 s2.8: 75 % overlap) and the 3 s
    window an LRA value (Tech 3342: 10 Hz); they go into their histograms.
    """
    width = ring.shape[0]
    for r in range(sums.shape[0]):
        k = first_k + r
        row = k % width
        ring[row, :4] = sums[r]
        ring[row, 4] = (k + 1) * sample_rate_hz // SUB_BLOCKS_PER_SECOND - (
            k * sample_rate_hz // SUB_BLOCKS_PER_SECOND
        )
        hop = (k + 1) % HOP_SUB_BLOCKS == 0
        for span in (MOMENTARY_SUB_BLOCKS, SHORT_TERM_SUB_BLOCKS):
            if k + 1 < span:
                continue
            weighted = left = right = mono = frames = 0.0
            for back in range(span):
                j = (k - back) % width
                weighted += ring[j, 0]
                left += ring[j, 1]
                right += ring[j, 2]
                mono += ring[j, 3]
                frames += ring[j, 4]
            loudness = _energy_loudness(weighted / frames)
            if span == MOMENTARY_SUB_BLOCKS:
                meters[0] = loudness
                meters[2] = max(meters[2], loudness)
                if hop:
                    add_to_bins(blocks, weighted / frames)
                    add_to_bins(pair_blocks, (left + right) / frames)
                    add_to_bins(mono_blocks, mono / frames)
            else:
                meters[1] = loudness
                meters[3] = max(meters[3], loudness)
                if hop:
                    add_to_bins(short_term, weighted / frames)


class LoudnessMeter:
    """K-weighted, gated loudness of a stream of frames (full scale 1.0)."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self.sample_rate_hz = fmt.sample_rate_hz
        self._sos = k_weighting_sos(fmt.sample_rate_hz)
        self._state = np.zeros((self._sos.shape[0], fmt.channels, 2))  # biquad memories
        self._weights = np.asarray(fmt.weights, dtype=np.float64)
        self._pair = fmt.stereo_pair()
        self.frames = 0
        self.sub_blocks = 0  # completed 10 ms sub-blocks
        self._partial = np.zeros(4)  # sums of the sub-block in progress
        # The last 300 completed sub-blocks (four sums and the length in frames), circular.
        self._ring = np.zeros((SHORT_TERM_SUB_BLOCKS, 5))
        # Momentary, short-term, max momentary, max short-term (LUFS).
        self._meters = np.full(4, -math.inf)
        self.blocks = GatedHistogram()  # 400 ms gating blocks: integrated loudness
        self.short_term = GatedHistogram()  # 3 s values at 10 Hz: loudness range
        self._pair_blocks = GatedHistogram()  # L+R as two channels, for mono compatibility
        self._mono_blocks = GatedHistogram()  # (L+R)/2 on both loudspeakers
        self._channel_energy = np.zeros(2)  # K-weighted sums of squares of L and R

    def push(self, x: NDArray[np.float64]) -> None:
        """Measure the next frames, shape (n, channels)."""
        n = x.shape[0]
        start = self.frames
        # Ends of the sub-blocks completed inside this chunk, relative to its first frame.
        k_last = ((start + n) * SUB_BLOCKS_PER_SECOND) // self.sample_rate_hz
        ks = np.arange(self.sub_blocks + 1, k_last + 1, dtype=np.int64)
        ends = (ks * self.sample_rate_hz) // SUB_BLOCKS_PER_SECOND - start
        sums = np.zeros((ks.size, 4))
        left, right = self._pair if self._pair is not None else (-1, -1)
        _k_weighted_sub_blocks(
            np.asarray(x, dtype=np.float64),  # any layout: a transposed view is read in place
            self._sos,
            self._state,
            self._weights,
            left,
            right,
            ends,
            self._partial,
            sums,
        )
        self.frames += n
        if ks.size:
            self._complete(sums)

    def _complete(self, sums: NDArray[np.float64]) -> None:
        """Update every meter with newly completed sub-blocks."""
        self._channel_energy += sums[:, (_LEFT, _RIGHT)].sum(axis=0)
        _update_meters(
            sums,
            self._ring,
            self.sub_blocks,
            self.sample_rate_hz,
            self._meters,
            self.blocks.bins,
            self.short_term.bins,
            self._pair_blocks.bins,
            self._mono_blocks.bins,
        )
        self.sub_blocks += sums.shape[0]

    @property
    def momentary_lufs(self) -> float:
        return float(self._meters[0])

    @property
    def short_term_lufs(self) -> float:
        return float(self._meters[1])

    @property
    def max_momentary_lufs(self) -> float:
        return float(self._meters[2])

    @property
    def max_short_term_lufs(self) -> float:
        return float(self._meters[3])

    @property
    def gating_blocks(self) -> int:
        """400 ms blocks measured so far (before gating): one per 100 ms once 400 ms is in."""
        if self.sub_blocks < MOMENTARY_SUB_BLOCKS:
            return 0
        return (self.sub_blocks - MOMENTARY_SUB_BLOCKS) // HOP_SUB_BLOCKS + 1

    # --- results -------------------------------------------------------------------------

    def integrated(self) -> tuple[float, float, int]:
        """(integrated loudness, relative gate, blocks passing both gates): BS.1770-5 s2.8."""
        return self.blocks.gated_loudness(INTEGRATED_RELATIVE_GATE_LU)

    def loudness_range(self) -> tuple[float, float, float]:
        """(LRA, low, high) per EBU Tech 3342 section 3; LRA 0 when nothing passes the gates."""
        gate = self.short_term.relative_gate(LRA_RELATIVE_GATE_LU)
        low, high = self.short_term.percentiles((LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE), gate)
        if not (math.isfinite(low) and math.isfinite(high)):
            return 0.0, -math.inf, -math.inf
        return high - low, low, high

    @property
    def momentary_ready(self) -> bool:
        """True once a full 400 ms window has been measured."""
        return self.sub_blocks >= MOMENTARY_SUB_BLOCKS

    @property
    def short_term_ready(self) -> bool:
        """True once a full 3 s window has been measured."""
        return self.sub_blocks >= SHORT_TERM_SUB_BLOCKS

    def report(self) -> LoudnessReport:
        integrated, gate, gated = self.integrated()
        lra, low, high = self.loudness_range()
        return LoudnessReport(
            integrated_lufs=integrated,
            loudness_range_lu=lra,
            loudness_range_low_lufs=low,
            loudness_range_high_lufs=high,
            loudness_range_stable=self.frames / self.sample_rate_hz >= LRA_STABLE_AFTER_S,
            max_momentary_lufs=self.max_momentary_lufs,
            max_short_term_lufs=self.max_short_term_lufs,
            relative_gate_lufs=gate,
            gating_blocks=self.gating_blocks,
            gated_blocks=gated,
        )

    def short_term_percentiles(self, ps: Sequence[float]) -> list[tuple[float, float]]:
        """Percentiles of short-term loudness (10 Hz, above -70 LUFS), as (p, LUFS) pairs."""
        return list(zip(ps, self.short_term.percentiles(ps), strict=True))

    def short_term_histogram(self) -> tuple[float, list[int]]:
        """Short-term loudness (10 Hz, above -70 LUFS) in 1 LU bins: (first lower edge, counts)."""
        return self.short_term.coarse(1.0)

    def momentary_dynamic_range_db(self) -> float:
        """95th minus 10th percentile of momentary loudness (gating blocks above -70 LUFS)."""
        low, high = self.blocks.percentiles((10.0, 95.0))
        return high - low if math.isfinite(low) else 0.0

    def balance_db(self) -> float:
        """K-weighted energy of left over right, dB (positive leans left); 0 without a pair."""
        left, right = self._channel_energy
        if left == right:
            return 0.0
        if right == 0:
            return math.inf
        if left == 0:
            return -math.inf
        return 10.0 * math.log10(left / right)

    def mono_loudness_change_db(self) -> float:
        """Integrated loudness of (L+R)/2 on both loudspeakers minus that of L and R as they are."""
        if self._pair is None:
            return 0.0
        stereo = self._pair_blocks.gated_loudness(INTEGRATED_RELATIVE_GATE_LU)[0]
        mono = self._mono_blocks.gated_loudness(INTEGRATED_RELATIVE_GATE_LU)[0]
        if not math.isfinite(stereo):
            return 0.0
        return mono - stereo

    @staticmethod
    def loudness_of(energy: float) -> float:
        return loudness_of(energy)
