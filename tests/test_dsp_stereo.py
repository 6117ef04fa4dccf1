"""Mid/side width per band, mono bass and the mono-compatibility guard."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.dsp.crossover import Crossover
from voidline.dsp.stereo import mono_loudness_change_db, widen
from voidline.errors import InvalidInputError

FS = 48_000
XO = Crossover((120.0, 1000.0, 6000.0), FS)


def noise(seconds: float, seed: int) -> NDArray[np.float64]:
    return 0.1 * np.random.default_rng(seed).standard_normal(round(seconds * FS))


def partly_wide(seconds: float = 3.0) -> NDArray[np.float64]:
    """A shared centre plus independent noise per channel: correlation about 0.5."""
    centre = noise(seconds, 1)
    return np.stack([centre + noise(seconds, 2), centre + noise(seconds, 3)], axis=1)


def side(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (x[:, 0] - x[:, 1]), dtype=np.float64)


def level_at_db(signal: NDArray[np.float64], freq_hz: int) -> float:
    """Level of one 1 Hz FFT bin of a 1 s signal, dB."""
    return float(20 * np.log10(np.abs(np.fft.rfft(signal[:FS]))[freq_hz] + 1e-30))


def test_width_1_without_mono_bass_is_exactly_transparent() -> None:
    x = partly_wide()
    y = widen(x, [1.0] * 4, XO, 0.0, FS)
    assert y is not x and np.array_equal(y, x)
    assert np.array_equal(widen(x, [1.0], None, 0.0, FS), x)


def test_uneven_widths_keep_the_response_flat_through_the_allpass() -> None:
    """Uneven widths run both M and S through the crossover's all-pass: magnitude stays flat."""
    x = np.zeros((FS, 2))
    x[0] = 1.0  # an impulse in the centre: M only
    y = widen(x, [0.5, 1.0, 1.5, 2.0], XO, 0.0, FS)
    assert np.array_equal(y[:, 0], y[:, 1])  # no side appears
    assert np.max(np.abs(y - XO.allpass_only(x))) < 1e-12
    response = 20 * np.log10(np.abs(np.fft.rfft(y[:, 0])))
    assert np.max(np.abs(response[20:20_001])) < 0.01


def test_width_0_gives_identical_channels() -> None:
    y = widen(partly_wide(), [0.0] * 4, XO, 0.0, FS)
    assert np.array_equal(y[:, 0], y[:, 1])


def test_width_scales_the_side_per_band() -> None:
    t = np.arange(2 * FS) / FS
    low, high = np.sin(2 * np.pi * 60 * t), np.sin(2 * np.pi * 8000 * t)
    x = 0.2 * np.stack([low + 2 * high, -low + high], axis=1)  # side at both frequencies
    # Below 1 kHz twice the side, above it half: both tones are far from the crossovers.
    y = widen(x, [2.0, 2.0, 0.5, 0.5], XO, 0.0, FS)
    x, y = x[FS:], y[FS:]  # the second second: the filters' start-up transient is over
    gain_low = level_at_db(side(y), 60) - level_at_db(side(x), 60)
    gain_high = level_at_db(side(y), 8000) - level_at_db(side(x), 8000)
    assert gain_low == pytest.approx(20 * np.log10(2.0), abs=0.02)
    assert gain_high == pytest.approx(20 * np.log10(0.5), abs=0.02)


def test_bass_below_the_corner_becomes_mono() -> None:
    t = np.arange(FS) / FS
    bass, treble = np.sin(2 * np.pi * 40 * t), np.sin(2 * np.pi * 2000 * t)
    x = 0.2 * np.stack([bass + treble, -bass - treble], axis=1)  # all side
    y = widen(x, [1.0], None, 150.0, FS)
    # Side at 40 Hz down by the LR4 high-pass: (40/150)^4 / (1 + ...), about -46 dB.
    assert level_at_db(side(y), 40) - level_at_db(side(x), 40) < -40.0
    assert level_at_db(side(y), 2000) - level_at_db(side(x), 2000) == pytest.approx(0.0, abs=0.01)
    # The mid is only all-passed: an impulse in the centre keeps a flat magnitude.
    centre = np.zeros((FS, 2))
    centre[0] = 1.0
    z = widen(centre, [1.0], None, 150.0, FS)
    response = 20 * np.log10(np.abs(np.fft.rfft(z[:, 0])))
    assert np.max(np.abs(response[20:20_001])) < 0.01


def test_guard_keeps_mono_compatibility_within_1_db_of_the_input() -> None:
    a, b = noise(6.0, 6), noise(6.0, 7)
    x = np.stack([a, -0.8 * a + 0.3 * b], axis=1)  # mostly anti-phase
    before = mono_loudness_change_db(x, FS)
    unguarded_side_gain = 2.0
    y = widen(x, [unguarded_side_gain] * 4, XO, 0.0, FS)
    after = mono_loudness_change_db(y, FS)
    assert after >= before - 1.0
    assert after < before - 0.9  # it widened as far as the guard allows, not less
    ratio = np.std(side(y)) / np.std(side(x))
    assert 1.0 < ratio < unguarded_side_gain


def test_guard_leaves_compatible_widening_alone() -> None:
    x = partly_wide()
    y = widen(x, [1.2] * 4, XO, 0.0, FS)
    assert np.std(side(y)) / np.std(side(x)) == pytest.approx(1.2, rel=1e-9)
    assert mono_loudness_change_db(y, FS) >= mono_loudness_change_db(x, FS) - 1.0


def test_mono_input_passes_through_unchanged() -> None:
    x = noise(1.0, 8)[:, np.newaxis]
    y = widen(x, [2.0, 0.0, 1.0, 2.0], XO, 200.0, FS)
    assert y is not x and np.array_equal(y, x)


def test_parameters_are_validated() -> None:
    x = partly_wide(0.1)
    with pytest.raises(InvalidInputError, match="width_per_band"):
        widen(x, [2.5] * 4, XO, 0.0, FS)
    with pytest.raises(InvalidInputError, match="one width per crossover band"):
        widen(x, [1.0] * 3, XO, 0.0, FS)
    with pytest.raises(InvalidInputError, match="mono_below_hz"):
        widen(x, [1.0] * 4, XO, 30_000.0, FS)
    with pytest.raises(InvalidInputError, match="crossover"):
        widen(x, [1.0] * 4, Crossover((120.0, 1000.0, 6000.0), 44_100), 0.0, FS)
    with pytest.raises(InvalidInputError, match="channels"):
        widen(np.zeros((10, 3)), [1.0] * 4, XO, 0.0, FS)
