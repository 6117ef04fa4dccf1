"""voidline.audio.decode: raw PCM and encoded containers to float frames, full scale 1.0."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from numpy.typing import NDArray

from voidline.audio.decode import (
    ContainerReader,
    PcmDecoder,
    decode_container,
    iter_container_blocks,
)
from voidline.audio.format import Encoding
from voidline.errors import InvalidInputError

RATE = 48_000


def _sine(seconds: float, channels: int = 2, amplitude: float = 0.5) -> NDArray[np.float64]:
    t = np.arange(round(seconds * RATE)) / RATE
    # Slightly different frequencies per channel, so a channel swap would show.
    return np.stack(
        [amplitude * np.sin(2 * np.pi * (1000 + 250 * c) * t) for c in range(channels)], 1
    )


def _encode(frames: NDArray[np.float64], fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, frames, RATE, format=fmt, subtype=subtype)
    return buffer.getvalue()


# -- raw PCM ---------------------------------------------------------------------------------


def test_s16_decodes_exactly_with_full_scale_32768() -> None:
    rng = np.random.default_rng(1)
    ints = rng.integers(-32768, 32768, size=(500, 2), dtype=np.int64)
    ints[0] = [-32768, 32767]
    data = ints.astype("<i2").tobytes()

    frames = PcmDecoder(Encoding.PCM_S16LE, 2).decode(data)

    assert frames.shape == (500, 2)
    np.testing.assert_array_equal(frames, ints / 32768.0)
    assert frames[0, 0] == -1.0
    assert frames[0, 1] == Encoding.PCM_S16LE.full_scale


def test_s24_sign_extends_three_byte_little_endian_samples() -> None:
    rng = np.random.default_rng(2)
    ints = rng.integers(-(2**23), 2**23, size=(700, 3), dtype=np.int64)
    ints[0] = [-(2**23), 2**23 - 1, -1]
    # Low three bytes of each little-endian int32 = the 24-bit two's complement sample.
    data = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    assert len(data) == 700 * 3 * 3

    frames = PcmDecoder(Encoding.PCM_S24LE, 3).decode(data)

    assert frames.shape == (700, 3)
    np.testing.assert_array_equal(frames, ints / 8388608.0)
    assert frames[0, 0] == -1.0
    assert frames[0, 1] == Encoding.PCM_S24LE.full_scale
    assert frames[0, 2] == -1 / 8388608


def test_f32_passes_samples_through_unchanged() -> None:
    rng = np.random.default_rng(3)
    samples = rng.uniform(-1.5, 1.5, size=(300, 1)).astype(np.float32)

    frames = PcmDecoder(Encoding.PCM_F32LE, 1).decode(samples.astype("<f4").tobytes())

    assert frames.shape == (300, 1)
    np.testing.assert_array_equal(frames, samples)


def test_empty_chunk_decodes_to_zero_frames() -> None:
    assert PcmDecoder(Encoding.PCM_S16LE, 2).decode(b"").shape == (0, 2)


def test_partial_frame_is_refused_with_the_frame_size() -> None:
    decoder = PcmDecoder(Encoding.PCM_S24LE, 2)
    with pytest.raises(InvalidInputError) as raised:
        decoder.decode(bytes(1001))
    assert str(raised.value) == (
        "chunk of 1001 bytes is not a whole number of 6-byte frames (2 channels x 3 bytes)"
    )


@pytest.mark.parametrize(("bad", "name"), [(np.nan, "NaN"), (np.inf, "+Inf"), (-np.inf, "-Inf")])
def test_non_finite_f32_samples_are_refused_naming_frame_and_channel(bad: float, name: str) -> None:
    samples = np.zeros((10, 2), dtype=np.float32)
    samples[7, 1] = bad
    samples[9, 0] = np.nan  # a later one: the message names the first
    decoder = PcmDecoder(Encoding.PCM_F32LE, 2)

    with pytest.raises(InvalidInputError) as raised:
        decoder.decode(samples.tobytes())
    assert f"frame 7, channel 1 is {name}" in str(raised.value)

    # The stream position of the chunk's first frame shifts the index in the message.
    with pytest.raises(InvalidInputError) as raised:
        decoder.decode(samples.tobytes(), frame_offset=1000)
    assert f"frame 1007, channel 1 is {name}" in str(raised.value)


def test_pcm_decoder_refuses_container_encoding() -> None:
    with pytest.raises(ValueError, match="ContainerReader"):
        PcmDecoder(Encoding.CONTAINER, 2)


# -- containers ------------------------------------------------------------------------------

LOSSLESS = [
    ("WAV", "PCM_16", Encoding.PCM_S16LE, 1 / 32768),
    ("WAV", "PCM_24", Encoding.PCM_S24LE, 1 / 8388608),
    ("WAV", "FLOAT", Encoding.PCM_F32LE, 1e-7),
    ("FLAC", "PCM_16", Encoding.PCM_S16LE, 1 / 32768),
    ("FLAC", "PCM_24", Encoding.PCM_S24LE, 1 / 8388608),
]


@pytest.mark.parametrize(("fmt", "subtype", "source", "tolerance"), LOSSLESS)
def test_lossless_containers_decode_to_the_written_samples(
    fmt: str, subtype: str, source: Encoding, tolerance: float
) -> None:
    original = _sine(0.5)

    frames, rate, channels, encoding = decode_container(_encode(original, fmt, subtype))

    assert (rate, channels, encoding) == (RATE, 2, source)
    assert frames.shape == original.shape
    np.testing.assert_allclose(frames, original, rtol=0, atol=tolerance)


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", "MPEG_LAYER_III")]
)
def test_lossy_containers_decode_to_close_values(fmt: str, subtype: str) -> None:
    original = _sine(1.0)

    frames, rate, channels, encoding = decode_container(_encode(original, fmt, subtype))

    assert (rate, channels) == (RATE, 2)
    assert encoding is Encoding.PCM_F32LE  # lossy sources are judged against 1.0
    # Codec padding may change the length slightly; compare the middle, away from the edges.
    assert abs(frames.shape[0] - original.shape[0]) < RATE // 10
    middle = slice(RATE // 4, 3 * RATE // 4)
    error = frames[middle] - original[middle]
    # The codec's error is more than 30 dB below the signal.
    assert np.sqrt(np.mean(error**2)) < 0.03 * np.sqrt(np.mean(original[middle] ** 2))


def test_mono_wav_keeps_its_shape_and_rate() -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, _sine(0.1, channels=1)[:, 0], 22050, format="WAV", subtype="PCM_16")

    frames, rate, channels, _ = decode_container(buffer.getvalue())

    assert (frames.shape, rate, channels) == ((4800, 1), 22050, 1)


@pytest.mark.parametrize("data", [b"", b"not audio at all" * 64, b"RIFF\x00\x00"])
def test_undecodable_bytes_are_refused_with_what_soundfile_said(data: bytes) -> None:
    with pytest.raises(InvalidInputError) as raised:
        decode_container(data)
    message = str(raised.value)
    assert message.startswith("could not decode the audio container: ")
    assert message.endswith("; send WAV, FLAC, OGG or MP3 bytes")
    said = message.removeprefix("could not decode the audio container: ").split(";")[0]
    assert said.strip()


def test_float_wav_with_nan_is_refused_naming_the_sample() -> None:
    samples = np.zeros((100_000, 2), dtype=np.float32)
    samples[70_000, 1] = np.nan  # past the first decode block
    data = _encode(samples.astype(np.float64), "WAV", "FLOAT")

    with pytest.raises(InvalidInputError, match="frame 70000, channel 1 is NaN"):
        decode_container(data)


def test_blocks_concatenate_to_the_whole_file() -> None:
    data = _encode(_sine(0.3), "FLAC", "PCM_24")
    whole, _, _, _ = decode_container(data)

    blocks = list(iter_container_blocks(data, 1000))

    assert [b.shape[0] for b in blocks[:-1]] == [1000] * (len(blocks) - 1)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    with ContainerReader(io.BytesIO(data)) as reader:
        assert (reader.sample_rate_hz, reader.channels, reader.frames) == (RATE, 2, whole.shape[0])
        assert reader.source_encoding is Encoding.PCM_S24LE


@pytest.mark.parametrize(("fmt", "subtype"), [("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS")])
def test_lossy_files_read_in_small_blocks_equal_one_whole_read(fmt: str, subtype: str) -> None:
    """soundfile's seek after every read restarts the MP3 decoder; the reader must avoid it."""
    data = _encode(_sine(2.0), fmt, subtype)
    with ContainerReader(data) as reader:
        whole = next(reader.blocks(10 * RATE))
    blocks = np.concatenate(list(iter_container_blocks(data, 4800)))
    np.testing.assert_array_equal(blocks, whole)
