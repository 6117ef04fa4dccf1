"""voidline.mastering.reference: profiles, match plans and the linear-phase match EQ."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.signal
from numpy.typing import NDArray

from tests.support.spectra import third_octave_mid_db
from voidline.dsp.crossover import Crossover
from voidline.dsp.eq import EqSettings, Equalizer
from voidline.dsp.loudness_target import integrated_lufs
from voidline.dsp.stereo import widen
from voidline.errors import InvalidInputError
from voidline.mastering.parameters import CROSSOVER_HZ
from voidline.mastering.reference import (
    GRID_HZ,
    MAX_MATCH_DB,
    ReferenceMatch,
    ReferenceProfile,
    apply_match_eq,
    fir_taps,
    plan_match,
)

FS = 44_100
# Measured: the known EQ below comes back within 0.11 dB RMS (0.31 dB at worst) on the 26
# third-octave bands 50 Hz-16 kHz, at 44.1 kHz and with a 48 kHz reference alike.
MATCH_RMS_DB = 0.4
MATCH_MAX_DB = 1.0


def pink_stereo(
    fs: int = FS, seconds: float = 6.0, side_share: float = 0.4, seed: int = 3
) -> NDArray[np.float64]:
    """Pink noise (-3 dB/octave) in both channels with a partly independent side, -12 dBFS."""
    rng = np.random.default_rng(seed)
    n = round(fs * seconds)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    shaping = np.zeros_like(freqs)
    shaping[1:] = 1.0 / np.sqrt(freqs[1:])
    centre, spread = (np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shaping, n) for _ in "ms")
    x = np.stack([centre + side_share * spread, centre - side_share * spread], axis=1)
    return np.asarray(0.25 * x / np.abs(x).max(), dtype=np.float64)


def tilt_and_bump() -> EqSettings:
    """+4 dB low shelf, -4 dB at 125 Hz, +6 dB at 1 kHz, +3 dB at 8 kHz, -5 dB high shelf."""
    gains = [0.0] * 10
    gains[2], gains[5], gains[8] = -4.0, 6.0, 3.0
    return EqSettings(tuple(gains), low_shelf_db=4.0, high_shelf_db=-5.0)


def shape_error_db(
    out: NDArray[np.float64], reference: NDArray[np.float64], fs: int
) -> NDArray[np.float64]:
    """Third-octave level differences with their mean (a broadband gain) removed."""
    difference = third_octave_mid_db(out, fs) - third_octave_mid_db(reference, fs)
    return np.asarray(difference - difference.mean(), dtype=np.float64)


def side_to_mid_db(x: NDArray[np.float64]) -> float:
    mid, side = x.mean(axis=1), 0.5 * (x[:, 0] - x[:, 1])
    return float(10 * np.log10(np.sum(side**2) / np.sum(mid**2)))


@pytest.fixture(scope="module")
def original() -> NDArray[np.float64]:
    return pink_stereo()


@pytest.fixture(scope="module")
def reference_profile(original: NDArray[np.float64]) -> ReferenceProfile:
    return ReferenceProfile.measure(original, FS, role="reference")


@pytest.fixture(scope="module")
def equalised(original: NDArray[np.float64]) -> NDArray[np.float64]:
    return Equalizer(tilt_and_bump(), FS).process(original)


@pytest.fixture(scope="module")
def full_match(
    equalised: NDArray[np.float64], reference_profile: ReferenceProfile
) -> ReferenceMatch:
    return plan_match(ReferenceProfile.measure(equalised, FS), reference_profile, 1.0)


# --- tonal match ------------------------------------------------------------------------


def test_a_known_eq_is_undone_by_matching_the_original(
    original: NDArray[np.float64],
    equalised: NDArray[np.float64],
    full_match: ReferenceMatch,
) -> None:
    before = shape_error_db(equalised, original, FS)
    assert np.sqrt(np.mean(before**2)) > 2.0  # the EQ is far from flat
    out = apply_match_eq(equalised, FS, full_match)
    error = shape_error_db(out, original, FS)
    assert np.sqrt(np.mean(error**2)) < MATCH_RMS_DB
    assert np.abs(error).max() < MATCH_MAX_DB
    # Loudness was aligned before the difference was taken: the EQ keeps the level.
    assert integrated_lufs(out, FS) == pytest.approx(integrated_lufs(equalised, FS), abs=0.5)
    assert full_match.width_factors == pytest.approx((1.0,) * 4, abs=0.02)
    assert full_match.target_lufs == integrated_lufs(original, FS)


def test_the_curve_is_the_inverse_of_the_eq_in_the_middle_of_the_range(
    full_match: ReferenceMatch,
) -> None:
    grid = np.asarray(GRID_HZ)
    inside = (grid > 40.0) & (grid < 14_000.0)
    inverse = -Equalizer(tilt_and_bump(), FS).response_db(grid[inside])
    curve = np.asarray(full_match.curve_db)[inside]
    shape = curve - inverse
    assert np.abs(shape - shape.mean()).max() < 1.0


def test_amount_scales_the_plan(
    equalised: NDArray[np.float64], reference_profile: ReferenceProfile, full_match: ReferenceMatch
) -> None:
    input_profile = ReferenceProfile.measure(equalised, FS)
    half = plan_match(input_profile, reference_profile, 0.5)
    assert np.allclose(half.curve_db, 0.5 * np.asarray(full_match.curve_db), atol=1e-12)
    assert np.allclose(half.width_factors, np.sqrt(full_match.width_factors), atol=1e-12)
    assert half.blended_target_lufs(-10.0) == pytest.approx(
        0.5 * reference_profile.integrated_lufs + 0.5 * -10.0
    )


def test_amount_zero_is_an_exact_identity(
    equalised: NDArray[np.float64], reference_profile: ReferenceProfile
) -> None:
    nothing = plan_match(ReferenceProfile.measure(equalised, FS), reference_profile, 0.0)
    assert nothing.is_flat
    assert nothing.width_factors == (1.0, 1.0, 1.0, 1.0)
    out = apply_match_eq(equalised, FS, nothing)
    assert out is not equalised and np.array_equal(out, equalised)
    assert nothing.blended_target_lufs(-9.0) == -9.0


def test_no_boost_beyond_12_db(
    original: NDArray[np.float64], reference_profile: ReferenceProfile
) -> None:
    """An input 40 dB down above 2 kHz asks for +40 dB; the plan gives +12 dB at most."""
    spectrum = np.fft.rfft(original, axis=0)
    spectrum[np.fft.rfftfreq(original.shape[0], 1.0 / FS) > 2000.0] *= 0.01
    dull = np.fft.irfft(spectrum, original.shape[0], axis=0)
    match = plan_match(ReferenceProfile.measure(dull, FS), reference_profile, 1.0)
    assert max(match.curve_db) == pytest.approx(MAX_MATCH_DB)
    assert min(match.curve_db) >= -MAX_MATCH_DB
    with pytest.raises(InvalidInputError, match="within \\+-12 dB"):
        ReferenceMatch(GRID_HZ, (12.5,) * len(GRID_HZ), (1.0,) * 4, -14.0, 1.0)


def test_near_silent_parts_of_a_spectrum_are_not_matched(original: NDArray[np.float64]) -> None:
    """A reference with nothing above 10 kHz asks for no EQ there (not for -12 dB)."""
    spectrum = np.fft.rfft(original, axis=0)
    spectrum[np.fft.rfftfreq(original.shape[0], 1.0 / FS) > 10_000.0] = 0.0
    band_limited = np.fft.irfft(spectrum, original.shape[0], axis=0)
    match = plan_match(
        ReferenceProfile.measure(original, FS), ReferenceProfile.measure(band_limited, FS), 1.0
    )
    curve = np.asarray(match.curve_db)
    grid = np.asarray(GRID_HZ)
    assert np.all(curve[grid >= 11_000.0] == 0.0)
    # The same track below 10 kHz: a flat curve (a broadband offset from the loudness
    # alignment, since the reference lost its top octave's share of the loudness).
    below = curve[(grid > 30.0) & (grid < 8_000.0)]  # 1/4 octave (smoothing) below 9.7 kHz
    assert below.max() - below.min() < 0.2


def test_the_curve_fades_to_zero_outside_the_matched_range(full_match: ReferenceMatch) -> None:
    grid = np.asarray(GRID_HZ)
    curve = np.asarray(full_match.curve_db)
    assert np.all(curve[grid < 22.9] == 0.0)
    assert np.all(curve[grid > 19_700.0] == 0.0)


# --- width ------------------------------------------------------------------------------


def test_width_matching_restores_side_to_mid(original: NDArray[np.float64]) -> None:
    mid, side = original.mean(axis=1), 0.5 * (original[:, 0] - original[:, 1])
    for side_gain in (0.5, 1.6):
        changed = np.stack([mid + side_gain * side, mid - side_gain * side], axis=1)
        match = plan_match(
            ReferenceProfile.measure(changed, FS), ReferenceProfile.measure(original, FS), 1.0
        )
        assert match.width_factors == pytest.approx((1.0 / side_gain,) * 4, rel=0.01)
        restored = widen(changed, match.width_factors, Crossover(CROSSOVER_HZ, FS), 0.0, FS)
        assert side_to_mid_db(restored) == pytest.approx(side_to_mid_db(original), abs=0.1)


def test_width_factors_follow_the_bands(original: NDArray[np.float64]) -> None:
    """Side gains per crossover band come back as their inverses (band skirts blur them)."""
    crossover = Crossover(CROSSOVER_HZ, FS)
    gains = (0.6, 1.0, 1.4, 0.8)
    changed = widen(original, gains, crossover, 0.0, FS)
    reference = ReferenceProfile.measure(original, FS)
    match = plan_match(ReferenceProfile.measure(changed, FS), reference, 1.0)
    assert match.width_factors == pytest.approx([1.0 / g for g in gains], rel=0.1)
    restored = ReferenceProfile.measure(widen(changed, match.width_factors, crossover, 0.0, FS), FS)
    # Measured: within 0.6 dB (the 1-6 kHz band; the others within 0.4 dB).
    assert 10 * np.log10(restored.side_mid_ratios) == pytest.approx(
        10 * np.log10(reference.side_mid_ratios), abs=0.8
    )


def test_mono_input_keeps_width_1_and_stays_mono(
    original: NDArray[np.float64], reference_profile: ReferenceProfile
) -> None:
    mono = original.mean(axis=1, keepdims=True)
    profile = ReferenceProfile.measure(mono, FS)
    assert profile.channels == 1 and profile.side_mid_ratios == (0.0,) * 4
    match = plan_match(profile, reference_profile, 1.0)
    assert match.width_factors == (1.0,) * 4
    # The mono input is the reference's mid: the tone needs no change.
    assert np.abs(match.curve_db).max() < 0.3
    assert apply_match_eq(mono, FS, match).shape == mono.shape


def test_an_input_all_out_of_phase_is_left_alone(
    original: NDArray[np.float64], reference_profile: ReferenceProfile
) -> None:
    """No mid at all: nothing for the EQ to shape, no side/mid ratio to match."""
    left = original[:, :1]
    profile = ReferenceProfile.measure(np.hstack([left, -left]), FS)
    match = plan_match(profile, reference_profile, 1.0)
    assert match.is_flat
    assert match.width_factors == (1.0,) * 4


# --- sample rates and alignment ---------------------------------------------------------


def test_a_48_khz_reference_matches_a_44_1_khz_input() -> None:
    original_48k = pink_stereo(48_000)
    original = np.asarray(scipy.signal.resample_poly(original_48k, 147, 160, axis=0))
    equalised = Equalizer(tilt_and_bump(), FS).process(original)
    resampled = ReferenceProfile.measure(original_48k, 48_000, resample_to=FS)
    assert resampled.sample_rate_hz == FS
    native = ReferenceProfile.measure(original_48k, 48_000)
    grid = np.asarray(GRID_HZ)
    usable = (grid > 25.0) & (grid < 18_000.0)
    # The same spectrum at either rate, but for the estimation noise of the few Welch bins
    # (2.7 Hz vs 2.9 Hz wide) that 1/6-octave windows hold, largest in the bass.
    difference = np.abs(np.subtract(resampled.mid_db, native.mid_db))[usable]
    assert np.median(difference) < 0.1 and difference.max() < 0.5
    assert resampled.band_mid_db == pytest.approx(native.band_mid_db, abs=0.2)
    # Resampling drops the 22-24 kHz octave slice, which K-weighting (+4 dB up there) counts:
    # 0.13 LU of this pink noise.
    assert resampled.integrated_lufs == pytest.approx(native.integrated_lufs, abs=0.2)
    for profile in (resampled, native):
        match = plan_match(ReferenceProfile.measure(equalised, FS), profile, 1.0)
        error = shape_error_db(apply_match_eq(equalised, FS, match), original, FS)
        assert np.sqrt(np.mean(error**2)) < MATCH_RMS_DB


def test_an_impulse_stays_at_its_sample(full_match: ReferenceMatch) -> None:
    x = np.zeros((FS, 2))
    positions = (3, FS // 2, FS - 4)
    for p in positions:
        x[p, 0] = 1.0
        x[p, 1] = -0.5
    y = apply_match_eq(x, FS, full_match)
    assert y.shape == x.shape
    half = 200  # linear phase: the response is symmetric about the impulse
    p = FS // 2
    assert int(np.argmax(np.abs(y[p - half : p + half, 0]))) == half
    assert np.allclose(y[p - half : p, 0], y[p + half : p : -1, 0], atol=1e-12)
    assert np.allclose(y[:, 1], -0.5 * y[:, 0], atol=1e-12)
    for p in positions:
        window = slice(max(p - 20, 0), p + 21)
        assert int(np.argmax(np.abs(y[window, 0]))) + window.start == p


def test_fir_length_gives_about_20_hz_resolution() -> None:
    assert fir_taps(44_100) == 4411
    assert fir_taps(48_000) == 4801
    assert fir_taps(96_000) % 2 == 1


# --- serialisation and bad input --------------------------------------------------------


def test_profile_round_trips_through_json(reference_profile: ReferenceProfile) -> None:
    text = json.dumps(reference_profile.to_dict(), allow_nan=False)
    assert ReferenceProfile.from_dict(json.loads(text)) == reference_profile


def test_a_damaged_profile_is_refused(reference_profile: ReferenceProfile) -> None:
    data = reference_profile.to_dict()
    for key, value, message in (
        ("version", 99, "version 99"),
        ("frequencies_hz", [1.0, 2.0], "another frequency grid"),
        ("mid_db", [0.0], "must hold 121 values"),
        ("integrated_lufs", None, "malformed"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            ReferenceProfile.from_dict({**data, key: value})
    without = dict(data)
    del without["band_side_db"]
    with pytest.raises(InvalidInputError, match="band_side_db"):
        ReferenceProfile.from_dict(without)


def test_silent_nan_and_short_audio_are_refused(original: NDArray[np.float64]) -> None:
    with pytest.raises(InvalidInputError, match="the reference is silent"):
        ReferenceProfile.measure(np.zeros((FS, 2)), FS, role="reference")
    with pytest.raises(InvalidInputError, match="silent"):
        ReferenceProfile.measure(np.full((FS, 2), 1e-6), FS)  # -120 dBFS
    nan = original[:FS].copy()
    nan[5, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        ReferenceProfile.measure(nan, FS)
    with pytest.raises(InvalidInputError, match=r"at least 0\.4 s"):
        ReferenceProfile.measure(original[: FS // 4], FS)
    with pytest.raises(InvalidInputError, match="1-2 channels"):
        ReferenceProfile.measure(np.zeros((FS, 3)), FS)


def test_apply_and_plan_refuse_bad_arguments(
    full_match: ReferenceMatch, reference_profile: ReferenceProfile
) -> None:
    nan = np.zeros((100, 2))
    nan[1, 1] = np.inf
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        apply_match_eq(nan, FS, full_match)
    for amount in (-0.1, 1.5, math.nan):
        with pytest.raises(InvalidInputError, match="amount must lie within 0 to 1"):
            plan_match(reference_profile, reference_profile, amount)
    assert apply_match_eq(np.zeros((0, 2)), FS, full_match).shape == (0, 2)
