"""Un-mastering degradations and their inverse labels: the chain at the labels undoes them."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.signal
from numpy.typing import NDArray

from tests.support.spectra import THIRD_OCTAVE_CENTRES_HZ, third_octave_mid_db
from voidline.dsp.compressor import CompressorBand, MultibandCompressor, compress
from voidline.dsp.crossover import Crossover
from voidline.dsp.eq import EqSettings, Equalizer
from voidline.dsp.loudness_target import integrated_lufs
from voidline.dsp.stereo import widen
from voidline.errors import InvalidInputError
from voidline.mastering.chain import WORKING_LUFS, ChainSettings
from voidline.mastering.degrade import (
    MAX_PEAK_DBFS,
    Degradation,
    apply_degradation,
    expand,
    labels,
    neutral_degradation,
    random_degradation,
)
from voidline.mastering.parameters import (
    BAND_NAMES,
    BY_NAME,
    CROSSOVER_HZ,
    DEFAULTS,
    EQ_BAND_NAMES,
    PARAMETER_NAMES,
    to_unit,
)
from voidline.mastering.synth import GeneratedTrack, generate_track
from voidline.mastering.synth.arrangement import make_plan

FS = 44_100
XO = Crossover(CROSSOVER_HZ, FS)


@pytest.fixture(scope="module")
def track() -> GeneratedTrack:
    """A steady stereo track with drums and a mono bass (the plan is drawn first and cheaply,
    exactly as generate_track draws it, to pick the seed)."""
    for seed in range(100):
        plan = make_plan(np.random.default_rng(seed), FS, 3 * FS)
        if (
            {"drums", "bass"} <= set(plan.parts)
            and plan.stereo_image in ("normal", "wide")
            and not plan.wide_bass
            and plan.structure == "steady"
        ):
            return generate_track(seed, 3.0)
    raise AssertionError("no suitable seed")


def band_quantiles(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per band: 50 ms RMS level quantiles relative to the median (the level distribution)."""
    rows = []
    for band in XO.split(x):
        block = FS // 20
        n = band.shape[0] // block * block
        power = (band[:n] ** 2).sum(axis=1).reshape(-1, block).mean(axis=1)
        levels = 10 * np.log10(power + 1e-20)
        rows.append(np.percentile(levels, [20, 40, 60, 80, 90, 95, 99]) - np.median(levels))
    return np.array(rows)


def side_to_mid_db(x: NDArray[np.float64]) -> NDArray[np.float64]:
    ratios = []
    for band in XO.split(x):
        mid = 0.5 * (band[:, 0] + band[:, 1])
        side = 0.5 * (band[:, 0] - band[:, 1])
        ratios.append(10 * np.log10(np.mean(side**2) / np.mean(mid**2)))
    return np.array(ratios)


def expanded(recipe: dict[str, Any], ratio: float) -> Degradation:
    """Only the expander, on every band with content, thresholds a third of the way from
    the band's median to its 90th percentile at the working level."""
    shift = WORKING_LUFS - recipe["integrated_lufs"]
    thresholds, ratios = [], []
    for band in BAND_NAMES:
        stats = recipe["band_levels_dbfs"][band]
        on = stats["p99"] + shift > -40.0
        threshold = stats["p50"] + (stats["p90"] - stats["p50"]) / 3 + shift
        thresholds.append(round(max(threshold, -34.0), 2) if on else 0.0)
        ratios.append(ratio if on else 1.0)
    return dataclasses.replace(
        neutral_degradation(recipe),
        expander_thresholds_db=tuple(thresholds),
        expander_ratios=tuple(ratios),
    )


def test_labels_equalise_back_to_the_source_spectrum(track: GeneratedTrack) -> None:
    """RBJ peaking and shelf filters with -G undo +G exactly: degradation EQ followed by
    the labelled EQ is flat within 0.01 dB (and the samples come back). Without dullness:
    a dull track's EQ labels also lift its low-pass (the dullness test below)."""
    freqs = np.geomspace(20.0, 20_000.0, 400)
    rng = np.random.default_rng(11)
    tilted = 0
    for _ in range(20):
        degradation = dataclasses.replace(random_degradation(rng, track.recipe), lowpass_hz=0.0)
        label = labels(degradation, track.recipe)
        spoil = Equalizer(
            EqSettings(
                degradation.eq_band_gains_db, degradation.low_shelf_db, degradation.high_shelf_db
            ),
            FS,
        )
        undo = ChainSettings.from_parameters(label).eq
        total = spoil.response_db(freqs) + Equalizer(undo, FS).response_db(freqs)
        assert np.max(np.abs(total)) < 0.01
        tilted += not spoil.is_flat
    assert tilted >= 10
    x = np.random.default_rng(0).standard_normal((FS, 2)) * 0.1
    back = Equalizer(undo, FS).process(spoil.process(x))
    assert np.max(np.abs(back - x)) < 1e-9


def test_chain_compressor_at_the_labels_undoes_the_expander(track: GeneratedTrack) -> None:
    """The expander widens each band's level distribution; the chain's multiband
    compressor at the labelled thresholds and ratios (at the working level) narrows it back.
    Each crossover split-and-sum adds the crossover's all-pass, a phase change that moves
    transient levels a little, so each result is compared with the source through as many
    all-passes."""
    degradation = expanded(track.recipe, ratio=3.0)
    assert sum(r > 1.0 for r in degradation.expander_ratios) >= 2
    degraded = apply_degradation(track.audio, FS, degradation)
    settings = ChainSettings.from_parameters(labels(degradation, track.recipe))
    at_working_level = degraded * 10 ** ((WORKING_LUFS - integrated_lufs(degraded, FS)) / 20)
    restored = MultibandCompressor(XO, settings.compressor).process(at_working_level)

    once = XO.allpass_only(track.audio)
    before = np.abs(band_quantiles(degraded) - band_quantiles(once)).mean(axis=1)
    after = np.abs(band_quantiles(restored) - band_quantiles(XO.allpass_only(once))).mean(axis=1)
    on = np.array(degradation.expander_ratios) > 1.0
    assert before[on].max() > 0.5  # the expander really widened the level distribution
    assert after[on].sum() < 0.25 * before[on].sum()
    assert after.max() < 0.2


@pytest.mark.parametrize("knee_db", [0.0, 6.0])
def test_expander_is_the_exact_inverse_of_the_compressor(knee_db: float) -> None:
    """Noise bursts at levels from far below to far above the threshold, stereo."""
    rng = np.random.default_rng(4)
    levels = np.repeat(rng.uniform(0.02, 1.0, 40), FS // 20)
    x = 0.3 * rng.standard_normal((levels.shape[0], 2)) * levels[:, None]
    settings = CompressorBand(-24.0, 3.0, knee_db, attack_ms=10.0, release_ms=120.0)
    y = expand(x, settings, FS)
    assert np.abs(y).max() > 3.0 * np.abs(x).max()  # loud bursts were raised a lot
    assert np.max(np.abs(compress(y, settings, FS) - x)) < 1e-12


def test_expander_acts_at_the_chain_working_level(track: GeneratedTrack) -> None:
    """The degraded track sits at WORKING_LUFS + gain, so the labelled thresholds are
    where the chain's compressor will meet the expanded peaks."""
    degradation = dataclasses.replace(expanded(track.recipe, ratio=3.0), gain_db=-10.0)
    degraded = apply_degradation(track.audio, FS, degradation)
    assert integrated_lufs(degraded, FS) == pytest.approx(WORKING_LUFS - 10.0, abs=0.21)


def test_width_labels_restore_the_side_to_mid_ratio(track: GeneratedTrack) -> None:
    side_gains = (1.5, 1.4, 0.7, 0.6)
    degradation = dataclasses.replace(neutral_degradation(track.recipe), side_gains=side_gains)
    degraded = apply_degradation(track.audio, FS, degradation)
    label = labels(degradation, track.recipe)
    widths = [label[f"width_{band}"] for band in BAND_NAMES]
    assert widths == pytest.approx([1 / w for w in side_gains])
    restored = widen(degraded, widths, XO, 0.0, FS)
    source = side_to_mid_db(track.audio)
    assert np.max(np.abs(side_to_mid_db(degraded) - source)) > 2.5
    # Not exact: the bands' filters overlap (LR4 slopes), so each band's side leaks into its
    # neighbours, and with gains that jump 6 dB between neighbours a band with little side
    # of its own (low_mid here, 7 dB below high_mid) reads up to half a dB off.
    assert np.max(np.abs(side_to_mid_db(restored) - source)) < 0.6


def test_mono_bass_label_removes_the_added_low_side(track: GeneratedTrack) -> None:
    degradation = dataclasses.replace(
        neutral_degradation(track.recipe),
        wide_bass_hz=120.0,
        wide_bass_gain=0.6,
        wide_bass_delay_ms=10.0,
    )
    degraded = apply_degradation(track.audio, FS, degradation)
    label = labels(degradation, track.recipe)
    assert label["mono_bass_hz"] == 120.0
    restored = widen(degraded, [1.0] * 4, XO, label["mono_bass_hz"], FS)

    def low_side_to_mid_db(x: NDArray[np.float64]) -> float:
        return float(side_to_mid_db(x)[0])

    assert low_side_to_mid_db(degraded) > low_side_to_mid_db(track.audio) + 10.0
    assert low_side_to_mid_db(restored) < low_side_to_mid_db(degraded) - 10.0


def test_dullness_asks_for_the_exciter_in_proportion_to_the_loss(track: GeneratedTrack) -> None:
    base = neutral_degradation(track.recipe)
    assert labels(base, track.recipe)["exciter_amount"] == 0.0
    dull = labels(dataclasses.replace(base, lowpass_hz=6000.0, lowpass_order=1), track.recipe)
    milder = labels(dataclasses.replace(base, lowpass_hz=12000.0, lowpass_order=2), track.recipe)
    assert 0.0 < milder["exciter_amount"] < dull["exciter_amount"] <= 1.0
    assert dull["exciter_freq_hz"] == pytest.approx(3000.0)
    assert milder["exciter_freq_hz"] == pytest.approx(6000.0)
    assert dull["exciter_drive_db"] > labels(base, track.recipe)["exciter_drive_db"]
    degraded = apply_degradation(
        track.audio, FS, dataclasses.replace(base, lowpass_hz=6000.0, lowpass_order=1)
    )
    spectrum = np.abs(np.fft.rfft(degraded[:, 0])) / np.abs(np.fft.rfft(track.audio[:, 0]))
    freqs = np.fft.rfftfreq(degraded.shape[0], 1 / FS)
    loss = 20 * np.log10(np.median(spectrum[(freqs > 11_900) & (freqs < 12_100)]))
    gain = 20 * np.log10(np.median(spectrum[(freqs > 300) & (freqs < 600)]))
    b, a = scipy.signal.butter(1, 6000.0, fs=FS)  # the bilinear 1st-order Butterworth
    expected = 20 * np.log10(np.abs(scipy.signal.freqz(b, a, worN=[12_000.0], fs=FS)[1][0]))
    assert loss - gain == pytest.approx(expected, abs=0.5)


DULLNESS_BANDS_HZ = (500.0, 2000.0, 4000.0, 8000.0, 16000.0)  # the level reference, then the top
_BANDS = [int(np.argmin(np.abs(THIRD_OCTAVE_CENTRES_HZ - c))) for c in DULLNESS_BANDS_HZ]


def _band_levels_db(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Third-octave mid levels at DULLNESS_BANDS_HZ (each one of THIRD_OCTAVE_CENTRES_HZ)."""
    return third_octave_mid_db(x, FS)[_BANDS]


def test_dullness_labels_ask_the_eq_to_lift_what_the_low_pass_took(
    track: GeneratedTrack,
) -> None:
    base = neutral_degradation(track.recipe)
    original = _band_levels_db(track.audio)
    dull = dataclasses.replace(base, lowpass_hz=9000.0, lowpass_order=1)
    dulled = apply_degradation(track.audio, FS, dull)
    label = labels(dull, track.recipe)
    degraded = _band_levels_db(dulled)
    restored = _band_levels_db(
        Equalizer(ChainSettings.from_parameters(label).eq, FS).process(dulled)
    )
    level = degraded[0] - original[0]  # at 500 Hz, below the corner
    lost = original[1:] - (degraded[1:] - level)
    left = original[1:] - (restored[1:] - level)
    assert lost[-1] > 6.0 and lost[-2] > 1.5  # a 1st-order roll-off from 9 kHz
    # Within the EQ's reach the loss is undone; at 16 kHz the +9 dB limit and the roll-off
    # that keeps falling above the top band leave part of it.
    assert np.all(np.abs(left[:-1]) < 0.3), left
    assert 0.0 < left[-1] < 0.5 * lost[-1], (left, lost)
    # The band gains rise towards the top; below the corner they stay near 0 dB.
    assert label["eq_16khz_db"] > label["eq_8khz_db"] > 1.0
    assert abs(label["eq_500hz_db"]) < 0.1
    # A steeper, lower roll-off asks for more: the top band at its limit, then the shelf.
    steep = labels(dataclasses.replace(base, lowpass_hz=6000.0, lowpass_order=2), track.recipe)
    assert steep["eq_16khz_db"] == pytest.approx(BY_NAME["eq_16khz_db"].high)
    assert steep["high_shelf_db"] > max(label["high_shelf_db"], 2.0)
    assert steep["eq_8khz_db"] > label["eq_8khz_db"]
    # The tonal inverse of the EQ step is kept where the low-pass takes nothing.
    tilted = dataclasses.replace(dull, eq_band_gains_db=(2.0,) + (0.0,) * 9)
    assert labels(tilted, track.recipe)["eq_31_5hz_db"] == pytest.approx(-2.0, abs=0.05)


def test_labels_cover_every_parameter_within_its_range(track: GeneratedTrack) -> None:
    rng = np.random.default_rng(2)
    seen: dict[str, set[float]] = {name: set() for name in PARAMETER_NAMES}
    for _ in range(200):
        label = labels(random_degradation(rng, track.recipe), track.recipe)
        assert tuple(label) == PARAMETER_NAMES
        for name, value in label.items():
            spec = BY_NAME[name]
            assert spec.low <= value <= spec.high, name
            seen[name].add(round(value, 6))
        unit = to_unit(label)
        assert np.all((unit >= 0.0) & (unit <= 1.0))
    # Everything a degradation inverts varies; the rules of thumb are fixed per track.
    varying = [*EQ_BAND_NAMES, "low_shelf_db", "high_shelf_db", "mono_bass_hz"]
    varying += [f"width_{b}" for b in BAND_NAMES] + ["exciter_amount", "exciter_freq_hz"]
    varying += [f"comp_{b}_ratio" for b in BAND_NAMES[:2]]
    for name in varying:
        assert len(seen[name]) > 2, name
    assert seen["comp_attack_ms"] == {
        round(labels(neutral_degradation(track.recipe), track.recipe)["comp_attack_ms"], 6)
    }


def test_rules_of_thumb_follow_tempo_and_drums(track: GeneratedTrack) -> None:
    recipe = dict(track.recipe)
    fast = labels(neutral_degradation({**recipe, "tempo_bpm": 150.0}), recipe)
    slow = labels(neutral_degradation({**recipe, "tempo_bpm": 75.0}), recipe)
    assert slow["comp_release_ms"] == pytest.approx(2 * fast["comp_release_ms"])
    assert fast["comp_release_ms"] == pytest.approx(100.0)  # a 1/16 note at 150 bpm
    calm = {**recipe, "drums": False, "percussive_share": 0.0, "tempo_bpm": 150.0}
    gentle = labels(neutral_degradation(calm), calm)
    assert gentle["comp_attack_ms"] < fast["comp_attack_ms"] or recipe["percussive_share"] == 0
    assert gentle["limiter_release_ms"] == pytest.approx(3 * 7500.0 / 150.0)
    assert gentle["comp_knee_db"] >= fast["comp_knee_db"]


def test_degradations_are_deterministic_and_json(track: GeneratedTrack) -> None:
    first = random_degradation(np.random.default_rng(5), track.recipe)
    second = random_degradation(np.random.default_rng(5), track.recipe)
    assert first == second
    assert json.loads(json.dumps(first.as_json())) == first.as_json()
    a = apply_degradation(track.audio, FS, first)
    b = apply_degradation(track.audio, FS, second)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, track.audio)


def test_degraded_audio_never_clips(track: GeneratedTrack) -> None:
    loud = dataclasses.replace(expanded(track.recipe, ratio=4.0), gain_db=0.0)
    degraded = apply_degradation(track.audio, FS, loud)
    assert 20 * math.log10(np.abs(degraded).max()) <= MAX_PEAK_DBFS + 1e-9
    neutral = apply_degradation(track.audio, FS, neutral_degradation(track.recipe))
    assert integrated_lufs(neutral, FS) <= WORKING_LUFS + 0.01


def test_mono_input_skips_the_stereo_stages(track: GeneratedTrack) -> None:
    mono = track.audio[:, :1]
    degradation = random_degradation(np.random.default_rng(8), track.recipe)
    out = apply_degradation(mono, FS, degradation)
    assert out.shape == mono.shape and np.isfinite(out).all()


def test_neutral_labels_are_the_chain_defaults_for_eq_dynamics_and_width(
    track: GeneratedTrack,
) -> None:
    label = labels(neutral_degradation(track.recipe), track.recipe)
    for name in [*EQ_BAND_NAMES, "low_shelf_db", "high_shelf_db", "mono_bass_hz"]:
        assert label[name] == DEFAULTS[name]
    for band in BAND_NAMES:
        assert label[f"comp_{band}_ratio"] == 1.0
        assert label[f"width_{band}"] == 1.0


def test_bad_input_is_refused(track: GeneratedTrack) -> None:
    degradation = neutral_degradation(track.recipe)
    bad = track.audio.copy()
    bad[10, 0] = np.nan
    with pytest.raises(InvalidInputError):
        apply_degradation(bad, FS, degradation)
    with pytest.raises(InvalidInputError):
        apply_degradation(np.zeros((FS, 2)), FS, expanded(track.recipe, 2.0))
    recipe = {k: v for k, v in track.recipe.items() if k != "band_levels_dbfs"}
    with pytest.raises(InvalidInputError, match="band_levels_dbfs"):
        random_degradation(np.random.default_rng(0), recipe)
    with pytest.raises(InvalidInputError):
        dataclasses.replace(degradation, expander_ratios=(0.5, 1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError):
        dataclasses.replace(degradation, eq_band_gains_db=(10.0,) + (0.0,) * 9)
    with pytest.raises(InvalidInputError):
        dataclasses.replace(degradation, side_gains=(1.0, 1.0))
