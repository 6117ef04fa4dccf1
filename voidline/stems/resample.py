"""Streaming sample-rate conversion that equals `scipy.signal.resample_poly` on the whole signal.

The stems service converts the input to the model's rate and the stems back while the audio
is still arriving, so it cannot call `resample_poly` on the whole song. `StreamingResampler`
computes the same polyphase FIR (scipy's default Kaiser-windowed low-pass, half length 10 x
max(up, down), zero padding at both ends) block by block from a bounded input buffer: its
output, concatenated, is `resample_poly(x, up, down, axis=0)` to float rounding.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.signal

FloatArray = npt.NDArray[np.float32]


class StreamingResampler:
    """Resample (frames, channels) float32 audio from `rate_in` to `rate_out` incrementally.

    `push` returns the output frames that are final given the input so far; `finish` returns
    the rest. Output length in total: ceil(frames_in * up / down), as resample_poly.
    """

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        common = math.gcd(rate_in, rate_out)
        self.up = rate_out // common
        self.down = rate_in // common
        self.channels = channels
        self._passthrough = self.up == self.down == 1
        max_rate = 1 if self._passthrough else max(self.up, self.down)
        # The filter resample_poly designs, with its pre-padding that centres the output.
        half_len = 10 * max_rate
        # float32 taps scaled in float32, exactly as resample_poly does for float32 input.
        taps = scipy.signal.firwin(2 * half_len + 1, 1.0 / max(max_rate, 2), window=("kaiser", 5.0))
        taps = taps.astype(np.float32) * np.float32(self.up)
        pre_pad = self.down - half_len % self.down
        self._taps = np.concatenate([np.zeros(pre_pad, dtype=np.float32), taps])
        self._skip = (half_len + pre_pad) // self.down  # leading outputs resample_poly drops
        self._buffer = np.zeros((0, channels), dtype=np.float32)
        self._buffer_start = 0  # global input index of _buffer[0], a multiple of `down`
        self._frames_in = 0
        self._next_full = self._skip  # next index of upfirdn's full output to emit
        self._finished = False

    def push(self, frames: FloatArray) -> FloatArray:
        """Take input frames; return the output frames that no later input can change."""
        if self._finished:
            raise RuntimeError("push after finish")
        frames = np.asarray(frames, dtype=np.float32).reshape(-1, self.channels)
        if self._passthrough:
            self._frames_in += frames.shape[0]
            return frames
        self._buffer = np.concatenate([self._buffer, frames])
        self._frames_in += frames.shape[0]
        # Full-output index i needs input up to floor(i * down / up): final once that arrived.
        last_final = ((self._frames_in - 1) * self.up) // self.down if self._frames_in else -1
        return self._emit(last_final + 1)

    def finish(self) -> FloatArray:
        """The remaining output, the input being zero beyond its end (as resample_poly)."""
        if self._finished:
            raise RuntimeError("finish called twice")
        self._finished = True
        if self._passthrough:
            return np.zeros((0, self.channels), dtype=np.float32)
        frames_out = -(-self._frames_in * self.up // self.down)
        # Zeros after the end so upfirdn produces every remaining output.
        tail = len(self._taps) // self.up + self.down + 1
        self._buffer = np.concatenate(
            [self._buffer, np.zeros((tail, self.channels), dtype=np.float32)]
        )
        return self._emit(frames_out + self._skip)

    def _emit(self, end_full: int) -> FloatArray:
        """Compute upfirdn's full outputs [_next_full, end_full) from the buffer."""
        if end_full <= self._next_full:
            return np.zeros((0, self.channels), dtype=np.float32)
        # upfirdn on a slice starting at a multiple of `down` yields full outputs from
        # buffer_start * up / down; the slice holds every input those outputs touch.
        first_local = self._next_full - self._buffer_start * self.up // self.down
        count = end_full - self._next_full
        needed = ((end_full - 1) * self.down) // self.up + 1 - self._buffer_start
        block = self._buffer[: max(needed, 1)]
        full = scipy.signal.upfirdn(self._taps, block, self.up, self.down, axis=0)
        out = np.asarray(full[first_local : first_local + count], dtype=np.float32)
        self._next_full = end_full
        self._drop_consumed_input()
        return out

    def _drop_consumed_input(self) -> None:
        """Forget input no future output touches, keeping the buffer start a multiple of down."""
        earliest = (self._next_full * self.down - len(self._taps) + 1) // self.up
        keep_from = max(0, earliest) // self.down * self.down
        if keep_from > self._buffer_start:
            self._buffer = self._buffer[keep_from - self._buffer_start :]
            self._buffer_start = keep_from
