"""LevelMeter (DC offset, RMS, crest factor) and ClippingDetector on generated signals."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from tests.chunking import chunkings
from voidline.analysis.accumulators import Histogram
from voidline.analysis.clipping import MAX_REPORTED_EVENTS, ClippingDetector
from voidline.analysis.levels import LevelMeter
from voidline.analysis.report import ClippingReport
from voidline.audio.format import Encoding

FS = 48_000
Frames = NDArray[np.float64]


def sine(freq: float, amplitude: float, seconds: float, fs: int = FS) -> Frames:
    t = np.arange(round(seconds * fs)) / fs
    return amplitude * np.sin(2 * np.pi * freq * t)


def peak_dbfs(x: Frames) -> list[float]:
    return [20 * math.log10(v) if v > 0 else -math.inf for v in np.abs(x).max(axis=0)]


def measure_levels(chunks: list[Frames]) -> LevelMeter:
    meter = LevelMeter(chunks[0].shape[1])
    for chunk in chunks:
        meter.push(chunk)
    return meter


# ----- LevelMeter -----


def test_sine_crest_factor_is_3_01_db() -> None:
    x = sine(1000.0, 0.5, 1.0)[:, None]  # 1000 whole periods
    meter = measure_levels([x])
    (peak,) = meter.channel_peaks([-6.0], peak_dbfs(x))
    assert peak.crest_factor_db == pytest.approx(10 * math.log10(2), abs=1e-6)
    assert peak.rms_dbfs == pytest.approx(10 * math.log10(0.125), abs=1e-9)
    assert peak.true_peak_dbtp == -6.0
    assert meter.overall_crest_factor_db() == pytest.approx(3.0103, abs=1e-4)


def test_dc_offset_and_rms_of_offset_sine() -> None:
    x = np.stack([0.1 + sine(500.0, 0.5, 1.0), -0.25 + 0 * sine(500.0, 0.5, 1.0)], axis=1)
    meter = measure_levels([x])
    left, right = meter.channel_peaks([0.0, 0.0], peak_dbfs(x))
    assert left.dc_offset == pytest.approx(0.1, abs=1e-12)
    assert right.dc_offset == pytest.approx(-0.25, abs=1e-12)
    # Mean square of DC + sine = DC^2 + A^2 / 2.
    assert left.rms_dbfs == pytest.approx(10 * math.log10(0.01 + 0.125), abs=1e-9)
    # A constant has crest factor 0 dB.
    assert right.crest_factor_db == pytest.approx(0.0, abs=1e-9)


def test_overall_crest_uses_loudest_peak_and_rms_of_all_channels() -> None:
    x = np.stack([sine(100.0, 0.8, 1.0), sine(100.0, 0.2, 1.0)], axis=1)
    meter = measure_levels([x])
    mean_square = (0.8**2 / 2 + 0.2**2 / 2) / 2
    expected = 20 * math.log10(0.8) - 10 * math.log10(mean_square)
    assert meter.overall_crest_factor_db() == pytest.approx(expected, abs=1e-6)


def test_silence_reads_minus_inf_rms_and_zero_crest() -> None:
    meter = measure_levels([np.zeros((4800, 2))])
    for peak in meter.channel_peaks([-math.inf] * 2, [-math.inf] * 2):
        assert peak.rms_dbfs == -math.inf
        assert peak.crest_factor_db == 0.0
        assert peak.dc_offset == 0.0
    assert meter.overall_crest_factor_db() == 0.0


def test_channel_peaks_checks_the_peak_lists() -> None:
    meter = measure_levels([np.zeros((10, 2))])
    with pytest.raises(ValueError, match="2 true and sample peak"):
        meter.channel_peaks([0.0], [0.0])


def test_levels_do_not_depend_on_chunking() -> None:
    rng = np.random.default_rng(1)
    x = 0.3 * rng.standard_normal((FS * 5, 2)) + np.array([0.01, -0.02])
    results = []
    for chunks in chunkings(x):
        meter = measure_levels(chunks)
        peaks = meter.channel_peaks([0.0, 0.0], peak_dbfs(x))
        results.append(
            [p.dc_offset for p in peaks]
            + [p.rms_dbfs for p in peaks]
            + [p.crest_factor_db for p in peaks]
            + [meter.overall_crest_factor_db()]
        )
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-9, atol=0)


def test_long_stream_mean_stays_exact() -> None:
    # 1e7 frames of a value that float64 cannot hold exactly: naive summation drifts.
    meter = LevelMeter(1)
    block = np.full((100_000, 1), 0.1)
    for _ in range(100):
        meter.push(block)
    assert meter.dc_offsets()[0] == pytest.approx(0.1, rel=1e-14)


def test_histogram_percentiles_of_a_constant_read_back_exactly() -> None:
    h = Histogram(-1.0, 1.0, 2000)
    h.add(np.full(100, 0.123456))
    assert h.percentile(5) == 0.123456
    assert h.percentile(95) == 0.123456
    assert h.count == 100
    h.add(np.array([-0.5]))
    assert h.percentile(0.5) == pytest.approx(-0.5, abs=1e-3)
    assert h.fraction_below(0.0) == pytest.approx(1 / 101)


# ----- ClippingDetector -----


def reference_events(x: Frames, threshold: float, run: int) -> list[tuple[int, int, int]]:
    """Plain per-sample loop: (start frame, channel, length) of every run, in time order."""
    events = []
    for c in range(x.shape[1]):
        length = 0
        for i, v in enumerate(np.abs(x[:, c]) >= threshold):
            if v:
                length += 1
            else:
                if length >= run:
                    events.append((i - length, c, length))
                length = 0
        if length >= run:
            events.append((len(x) - length, c, length))
    return sorted(events)


def detect(chunks: list[Frames], run: int = 3, full_scale: float = 1.0) -> ClippingReport:
    detector = ClippingDetector(FS, chunks[0].shape[1], run_samples=run, full_scale=full_scale)
    for chunk in chunks:
        detector.push(chunk)
    return detector.report()


def as_tuples(report: ClippingReport) -> list[tuple[int, int, int]]:
    return [(round(e.start_s * FS), e.channel, e.samples) for e in report.events]


def clipped_noise(seconds: float, seed: int) -> Frames:
    """Loud noise hard-clipped at +-1: runs of every length, some at the very start and end."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.standard_normal((round(seconds * FS), 2)) * 0.6, -1.0, 1.0)
    x[:5, 0] = 1.0
    x[-4:, 1] = -1.0
    return x


def test_runs_match_a_per_sample_reference() -> None:
    x = clipped_noise(0.5, seed=2)
    for run in (1, 3, 7):
        report = detect([x], run=run)
        expected = reference_events(x, 1.0 - 1e-9, run)
        assert report.event_count == len(expected)
        assert report.clipped_samples == sum(e[2] for e in expected)
        assert as_tuples(report) == expected[:MAX_REPORTED_EVENTS]
        assert report.run_samples == run


def test_run_samples_is_honoured_exactly() -> None:
    x = np.zeros((100, 1))
    x[10:12, 0] = 1.0  # 2 samples
    x[20:23, 0] = -1.0  # 3 samples
    x[30:34, 0] = 1.0  # 4 samples
    assert as_tuples(detect([x], run=3)) == [(20, 0, 3), (30, 0, 4)]
    assert as_tuples(detect([x], run=4)) == [(30, 0, 4)]
    assert detect([x], run=2).clipped_samples == 9


def test_runs_split_across_chunk_boundaries_are_joined() -> None:
    x = np.zeros((100, 1))
    x[40:50, 0] = 1.0
    # Boundaries inside the run, at its edges and one-sample chunks through it.
    for cut in (41, 45, 49, 40, 50):
        report = detect([x[:cut], x[cut:]])
        assert as_tuples(report) == [(40, 0, 10)]
    ones = [x[i : i + 1] for i in range(100)]
    assert as_tuples(detect(ones)) == [(40, 0, 10)]


def test_random_chunkings_find_the_same_events() -> None:
    x = clipped_noise(2.0, seed=3)
    reports = [detect(chunks) for chunks in chunkings(x, seed=4)]
    expected = reference_events(x, 1.0 - 1e-9, 3)
    for report in reports:
        assert report.event_count == len(expected)
        assert as_tuples(report) == expected[:MAX_REPORTED_EVENTS]


def test_first_1000_events_in_time_order_include_a_long_early_run() -> None:
    x = np.zeros((FS, 2))
    # Channel 0: one long run starting first and ending last; channel 1: 1500 short runs.
    x[5 : FS - 5, 0] = 1.0
    for k in range(1500):
        x[10 + 20 * k : 13 + 20 * k, 1] = -1.0
    report = detect([x[i : i + 4800] for i in range(0, FS, 4800)])
    assert report.event_count == 1501
    assert len(report.events) == MAX_REPORTED_EVENTS
    assert as_tuples(report)[0] == (5, 0, FS - 10)
    starts = [e.start_s for e in report.events]
    assert starts == sorted(starts)
    assert as_tuples(report)[-1] == (10 + 20 * 998, 1, 3)


def test_16_bit_full_scale_values_count_as_clipped() -> None:
    pcm = np.zeros((60, 1), dtype=np.int16)
    pcm[10:13, 0] = 32767  # positive full scale: 32767 / 32768 after decoding
    pcm[20:24, 0] = -32768  # negative full scale: exactly -1.0
    pcm[30:40, 0] = 32766  # one step below: not clipped
    buffer = io.BytesIO()
    sf.write(buffer, pcm, FS, format="WAV", subtype="PCM_16")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64", always_2d=True)
    report = detect([decoded], full_scale=Encoding.PCM_S16LE.full_scale)
    assert as_tuples(report) == [(10, 0, 3), (20, 0, 4)]
    # Judged against 1.0, only the negative run reaches full scale.
    assert as_tuples(detect([decoded])) == [(20, 0, 4)]


def test_no_clipping_in_a_quiet_signal() -> None:
    x = np.stack([sine(1000.0, 0.99, 1.0)] * 2, axis=1)
    report = detect([x])
    assert report.event_count == 0
    assert report.clipped_samples == 0
    assert report.events == []
