"""SpectrumAnalyzer: mel bands, PSD scaling, tilt, tonal balance and per-frame statistics."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.chunking import chunkings
from voidline.analysis.accumulators import Histogram
from voidline.analysis.report import SpectrumReport
from voidline.analysis.spectrum import (
    MEL_BANDS,
    REFERENCE_SLOPE_DB_PER_OCTAVE,
    SpectrumAnalyzer,
    SpectrumStatistics,
    frame_size,
)

FS = 48_000
Frames = NDArray[np.float64]


def shaped_noise(seconds: float, slope_db_per_octave: float, seed: int) -> NDArray[np.float64]:
    """Gaussian noise whose PSD follows f^(slope / 3.01) from 20 Hz to Nyquist (RMS 0.1)."""
    n = round(seconds * FS)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    gain = np.zeros_like(f)
    inside = f >= 20.0
    gain[inside] = (f[inside] / 1000.0) ** (slope_db_per_octave / (20 * math.log10(2)))
    x: NDArray[np.float64] = np.fft.irfft(spectrum * gain, n)
    return 0.1 * x / float(x.std())


def analyse(x: Frames, pair: tuple[int, int] | None = None, fs: int = FS) -> SpectrumAnalyzer:
    analyzer = SpectrumAnalyzer(fs, x.shape[1], pair)
    analyzer.push(x)
    return analyzer


def mono(signal: NDArray[np.float64]) -> Frames:
    return signal[:, None]


def test_frame_size_is_43_ms_rounded_to_a_power_of_two() -> None:
    assert frame_size(44_100) == 2048
    assert frame_size(48_000) == 2048
    assert frame_size(96_000) == 4096
    assert frame_size(8_000) == 256


def test_1_khz_sine_peaks_in_the_band_containing_1_khz() -> None:
    t = np.arange(FS * 2) / FS
    report = analyse(mono(0.5 * np.sin(2 * np.pi * 1000 * t))).report()
    centres = np.array(report.mel_band_center_hz)
    assert len(report.mel_band_db) == MEL_BANDS == len(centres)
    assert int(np.argmax(report.mel_band_db)) == int(np.argmin(np.abs(centres - 1000)))
    assert report.centroid_hz == pytest.approx(1000, abs=5)


def test_psd_integrates_to_the_mean_square() -> None:
    t = np.arange(FS * 2) / FS
    stats = analyse(mono(0.5 * np.sin(2 * np.pi * 3000 * t))).statistics()
    assert stats.band_power(0, FS / 2) == pytest.approx(0.125, rel=0.01)
    assert stats.band_power(2000, 4000) == pytest.approx(0.125, rel=0.01)


def test_white_noise_has_flat_mel_levels_and_plus_3_db_per_octave_tilt() -> None:
    x = mono(0.1 * np.random.default_rng(1).standard_normal(FS * 10))
    report = analyse(x).report()
    # Mean PSD of white noise with variance 0.01: 2 * 0.01 / fs per Hz.
    expected = 10 * math.log10(2 * 0.01 / FS)
    assert np.mean(report.mel_band_db) == pytest.approx(expected, abs=0.2)
    assert np.std(report.mel_band_db) < 0.5
    # Octave bands double in width, so white noise rises 3 dB per octave.
    assert report.tilt_db_per_octave == pytest.approx(3.0, abs=0.2)


def test_pink_noise_has_zero_tilt() -> None:
    report = analyse(mono(shaped_noise(10.0, -3.0, seed=2))).report()
    assert report.tilt_db_per_octave == pytest.approx(0.0, abs=0.2)


def test_reference_shaped_noise_matches_the_tonal_balance_curve() -> None:
    on_curve = analyse(mono(shaped_noise(10.0, REFERENCE_SLOPE_DB_PER_OCTAVE, seed=3))).report()
    assert on_curve.tonal_balance_deviation_db < 1.0
    assert len(on_curve.tonal_balance_deviation_per_band_db) == MEL_BANDS
    white = analyse(mono(shaped_noise(10.0, 0.0, seed=3))).report()
    # White noise is 4.5 dB per octave brighter than the curve over 40 Hz - 16 kHz (8.6 octaves).
    assert white.tonal_balance_deviation_db > 8.0
    deviation = white.tonal_balance_deviation_per_band_db
    assert deviation[0] < 0 < deviation[-1]


def test_silence_and_very_short_input_read_floors() -> None:
    for x in (np.zeros((FS, 2)), np.full((100, 2), 0.5)):
        report = analyse(x, pair=(0, 1)).report()
        assert report.mel_band_db == [-160.0] * MEL_BANDS
        assert report.centroid_hz == 0.0
        assert report.tilt_db_per_octave == 0.0
        assert report.tonal_balance_deviation_db == 0.0
        assert report.tonal_balance_deviation_per_band_db == [0.0] * MEL_BANDS


def test_chroma_of_an_a_440_tone() -> None:
    t = np.arange(FS * 2) / FS
    stats = analyse(mono(0.5 * np.sin(2 * np.pi * 440 * t))).statistics()
    assert int(np.argmax(stats.chroma_mean)) == 9  # C = 0, so A = 9
    assert stats.chroma_mean.sum() == pytest.approx(1.0)


def test_clicks_are_counted_as_onsets() -> None:
    x = 0.001 * np.random.default_rng(4).standard_normal(FS * 10)
    for k in range(20):
        start = FS // 4 + k * FS // 2
        x[start : start + 200] += 0.5 * np.hanning(200)
    stats = analyse(mono(x)).statistics()
    assert stats.onsets == pytest.approx(20, abs=2)
    steady = analyse(mono(0.1 * np.sin(2 * np.pi * 200 * np.arange(FS * 10) / FS))).statistics()
    assert steady.onsets == 0


def test_side_to_mid_per_band() -> None:
    rng = np.random.default_rng(5)
    n = 0.1 * rng.standard_normal(FS * 4)
    same = analyse(np.stack([n, n], axis=1), pair=(0, 1)).statistics()
    assert same.side_to_mid_db is not None
    assert np.all(same.side_to_mid_db == -np.inf)
    independent = np.stack([n, 0.1 * rng.standard_normal(FS * 4)], axis=1)
    stats = analyse(independent, pair=(0, 1)).statistics()
    assert stats.side_to_mid_db is not None
    np.testing.assert_allclose(stats.side_to_mid_db, 0.0, atol=0.5)
    assert analyse(mono(n)).statistics().side_to_mid_db is None


def test_mid_signal_of_layouts() -> None:
    rng = np.random.default_rng(6)
    left, right = rng.standard_normal(FS) * 0.1, rng.standard_normal(FS) * 0.1
    stereo = analyse(np.stack([left, right], axis=1), pair=(0, 1)).average_psd()
    as_mono = analyse(mono((left + right) / 2)).average_psd()
    np.testing.assert_allclose(stereo, as_mono, rtol=1e-5)
    # Without a pair: the plain mean of all channels.
    three = np.stack([left, right, left], axis=1)
    np.testing.assert_allclose(
        analyse(three).average_psd(),
        analyse(mono((2 * left + right) / 3)).average_psd(),
        rtol=1e-5,
    )


def flatten(report: SpectrumReport, stats: SpectrumStatistics) -> list[float]:
    values = [*report.mel_band_db, report.centroid_hz, report.tilt_db_per_octave]
    values += [report.tonal_balance_deviation_db, *report.tonal_balance_deviation_per_band_db]
    for field in dataclasses.fields(stats):
        value = getattr(stats, field.name)
        if isinstance(value, Histogram):
            values += [value.count, value.mean(), value.std(), value.percentile(50)]
        elif isinstance(value, np.ndarray):
            values += [float(v) for v in value.ravel()]
        elif value is not None:
            values.append(float(value))
    return values


def test_results_do_not_depend_on_chunking() -> None:
    rng = np.random.default_rng(7)
    x = 0.1 * rng.standard_normal((FS * 6, 2))
    x[:, 1] = 0.5 * x[:, 0] + 0.5 * x[:, 1]
    x[FS : FS * 2] = 0.0
    results = []
    for chunks in chunkings(x, seed=8):
        analyzer = SpectrumAnalyzer(FS, 2, (0, 1))
        for chunk in chunks:
            analyzer.push(chunk)
        results.append(flatten(analyzer.report(), analyzer.statistics()))
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-9, atol=0)


def test_other_sample_rates_cover_their_band() -> None:
    fs = 22_050
    t = np.arange(fs * 2) / fs
    analyzer = analyse(mono(0.5 * np.sin(2 * np.pi * 5000 * t)), fs=fs)
    report = analyzer.report()
    assert report.mel_band_center_hz[-1] < fs / 2
    assert report.centroid_hz == pytest.approx(5000, abs=20)
    assert all(math.isfinite(v) for v in report.mel_band_db)
