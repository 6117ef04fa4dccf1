"""Read an audio file block by block and turn each block into the bytes of one AudioChunk.

soundfile decodes WAV, FLAC, OGG and MP3 incrementally, so memory stays the size of one chunk
however long the file is. The wire encoding follows the file: 16-bit PCM travels as s16, 24-bit
PCM as s24 (both bit-exact and smaller than float), everything else as 32-bit float.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from voidline.audio.decode import SequentialSoundFile, encoding_for_subtype
from voidline.audio.format import AudioFormat, Encoding
from voidline.errors import InvalidInputError

MIN_CHUNK_MS = 10.0
MAX_CHUNK_MS = 5_000.0


class AudioSourceError(Exception):
    """The file is missing or cannot be decoded; the message says which and why."""


def chunk_frames(sample_rate_hz: int, chunk_ms: float) -> int:
    """Frames per message for chunks of ``chunk_ms`` milliseconds (at least one frame)."""
    if not MIN_CHUNK_MS <= chunk_ms <= MAX_CHUNK_MS:
        raise ValueError(f"chunk length must be {MIN_CHUNK_MS:g} to {MAX_CHUNK_MS:g} ms")
    return max(1, round(sample_rate_hz * chunk_ms / 1000.0))


def _to_s24le(block: np.ndarray) -> bytes:
    """Pack int32 samples that hold 24-bit PCM in their top three bytes as 3-byte s24le.

    soundfile returns 24-bit PCM left-justified in int32 (value << 8), so in little-endian
    memory the low byte is padding and bytes 1..3 are the 24-bit sample.
    """
    raw = np.ascontiguousarray(block, dtype="<i4").view(np.uint8).reshape(-1, 4)
    return raw[:, 1:].tobytes()


@dataclass(frozen=True)
class AudioSource:
    """An audio file opened for streaming: its format, wire encoding and length."""

    path: Path
    format: AudioFormat
    encoding: Encoding
    frames: int  # as the decoder reports it; an estimate for some MP3s

    @property
    def duration_s(self) -> float:
        return self.frames / self.format.sample_rate_hz

    @classmethod
    def open(cls, path: Path) -> AudioSource:
        """Check the file can be decoded and read its format, before any network call."""
        if not path.exists():
            raise AudioSourceError(f"no such file: {path}")
        if not path.is_file():
            raise AudioSourceError(f"not a file: {path}")
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioSourceError(f"cannot read {path} as audio: {e}") from e
        try:
            fmt = AudioFormat(sample_rate_hz=int(info.samplerate), channels=int(info.channels))
        except InvalidInputError as e:
            raise AudioSourceError(f"{path}: {e}") from e
        return cls(
            path=path,
            format=fmt,
            encoding=encoding_for_subtype(str(info.subtype)),
            frames=max(0, int(info.frames)),
        )

    def chunks(self, frames_per_chunk: int) -> Iterator[bytes]:
        """The file's audio as wire-encoded chunks of ``frames_per_chunk`` frames each."""
        dtype = {
            Encoding.PCM_S16LE: "int16",
            Encoding.PCM_S24LE: "int32",
            Encoding.PCM_F32LE: "float32",
        }[self.encoding]
        try:
            with SequentialSoundFile(str(self.path)) as f:
                while True:
                    block = f.read(frames_per_chunk, dtype=dtype, always_2d=True)
                    if block.shape[0] == 0:
                        return
                    if self.encoding is Encoding.PCM_S24LE:
                        yield _to_s24le(block)
                    else:
                        yield block.astype(block.dtype.newbyteorder("<"), copy=False).tobytes()
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioSourceError(f"cannot decode {self.path}: {e}") from e
