"""EQ and Linkwitz-Riley crossover: measured responses on sines and impulses."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.signal import sosfilt

from voidline.dsp.biquad import peaking, sos_response_db
from voidline.dsp.crossover import Crossover
from voidline.dsp.eq import BAND_CENTRES_HZ, EqSettings, Equalizer
from voidline.errors import InvalidInputError

FS = 48_000


def sine(freq_hz: float, seconds: float, fs: int = FS, channels: int = 2) -> NDArray[np.float64]:
    t = np.arange(round(seconds * fs)) / fs
    return np.repeat((0.25 * np.sin(2 * np.pi * freq_hz * t))[:, None], channels, axis=1)


def gain_on_sine_db(eq: Equalizer, freq_hz: float, seconds: float = 2.0) -> float:
    """Steady-state gain in dB: RMS of the output's second half over the input's."""
    x = sine(freq_hz, seconds, eq.fs)
    y = eq.process(x)
    half = x.shape[0] // 2
    return float(10 * np.log10(np.mean(y[half:] ** 2) / np.mean(x[half:] ** 2)))


def impulse_spectrum_db(signal: NDArray[np.float64]) -> NDArray[np.float64]:
    """|FFT| in dB of a response to a unit impulse; 1 s of audio gives 1 Hz bins."""
    with np.errstate(divide="ignore"):  # a low band can be exactly 0 at Nyquist
        magnitude = np.abs(np.fft.rfft(signal, axis=0))
        return np.asarray(20 * np.log10(magnitude), dtype=np.float64)


def settings(**gains: float) -> EqSettings:
    """EqSettings with band gains given by centre, e.g. settings(b1000=6.0)."""
    bands = [gains.pop(f"b{centre:g}".replace(".", "_"), 0.0) for centre in BAND_CENTRES_HZ]
    return EqSettings(tuple(bands), **gains)


# --- EQ -------------------------------------------------------------------------------------


def test_flat_eq_is_bit_transparent() -> None:
    x = np.random.default_rng(1).standard_normal((10_000, 2)) * 0.3
    eq = Equalizer(EqSettings(), FS)
    assert eq.sos.shape == (0, 6)
    y = eq.process(x)
    assert y is not x
    assert np.array_equal(y, x)
    assert np.all(eq.response_db([20.0, 1000.0, 20000.0]) == 0.0)


def test_zero_gain_bands_are_left_out() -> None:
    eq = Equalizer(settings(b1000=6.0, b63=-3.0, high_shelf_db=2.0), FS)
    assert eq.sos.shape == (3, 6)


def test_plus_6_db_band_at_1_khz_measures_6_db_on_a_sine() -> None:
    eq = Equalizer(settings(b1000=6.0), FS)
    assert gain_on_sine_db(eq, 1000.0) == pytest.approx(6.0, abs=0.01)
    assert eq.response_db(1000.0)[0] == pytest.approx(6.0, abs=1e-9)
    # One octave wide: far from 1 kHz the band does (almost) nothing.
    assert abs(gain_on_sine_db(eq, 63.0)) < 0.1
    assert abs(gain_on_sine_db(eq, 16000.0)) < 0.1


def test_every_band_peaks_at_its_centre() -> None:
    for i, centre in enumerate(BAND_CENTRES_HZ):
        gains = [0.0] * len(BAND_CENTRES_HZ)
        gains[i] = -9.0
        eq = Equalizer(EqSettings(tuple(gains)), FS)
        freqs = centre * 2.0 ** np.linspace(-1, 1, 201)
        response = eq.response_db(freqs)
        assert response.min() == pytest.approx(-9.0, abs=1e-6)
        assert freqs[int(np.argmin(response))] == pytest.approx(centre, rel=0.01)


def test_low_shelf_reaches_its_gain() -> None:
    eq = Equalizer(settings(low_shelf_db=6.0), FS)
    assert gain_on_sine_db(eq, 15.0, seconds=4.0) == pytest.approx(6.0, abs=0.15)
    assert eq.response_db(80.0)[0] == pytest.approx(3.0, abs=1e-6)  # half the gain at f0
    assert abs(gain_on_sine_db(eq, 2000.0)) < 0.05


def test_high_shelf_reaches_its_gain() -> None:
    eq = Equalizer(settings(high_shelf_db=-6.0), FS)
    assert gain_on_sine_db(eq, 23_000.0) == pytest.approx(-6.0, abs=0.15)
    assert eq.response_db(10_000.0)[0] == pytest.approx(-3.0, abs=1e-6)
    assert abs(gain_on_sine_db(eq, 200.0)) < 0.05


def test_bands_at_or_above_0_45_fs_are_skipped() -> None:
    # At 32 kHz, 0.45 fs = 14.4 kHz: the 16 kHz band goes, the 10 kHz shelf stays.
    eq = Equalizer(settings(b16000=6.0), 32_000)
    assert eq.sos.shape == (0, 6)
    assert Equalizer(settings(high_shelf_db=3.0), 32_000).sos.shape == (1, 6)
    assert Equalizer(settings(high_shelf_db=3.0), 22_050).sos.shape == (0, 6)


def test_eq_settings_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="band_gains_db"):
        settings(b1000=12.5)
    with pytest.raises(InvalidInputError, match="10 gains"):
        EqSettings((0.0,) * 9)
    with pytest.raises(InvalidInputError, match="high_shelf_db"):
        EqSettings(high_shelf_db=-13.0)
    with pytest.raises(InvalidInputError, match="fs"):
        Equalizer(EqSettings(), 4000)
    with pytest.raises(InvalidInputError, match="f0_hz"):
        peaking(30_000.0, 3.0, 1.0, FS)


def test_sos_response_matches_a_measured_sine() -> None:
    sos = peaking(440.0, 4.5, 2.0, FS)
    x = sine(440.0, 2.0)
    y = sosfilt(sos, x, axis=0)
    half = x.shape[0] // 2
    measured = 10 * np.log10(np.mean(y[half:] ** 2) / np.mean(x[half:] ** 2))
    assert sos_response_db(sos, [440.0], FS)[0] == pytest.approx(measured, abs=0.01)


# --- crossover ------------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [44_100, 48_000, 96_000])
def test_bands_sum_to_a_flat_response(fs: int) -> None:
    """The issue's requirement: split then sum is flat within 0.01 dB from 20 Hz to 20 kHz."""
    xo = Crossover((120.0, 1000.0, 6000.0), fs)
    x = np.zeros((fs, 2))  # 1 s: 1 Hz bins
    x[0] = 1.0
    total = np.sum(xo.split(x), axis=0)
    response = impulse_spectrum_db(total) - impulse_spectrum_db(x)
    audio_band = response[20:20_001]
    assert np.max(np.abs(audio_band)) < 0.01
    # The sum is the crossover's all-pass of the input, sample for sample.
    assert np.max(np.abs(total - xo.allpass_only(x))) < 1e-12
    # ... and not the input itself: the phase has turned.
    assert np.max(np.abs(total - x)) > 0.1


def test_each_band_is_minus_6_db_at_its_crossovers() -> None:
    freqs = (120, 1000, 6000)
    xo = Crossover(freqs, FS)
    x = np.zeros((FS, 1))
    x[0] = 1.0
    spectra = [impulse_spectrum_db(band)[:, 0] for band in xo.split(x)]
    lr4_at_corner = 20 * np.log10(0.5)  # -6.02 dB
    for k, f in enumerate(freqs):
        assert spectra[k][f] == pytest.approx(lr4_at_corner, abs=0.02)
        assert spectra[k + 1][f] == pytest.approx(lr4_at_corner, abs=0.02)
    # 24 dB/octave: two octaves past a corner a band is down by more than 40 dB.
    assert spectra[0][480] < -40.0
    assert spectra[1][30] < -40.0 and spectra[1][4000] < -40.0
    assert spectra[3][1500] < -40.0
    # Inside a band: the analogue LR4 high-pass times low-pass, |H| = u^4/(1+u^4) / (1+v^4).
    u, v = 350 / 120, 350 / 1000
    analogue = 20 * np.log10(u**4 / (1 + u**4) / (1 + v**4))
    assert spectra[1][350] == pytest.approx(analogue, abs=0.01)


def test_split_with_one_frequency_makes_two_bands_and_band_sos_matches() -> None:
    xo = Crossover([500.0], FS)
    x = np.random.default_rng(2).standard_normal((4800, 2))
    low, high = xo.split(x)
    assert low.shape == high.shape == x.shape
    assert np.allclose(low, sosfilt(xo.band_sos(0), x, axis=0), atol=1e-12)
    assert np.allclose(high, sosfilt(xo.band_sos(1), x, axis=0), atol=1e-12)


def test_crossover_frequencies_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="increasing"):
        Crossover((1000.0, 120.0), FS)
    with pytest.raises(InvalidInputError, match=r"0\.45 fs"):
        Crossover((120.0, 1000.0, 6000.0), 8000)
    with pytest.raises(InvalidInputError, match="at least one"):
        Crossover((), FS)
    with pytest.raises(InvalidInputError, match="shape"):
        Crossover((100.0,), FS).split(np.zeros(100))
