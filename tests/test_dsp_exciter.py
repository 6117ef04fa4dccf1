"""Harmonic exciter: transparency, added harmonics, aliasing suppressed by 4x oversampling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.dsp.exciter import CHUNK, excite, saturate
from voidline.errors import InvalidInputError

FS = 48000


def tone(freq_hz: float, amplitude: float, seconds: float = 1.0) -> NDArray[np.float64]:
    t = np.arange(int(FS * seconds)) / FS
    return (amplitude * np.sin(2 * np.pi * freq_hz * t))[:, None]


def level_db(y: NDArray[np.float64], freq_hz: float) -> float:
    """Level of the Hann-windowed spectrum's peak within +-20 Hz of freq_hz (dB, arbitrary 0)."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1.0 / FS)
    near = np.abs(freqs - freq_hz) <= 20.0
    return float(20.0 * np.log10(spectrum[near].max() + 1e-300))


# Odd harmonics (tanh is odd) of 15 kHz fold about multiples of 48 kHz: 3rd 45 kHz -> 3 kHz,
# 5th 75 kHz -> 21 kHz, 7th 105 kHz -> 9 kHz, 9th 135 kHz -> 9 kHz, 11th 165 kHz -> 21 kHz.
ALIASES_HZ = (3000.0, 9000.0, 21000.0)


def test_oversampling_keeps_aliases_40_db_under_the_fundamental() -> None:
    drive_db = 18.0
    x = tone(15000.0, 0.5)
    y = excite(x, FS, amount=1.0, drive_db=drive_db, freq_hz=3000.0, mix=1.0)[:, 0]
    fundamental = level_db(y, 15000.0)
    # The same saturator run at 48 kHz, no oversampling (15 kHz is far above the high-pass,
    # so the band is the tone itself).
    naive = saturate(x[:, 0], drive_db)
    naive_fundamental = level_db(naive, 15000.0)
    for alias in ALIASES_HZ:
        assert level_db(y, alias) < fundamental - 40.0, alias
    worst_naive = max(level_db(naive, alias) - naive_fundamental for alias in ALIASES_HZ)
    worst = max(level_db(y, alias) - fundamental for alias in ALIASES_HZ)
    assert worst_naive > -25.0  # the 3rd harmonic folds straight onto 3 kHz
    assert worst < worst_naive - 20.0
    # The harmonics themselves (45 kHz and up) are above Nyquist: nothing new in band except
    # the fundamental, whose level the soft clip lowers a little.
    assert level_db(y, 15000.0) < level_db(x[:, 0], 15000.0)


def test_harmonics_are_added_above_the_corner() -> None:
    x = tone(2000.0, 0.3)
    y = excite(x, FS, amount=1.0, drive_db=12.0, freq_hz=1000.0)[:, 0]
    clean = x[:, 0]
    fundamental = level_db(y, 2000.0)
    # tanh makes odd harmonics: 6 kHz and 10 kHz appear, 4 kHz (even) does not.
    assert level_db(y, 6000.0) > fundamental - 40.0
    assert level_db(y, 6000.0) > level_db(clean, 6000.0) + 100.0
    assert level_db(y, 10000.0) > fundamental - 60.0
    assert level_db(y, 4000.0) < fundamental - 100.0


def test_a_tone_below_the_corner_gets_almost_nothing() -> None:
    x = tone(200.0, 0.5)
    y = excite(x, FS, amount=1.0, drive_db=12.0, freq_hz=5000.0)[:, 0]
    # The 4th-order high-pass leaves 200 Hz about 110 dB down: far too small to saturate.
    assert level_db(y, 600.0) < level_db(y, 200.0) - 120.0


def test_more_amount_and_drive_give_more_harmonics() -> None:
    x = tone(2000.0, 0.3)
    levels = [
        level_db(excite(x, FS, amount=a, drive_db=d, freq_hz=1000.0)[:, 0], 6000.0)
        for a, d in ((0.25, 12.0), (1.0, 12.0), (1.0, 24.0))
    ]
    assert levels[0] < levels[1] < levels[2]
    # amount scales the added signal linearly: 4x the amount is +12 dB of harmonics.
    assert levels[1] - levels[0] == pytest.approx(20 * np.log10(4.0), abs=0.01)


@pytest.mark.parametrize(("amount", "mix"), [(0.0, 1.0), (0.7, 0.0)])
def test_zero_amount_or_mix_is_bit_transparent(amount: float, mix: float) -> None:
    x = np.random.default_rng(0).standard_normal((FS, 2)) * 0.2
    y = excite(x, FS, amount=amount, drive_db=24.0, freq_hz=2000.0, mix=mix)
    assert np.array_equal(y, x)
    assert y is not x


def test_chunked_processing_joins_seamlessly() -> None:
    """Steps 2-4 run per chunk; the result must not depend on where the chunks fall."""
    rng = np.random.default_rng(5)
    n = 2 * CHUNK + 123
    x = rng.standard_normal((n, 2)) * 0.3
    whole = excite(x, FS, amount=1.0, drive_db=18.0, freq_hz=2000.0)
    # The same signal shifted by a few samples puts every chunk boundary elsewhere.
    shift = 1000
    shifted = excite(np.vstack([np.zeros((shift, 2)), x]), FS, 1.0, 18.0, 2000.0)[shift:]
    np.testing.assert_allclose(whole, shifted, rtol=0, atol=1e-9)
    assert whole.shape == x.shape


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"amount": 1.5}, "amount"),
        ({"mix": -0.1}, "mix"),
        ({"drive_db": 60.0}, "drive_db"),
        ({"freq_hz": 30000.0}, "freq_hz"),
        ({"freq_hz": 5.0}, "freq_hz"),
        ({"fs": 1000}, "fs"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"fs": FS, **kwargs}
    fs = int(args.pop("fs"))
    with pytest.raises(InvalidInputError, match=name):
        excite(np.zeros((100, 2)), fs, **args)
