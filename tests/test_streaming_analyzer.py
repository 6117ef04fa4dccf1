"""The whole analyzer: chunking never changes the report, and memory does not grow with time."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.analysis.analyzer import AnalysisOptions, StreamingAnalyzer
from voidline.analysis.report import AnalysisReport
from voidline.audio.format import AudioFormat
from voidline.errors import InvalidInputError

FS = 48000


def programme(seconds: float, seed: int = 1) -> NDArray[np.float64]:
    """Stereo test programme: a tone, noise with a changing level, partly correlated channels."""
    rng = np.random.default_rng(seed)
    n = round(seconds * FS)
    t = np.arange(n) / FS
    level = 0.05 + 0.2 * np.sin(2 * np.pi * t / 7.0) ** 2
    common = rng.standard_normal(n) * level + 0.3 * np.sin(2 * np.pi * 220 * t)
    left = common + 0.3 * rng.standard_normal(n) * level
    right = 0.8 * common + 0.3 * rng.standard_normal(n) * level
    x = np.stack([left, right], axis=1)
    x[FS : FS + 10] = 1.0  # a clipping event
    return x


def analyse(x: NDArray[np.float64], sizes: list[int]) -> AnalysisReport:
    analyzer = StreamingAnalyzer(AudioFormat(FS, x.shape[1]))
    start = 0
    for size in sizes:
        analyzer.push(x[start : start + size])
        start += size
    assert start >= x.shape[0]
    return analyzer.finish()


def loudness_values(report: AnalysisReport) -> dict[str, float]:
    values = {f"loudness.{k}": v for k, v in dataclasses.asdict(report.loudness).items()}
    values["true_peak"] = report.peaks.true_peak_dbtp
    values["mono_change"] = report.stereo.mono_loudness_change_db
    values["dynamic_range"] = report.dynamics.dynamic_range_db
    return {k: float(v) for k, v in values.items()}


def test_one_chunk_100ms_chunks_and_random_chunks_give_the_same_report() -> None:
    x = programme(20.0)
    n = x.shape[0]
    rng = np.random.default_rng(11)
    random_sizes: list[int] = []
    while sum(random_sizes) < n:
        random_sizes.append(int(rng.integers(1, FS + 1)))  # 1 sample to 1 s
    reports = [
        analyse(x, [n]),
        analyse(x, [FS // 10] * math.ceil(n / (FS // 10))),
        analyse(x, random_sizes),
    ]
    reference = loudness_values(reports[0])
    for report in reports[1:]:
        for key, value in loudness_values(report).items():
            assert value == pytest.approx(reference[key], abs=1e-6), key  # 1e-6 LU
        np.testing.assert_allclose(report.features, reports[0].features, rtol=1e-6, atol=1e-6)
        assert report.clipping == reports[0].clipping
        assert report.score.voidline_score == pytest.approx(
            reports[0].score.voidline_score, abs=1e-6
        )


def test_interim_results_arrive_at_the_requested_stream_time_cadence() -> None:
    x = programme(3.0)
    analyzer = StreamingAnalyzer(AudioFormat(FS, 2))
    times = []
    for start in range(0, x.shape[0], FS):  # 1 s chunks still give 10 Hz interim results
        times += [
            live.stream_time_s for live in analyzer.push_with_interim(x[start : start + FS], 0.1)
        ]
    assert times == pytest.approx([0.1 * i for i in range(1, 31)])


def test_bad_options_and_shapes_are_named() -> None:
    with pytest.raises(InvalidInputError, match="target loudness"):
        AnalysisOptions(target_lufs=5.0)
    analyzer = StreamingAnalyzer(AudioFormat(FS, 2))
    with pytest.raises(InvalidInputError, match="shape"):
        analyzer.push(np.zeros((10, 3)))
    with pytest.raises(InvalidInputError, match="without any audio"):
        analyzer.finish()


def test_three_hours_of_audio_in_constant_memory() -> None:
    """Stream 3 h of stereo 48 kHz through every meter; traced memory must not grow."""
    block = programme(10.0, seed=3)
    analyzer = StreamingAnalyzer(AudioFormat(FS, 2))
    gains = np.geomspace(0.05, 1.0, 7)

    def stream(seconds: float, offset: int) -> None:
        for i in range(round(seconds / 10.0)):
            analyzer.push(block * gains[(offset + i) % gains.size])

    stream(600.0, 0)  # ten minutes in: every histogram and ring is in use
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        stream(3 * 3600.0 - 600.0, 60)
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert analyzer.seconds_processed == pytest.approx(3 * 3600.0)
    assert grown < 256 * 1024, f"memory grew by {grown} bytes over 2 h 50 min of audio"
    report = analyzer.finish()
    assert math.isfinite(report.loudness.integrated_lufs)
    # Two clipping events (one per channel) in every block played at full gain.
    full_gain_blocks = sum(1 for i in range(60) if i % 7 == 6) + sum(
        1 for i in range(1020) if (60 + i) % 7 == 6
    )
    assert report.clipping.event_count == 2 * full_gain_blocks
