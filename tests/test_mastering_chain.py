"""The mastering chain composer, the loudness targets, style and intensity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voidline.dsp.limiter import true_peak_dbtp
from voidline.dsp.loudness_target import integrated_lufs
from voidline.errors import InvalidInputError
from voidline.mastering.chain import WORKING_LUFS, ChainSettings, process
from voidline.mastering.parameters import (
    BY_NAME,
    DEFAULTS,
    PARAMETER_NAMES,
    PARAMETERS,
    parameter_table_markdown,
    to_physical,
    to_unit,
)
from voidline.mastering.styles import STYLES, applied_parameters, apply_intensity, apply_style
from voidline.mastering.targets import PRESETS, resolve_target

FS = 44_100


def music_like(seconds: float, fs: int = FS, seed: int = 0) -> np.ndarray:
    """A beat on a bass note plus pink-ish noise, with a little stereo."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    beat = np.exp(-((t % 0.5) * 12.0))
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * beat
    noise = np.cumsum(rng.standard_normal((n, 2)), axis=0)
    noise -= np.linspace(noise[0], noise[-1], n)
    noise *= 0.02 / noise.std()
    hiss = 0.02 * rng.standard_normal((n, 2))
    return bass[:, None] + noise + hiss


def test_parameter_table_in_docs_is_current() -> None:
    with open("docs/mastering-parameters.md", encoding="utf-8") as f:
        assert parameter_table_markdown() in f.read()


def test_parameter_mapping_round_trips_and_clips() -> None:
    unit = np.linspace(0.0, 1.0, len(PARAMETERS))
    physical = to_physical(unit)
    np.testing.assert_allclose(to_unit(physical), unit, atol=1e-6)
    assert to_physical(np.full(32, 2.0))["comp_low_ratio"] == BY_NAME["comp_low_ratio"].high
    for spec in PARAMETERS:
        if spec.neutral is not None:
            assert spec.low <= spec.neutral <= spec.high
    with pytest.raises(InvalidInputError):
        to_physical(np.zeros(31))


def test_neutral_chain_only_sets_loudness() -> None:
    x = music_like(6.0)
    neutral = apply_intensity(DEFAULTS, 0.0)
    result = process(x, FS, ChainSettings.from_parameters(neutral), -14.0, -1.0)
    assert set(result.stage_seconds) == {"loudness"}
    assert abs(integrated_lufs(result.audio, FS) + 14.0) <= 0.1
    assert true_peak_dbtp(result.audio, FS) <= -1.0
    # Only a gain (and limiting, which this quiet-peaked signal barely needs) was applied.
    ratio = result.audio[:, 0] / np.where(np.abs(x[:, 0]) > 1e-3, x[:, 0], np.nan)
    total_db = result.working_gain_db + result.loudness.gain_db
    assert np.nanmedian(ratio) == pytest.approx(10 ** (total_db / 20), rel=0.02)


@pytest.mark.parametrize("target", ["streaming", "broadcast", "club"])
def test_chain_hits_targets_and_ceiling(target: str) -> None:
    x = music_like(8.0, seed=1) * 0.3
    params = dict(DEFAULTS)
    params.update(
        eq_125hz_db=3.0,
        high_shelf_db=-2.0,
        comp_low_threshold_db=-30.0,
        comp_low_ratio=4.0,
        comp_high_mid_threshold_db=-30.0,
        comp_high_mid_ratio=2.0,
        width_high=1.5,
        mono_bass_hz=120.0,
        exciter_amount=0.4,
    )
    goal = resolve_target(target)
    result = process(x, FS, ChainSettings.from_parameters(params), goal.lufs, goal.ceiling_dbtp)
    assert set(result.stage_seconds) == {"eq", "multiband", "stereo", "exciter", "loudness"}
    assert result.loudness.reached, result.loudness.note
    assert abs(integrated_lufs(result.audio, FS) - goal.lufs) <= 0.1
    assert true_peak_dbtp(result.audio, FS) <= goal.ceiling_dbtp
    assert result.audio.shape == x.shape


def test_working_gain_makes_thresholds_level_independent() -> None:
    params = dict(DEFAULTS, comp_low_threshold_db=-30.0, comp_low_ratio=4.0)
    settings = ChainSettings.from_parameters(params)
    x = music_like(6.0, seed=2)
    loud = process(x, FS, settings, -14.0, -1.0)
    quiet = process(x * 0.01, FS, settings, -14.0, -1.0)
    assert loud.working_gain_db == pytest.approx(quiet.working_gain_db - 40.0, abs=1e-6)
    assert integrated_lufs(x, FS) + loud.working_gain_db == pytest.approx(WORKING_LUFS)
    np.testing.assert_allclose(loud.audio, quiet.audio, atol=1e-6)


def test_mono_input_stays_mono() -> None:
    x = music_like(5.0)[:, :1]
    params = dict(DEFAULTS, width_high=1.8, mono_bass_hz=150.0, eq_1khz_db=2.0)
    result = process(x, FS, ChainSettings.from_parameters(params), -16.0, -1.0)
    assert result.audio.shape == x.shape
    assert "stereo" not in result.stage_seconds


def test_chain_refuses_bad_input() -> None:
    settings = ChainSettings.from_parameters(DEFAULTS)
    with pytest.raises(InvalidInputError, match="silent"):
        process(np.zeros((FS * 4, 2)), FS, settings, -14.0, -1.0)
    with pytest.raises(InvalidInputError, match="silent"):
        process(np.full((FS * 4, 2), 1e-6), FS, settings, -14.0, -1.0)
    nan = music_like(1.0)
    nan[100, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        process(nan, FS, settings, -14.0, -1.0)
    with pytest.raises(InvalidInputError, match="channels"):
        process(np.zeros((FS, 6)), FS, settings, -14.0, -1.0)
    with pytest.raises(InvalidInputError, match="sample rate"):
        process(music_like(1.0, fs=8000), 8000, settings, -14.0, -1.0)
    with pytest.raises(InvalidInputError, match="lack"):
        ChainSettings.from_parameters({"eq_1khz_db": 1.0})


def test_short_clip_is_mastered() -> None:
    # Under 3 s: one gating block of 400 ms is enough for an integrated loudness.
    x = music_like(1.0)
    result = process(x, FS, ChainSettings.from_parameters(DEFAULTS), -14.0, -1.0)
    assert abs(integrated_lufs(result.audio, FS) + 14.0) <= 0.1


def test_targets() -> None:
    assert (PRESETS["broadcast"].lufs, PRESETS["broadcast"].ceiling_dbtp) == (-23.0, -1.0)
    assert (PRESETS["club"].lufs, PRESETS["club"].ceiling_dbtp) == (-8.0, -0.3)
    assert resolve_target().name == "streaming"
    assert resolve_target("CD").lufs == -9.0
    assert resolve_target(lufs=-11.5, ceiling_dbtp=-0.5).ceiling_dbtp == -0.5
    assert resolve_target("apple", ceiling_dbtp=-2.0).lufs == -16.0
    bad: list[tuple[str, float | None, float | None]] = [
        ("loud", None, None),
        ("", None, 0.5),
        ("", -70.0, None),
        ("", math.nan, None),
        ("club", -9.0, None),
    ]
    for name, lufs, ceiling in bad:
        with pytest.raises(InvalidInputError):
            resolve_target(name, lufs, ceiling)


def test_intensity_scales_from_neutral() -> None:
    predicted = dict(DEFAULTS, eq_1khz_db=4.0, comp_low_ratio=4.0, width_high=1.6)
    half = apply_intensity(predicted, 0.5)
    assert half["eq_1khz_db"] == pytest.approx(2.0)
    assert half["comp_low_ratio"] == pytest.approx(2.0)  # halfway on the log axis
    assert half["width_high"] == pytest.approx(1.3)
    assert half["comp_attack_ms"] == predicted["comp_attack_ms"]  # no neutral: kept
    assert apply_intensity(predicted, 1.0) == pytest.approx(predicted)
    zero = apply_intensity(predicted, 0.0)
    assert all(
        zero[p.name] == pytest.approx(p.neutral) for p in PARAMETERS if p.neutral is not None
    )
    with pytest.raises(InvalidInputError):
        apply_intensity(predicted, 1.5)


def test_styles_bias_as_documented() -> None:
    assert apply_style(DEFAULTS, "balanced") == pytest.approx(DEFAULTS)
    warm = apply_style(DEFAULTS, "warm")
    bright = apply_style(DEFAULTS, "bright")
    assert warm["low_shelf_db"] > 0 > warm["high_shelf_db"]
    assert bright["high_shelf_db"] > 0 and bright["exciter_amount"] > 0
    punchy = apply_style(DEFAULTS, "punchy")
    assert punchy["comp_attack_ms"] == pytest.approx(2 * DEFAULTS["comp_attack_ms"])
    opened = apply_style(DEFAULTS, "open")
    assert opened["width_high"] > 1.0
    everything = applied_parameters(dict(DEFAULTS, eq_16khz_db=9.0), "open", 1.0)
    assert everything["eq_16khz_db"] == BY_NAME["eq_16khz_db"].high  # clipped to the range
    assert set(STYLES) == {"balanced", "warm", "bright", "punchy", "open"}
    assert set(applied_parameters(DEFAULTS, "warm", 0.7)) == set(PARAMETER_NAMES)
    with pytest.raises(InvalidInputError, match="unknown style"):
        apply_style(DEFAULTS, "vintage")


def test_a_measured_input_loudness_is_used_as_given() -> None:
    """The engine passes the analysis report's loudness; the chain then does not re-measure."""
    x = music_like(4.0, seed=5)
    settings = ChainSettings.from_parameters(DEFAULTS)
    measured = process(x, FS, settings, -14.0, -1.0)
    given = process(x, FS, settings, -14.0, -1.0, input_lufs=integrated_lufs(x, FS))
    np.testing.assert_array_equal(given.audio, measured.audio)
    shifted = process(x, FS, settings, -14.0, -1.0, input_lufs=integrated_lufs(x, FS) - 3.0)
    assert shifted.working_gain_db == pytest.approx(measured.working_gain_db + 3.0)
    with pytest.raises(InvalidInputError, match="silent"):
        process(x, FS, settings, -14.0, -1.0, input_lufs=-80.0)
