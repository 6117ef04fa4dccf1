"""voidline.audio.encode: delivery formats, TPDF dither, lossless and lossy round trips."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import scipy.signal
import soundfile
from numpy.typing import NDArray

from voidline.audio.decode import decode_container
from voidline.audio.encode import (
    MP3_SAMPLE_RATES_HZ,
    VORBIS_MAX_SAMPLE_RATE_HZ,
    OutputFormat,
    check_encodable,
    encode,
    parse_output_format,
    tpdf_quantise,
)
from voidline.errors import InvalidInputError

FS = 44_100
LOSSLESS = (OutputFormat.WAV16, OutputFormat.WAV24, OutputFormat.FLAC16, OutputFormat.FLAC24)

# Measured waveform SNR of the music-like signal below (3 s, 44.1 kHz): MP3 320 kbit/s CBR
# 44 dB stereo / 54 dB mono, Ogg Vorbis quality 1.0 39.5 dB. The floors leave margin for
# other LAME / libvorbis builds.
MP3_SNR_FLOOR_DB = 35.0
OGG_SNR_FLOOR_DB = 32.0


def music(
    fs: int = FS, seconds: float = 3.0, channels: int = 2, seed: int = 1
) -> NDArray[np.float64]:
    """Plucked harmonic notes panned about, with noise hits, band-limited to 12 kHz, -6 dBFS.

    Lossy codecs cut the top octave, so white noise up to Nyquist would measure the
    encoder's low-pass rather than its coding noise.
    """
    rng = np.random.default_rng(seed)
    n = round(fs * seconds)
    out = np.zeros((n, channels))
    notes_hz = (110.0, 164.8, 220.0, 277.2, 329.6, 440.0, 554.4, 659.3)
    step = round(0.25 * fs)
    for k, start in enumerate(range(0, n, step)):
        t = np.arange(min(2 * step, n - start)) / fs
        f0 = notes_hz[rng.integers(len(notes_hz))]
        note = sum(
            (0.5 / h) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
            for h in range(1, 9)
        ) * np.exp(-4.0 * t)
        pan = rng.uniform(0.3, 0.7)
        gains = (1.0 - pan, pan)[:channels]
        for c in range(channels):
            out[start : start + t.size, c] += gains[c] * note
        if k % 2 == 0:
            out[start : start + t.size] += (0.2 * rng.standard_normal(t.size) * np.exp(-30 * t))[
                :, np.newaxis
            ]
    lowpass = scipy.signal.butter(4, min(12_000.0, 0.4 * fs), fs=fs, output="sos")
    out = scipy.signal.sosfilt(lowpass, out, axis=0)
    return np.asarray(0.5 * out / np.abs(out).max(), dtype=np.float64)


def decoded(data: bytes) -> tuple[NDArray[np.float64], int]:
    samples, fs = soundfile.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return np.asarray(samples, dtype=np.float64), int(fs)


def snr_db(reference: NDArray[np.float64], test: NDArray[np.float64]) -> float:
    error = test - reference
    return float(10 * np.log10(np.sum(reference**2) / np.sum(error**2)))


# --- names and properties ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wav24", OutputFormat.WAV24),
        ("WAV16", OutputFormat.WAV16),
        ("f32", OutputFormat.F32),
        ("flac", OutputFormat.FLAC24),
        ("Flac16", OutputFormat.FLAC16),
        ("flac24", OutputFormat.FLAC24),
        (" mp3 ", OutputFormat.MP3),
        ("OGG", OutputFormat.OGG),
    ],
)
def test_parse_output_format_is_case_insensitive(name: str, expected: OutputFormat) -> None:
    assert parse_output_format(name) is expected


def test_unknown_output_format_lists_the_choices() -> None:
    with pytest.raises(InvalidInputError, match="wav24, wav16, f32, flac, flac16, flac24, mp3"):
        parse_output_format("aiff")


def test_format_properties() -> None:
    table = {fmt: (fmt.extension, fmt.mime_type, fmt.lossy, fmt.bit_depth) for fmt in OutputFormat}
    assert table == {
        OutputFormat.WAV16: ("wav", "audio/wav", False, 16),
        OutputFormat.WAV24: ("wav", "audio/wav", False, 24),
        OutputFormat.F32: ("wav", "audio/wav", False, 32),
        OutputFormat.FLAC16: ("flac", "audio/flac", False, 16),
        OutputFormat.FLAC24: ("flac", "audio/flac", False, 24),
        OutputFormat.MP3: ("mp3", "audio/mpeg", True, None),
        OutputFormat.OGG: ("ogg", "audio/ogg", True, None),
    }


def test_every_format_writes_the_container_and_subtype_it_names() -> None:
    x = music(seconds=0.5)
    expected = {
        OutputFormat.WAV16: ("WAV", "PCM_16"),
        OutputFormat.WAV24: ("WAV", "PCM_24"),
        OutputFormat.F32: ("WAV", "FLOAT"),
        OutputFormat.FLAC16: ("FLAC", "PCM_16"),
        OutputFormat.FLAC24: ("FLAC", "PCM_24"),
        OutputFormat.MP3: ("MP3", "MPEG_LAYER_III"),
        OutputFormat.OGG: ("OGG", "VORBIS"),
    }
    for fmt, (container, subtype) in expected.items():
        info = soundfile.info(io.BytesIO(encode(x, FS, fmt)))
        assert (info.format, info.subtype) == (container, subtype), fmt


# --- dither and integer formats ---------------------------------------------------------


def dither_error_lsb(
    fmt: OutputFormat, x: NDArray[np.float64], seed: int = 0
) -> NDArray[np.float64]:
    y, fs = decoded(encode(x, FS, fmt, dither_seed=seed))
    assert fs == FS and y.shape == x.shape
    bits = fmt.bit_depth
    assert bits is not None
    return np.asarray((y - x) * 2.0 ** (bits - 1), dtype=np.float64)


@pytest.mark.parametrize("fmt", [OutputFormat.WAV16, OutputFormat.WAV24])
def test_integer_error_is_tpdf_dither_plus_rounding(fmt: OutputFormat) -> None:
    """|error| < 1.5 LSB, mean 0, power LSB^2/6 (TPDF) + LSB^2/12 (rounding) = LSB^2/4."""
    error = dither_error_lsb(fmt, music())
    assert np.abs(error).max() <= 1.5
    assert abs(error.mean()) < 0.01
    assert error.var() == pytest.approx(0.25, abs=0.005)
    # Independent of the signal: the same power in both channels and in loud and quiet parts.
    assert error[:, 0].var() == pytest.approx(error[:, 1].var(), abs=0.01)


def test_24_bit_noise_floor_is_48_db_below_16_bit() -> None:
    x = music()
    power_16 = (dither_error_lsb(OutputFormat.WAV16, x) / 2.0**15).var()
    power_24 = (dither_error_lsb(OutputFormat.WAV24, x) / 2.0**23).var()
    assert 10 * math.log10(power_16 / power_24) == pytest.approx(20 * math.log10(256), abs=0.2)


def test_tpdf_dither_of_silence_and_of_a_fraction_of_an_lsb() -> None:
    """Silence becomes -1/0/+1 LSB with probabilities 1/8, 3/4, 1/8 (triangular density over
    +-1 LSB, rounded); a constant of 0.3 LSB is kept on average: no dead zone."""
    n = 400_000
    values = tpdf_quantise(np.zeros((n, 1)), 16, dither_seed=7)
    counts = {v: int(np.sum(values == v)) / n for v in (-1, 0, 1)}
    assert sum(counts.values()) == pytest.approx(1.0)
    assert counts[-1] == pytest.approx(0.125, abs=0.003)
    assert counts[1] == pytest.approx(0.125, abs=0.003)
    constant = tpdf_quantise(np.full((n, 1), 0.3 / 2.0**15), 16, dither_seed=8)
    assert constant.mean() == pytest.approx(0.3, abs=0.005)


def test_integer_formats_clip_to_the_integer_range() -> None:
    x = np.array([[1.5], [-1.5], [0.999999]])
    y16, _ = decoded(encode(x, FS, OutputFormat.WAV16))
    y24, _ = decoded(encode(x, FS, OutputFormat.WAV24))
    assert y16[:2, 0].tolist() == [32767 / 32768, -1.0]
    assert y24[:2, 0].tolist() == [8388607 / 8388608, -1.0]
    assert y24[2, 0] <= 8388607 / 8388608


def test_f32_is_bit_exact_and_keeps_overs() -> None:
    x = music()
    x[100, 0] = 1.75  # beyond full scale: a float file keeps it
    y, _ = decoded(encode(x, FS, OutputFormat.F32))
    assert np.array_equal(y.astype(np.float32), x.astype(np.float32))


@pytest.mark.parametrize(
    ("flac", "wav"),
    [(OutputFormat.FLAC16, OutputFormat.WAV16), (OutputFormat.FLAC24, OutputFormat.WAV24)],
)
def test_flac_is_lossless_against_wav_at_the_same_depth_and_seed(
    flac: OutputFormat, wav: OutputFormat
) -> None:
    x = music()
    from_flac, _ = decoded(encode(x, FS, flac, dither_seed=3))
    from_wav, _ = decoded(encode(x, FS, wav, dither_seed=3))
    assert np.array_equal(from_flac, from_wav)


def test_a_seed_gives_one_file_and_another_seed_another() -> None:
    x = music(seconds=1.0)
    for fmt in LOSSLESS:
        assert encode(x, FS, fmt, dither_seed=5) == encode(x, FS, fmt, dither_seed=5)
        assert encode(x, FS, fmt, dither_seed=5) != encode(x, FS, fmt, dither_seed=6)
    for fmt in (OutputFormat.F32, OutputFormat.MP3):  # no dither: the seed does not matter
        assert encode(x, FS, fmt, dither_seed=1) == encode(x, FS, fmt, dither_seed=2)
    # libsndfile picks a random Ogg stream serial number; the audio is the same.
    first, _ = decoded(encode(x, FS, OutputFormat.OGG))
    second, _ = decoded(encode(x, FS, OutputFormat.OGG))
    assert np.array_equal(first, second)


# --- lossy formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "floor_db"),
    [(OutputFormat.MP3, MP3_SNR_FLOOR_DB), (OutputFormat.OGG, OGG_SNR_FLOOR_DB)],
)
@pytest.mark.parametrize("channels", [1, 2])
def test_lossy_round_trip_keeps_length_and_quality(
    fmt: OutputFormat, floor_db: float, channels: int
) -> None:
    """libsndfile decodes gaplessly: exactly the input's frames, with no offset."""
    x = music(channels=channels)
    y, fs = decoded(encode(x, FS, fmt))
    assert fs == FS
    assert y.shape == x.shape
    assert snr_db(x, y) > floor_db


def test_mp3_bitrate_is_the_largest_of_each_mpeg_version() -> None:
    """320 kbit/s (MPEG-1), 160 kbit/s (MPEG-2), 64 kbit/s (MPEG-2.5), constant.

    Measured as the growth from 2 s to 4 s of audio, which leaves out the fixed costs (the
    Info/LAME tag frame, the encoder delay and padding).
    """
    for fs, kbps in ((44_100, 320), (48_000, 320), (22_050, 160), (11_025, 64)):
        x = music(fs, 4.0)
        growth = len(encode(x, fs, OutputFormat.MP3)) - len(
            encode(x[: 2 * fs], fs, OutputFormat.MP3)
        )
        assert growth * 8 / 2.0 / 1000 == pytest.approx(kbps, rel=0.01), fs


# --- rates, channels, sizes -------------------------------------------------------------


@pytest.mark.parametrize("fs", [44_100, 48_000, 96_000])
def test_sample_rate_is_kept(fs: int) -> None:
    x = music(fs, seconds=0.5)
    for fmt in OutputFormat:
        if fmt is OutputFormat.MP3 and fs not in MP3_SAMPLE_RATES_HZ:
            with pytest.raises(InvalidInputError, match="44100, 48000 Hz"):
                encode(x, fs, fmt)
            continue
        _, decoded_fs = decoded(encode(x, fs, fmt))
        assert decoded_fs == fs, fmt


def test_rate_limits_are_checked_before_encoding() -> None:
    check_encodable(VORBIS_MAX_SAMPLE_RATE_HZ, OutputFormat.OGG)
    with pytest.raises(InvalidInputError, match="Ogg Vorbis cannot carry 352800 Hz"):
        check_encodable(352_800, OutputFormat.OGG)
    check_encodable(384_000, OutputFormat.FLAC24)
    with pytest.raises(InvalidInputError, match="MP3 cannot carry 88200 Hz"):
        check_encodable(88_200, OutputFormat.MP3)
    for bad in (4_000, 500_000, True):
        with pytest.raises(InvalidInputError, match="fs must"):
            check_encodable(bad, OutputFormat.WAV24)


def test_mono_stays_mono() -> None:
    x = music(channels=1, seconds=0.5)
    for fmt in OutputFormat:
        y, _ = decoded(encode(x, FS, fmt))
        assert y.shape == x.shape, fmt


@pytest.mark.parametrize("channels", [1, 2])
def test_zero_frames_give_a_valid_empty_file(channels: int) -> None:
    for fmt in OutputFormat:
        data = encode(np.zeros((0, channels)), FS, fmt)
        assert data, fmt
        samples, fs, decoded_channels, _ = decode_container(data)
        assert (samples.shape, fs, decoded_channels) == ((0, channels), FS, channels), fmt


def test_a_long_ogg_is_written() -> None:
    """One libsndfile write of about 50 s of stereo or more crashes its Vorbis encoder (a
    segmentation fault); encode writes in blocks."""
    x = 0.1 * np.random.default_rng(4).standard_normal((60 * FS, 2))
    y, _ = decoded(encode(x, FS, OutputFormat.OGG))
    assert y.shape == x.shape


def test_bad_input_is_refused_with_a_reason() -> None:
    x = music(seconds=0.1)
    nan = x.copy()
    nan[10, 1] = np.nan
    with pytest.raises(InvalidInputError, match="frame 10, channel 1 is NaN"):
        encode(nan, FS, OutputFormat.WAV24)
    with pytest.raises(InvalidInputError, match="Inf"):
        encode(np.full((4, 1), np.inf), FS, OutputFormat.OGG)
    with pytest.raises(InvalidInputError, match="Inf"):
        encode(np.full((4, 1), 1e39), FS, OutputFormat.F32)  # beyond float32
    with pytest.raises(InvalidInputError, match="1-2 channels"):
        encode(np.zeros((10, 3)), FS, OutputFormat.WAV24)
    with pytest.raises(InvalidInputError, match="1-2 channels"):
        encode(np.zeros(10), FS, OutputFormat.WAV24)
    with pytest.raises(InvalidInputError, match="bits must be 16 or 24"):
        tpdf_quantise(x, 20)
