"""The 384-value feature vector and the Voidline score, on whole analyses of generated audio."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.analysis.analyzer import AnalysisOptions, StreamingAnalyzer
from voidline.analysis.features import (
    FEATURE_LAYOUT_VERSION,
    FEATURE_NAMES,
    FEATURE_SPECS,
    GROUP_SIZES,
    feature_table_markdown,
)
from voidline.analysis.report import AnalysisReport
from voidline.analysis.score import WEIGHTS, curve
from voidline.audio.format import AudioFormat

FS = 48_000
DOC = Path(__file__).resolve().parents[1] / "docs" / "features.md"
Frames = NDArray[np.float64]


def music_like(seconds: float, seed: int) -> Frames:
    """Stereo pink-ish noise with a slow level swing and partly correlated channels."""
    rng = np.random.default_rng(seed)
    n = round(seconds * FS)

    def pink() -> NDArray[np.float64]:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / FS)
        spectrum[f < 30] = 0
        spectrum[f >= 30] /= np.sqrt(f[f >= 30] / 1000)
        x: NDArray[np.float64] = np.fft.irfft(spectrum, n)
        return x / float(x.std())

    common, left, right = pink(), pink(), pink()
    swing = 10 ** (3 * np.sin(2 * np.pi * 0.25 * np.arange(n) / FS) / 20)
    return 0.1 * swing[:, None] * np.stack([common + 0.5 * left, common + 0.5 * right], axis=1)


def analyse(x: Frames, chunk: int | None = FS // 10, target: float = -14.0) -> AnalysisReport:
    analyzer = StreamingAnalyzer(AudioFormat(FS, x.shape[1]), AnalysisOptions(target_lufs=target))
    step = chunk or len(x)
    for i in range(0, len(x), step):
        analyzer.push(x[i : i + step])
    return analyzer.finish()


def at_loudness(x: Frames, lufs: float) -> Frames:
    measured = analyse(x, chunk=None).loudness.integrated_lufs
    return x * 10 ** ((lufs - measured) / 20)


@pytest.fixture(scope="module")
def clean() -> Frames:
    return at_loudness(music_like(12.0, seed=1), -14.0)


# ----- feature layout -----


def test_layout_has_384_unique_names_in_group_order() -> None:
    assert len(FEATURE_NAMES) == 384
    assert len(set(FEATURE_NAMES)) == 384
    assert FEATURE_LAYOUT_VERSION == "v1"
    assert list(GROUP_SIZES.values()) == [64, 32, 16, 64, 32, 176]
    start = 0
    for group, size in GROUP_SIZES.items():
        groups = {spec.group for spec in FEATURE_SPECS[start : start + size]}
        assert groups == {group}
        start += size
    for spec in FEATURE_SPECS:
        assert spec.name.startswith(spec.group + "_")
        assert spec.unit and spec.definition


def test_docs_hold_the_generated_feature_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- features:begin -->\n", "<!-- features:end -->"
    assert text.count(begin) == 1 and text.count(end) == 1
    table = text.split(begin, 1)[1].split(end, 1)[0]
    assert table == feature_table_markdown()
    rows = table.splitlines()
    assert len(rows) == 384 + 2
    # Five columns on every row: no stray '|' inside a definition.
    assert all(row.count("|") == 6 for row in rows)
    assert [row.split("`")[1] for row in rows[2:]] == list(FEATURE_NAMES)


# ----- feature values -----


def test_vector_is_384_finite_values_and_deterministic(clean: Frames) -> None:
    first = analyse(clean)
    again = analyse(clean)
    assert first.feature_layout_version == FEATURE_LAYOUT_VERSION
    assert len(first.features) == 384
    assert all(math.isfinite(v) for v in first.features)
    assert first.features == again.features
    # Values stay in a range a network digests.
    assert max(abs(v) for v in first.features) <= 200


def test_vector_does_not_depend_on_chunking(clean: Frames) -> None:
    by_100ms = analyse(clean)
    whole = analyse(clean, chunk=None)
    odd = analyse(clean, chunk=7_919)
    np.testing.assert_allclose(whole.features, by_100ms.features, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(odd.features, by_100ms.features, rtol=1e-9, atol=1e-9)


def test_features_describe_the_signal(clean: Frames) -> None:
    features = dict(zip(FEATURE_NAMES, analyse(clean).features, strict=True))
    assert features["dynamics_integrated"] == pytest.approx(-14.0, abs=0.1)
    assert features["stereo_is_stereo"] == 1.0
    # Common part 1, independent parts 0.5 each: r = 1 / 1.25.
    assert features["stereo_correlation"] == pytest.approx(0.8, abs=0.02)
    assert features["context_channels"] == 2.0
    assert features["context_duration"] == pytest.approx(math.log10(12.0))
    assert features["harmonic_tilt"] == pytest.approx(0.0, abs=0.5)  # pink noise
    assert features["dynamics_clip_rate"] == 0.0
    # The 3 dB level swing (4 s period) shows as spread in the short-term loudness.
    assert features["dynamics_short_term_iqr"] > 1.0


@pytest.mark.parametrize(
    "x",
    [
        np.zeros((FS, 2)),  # silence
        np.zeros((FS, 1)),  # mono silence
        0.1 * np.random.default_rng(2).standard_normal((FS * 2, 1)),  # mono
        0.1 * np.random.default_rng(3).standard_normal((480, 2)),  # 10 ms: no full frame
        0.1 * np.random.default_rng(4).standard_normal((FS, 6)),  # 5.1
    ],
    ids=["silence", "mono-silence", "mono", "10ms", "5.1"],
)
def test_edge_cases_give_finite_vectors(x: Frames) -> None:
    report = analyse(x)
    assert len(report.features) == 384
    assert all(math.isfinite(v) for v in report.features)
    assert 0.0 <= report.score.voidline_score <= 100.0


def test_mono_reads_as_fully_correlated() -> None:
    x = 0.1 * np.random.default_rng(5).standard_normal((FS * 2, 1))
    features = dict(zip(FEATURE_NAMES, analyse(x).features, strict=True))
    assert features["stereo_is_stereo"] == 0.0
    assert features["stereo_correlation"] == 1.0
    assert features["stereo_width_db"] == -60.0


# ----- score -----


def test_curve_is_piecewise_linear_and_flat_outside() -> None:
    points = ((0.0, 100.0), (1.0, 70.0), (5.0, 40.0))
    assert curve(-3.0, points) == 100.0
    assert curve(0.5, points) == pytest.approx(85.0)
    assert curve(3.0, points) == pytest.approx(55.0)
    assert curve(9.0, points) == 40.0
    assert curve(-math.inf, points) == 100.0


def test_clean_master_at_target_scores_high(clean: Frames) -> None:
    report = analyse(clean)
    score = report.score
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert [s.name for s in score.sub_scores] == list(WEIGHTS)
    by_name = {s.name: s for s in score.sub_scores}
    assert by_name["loudness"].score == 100.0
    assert by_name["clipping"].score == 100.0
    assert by_name["dc"].score == 100.0
    for sub in score.sub_scores:
        assert 0.0 <= sub.score <= 100.0
        assert sub.detail
    weighted = sum(s.weight * s.score for s in score.sub_scores) / sum(WEIGHTS.values())
    assert score.voidline_score == pytest.approx(weighted, abs=0.01)
    assert score.target_lufs == -14.0


def test_clipped_loud_offset_master_scores_lower(clean: Frames) -> None:
    good = analyse(clean).score
    bad_audio = np.clip(clean * 10 ** (10 / 20), -1.0, 1.0) + 0.05
    bad = analyse(bad_audio).score
    assert bad.voidline_score < good.voidline_score - 20
    good_by, bad_by = (
        {s.name: s.score for s in good.sub_scores},
        {s.name: s.score for s in bad.sub_scores},
    )
    for name in ("loudness", "true_peak", "clipping", "dc"):
        assert bad_by[name] < good_by[name], name


def test_score_follows_the_target(clean: Frames) -> None:
    loudness = {s.name: s for s in analyse(clean, target=-18.0).score.sub_scores}["loudness"]
    # 4 LU too loud: 100 at 1 LU, 0 at 9 LU.
    assert loudness.score == pytest.approx(100 - (4.0 - 1.0) * 12.5, abs=1.5)
    assert "louder than the -18 LUFS target" in loudness.detail


def test_silence_and_mono_are_scored_sensibly() -> None:
    silent = {s.name: s for s in analyse(np.zeros((FS, 2))).score.sub_scores}
    assert silent["loudness"].score == 0.0
    assert "no audio" in silent["loudness"].detail
    assert silent["clipping"].score == 100.0
    mono = 0.1 * np.random.default_rng(6).standard_normal((FS * 2, 1))
    stereo_sub = {s.name: s for s in analyse(mono).score.sub_scores}["stereo"]
    assert stereo_sub.score == 100.0
    assert "mono" in stereo_sub.detail


def test_phase_inverted_stereo_loses_stereo_marks(clean: Frames) -> None:
    inverted = clean * np.array([1.0, -1.0])
    stereo_sub = {s.name: s for s in analyse(inverted).score.sub_scores}["stereo"]
    assert stereo_sub.score < 30.0
