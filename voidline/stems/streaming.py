"""Segment-wise separation of a stream, equal to `demucs.apply.apply_model`.

`apply_model(model, mix, split=True, overlap=o, shifts=s)` cuts the whole mix into segments
of `segment` seconds every `(1 - o) * segment`, separates each, and cross-fades them with
triangular weights. Every output frame depends only on the segments that cover it, so once
segment k is separated the frames before the start of segment k + 1 are final. The
`SegmentStreamer` below does exactly that on audio that is still arriving: it keeps at most
1.5 segments of input and one segment of weighted output, whatever the song's length.

`StreamingSeparator` adds what `apply_model` does around the split: random time shifts
(each shift is an independent stream delayed by its offset, averaged at the end) and bags of
models (each model weighted per source). With `shifts=0` the output equals
`apply_model(model, mix, shifts=0, split=True, overlap=o, segment=...)` to float rounding.

Arrays are float32 (frames, channels); stems come out as (sources, frames, channels).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from voidline.stems.backend import FloatArray, SegmentSeparator

# apply_model's default cross-fade shape: a triangle, to the power 1 (linear transitions).
TRANSITION_POWER = 1.0
# Largest random shift, as apply_model: half a second at the model's rate.
MAX_SHIFT_S = 0.5


def segment_frames(model: SegmentSeparator, segment_s: float | Fraction | None) -> int:
    """Frames per segment as apply_model computes them: int(samplerate * segment)."""
    segment = model.segment_s if segment_s is None else segment_s
    return int(model.samplerate * segment)


def crossfade_weight(length: int) -> npt.NDArray[np.float32]:
    """apply_model's segment weight: a triangle peaking mid-segment, normalised to 1."""
    rising = np.arange(1, length // 2 + 1)
    falling = np.arange(length - length // 2, 0, -1)
    weight = np.concatenate([rising, falling]).astype(np.float64)
    normalised: npt.NDArray[np.float32] = (weight / weight.max()).astype(np.float32)
    return normalised ** np.float32(TRANSITION_POWER)


class SegmentStreamer:
    """`apply_model(split=True, shifts=0)` for one model on a stream, with an optional delay.

    `delay` frames of silence go before the input and the same number of output frames are
    dropped, which is how apply_model implements one random shift.
    """

    def __init__(
        self, model: SegmentSeparator, segment: int, overlap: float, delay: int = 0
    ) -> None:
        if segment < 1:
            raise ValueError(f"segment must be at least 1 frame, got {segment}")
        self.model = model
        self.segment = segment
        self.stride = int((1 - overlap) * segment)
        if self.stride < 1:
            raise ValueError(f"overlap {overlap} leaves no stride at segment {segment}")
        self.weight = crossfade_weight(segment)
        self.channels = model.audio_channels
        self.sources = len(model.sources)
        # Input from global frame `_input_start` (the last segment may look back half a
        # segment before its own start when it is padded to the model's length).
        self._input = np.zeros((0, self.channels), dtype=np.float32)
        self._input_start = 0
        self._received = 0
        # Weighted sums of the outputs from global frame `_next_offset` (the next segment).
        self._out = np.zeros((self.sources, segment, self.channels), dtype=np.float32)
        self._weight_sum = np.zeros(segment, dtype=np.float32)
        self._next_offset = 0
        self._to_drop = delay
        if delay:
            self.push(np.zeros((delay, self.channels), dtype=np.float32))

    def push(self, frames: FloatArray) -> FloatArray:
        """Take input; return the stems of every frame that is now final."""
        self._input = np.concatenate([self._input, frames])
        self._received += frames.shape[0]
        finished = []
        while self._next_offset + self.segment <= self._received:
            finished.append(self._process_segment(total=None))
        return self._drop_delay(finished)

    def finish(self) -> FloatArray:
        """Separate the remaining segments, the input having ended; return the rest."""
        total = self._received
        finished = []
        while self._next_offset < total:
            finished.append(self._process_segment(total=total))
        return self._drop_delay(finished)

    def _process_segment(self, total: int | None) -> FloatArray:
        offset = self._next_offset
        length = self.segment if total is None else min(self.segment, total - offset)
        chunk = self._padded_chunk(offset, length, total)
        estimate = self.model.separate_segment(chunk)
        estimate = _center_trim(estimate, length)
        weight = self.weight[:length]
        self._out[:, :length] += weight[None, :, None] * estimate
        self._weight_sum[:length] += weight
        # Frames before the next segment's start receive nothing more: emit them.
        done = min(self.stride, length) if total is None else self._finished_count(length, total)
        finished = self._out[:, :done] / self._weight_sum[None, :done, None]
        self._shift_accumulators(done)
        self._next_offset = offset + self.stride
        self._forget_input()
        return finished

    def _finished_count(self, length: int, total: int) -> int:
        """After the input ended: the frames final after this segment (all, if it is the last)."""
        offset = self._next_offset
        return length if offset + self.stride >= total else self.stride

    def _padded_chunk(self, offset: int, length: int, total: int | None) -> FloatArray:
        """TensorChunk(mix, offset, length).padded(valid_length), from the buffered input.

        The padding is centred and filled with real input where the song has it (before the
        chunk) and zeros past either end of the song, as demucs' TensorChunk does.
        """
        target = self.model.valid_length(length, self.segment)
        delta = target - length
        start = offset - delta // 2
        end = start + target
        known_end = self._received if total is None else total
        lo, hi = max(0, start), min(known_end, end)
        data = self._input[lo - self._input_start : hi - self._input_start]
        pad_before, pad_after = lo - start, end - hi
        if pad_before or pad_after:
            data = np.pad(data, ((pad_before, pad_after), (0, 0)))
        return np.ascontiguousarray(data, dtype=np.float32)

    def _shift_accumulators(self, done: int) -> None:
        self._out = np.roll(self._out, -done, axis=1)
        self._out[:, -done:] = 0.0
        self._weight_sum = np.roll(self._weight_sum, -done)
        self._weight_sum[-done:] = 0.0

    def _forget_input(self) -> None:
        # A short last segment is padded with input from before its start: keep a segment.
        keep_from = max(0, self._next_offset - self.segment)
        if keep_from > self._input_start:
            self._input = self._input[keep_from - self._input_start :]
            self._input_start = keep_from

    def _drop_delay(self, finished: list[FloatArray]) -> FloatArray:
        stems = (
            np.concatenate(finished, axis=1)
            if finished
            else np.zeros((self.sources, 0, self.channels), dtype=np.float32)
        )
        if self._to_drop:
            dropped = min(self._to_drop, stems.shape[1])
            self._to_drop -= dropped
            stems = stems[:, dropped:]
        return stems


def _center_trim(estimate: FloatArray, length: int) -> FloatArray:
    """demucs.utils.center_trim: cut the model's output back to the chunk's length."""
    delta = estimate.shape[1] - length
    if delta < 0:
        raise ValueError(f"model returned {estimate.shape[1]} frames for {length}")
    return estimate[:, delta // 2 : delta // 2 + length] if delta else estimate


@dataclass(frozen=True)
class BagMember:
    """One model of a bag and its weight per source (apply_model's BagOfModels.weights)."""

    model: SegmentSeparator
    weights: tuple[float, ...]


class StreamingSeparator:
    """apply_model on a stream: a bag of models, each averaged over random shifts.

    Every (model, shift) pair is an independent SegmentStreamer; outputs are combined as
    soon as every streamer has produced them, so the combined stems come out in order.
    `seed` makes the shifts reproducible (apply_model draws them from `random`).
    """

    def __init__(
        self,
        members: Sequence[BagMember],
        *,
        segment_s: float | Fraction | None = None,
        overlap: float = 0.25,
        shifts: int = 0,
        seed: int = 0,
    ) -> None:
        if not members:
            raise ValueError("a separator needs at least one model")
        first = members[0].model
        for member in members:
            if (member.model.sources, member.model.samplerate) != (first.sources, first.samplerate):
                raise ValueError("every model of a bag must have the same sources and rate")
        self.members = list(members)
        self.sources = first.sources
        self.samplerate = first.samplerate
        self.channels = first.audio_channels
        self.shifts = shifts
        rng = random.Random(seed)
        max_shift = int(MAX_SHIFT_S * self.samplerate)
        self._streams: list[list[SegmentStreamer]] = []
        for member in self.members:
            frames = segment_frames(member.model, segment_s)
            delays = [max_shift - rng.randint(0, max_shift) for _ in range(shifts)] or [0]
            self._streams.append(
                [SegmentStreamer(member.model, frames, overlap, delay) for delay in delays]
            )
        self._pending: list[list[FloatArray]] = [
            [self._empty() for _ in streams] for streams in self._streams
        ]

    def _empty(self) -> FloatArray:
        return np.zeros((len(self.sources), 0, self.channels), dtype=np.float32)

    def push(self, frames: FloatArray) -> FloatArray:
        """Take input at the model's rate; return the stems that are final."""
        for m, streams in enumerate(self._streams):
            for s, stream in enumerate(streams):
                self._append(m, s, stream.push(frames))
        return self._combine_ready()

    def finish(self) -> FloatArray:
        for m, streams in enumerate(self._streams):
            for s, stream in enumerate(streams):
                self._append(m, s, stream.finish())
        return self._combine_ready()

    def _append(self, m: int, s: int, stems: FloatArray) -> None:
        if stems.shape[1]:
            self._pending[m][s] = np.concatenate([self._pending[m][s], stems], axis=1)

    def _combine_ready(self) -> FloatArray:
        ready = min(p.shape[1] for pending in self._pending for p in pending)
        if ready == 0:
            return self._empty()
        combined: FloatArray | None = None
        totals = np.zeros(len(self.sources), dtype=np.float32)
        for m, member in enumerate(self.members):
            # apply_model: out = 0 + shift_1 + ... ; out /= shifts.
            model_out = self._pending[m][0][:, :ready].copy()
            for extra in self._pending[m][1:]:
                model_out += extra[:, :ready]
            if self.shifts:
                model_out /= np.float32(self.shifts)
            self._pending[m] = [p[:, ready:] for p in self._pending[m]]
            if len(self.members) == 1:
                return model_out
            weights = np.asarray(member.weights, dtype=np.float32)
            model_out *= weights[:, None, None]
            totals += weights
            combined = model_out if combined is None else combined + model_out
        assert combined is not None
        combined /= totals[:, None, None]
        return combined


def separate_array(
    separator: StreamingSeparator, mix: FloatArray, block_frames: int = 1 << 16
) -> FloatArray:
    """Run a whole (frames, channels) array through a streaming separator, block by block."""
    parts = [separator.push(mix[i : i + block_frames]) for i in range(0, len(mix), block_frames)]
    parts.append(separator.finish())
    return np.concatenate(parts, axis=1)
