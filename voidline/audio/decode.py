"""Decoding audio bytes to float frames, shape (frames, channels), full scale 1.0.

Two kinds of input reach the services:

* raw interleaved little-endian PCM (s16, s24, f32) whose format the caller states, decoded
  chunk by chunk with `PcmDecoder`;
* whole encoded files (WAV, FLAC, OGG Vorbis/Opus, MP3) read from memory with libsndfile
  (through soundfile) by `ContainerReader`, `iter_container_blocks` or `decode_container`.

Every decoder refuses input the meters cannot measure (a partial frame, NaN or Inf samples)
with an `InvalidInputError` whose message says what to fix.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

import numpy as np
import soundfile
from numpy.typing import NDArray

from voidline.audio.format import Encoding
from voidline.errors import InvalidInputError

# Scale factors that map the most negative integer sample to exactly -1.0.
_S16_SCALE = 1.0 / 32768.0
_S24_SCALE = 1.0 / 8388608.0

_CONTAINER_HINT = "send WAV, FLAC, OGG or MP3 bytes"

# libsndfile subtypes whose integer full scale is below 1.0 after decoding; every other subtype
# (float WAV, 32-bit PCM, lossy codecs) is treated as full scale 1.0.
_SOURCE_ENCODINGS = {"PCM_16": Encoding.PCM_S16LE, "PCM_24": Encoding.PCM_S24LE}


def encoding_for_subtype(subtype: str) -> Encoding:
    """The PCM encoding that carries a libsndfile subtype exactly (PCM_16 -> s16, ...).

    16- and 24-bit integer files map to s16 / s24 (their full scale is below 1.0 and their
    samples travel bit-exact); float, 32-bit and lossy files map to f32 (full scale 1.0).
    """
    return _SOURCE_ENCODINGS.get(subtype, Encoding.PCM_F32LE)


class SequentialSoundFile(soundfile.SoundFile):  # type: ignore[misc]  # soundfile is untyped
    """A SoundFile read strictly front to back.

    soundfile 0.14 seeks to the current position after every read. For MP3, libsndfile turns
    that seek into mpg123_seek, which restarts the decoder: the start of every block after the
    first comes out near-silent (a 1 kHz tone read in 100 ms blocks measured 12 LU too quiet).
    Reporting the file as not seekable skips that seek; block reading never needs to seek.
    """

    def seekable(self) -> bool:
        return False


def check_finite(frames: NDArray[np.floating], frame_offset: int = 0) -> None:
    """Raise InvalidInputError naming the first NaN or Inf sample (frame index, channel)."""
    finite = np.isfinite(frames)
    if finite.all():
        return
    frame, channel = np.unravel_index(int(np.argmin(finite)), frames.shape)
    value = float(frames[frame, channel])
    kind = "NaN" if np.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    raise InvalidInputError(
        f"sample at frame {frame_offset + int(frame)}, channel {int(channel)} is {kind}; "
        "every sample must be a finite number"
    )


class PcmDecoder:
    """Decodes interleaved little-endian PCM bytes to float32 frames, full scale 1.0.

    s16 and s24 values are divided by 2^15 and 2^23, so the conversion is exact in float32
    and the largest positive sample is `Encoding.full_scale` (32767/32768 for s16).
    """

    def __init__(self, encoding: Encoding, channels: int) -> None:
        if encoding is Encoding.CONTAINER:
            raise ValueError("PcmDecoder decodes raw PCM; use ContainerReader for containers")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.encoding = encoding
        self.channels = channels

    @property
    def frame_bytes(self) -> int:
        """Bytes in one frame: one sample for every channel."""
        return self.channels * self.encoding.bytes_per_sample

    def frame_count(self, byte_count: int) -> int:
        """Frames in `byte_count` bytes; InvalidInputError when that is not a whole number."""
        if byte_count % self.frame_bytes:
            raise InvalidInputError(
                f"chunk of {byte_count} bytes is not a whole number of {self.frame_bytes}-byte "
                f"frames ({self.channels} channels x {self.encoding.bytes_per_sample} bytes)"
            )
        return byte_count // self.frame_bytes

    def decode(self, data: bytes, *, frame_offset: int = 0) -> NDArray[np.float32]:
        """Decode whole frames to an array of shape (frames, channels).

        `frame_offset` is the stream position of the first frame; it only makes the error
        message for a bad sample point at the right place in the whole stream.
        """
        frames = self.frame_count(len(data))
        if self.encoding is Encoding.PCM_S16LE:
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) * np.float32(_S16_SCALE)
        elif self.encoding is Encoding.PCM_S24LE:
            samples = self._decode_s24(data) * np.float32(_S24_SCALE)
        else:
            # astype copies into a writable, native-endian array.
            samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
            check_finite(samples.reshape(frames, self.channels), frame_offset)
        return samples.reshape(frames, self.channels)

    @staticmethod
    def _decode_s24(data: bytes) -> NDArray[np.float32]:
        """3-byte little-endian two's complement to float32 integers, vectorised.

        Each sample goes into the top three bytes of a little-endian int32 (low byte zero);
        an arithmetic shift right by 8 then sign-extends it.
        """
        triples = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((triples.shape[0], 4), dtype=np.uint8)
        padded[:, 1:] = triples
        values = padded.view("<i4").reshape(-1) >> 8
        return values.astype(np.float32)


def _decode_error(error: Exception) -> InvalidInputError:
    said = getattr(error, "error_string", None) or str(error)
    said = said.strip().rstrip(".")
    return InvalidInputError(f"could not decode the audio container: {said}; {_CONTAINER_HINT}")


class ContainerReader:
    """An encoded file (WAV, FLAC, OGG Vorbis/Opus, MP3) read block by block with libsndfile.

    Use as a context manager. `source` is the file's bytes, a binary file object or a path.
    Reading in blocks keeps memory bounded: a 64 MiB MP3 decodes to gigabytes of samples.
    """

    def __init__(self, source: bytes | bytearray | BinaryIO | str | os.PathLike[str]) -> None:
        stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
        try:
            self._file = SequentialSoundFile(stream)
        except (soundfile.SoundFileError, RuntimeError, TypeError) as error:
            raise _decode_error(error) from error
        self.sample_rate_hz: int = self._file.samplerate
        self.channels: int = self._file.channels
        self.subtype: str = self._file.subtype
        # Some formats (MP3, OGG) may report an estimate; the blocks are the truth.
        self.frames: int = self._file.frames

    @property
    def source_encoding(self) -> Encoding:
        """The PCM encoding whose full scale applies to this file, for clipping detection.

        16- and 24-bit integer files (WAV, FLAC) cannot go above 32767/32768 and 8388607/8388608;
        float, 32-bit and lossy files are judged against 1.0.
        """
        return encoding_for_subtype(self.subtype)

    def blocks(self, block_frames: int) -> Iterator[NDArray[np.float32]]:
        """Yield float32 arrays of shape (<= block_frames, channels), all samples finite."""
        if block_frames < 1:
            raise ValueError(f"block_frames must be at least 1, got {block_frames}")
        position = 0
        while True:
            try:
                block = self._file.read(block_frames, dtype="float32", always_2d=True)
            except (soundfile.SoundFileError, RuntimeError) as error:
                raise _decode_error(error) from error
            if block.shape[0] == 0:
                return
            check_finite(block, position)
            position += block.shape[0]
            yield block

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def iter_container_blocks(
    source: bytes | bytearray | BinaryIO | str | os.PathLike[str], block_frames: int
) -> Iterator[NDArray[np.float32]]:
    """The decoded frames of an encoded file, `block_frames` at a time (the last may be shorter)."""
    with ContainerReader(source) as reader:
        yield from reader.blocks(block_frames)


def decode_container(data: bytes) -> tuple[NDArray[np.float32], int, int, Encoding]:
    """Decode a whole encoded file held in memory.

    Returns (frames of shape (n, channels) full scale 1.0, sample rate, channel count, source
    encoding); see `ContainerReader.source_encoding` for what the last one means.
    """
    with ContainerReader(data) as reader:
        blocks = list(reader.blocks(1 << 16))
        channels = reader.channels
        frames = np.concatenate(blocks) if blocks else np.zeros((0, channels), dtype=np.float32)
        return frames, reader.sample_rate_hz, channels, reader.source_encoding
