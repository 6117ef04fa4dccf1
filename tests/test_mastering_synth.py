"""The procedural music generator: determinism, mastering, variety, sound sources."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import scipy.signal
from numpy.typing import NDArray

from voidline.analysis.spectrum import reference_curve_db
from voidline.dsp.eq import MAX_GAIN_DB as EQ_MAX_GAIN_DB
from voidline.dsp.eq import EqSettings, Equalizer
from voidline.dsp.limiter import true_peak_dbtp
from voidline.dsp.loudness_target import integrated_lufs
from voidline.errors import InvalidInputError
from voidline.mastering.synth import LOUDNESS_RANGE_LUFS, GeneratedTrack, generate_track
from voidline.mastering.synth.arrangement import (
    ARRANGEMENTS,
    ARTICULATED_PARTS,
    CONTOUR_DB,
    EXPRESSION_DB,
    STEREO_IMAGES,
    make_plan,
    section_contour,
)
from voidline.mastering.synth.balance import (
    HOUSE_BAND_SIGMA_DB,
    balance_tone,
    draw_house_curve,
    octave_deviation_db,
)
from voidline.mastering.synth.drums import kick
from voidline.mastering.synth.mix import contour_envelope
from voidline.mastering.synth.oscillators import phase, resonator_sos, saw, saw_tone
from voidline.mastering.synth.reverb import reverb
from voidline.mastering.synth.theory import SCALES, Grid, Key, Note, played_velocity, voice_near
from voidline.mastering.synth.tonal import lead_patch, render_notes
from voidline.mastering.synth.voice import VOWELS, _formant_sos

FS = 44_100
SECONDS = 2.0
SEEDS = range(6)


@pytest.fixture(scope="module")
def tracks() -> list[GeneratedTrack]:
    return [generate_track(seed, SECONDS) for seed in SEEDS]


def band_power(x: NDArray[np.float64], low: float, high: float) -> float:
    freqs, power = scipy.signal.welch(x.mean(axis=1), FS, nperseg=4096)
    return float(power[(freqs >= low) & (freqs < high)].sum())


def test_same_seed_gives_identical_audio_and_recipe(tracks: list[GeneratedTrack]) -> None:
    again = generate_track(SEEDS[2], SECONDS)
    assert np.array_equal(again.audio, tracks[2].audio)
    assert again.recipe == tracks[2].recipe
    assert not np.array_equal(tracks[0].audio[: FS // 2], tracks[1].audio[: FS // 2])


def test_tracks_are_stereo_float64_of_the_asked_length(tracks: list[GeneratedTrack]) -> None:
    for track in tracks:
        assert track.audio.shape == (round(SECONDS * FS), 2)
        assert track.audio.dtype == np.float64
        assert track.fs == FS
        assert np.isfinite(track.audio).all()
    assert generate_track(0, 1.0, fs=48_000).audio.shape == (48_000, 2)


def test_recipes_are_plain_json_with_the_musical_facts(tracks: list[GeneratedTrack]) -> None:
    for track in tracks:
        recipe = track.recipe
        assert json.loads(json.dumps(recipe)) == recipe
        assert 70.0 <= recipe["tempo_bpm"] <= 170.0
        assert recipe["scale"] in SCALES
        assert recipe["arrangement"] in ARRANGEMENTS
        assert recipe["stereo_image"] in STEREO_IMAGES
        assert len(recipe["instruments"]) >= 2
        assert recipe["drums"] == ("drums" in recipe["instruments"])
        assert set(recipe["band_levels_dbfs"]) == {"low", "low_mid", "high_mid", "high"}
        assert 0.0 <= recipe["percussive_share"] <= 1.0


def test_tracks_are_mastered_to_the_loudness_range_under_the_ceiling(
    tracks: list[GeneratedTrack],
) -> None:
    low, high = LOUDNESS_RANGE_LUFS
    for track in tracks:
        loudness = integrated_lufs(track.audio, FS)
        assert loudness == pytest.approx(track.recipe["integrated_lufs"], abs=1e-3)
        # Limiting can take up to a couple of LU off the target on punchy material.
        assert low - 2.5 <= loudness <= high + 0.1
        assert loudness <= track.recipe["target_lufs"] + 0.1
        assert true_peak_dbtp(track.audio, FS) <= -1.0 + 1e-6


def test_tonal_balance_falls_towards_the_treble(tracks: list[GeneratedTrack]) -> None:
    """Music's long-term spectrum falls with frequency: the top octaves hold less energy
    than the bass and low mids, in every track."""
    for track in tracks:
        low = band_power(track.audio, 60.0, 500.0)
        high = band_power(track.audio, 4000.0, 16000.0)
        assert high < low, track.recipe["arrangement"]


def test_plans_cover_tempi_keys_scales_arrangements_and_images() -> None:
    """Plans are cheap to draw: check the variety over many seeds without rendering."""
    plans = [make_plan(np.random.default_rng(seed), FS, 4 * FS) for seed in range(300)]
    tempi = [p.grid.tempo_bpm for p in plans]
    assert min(tempi) < 80.0 and max(tempi) > 150.0
    assert all(70.0 <= t <= 170.0 for t in tempi)
    assert {p.key.tonic for p in plans} == set(range(12))
    assert {p.key.scale for p in plans} == set(SCALES)
    assert {p.arrangement for p in plans} == set(ARRANGEMENTS)
    assert {p.stereo_image for p in plans} == set(STEREO_IMAGES)
    assert any(p.wide_bass for p in plans)
    drums = Counter("drums" in p.parts for p in plans)
    assert drums[True] > 50 and drums[False] > 50
    assert {len(p.parts) for p in plans} >= {2, 3, 4, 5}
    assert {p.structure for p in plans} == {"steady", "build", "breakdown", "drop"}
    assert any("voice" in p.parts for p in plans) and any("noise" in p.parts for p in plans)


def test_plans_vary_expression_articulation_and_section_contour() -> None:
    plans = [make_plan(np.random.default_rng(seed), FS, 6 * FS) for seed in range(300)]
    depths = [p.expression_db for p in plans]
    assert all(EXPRESSION_DB[0] <= d <= EXPRESSION_DB[1] for d in depths)
    assert min(depths) < 1.0 and max(depths) > 8.0
    for plan in plans:
        assert len(plan.bar_gains_db) == plan.grid.n_bars and max(plan.bar_gains_db) == 0.0
        for name, part in plan.parts.items():
            assert (part.articulation < 1.0) == (name in ARTICULATED_PARTS)
    # Some tracks stay level, others move between sections by several dB.
    ranges = [-min(p.bar_gains_db) for p in plans if p.grid.n_bars >= 3]
    assert min(ranges) < 1.0 and max(ranges) > CONTOUR_DB[1]


def test_expression_softens_off_beats_more_than_downbeats() -> None:
    notes = [Note(step, 1, 60, 1.0) for step in range(16)] * 50

    def expressive(rng: np.random.Generator, depth_db: float) -> list[Note]:
        return [
            Note(n.start, n.length, n.pitch, played_velocity(rng, n.velocity, n.start, depth_db))
            for n in notes
        ]

    assert expressive(np.random.default_rng(0), 0.0) == notes
    played = expressive(np.random.default_rng(0), 9.0)
    falls = np.array([-20 * np.log10(n.velocity) for n in played])
    downbeats = np.array([n.start % 4 == 0 for n in played])
    assert falls.min() >= 0.0 and falls[downbeats].max() <= 0.33 * 9.0 + 1e-9
    assert falls[~downbeats].max() > 8.0
    assert falls[~downbeats].mean() == pytest.approx(4.5, abs=0.5)  # uniform over 0-9 dB


def test_section_contour_walks_below_its_loudest_bar_and_the_envelope_follows_it() -> None:
    gains = section_contour(np.random.default_rng(4), 6)
    assert len(gains) == 6 and max(gains) == 0.0
    grid = Grid(FS, 120.0, 4 * FS)  # 2 s bars: bar centres at 1 s and 3 s
    envelope = contour_envelope(grid, (0.0, -6.0))
    at = 20 * np.log10(envelope[[0, FS, 2 * FS, 3 * FS, 4 * FS - 1]])
    assert at == pytest.approx([0.0, 0.0, -3.0, -6.0, -6.0], abs=1e-3)  # flat ends, dB-linear
    assert np.array_equal(contour_envelope(grid, ()), np.ones(4 * FS))


def test_staccato_notes_stop_early() -> None:
    """Articulation 0.3 holds 30 % of the written length; the release then dies away, so a
    staccato note leaves the rest of its step far quieter than a legato one."""
    grid = Grid(FS, 120.0, FS)  # sixteenths of 125 ms
    patch = lead_patch(np.random.default_rng(0), "square", FS)
    note = [Note(0, 4, 69, 1.0)]  # a quarter note, 500 ms
    legato = render_notes(note, grid, patch, articulation=1.0)
    staccato = render_notes(note, grid, patch, articulation=0.3)
    tail = slice(int(0.35 * FS), int(0.5 * FS))
    level_db = 10 * np.log10(((staccato[tail] ** 2).mean() + 1e-20) / (legato[tail] ** 2).mean())
    assert level_db < -20.0
    head = slice(int(0.02 * FS), int(0.12 * FS))  # both still held here
    assert np.allclose(staccato[head], legato[head])


def test_mono_image_gives_identical_channels() -> None:
    seed = next(
        s for s in range(100) if make_plan(np.random.default_rng(s), FS, FS).stereo_image == "mono"
    )
    track = generate_track(seed, 1.0)
    assert track.recipe["stereo_image"] == "mono"
    assert np.array_equal(track.audio[:, 0], track.audio[:, 1])


def test_polyblep_saw_has_far_less_aliasing_than_the_naive_saw() -> None:
    """A 3.1 kHz saw at 44.1 kHz: harmonics above Nyquist fold back between the true
    harmonics. PolyBLEP must push that inharmonic energy well down."""
    f0 = 3100.0
    n = FS
    blep = saw_tone(f0, n, FS)
    naive = 2.0 * phase(f0, n, FS) - 1.0
    assert np.allclose(blep, saw(phase(f0, n, FS), f0 / FS))  # the fast path agrees

    def alias_ratio_db(x: NDArray[np.float64]) -> float:
        spectrum = np.abs(np.fft.rfft(x * np.hanning(n))) ** 2
        freqs = np.fft.rfftfreq(n, 1.0 / FS)
        harmonic = np.abs((freqs / f0) - np.round(freqs / f0)) * f0 < 20.0
        return float(10 * np.log10(spectrum[~harmonic].sum() / spectrum[harmonic].sum()))

    assert alias_ratio_db(blep) < alias_ratio_db(naive) - 10.0


def test_kick_pitch_sweeps_down() -> None:
    hit, info = kick(np.random.default_rng(3), FS)
    assert info["start_hz"] > info["end_hz"]

    def crossings_per_second(x: NDArray[np.float64]) -> float:
        return float(np.count_nonzero(np.diff(np.signbit(x))) / 2 / (x.shape[0] / FS))

    early = crossings_per_second(hit[: int(0.01 * FS)])
    late = crossings_per_second(hit[int(0.1 * FS) : int(0.2 * FS)])
    assert early > 1.5 * late
    assert late == pytest.approx(info["end_hz"], rel=0.25)


@pytest.mark.parametrize("vowel", sorted(VOWELS))
def test_formant_filters_peak_at_the_vowel_formants(vowel: str) -> None:
    sos = _formant_sos(vowel, 1.0, FS)
    freqs = np.linspace(100.0, 4000.0, 3901)
    _, h = scipy.signal.freqz_sos(sos, worN=freqs, fs=FS)
    level = 20 * np.log10(np.abs(h))
    peaks = freqs[scipy.signal.argrelmax(level)[0]]
    for formant in VOWELS[vowel]:
        assert np.min(np.abs(peaks - formant)) < 0.08 * formant
    single = resonator_sos(1000.0, 100.0, FS)
    _, dc = scipy.signal.freqz_sos(single, worN=[0.0], fs=FS)
    assert abs(dc[0]) == pytest.approx(1.0)


def test_reverb_decays_at_its_rt60_and_is_wide_unless_mono() -> None:
    impulse = np.zeros((3 * FS, 2))
    impulse[0] = 1.0
    wet = reverb(impulse, FS, 1.0, 0.3, mono=False)
    energy = (wet**2).sum(axis=1)
    early = energy[int(0.2 * FS) : int(0.3 * FS)].mean()
    later = energy[int(0.7 * FS) : int(0.8 * FS)].mean()
    # 0.5 s later at RT60 1 s: 30 dB down (the loop low-pass makes it a little faster).
    assert 10 * np.log10(early / later) == pytest.approx(30.0, abs=5.0)
    correlation = np.corrcoef(wet[:, 0], wet[:, 1])[0, 1]
    assert abs(correlation) < 0.5
    mono = reverb(impulse, FS, 1.0, 0.3, mono=True)
    assert np.array_equal(mono[:, 0], mono[:, 1])


def test_chords_are_voiced_close_to_the_centre() -> None:
    key = Key(tonic=9, scale="minor")  # A minor
    chord = key.chord_pitch_classes(0, 3)
    assert set(chord) == {9, 0, 4}
    voiced = voice_near(chord, 60)
    assert max(voiced) - min(voiced) <= 12
    assert all(abs(p - 60) <= 6 for p in voiced)


@pytest.mark.parametrize(
    ("seed", "seconds", "fs"),
    [(-1, 2.0, FS), (0, 0.0, FS), (0, float("nan"), FS), (0, 2.0, 8000), (0, 2.0, 44100.0)],
)
def test_bad_arguments_are_refused(seed: int, seconds: float, fs: int) -> None:
    with pytest.raises(InvalidInputError):
        generate_track(seed, seconds, fs)


def test_tracks_sit_near_the_reference_tonal_balance() -> None:
    """Mastered targets, not raw mixes: the corrective EQ leaves a few dB of spread around
    the reference curve between 63 Hz and 8 kHz (6 s: a 2 s track may hold three notes).

    The exception is a track with nothing to lift: an ambient one without a bass part has
    no content an octave below its pads, and the EQ stops at its +12 dB limit there.
    """
    spreads = []
    for seed in range(4):
        track = generate_track(seed, 6.0)
        deviation = octave_deviation_db(track.audio, FS)[1:9]
        spread = float(np.sqrt(np.mean(deviation**2)))
        spreads.append(spread)
        gains = track.recipe["tonal_balance"]["eq_gains_db"]
        assert len(gains) == 10
        if spread >= 8.0:
            assert "bass" not in track.recipe["instruments"]
            assert max(gains[:3]) == EQ_MAX_GAIN_DB, (spread, gains)
    assert np.median(spreads) < 4.5, spreads


def test_balance_tone_lands_a_bass_bump_on_the_house_curve() -> None:
    rng = np.random.default_rng(5)
    white = rng.standard_normal((FS * 4, 2))
    # Noise shaped to the reference curve (PSD -4.5 dB/octave), then a +9 dB bump at 125 Hz.
    spectrum = np.fft.rfft(white, axis=0)
    freqs = np.maximum(np.fft.rfftfreq(white.shape[0], 1.0 / FS), 10.0)
    spectrum *= (10.0 ** (reference_curve_db(freqs) / 20.0))[:, None]
    shaped = np.fft.irfft(spectrum, n=white.shape[0], axis=0)
    bumped = Equalizer(EqSettings(band_gains_db=(0, 0, 9.0, 0, 0, 0, 0, 0, 0, 0)), FS).process(
        shaped
    )
    assert octave_deviation_db(bumped, FS)[2] > 6.0
    balanced, details = balance_tone(np.random.default_rng(1), bumped, FS)
    after = octave_deviation_db(balanced, FS)
    house = np.asarray(details["house_curve_db"])
    # Every band in range lands on the drawn house curve, the bump included.
    assert np.abs(after[:9] - house[:9]).max() < 1.0, (after, house)
    # tilt <= 1 dB/octave over +-5 octaves, offsets <= 2 sigma
    assert np.abs(house).max() <= 1.0 * 5 + 2.0 * max(HOUSE_BAND_SIGMA_DB)


def test_house_curves_spread_the_top_octaves_like_real_masters() -> None:
    # 1 dB per band up to 4 kHz, 2.2 and 5.7 dB at 8 and 16 kHz (balance docstring, 1).
    rng = np.random.default_rng(11)
    curves = np.array([draw_house_curve(rng, FS)[1] for _ in range(2000)])
    std = (curves - curves[:, 5:6]).std(axis=0)  # against 1 kHz: the median removal cancels
    # With 1 dB in every band the tilt and offsets give 1.4, 2.2 and 2.7 dB at 2, 8, 16 kHz.
    assert std[8] > 2.6 and std[9] > 4.5 and std[6] < 1.8, std
