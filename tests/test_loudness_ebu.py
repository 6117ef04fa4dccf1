"""EBU Tech 3341 and Tech 3342 compliance of the loudness meter, at 44.1, 48 and 96 kHz.

The formula cases are generated in code; the EBU loudness test set v05 files are read from
../shared/testdata when present (those tests skip otherwise; the files are never copied here).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from tests.ebu_signals import (
    INTEGRATED_CASES,
    INTEGRATED_EXPECTED,
    LRA_CASES,
    case_6_surround,
    sequence,
)
from voidline.analysis.kweighting import k_weighting_sos
from voidline.analysis.loudness import LoudnessMeter
from voidline.audio.format import AudioFormat, ChannelRole

RATES = [44100, 48000, 96000]
EBU_DIR = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "ebu-loudness-v05"
needs_ebu_files = pytest.mark.skipif(
    not EBU_DIR.is_dir(), reason=f"EBU loudness test set not found at {EBU_DIR}"
)


def measure(x: NDArray[np.float64], fs: int, fmt: AudioFormat | None = None) -> LoudnessMeter:
    meter = LoudnessMeter(fmt or AudioFormat(fs, x.shape[1]))
    meter.push(x)
    return meter


def series(
    x: NDArray[np.float64], fs: int, hop_s: float = 0.01
) -> list[tuple[float, float, float]]:
    """(time, momentary, short-term) after every hop, as a live meter would show them."""
    meter = LoudnessMeter(AudioFormat(fs, x.shape[1]))
    hop = round(hop_s * fs)
    out = []
    for start in range(0, x.shape[0], hop):
        meter.push(x[start : start + hop])
        out.append((meter.frames / fs, meter.momentary_lufs, meter.short_term_lufs))
    return out


def test_k_weighting_matches_the_bs1770_table_at_48k() -> None:
    sos = k_weighting_sos(48000)
    table = [
        [
            1.53512485958697,
            -2.69169618940638,
            1.19839281085285,
            1.0,
            -1.69065929318241,
            0.73248077421585,
        ],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
    np.testing.assert_allclose(sos, table, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fs", [8000, 22050, 44100, 48000, 96000, 192000, 384000])
def test_k_weighting_has_the_same_response_at_every_rate(fs: int) -> None:
    """The 48 kHz response at 40 Hz, 997 Hz and 3 kHz, at any rate.

    The bilinear transform warps the 1.7 kHz shelf as it nears Nyquist, so the match is
    within 0.05 dB from 32 kHz up and within 0.25 dB at 8-22 kHz (as in libebur128/ffmpeg).
    """
    from scipy.signal import sosfreqz

    tolerance = 0.05 if fs >= 32000 else 0.25
    for f in (40.0, 997.0, 3000.0) if fs >= 22050 else (40.0, 997.0):
        g48 = abs(sosfreqz(k_weighting_sos(48000), worN=[2 * np.pi * f / 48000])[1][0])
        g = abs(sosfreqz(k_weighting_sos(fs), worN=[2 * np.pi * f / fs])[1][0])
        assert 20 * np.log10(g / g48) == pytest.approx(0.0, abs=tolerance), f


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("case", sorted(INTEGRATED_CASES))
def test_tech3341_integrated_cases(fs: int, case: int) -> None:
    meter = measure(sequence(fs, INTEGRATED_CASES[case]), fs)
    assert meter.integrated()[0] == pytest.approx(INTEGRATED_EXPECTED[case], abs=0.1)
    if case in (1, 2):  # constant level: momentary and short-term read the same
        assert meter.momentary_lufs == pytest.approx(INTEGRATED_EXPECTED[case], abs=0.1)
        assert meter.short_term_lufs == pytest.approx(INTEGRATED_EXPECTED[case], abs=0.1)


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_6_surround_weights(fs: int) -> None:
    fmt = AudioFormat(
        fs,
        5,
        (
            ChannelRole.LEFT,
            ChannelRole.RIGHT,
            ChannelRole.CENTER,
            ChannelRole.LEFT_SURROUND,
            ChannelRole.RIGHT_SURROUND,
        ),
    )
    assert measure(case_6_surround(fs), fs, fmt).integrated()[0] == pytest.approx(-23.0, abs=0.1)


def test_lfe_is_excluded_and_mono_reads_3_db_below_stereo() -> None:
    fs = 48000
    tone = sequence(fs, [(5, -23)], channels=1)
    mono = measure(tone, fs).integrated()[0]
    assert mono == pytest.approx(-26.0, abs=0.1)
    six = np.concatenate(
        [
            np.repeat(tone, 3, axis=1),
            np.ones((tone.shape[0], 1)) * 0.5,
            np.zeros((tone.shape[0], 2)),
        ],
        axis=1,
    )
    # L R C at -23 dBFS, a loud LFE, silent surrounds: the LFE must not count.
    assert measure(six, fs).integrated()[0] == pytest.approx(-26.0 + 10 * math.log10(3), abs=0.1)
    dual = AudioFormat(fs, 1, (ChannelRole.DUAL_MONO,))
    assert measure(tone, fs, dual).integrated()[0] == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_9_short_term_constant_after_3s(fs: int) -> None:
    x = sequence(fs, [(1.34, -20), (1.66, -30)] * 5)
    values = [s for t, _, s in series(x, fs) if t >= 3.0]
    assert values and all(abs(v + 23.0) <= 0.1 for v in values)


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_10_max_short_term(fs: int) -> None:
    for i in range(20):
        x = sequence(fs, [(i * 0.15, None), (3, -23), (1, None)])
        assert measure(x, fs).max_short_term_lufs == pytest.approx(-23.0, abs=0.1), i


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_11_successive_max_short_term(fs: int) -> None:
    segments = []
    for i in range(20):
        segments += [(i * 0.15, None), (3, -38 + i), (3 - 0.15 * i, None)]
    points = series(sequence(fs, segments), fs)
    for i in range(20):  # every segment lasts 6 s
        in_segment = [s for t, _, s in points if 6 * i < t <= 6 * (i + 1)]
        assert max(in_segment) == pytest.approx(-38.0 + i, abs=0.1), i


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_12_momentary_constant_after_1s(fs: int) -> None:
    x = sequence(fs, [(0.18, -20), (0.22, -30)] * 25)
    values = [m for t, m, _ in series(x, fs) if t >= 1.0]
    assert values and all(abs(v + 23.0) <= 0.1 for v in values)


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_13_max_momentary(fs: int) -> None:
    for i in range(20):
        x = sequence(fs, [(i * 0.02, None), (0.4, -23), (1, None)])
        assert measure(x, fs).max_momentary_lufs == pytest.approx(-23.0, abs=0.1), i


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case_14_successive_max_momentary(fs: int) -> None:
    segments = []
    for i in range(20):
        segments += [(i * 0.02, None), (0.4, -38 + i), (0.4 - 0.02 * i, None)]
    points = series(sequence(fs, segments), fs)
    for i in range(20):  # every segment lasts 0.8 s
        in_segment = [m for t, m, _ in points if 0.8 * i < t <= 0.8 * (i + 1) + 1e-9]
        assert max(in_segment) == pytest.approx(-38.0 + i, abs=0.1), i


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("case", sorted(LRA_CASES))
def test_tech3342_loudness_range_cases(fs: int, case: int) -> None:
    segments, expected = LRA_CASES[case]
    x = sequence(fs, segments)
    lra = measure(x, fs).loudness_range()[0]
    assert lra == pytest.approx(expected, abs=1.0)
    # Repeating the signal in full must not change the answer (Tech 3342 section 4).
    assert measure(np.concatenate([x, x]), fs).loudness_range()[0] == pytest.approx(lra, abs=0.02)


def test_windows_not_filled_are_not_ready() -> None:
    fs = 48000
    meter = LoudnessMeter(AudioFormat(fs, 2))
    meter.push(sequence(fs, [(0.39, -23)]))
    assert not meter.momentary_ready and meter.momentary_lufs == -math.inf
    assert meter.integrated()[0] == -math.inf
    meter.push(sequence(fs, [(0.02, -23)]))
    assert meter.momentary_ready and not meter.short_term_ready


def test_silence_reads_minus_infinity() -> None:
    fs = 48000
    meter = measure(np.zeros((fs * 5, 2)), fs)
    report = meter.report()
    assert report.integrated_lufs == -math.inf
    assert report.loudness_range_lu == 0.0
    assert report.gated_blocks == 0 and report.gating_blocks == 47


@pytest.mark.parametrize("fs", [8000, 11025, 22050, 44100, 88200, 192000, 384000])
def test_integrated_loudness_at_unusual_rates(fs: int) -> None:
    """K-weighting and 10 ms sub-blocks work at every rate from 8 to 384 kHz."""
    x = sequence(fs, [(10, -23)])
    assert measure(x, fs).integrated()[0] == pytest.approx(-22.99, abs=0.05)


def test_agrees_with_libebur128_on_noise() -> None:
    pyebur128 = pytest.importorskip("pyebur128")
    fs = 48000
    rng = np.random.default_rng(7)
    x = rng.standard_normal((fs * 30, 2)) * np.linspace(0.01, 0.2, fs * 30)[:, None]
    state = pyebur128.R128State(2, fs, pyebur128.MeasurementMode.MODE_I)
    state.add_frames(np.ascontiguousarray(x).ravel(), x.shape[0])
    assert measure(x, fs).integrated()[0] == pytest.approx(
        pyebur128.get_loudness_global(state), abs=0.01
    )


# --- EBU loudness test set v05 files -------------------------------------------------------


def read_ebu(name: str) -> tuple[NDArray[np.float64], int]:
    data, fs = sf.read(EBU_DIR / name, dtype="float64", always_2d=True)
    return data, fs


@needs_ebu_files
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("seq-3341-1-16bit.wav", -23.0),
        ("seq-3341-2-16bit.wav", -33.0),
        ("1kHz Sine -20 LUFS-16bit.wav", -20.0),
        ("1kHz Sine -26 LUFS-16bit.wav", -26.0),
        ("1kHz Sine -40 LUFS-16bit.wav", -40.0),
    ],
)
def test_ebu_files_integrated(name: str, expected: float) -> None:
    x, fs = read_ebu(name)
    meter = measure(x, fs)
    assert meter.integrated()[0] == pytest.approx(expected, abs=0.1)
    assert meter.max_momentary_lufs == pytest.approx(expected, abs=0.1)
    assert meter.max_short_term_lufs == pytest.approx(expected, abs=0.1)


@needs_ebu_files
def test_ebu_files_match_libebur128_reference_readings() -> None:
    """reference/loudness.md: libebur128 1.2.6 reads -22.953556 and -32.959860 LUFS."""
    for name, reference in (
        ("seq-3341-1-16bit.wav", -22.953556),
        ("seq-3341-2-16bit.wav", -32.959860),
    ):
        x, fs = read_ebu(name)
        assert measure(x, fs).integrated()[0] == pytest.approx(reference, abs=0.005), name


@needs_ebu_files
@pytest.mark.parametrize("i", range(1, 21))
def test_ebu_files_case_10_and_13(i: int) -> None:
    x, fs = read_ebu(f"seq-3341-10-{i}-24bit.wav")
    assert measure(x, fs).max_short_term_lufs == pytest.approx(-23.0, abs=0.1)
    x, fs = read_ebu(f"seq-3341-13-{i}-24bit.wav")
    assert measure(x, fs).max_momentary_lufs == pytest.approx(-23.0, abs=0.1)


@needs_ebu_files
def test_ebu_file_case_12_momentary_constant() -> None:
    x, fs = read_ebu("seq-3341-12-24bit.wav")
    values = [m for t, m, _ in series(x, fs) if 1.0 <= t <= x.shape[0] / fs - 0.2]
    assert values and all(abs(v + 23.0) <= 0.1 for v in values)
