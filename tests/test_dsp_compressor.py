"""Soft-knee compressor and multiband compressor: static curve, timing, transparency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.dsp.compressor import (
    CompressorBand,
    MultibandCompressor,
    compress,
    gain_db,
    static_curve_db,
)
from voidline.dsp.crossover import Crossover
from voidline.errors import InvalidInputError

FS = 48_000


def dc(level_db: float, seconds: float, channels: int = 2) -> NDArray[np.float64]:
    """A constant signal: its peak level is the same on every sample."""
    return np.full((round(seconds * FS), channels), 10.0 ** (level_db / 20.0))


def settled_output_db(level_db: float, band: CompressorBand) -> float:
    """Output level after the detector has settled on a constant input at level_db."""
    y = compress(dc(level_db, 0.2), band, FS)
    return float(20 * np.log10(y[-1, 0]))


KNEE = CompressorBand(threshold_db=-20.0, ratio=4.0, knee_db=10.0, attack_ms=1.0, release_ms=5.0)


def test_static_curve_below_threshold_is_unity() -> None:
    for level in (-60.0, -40.0, -25.0):  # -25 is the knee's lower edge
        x = dc(level, 0.2)
        assert np.array_equal(compress(x, KNEE, FS), x)


def test_static_curve_far_above_threshold_has_slope_one_over_ratio() -> None:
    low, high = settled_output_db(-10.0, KNEE), settled_output_db(0.0, KNEE)
    assert (high - low) / 10.0 == pytest.approx(1.0 / KNEE.ratio, abs=1e-9)
    assert high == pytest.approx(-20.0 + 20.0 / 4.0, abs=1e-9)  # T + (x - T) / R


def test_static_curve_inside_the_knee_lies_between_unity_and_the_ratio() -> None:
    levels = np.linspace(-24.5, -15.5, 19)
    outputs = np.array([settled_output_db(float(level), KNEE) for level in levels])
    slopes = np.diff(outputs) / np.diff(levels)
    # The slope turns from 1 (unity) to 1/R across the knee, strictly between the two.
    assert np.all((slopes < 1.0) & (slopes > 1.0 / KNEE.ratio))
    assert np.all(np.diff(slopes) < 0)
    # The knee rounds the corner of the hard-knee curve from below, by at most (1 - 1/R) W / 8.
    hard = np.minimum(levels, -20.0 + (levels + 20.0) / 4.0)
    assert np.all(outputs < hard)
    assert np.all(outputs >= hard - 0.75 * 10.0 / 8.0 - 1e-12)
    # At the threshold: T + (1/R - 1) (W/2)^2 / (2W) (Giannoulis et al. eq. 4).
    assert settled_output_db(-20.0, KNEE) == pytest.approx(-20.0 - 0.75 * 25 / 20, abs=1e-9)


def test_static_curve_is_continuous_and_monotonic() -> None:
    levels = np.linspace(-40.0, 0.0, 4001)
    curve = static_curve_db(levels, KNEE)
    assert np.all(np.diff(curve) > 0)
    # The knee meets both lines at its edges.
    edges = static_curve_db(np.array([-25.0, -15.0]), KNEE)
    assert edges[0] == pytest.approx(-25.0, abs=1e-12)
    assert edges[1] == pytest.approx(-20.0 + 5.0 / 4.0, abs=1e-12)
    hard = CompressorBand(threshold_db=-20.0, ratio=4.0, knee_db=0.0)
    assert static_curve_db(-20.0, hard) == pytest.approx(-20.0)


def test_ratio_1_and_no_makeup_is_transparent() -> None:
    x = np.random.default_rng(3).standard_normal((20_000, 2))
    band = CompressorBand(threshold_db=-60.0, ratio=1.0, knee_db=0.0, makeup_db=0.0)
    y = compress(x, band, FS)
    assert y is not x and np.array_equal(y, x)
    # Even through the detector (ratio 1, a makeup of 0 dB on the far side of it):
    assert np.all(gain_db(x, band, FS) == 0.0)


def test_makeup_gain_is_applied() -> None:
    x = dc(-60.0, 0.1)
    band = CompressorBand(threshold_db=-20.0, ratio=3.0, makeup_db=6.0)
    y = compress(x, band, FS)
    assert 20 * np.log10(y[-1, 0] / x[-1, 0]) == pytest.approx(6.0, abs=1e-9)


def test_attack_and_release_time_constants() -> None:
    """A level step reaches 1 - 1/e (63 %) of its gain change after the time constant."""
    band = CompressorBand(
        threshold_db=-30.0, ratio=4.0, knee_db=0.0, attack_ms=10.0, release_ms=100.0
    )
    quiet, loud = dc(-40.0, 0.5), dc(-10.0, 0.5)
    x = np.concatenate([quiet, loud, quiet])
    gain = gain_db(x, band, FS)
    step_up, step_down = quiet.shape[0], quiet.shape[0] + loud.shape[0]
    full = -15.0  # (-10 - -30) (1 - 1/4)
    assert np.all(gain[:step_up] == 0.0)
    at_attack = gain[step_up + round(0.010 * FS) - 1]
    assert at_attack / full == pytest.approx(1 - math.exp(-1), abs=0.01)
    assert gain[step_up + round(0.050 * FS)] / full == pytest.approx(1.0, abs=0.01)
    at_release = gain[step_down + round(0.100 * FS) - 1]
    assert at_release / full == pytest.approx(math.exp(-1), abs=0.01)
    # The output follows the gain.
    y = compress(x, band, FS)
    assert 20 * np.log10(y[step_up + 479, 0] / x[step_up + 479, 0]) == pytest.approx(at_attack)


def test_detection_is_stereo_linked() -> None:
    rng = np.random.default_rng(4)
    x = np.stack([0.9 * rng.standard_normal(20_000), 0.01 * rng.standard_normal(20_000)], 1)
    y = compress(x, CompressorBand(threshold_db=-30.0, ratio=8.0), FS)
    ratio = y / x
    assert np.allclose(ratio[:, 0], ratio[:, 1], rtol=1e-12, atol=0)
    assert ratio.min() < 0.5  # it did compress


def test_multiband_with_all_ratios_1_is_the_crossover_allpass() -> None:
    xo = Crossover((120.0, 1000.0, 6000.0), FS)
    bands = [CompressorBand(threshold_db=-50.0, ratio=1.0, makeup_db=0.0)] * 4
    x = np.zeros((FS, 2))
    x[0] = 1.0
    y = MultibandCompressor(xo, bands).process(x)
    assert np.max(np.abs(y - xo.allpass_only(x))) < 1e-12
    response_db = 20 * np.log10(np.abs(np.fft.rfft(y[:, 0])))
    assert np.max(np.abs(response_db[20:20_001])) < 0.01


def test_multiband_compresses_only_the_bands_asked_to() -> None:
    xo = Crossover((1000.0,), FS)
    t = np.arange(FS) / FS
    low, high = 0.5 * np.sin(2 * np.pi * 100 * t), 0.5 * np.sin(2 * np.pi * 5000 * t)
    x = np.stack([low + high, low + high], axis=1)
    bands = [
        CompressorBand(ratio=1.0),
        CompressorBand(threshold_db=-30.0, ratio=10.0, knee_db=0.0, attack_ms=1.0),
    ]
    y = MultibandCompressor(xo, bands).process(x)
    spectrum_in = np.abs(np.fft.rfft(x[FS // 2 :, 0]))
    spectrum_out = np.abs(np.fft.rfft(y[FS // 2 :, 0]))
    bin_hz = 2  # half a second of audio
    assert spectrum_out[100 // bin_hz] / spectrum_in[100 // bin_hz] == pytest.approx(1.0, abs=0.01)
    assert spectrum_out[5000 // bin_hz] / spectrum_in[5000 // bin_hz] < 0.2


def test_settings_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="ratio"):
        CompressorBand(ratio=0.5)
    with pytest.raises(InvalidInputError, match="attack_ms"):
        CompressorBand(attack_ms=-1.0)
    with pytest.raises(InvalidInputError, match="threshold_db"):
        CompressorBand(threshold_db=3.0)
    with pytest.raises(InvalidInputError, match="one CompressorBand per crossover band"):
        MultibandCompressor(Crossover((1000.0,), FS), [CompressorBand()])
    with pytest.raises(InvalidInputError, match="fs"):
        compress(dc(-10.0, 0.01), CompressorBand(), 1000)
