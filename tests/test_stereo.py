"""StereoMeter: correlation, correlation over time and mid/side width on generated signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.chunking import chunkings
from voidline.analysis.loudness import LoudnessMeter
from voidline.analysis.report import StereoReport
from voidline.analysis.stereo import CORRELATION_PERCENTILES, StereoMeter, StereoStatistics
from voidline.audio.format import AudioFormat

FS = 48_000
Frames = NDArray[np.float64]


def noise(seconds: float, seed: int) -> NDArray[np.float64]:
    return 0.1 * np.random.default_rng(seed).standard_normal(round(seconds * FS))


def stereo(left: NDArray[np.float64], right: NDArray[np.float64]) -> Frames:
    return np.stack([left, right], axis=1)


def measure(chunks: list[Frames], pair: tuple[int, int] = (0, 1)) -> StereoMeter:
    meter = StereoMeter(FS, pair)
    for chunk in chunks:
        meter.push(chunk)
    return meter


def report(x: Frames) -> StereoReport:
    meter = measure([x])
    loudness = LoudnessMeter(AudioFormat(FS, x.shape[1]))
    loudness.push(x)
    return meter.report(loudness)


def test_identical_channels_correlate_exactly_and_have_no_side() -> None:
    n = noise(5.0, seed=1)
    r = report(stereo(n, n))
    assert r.is_stereo
    assert r.correlation == 1.0
    assert r.width_db == -math.inf
    assert r.width == 0.0
    assert [p for p, _ in r.correlation_percentiles] == list(CORRELATION_PERCENTILES)
    assert all(v == 1.0 for _, v in r.correlation_percentiles)
    assert r.balance_db == pytest.approx(0.0, abs=1e-9)


def test_inverted_channels_correlate_minus_one_and_have_no_mid() -> None:
    n = noise(5.0, seed=2)
    r = report(stereo(n, -n))
    assert r.correlation == -1.0
    assert r.width_db == math.inf
    assert r.width == 1.0
    assert all(v == -1.0 for _, v in r.correlation_percentiles)


def test_independent_noise_is_uncorrelated() -> None:
    r = report(stereo(noise(10.0, seed=3), noise(10.0, seed=4)))
    assert abs(r.correlation) < 0.01
    percentiles = dict(r.correlation_percentiles)
    # 400 ms windows of 19 200 samples: spread about 1 / sqrt(19200) = 0.007.
    assert abs(percentiles[50.0]) < 0.01
    assert percentiles[5.0] < 0.0 < percentiles[95.0]
    assert r.width_db == pytest.approx(0.0, abs=0.05)


def test_width_of_a_known_mid_side_mix() -> None:
    t = np.arange(FS * 2) / FS
    mid = np.sin(2 * np.pi * 1000 * t)  # mean square 1/2
    side = 0.5 * np.sin(2 * np.pi * 1500 * t)  # mean square 1/8
    r = report(stereo(mid + side, mid - side))
    assert r.width_db == pytest.approx(10 * math.log10(0.25), abs=1e-6)
    assert r.width == pytest.approx(0.2, abs=1e-9)
    # L and R each carry 5/8 of power; their product averages M^2 - S^2 = 3/8.
    assert r.correlation == pytest.approx(0.6, abs=1e-6)


def test_silent_windows_are_left_out_of_the_distribution() -> None:
    n = noise(2.0, seed=5)
    x = np.concatenate([stereo(n, n), np.zeros((FS * 2, 2)), stereo(n, -n)])
    stats = measure([x]).statistics()
    # 60 blocks of 100 ms give 57 windows; the 17 that lie wholly in the silence are skipped.
    assert stats.windows == 57 - 17
    assert stats.window_correlation.fraction_below(0.0) == pytest.approx(20 / 40, abs=0.05)


def test_silence_reads_zero_correlation_and_no_windows() -> None:
    r = report(np.zeros((FS, 2)))
    assert r.correlation == 0.0
    assert r.correlation_percentiles == []
    assert r.width_db == -math.inf
    assert r.width == 0.0


def test_pair_picks_the_channels_of_a_wider_layout() -> None:
    n = noise(1.0, seed=6)
    x = np.stack([n, np.zeros_like(n), -n, noise(1.0, seed=7)], axis=1)
    stats = measure([x], pair=(0, 2)).statistics()
    assert stats.correlation == -1.0


def test_memory_stays_constant() -> None:
    meter = StereoMeter(FS, (0, 1))
    chunk = stereo(noise(1.0, seed=8), noise(1.0, seed=9))
    sizes = set()
    for _ in range(60):
        meter.push(chunk)
        stats = meter.statistics()
        sizes.add(stats.window_correlation.counts.size)
    assert sizes == {2000}
    assert stats.windows == 600 - 3


def flatten(stats: StereoStatistics) -> list[float]:
    h, w = stats.window_correlation, stats.window_width_db
    return [
        stats.correlation,
        stats.width_db,
        stats.width,
        stats.windows,
        *[h.percentile(p) for p in CORRELATION_PERCENTILES],
        *[w.percentile(p) for p in (10, 50, 90)],
        h.mean(),
        w.std(),
    ]


def test_results_do_not_depend_on_chunking() -> None:
    left = noise(6.0, seed=10)
    x = stereo(left, 0.7 * left + 0.3 * noise(6.0, seed=11))
    x[FS : 2 * FS] = 0.0
    results = [flatten(measure(chunks).statistics()) for chunks in chunkings(x, seed=12)]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-9, atol=0)
