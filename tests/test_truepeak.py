"""True peak per ITU-R BS.1770-5 Annex 2: EBU Tech 3341 cases 15-23, streaming, precision."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from tests.ebu_signals import TRUE_PEAK_CASES, inter_sample_case, true_peak_case
from voidline.analysis.truepeak import TruePeakMeter, interpolation_phases

EBU_DIR = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "ebu-loudness-v05"
needs_ebu_files = pytest.mark.skipif(
    not EBU_DIR.is_dir(), reason=f"EBU loudness test set not found at {EBU_DIR}"
)


def true_peak(
    x: NDArray[np.float64], fs: int, high_precision: bool = False, chunk: int = 0
) -> float:
    meter = TruePeakMeter(fs, x.shape[1], high_precision)
    step = chunk or x.shape[0]
    for start in range(0, x.shape[0], step):
        meter.push(x[start : start + step])
    meter.flush()
    return max(meter.true_peak_dbtp())


@pytest.mark.parametrize("high_precision", [False, True])
@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("case", sorted(TRUE_PEAK_CASES))
def test_tech3341_true_peak_cases(case: int, fs: int, high_precision: bool) -> None:
    fraction, amplitude, phase, expected = TRUE_PEAK_CASES[case]
    measured = true_peak(true_peak_case(fs, fraction * fs, amplitude, phase), fs, high_precision)
    assert expected - 0.4 <= measured <= expected + 0.2
    # This meter is far inside the tolerance on pure tones.
    assert measured == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("high_precision", [False, True])
@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_tech3341_inter_sample_cases_20_to_23(fs: int, high_precision: bool) -> None:
    readings = [true_peak(inter_sample_case(fs, offset), fs, high_precision) for offset in range(4)]
    for measured in readings:
        assert -0.4 <= measured <= 0.2
    # The burst's position between samples must hardly matter.
    assert max(readings) - min(readings) < 0.1


def test_phase_zero_reproduces_the_input_and_dc_gain_is_unity() -> None:
    for factor, taps in ((4, 32), (16, 48), (2, 32)):
        phases = interpolation_phases(factor, taps, 8.0)
        np.testing.assert_allclose(phases.sum(axis=1), 1.0, atol=1e-12)
    # A constant level (reached by a slow fade) reads exactly that level on every phase.
    x = np.full((96000, 2), 0.5)
    fade = (0.5 - 0.5 * np.cos(np.pi * np.arange(24000) / 24000))[:, None]
    x[:24000] *= fade
    x[-24000:] *= fade[::-1]
    assert true_peak(x, 48000) == pytest.approx(20 * math.log10(0.5), abs=1e-4)


def test_chunking_does_not_change_the_true_peak() -> None:
    fs = 48000
    rng = np.random.default_rng(5)
    x = rng.standard_normal((fs * 4, 2)) * 0.2
    whole = true_peak(x, fs)
    assert true_peak(x, fs, chunk=4800) == pytest.approx(whole, abs=1e-9)
    assert true_peak(x, fs, chunk=7) == pytest.approx(whole, abs=1e-9)
    meter = TruePeakMeter(fs, 2)
    start = 0
    while start < x.shape[0]:
        n = int(rng.integers(1, fs))
        meter.push(x[start : start + n])
        start += n
    meter.flush()
    assert max(meter.true_peak_dbtp()) == pytest.approx(whole, abs=1e-9)


def test_block_skipping_is_exact() -> None:
    """A loud burst in quiet music: skipping quiet blocks must not change the answer."""
    fs = 48000
    rng = np.random.default_rng(9)
    x = rng.standard_normal((fs * 3, 1)) * 0.01
    x[fs : fs + 2000] *= 60.0
    meter = TruePeakMeter(fs, 1)
    meter.push(x)
    meter.flush()
    # Reference: every window computed with plain numpy.
    phases = interpolation_phases(4, 32, 8.0)
    padded = np.concatenate([np.zeros(15), x[:, 0], np.zeros(15)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 32)
    reference = max(np.abs(windows @ phases.T).max(), np.abs(x).max())
    assert meter.true_peak_dbtp()[0] == pytest.approx(20 * math.log10(reference), abs=1e-9)


def test_high_precision_mode_reads_closer_to_a_32x_reference_on_noise() -> None:
    """Broadband noise: 4x under-reads; 16x comes within a few hundredths of a dB."""
    fs = 48000
    rng = np.random.default_rng(3)
    x = rng.standard_normal((fs * 2, 1)) * 0.2
    phases = interpolation_phases(32, 64, 8.0)
    padded = np.concatenate([np.zeros(31), x[:, 0], np.zeros(31)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 64)
    reference = 20 * math.log10(max(np.abs(windows @ phases.T).max(), np.abs(x).max()))
    standard = true_peak(x, fs)
    precise = true_peak(x, fs, high_precision=True)
    assert standard <= reference + 0.01 and precise <= reference + 0.01
    assert reference - precise < reference - standard + 1e-9
    assert reference - precise < 0.06


def test_sample_peak_is_the_floor() -> None:
    x = np.zeros((1000, 1))
    x[500, 0] = -0.9
    meter = TruePeakMeter(48000, 1)
    meter.push(x)
    meter.flush()
    assert meter.sample_peak_dbfs()[0] == pytest.approx(20 * math.log10(0.9))
    assert meter.true_peak_dbtp()[0] >= meter.sample_peak_dbfs()[0]


EBU_TRUE_PEAK = {
    15: -6.0,
    16: -6.0,
    17: -6.0,
    18: -6.0,
    19: 3.0,
    20: 0.0,
    21: 0.0,
    22: 0.0,
    23: 0.0,
}


@needs_ebu_files
@pytest.mark.parametrize("case", sorted(EBU_TRUE_PEAK))
def test_ebu_files_true_peak(case: int) -> None:
    x, fs = sf.read(EBU_DIR / f"seq-3341-{case}-24bit.wav", dtype="float64", always_2d=True)
    expected = EBU_TRUE_PEAK[case]
    measured = true_peak(x, fs)
    precise = true_peak(x, fs, high_precision=True)
    assert expected - 0.4 <= measured <= expected + 0.2
    assert expected - 0.4 <= precise <= expected + 0.2
    if case >= 20:  # a perfect meter reads -0.08; libebur128 reads -0.086 to -0.181
        assert measured >= -0.14
        assert precise == pytest.approx(-0.08, abs=0.01)
