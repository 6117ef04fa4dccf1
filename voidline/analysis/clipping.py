"""Clipping detection: runs of consecutive full-scale samples in one channel.

A run of `run_samples` or more consecutive samples with |x| >= full_scale (less 1e-9, so the
float image of a 16-bit 32767 or -32768 counts) is one clipping event. Runs that cross chunk
boundaries are joined: the detector carries each channel's open run from one batch to the next,
so the events are exactly those of the audio taken as one piece.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from voidline.analysis.accumulators import BlockBatcher
from voidline.analysis.report import ClippingEvent, ClippingReport

IntArray = NDArray[np.int64]

# Tolerance below full scale: float rounding of integer PCM must not hide a clipped sample.
FULL_SCALE_EPSILON = 1e-9
MAX_REPORTED_EVENTS = 1000


class ClippingDetector:
    """Counts clipping events per channel in frames (n, channels), full scale 1.0."""

    def __init__(
        self, sample_rate_hz: int, channels: int, run_samples: int = 3, full_scale: float = 1.0
    ) -> None:
        if run_samples < 1:
            raise ValueError(f"run_samples must be at least 1, got {run_samples}")
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.run_samples = run_samples
        self.threshold = full_scale - FULL_SCALE_EPSILON
        self.event_count = 0
        self.clipped_samples = 0
        self._batcher = BlockBatcher(channels)
        self._position = 0  # frames scanned so far
        # The run of clipped samples that reaches the end of what was scanned, per channel.
        self._open_start = np.zeros(channels, dtype=np.int64)
        self._open_length = np.zeros(channels, dtype=np.int64)
        # The earliest events seen (start frame, channel, length), at most MAX_REPORTED_EVENTS.
        self._kept = np.zeros((0, 3), dtype=np.int64)

    def push(self, x: NDArray[np.floating]) -> None:
        for batch in self._batcher.push(x):
            self._scan(batch)

    def _scan(self, x: NDArray[np.floating]) -> None:
        n = x.shape[0]
        if n == 0:
            return
        # Fast path: two reductions prove that nothing in the batch reaches full scale.
        if float(x.max()) < self.threshold and float(x.min()) > -self.threshold:
            for open_channel in np.flatnonzero(self._open_length):
                self._close_open_run(int(open_channel))
            self._position += n
            return
        clipped = np.abs(x) >= self.threshold
        for c in range(self.channels):
            self._scan_channel(c, clipped[:, c])
        self._position += n

    def _scan_channel(self, c: int, clipped: NDArray[np.bool_]) -> None:
        n = clipped.shape[0]
        if not clipped.any():
            self._close_open_run(c)
            return
        # +1 where a run starts, -1 one past where it ends.
        edges = np.diff(clipped.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        lengths = ends - starts
        starts = starts + self._position
        if self._open_length[c]:
            if starts[0] == self._position:
                # The first run continues the one that reached the end of the previous batch.
                starts[0] = self._open_start[c]
                lengths[0] += self._open_length[c]
            else:
                self._close_open_run(c)
        if ends[-1] == n:
            # The last run reaches the end of this batch: it may continue in the next one.
            self._open_start[c] = starts[-1]
            self._open_length[c] = lengths[-1]
            starts, lengths = starts[:-1], lengths[:-1]
        else:
            self._open_length[c] = 0
        self._record(c, starts, lengths)

    def _close_open_run(self, c: int) -> None:
        if self._open_length[c]:
            self._record(c, self._open_start[c : c + 1], self._open_length[c : c + 1])
            self._open_length[c] = 0

    def _record(self, c: int, starts: IntArray, lengths: IntArray) -> None:
        long_enough = lengths >= self.run_samples
        starts, lengths = starts[long_enough], lengths[long_enough]
        if starts.size == 0:
            return
        self.event_count += int(starts.size)
        self.clipped_samples += int(lengths.sum())
        events = np.stack([starts, np.full_like(starts, c), lengths], axis=1)
        self._kept = _earliest(np.concatenate([self._kept, events[:MAX_REPORTED_EVENTS]]))

    def report(self) -> ClippingReport:
        """Events so far; a run still open at the end of the audio counts as ended there."""
        self._scan(self._batcher.flush())
        count, samples, kept = self.event_count, self.clipped_samples, self._kept
        open_runs = np.flatnonzero(self._open_length >= self.run_samples)
        if open_runs.size:
            count += int(open_runs.size)
            samples += int(self._open_length[open_runs].sum())
            events = np.stack(
                [self._open_start[open_runs], open_runs, self._open_length[open_runs]], axis=1
            )
            kept = _earliest(np.concatenate([kept, events]))
        return ClippingReport(
            run_samples=self.run_samples,
            event_count=count,
            clipped_samples=samples,
            events=[
                ClippingEvent(
                    channel=int(ch), start_s=int(start) / self.sample_rate_hz, samples=int(length)
                )
                for start, ch, length in kept
            ],
        )


def _earliest(events: IntArray) -> IntArray:
    """The first MAX_REPORTED_EVENTS events ordered by start frame, then channel."""
    order = np.lexsort((events[:, 1], events[:, 0]))
    return events[order[:MAX_REPORTED_EVENTS]]
