"""Loudness targeting: gain + true-peak limiter to a BS.1770-5 integrated loudness."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.analysis.loudness import LoudnessMeter
from voidline.analysis.truepeak import TruePeakMeter
from voidline.audio.format import AudioFormat
from voidline.dsp.limiter import limit
from voidline.dsp.loudness_target import LoudnessResult, match_loudness
from voidline.errors import InvalidInputError

FS = 44100


def integrated(x: NDArray[np.float64]) -> float:
    meter = LoudnessMeter(AudioFormat(FS, x.shape[1]))
    meter.push(x)
    return meter.integrated()[0]


def true_peak(x: NDArray[np.float64]) -> float:
    meter = TruePeakMeter(FS, x.shape[1], high_precision=True)
    meter.push(x)
    meter.flush()
    return max(meter.true_peak_dbtp())


@cache
def music(seconds: float = 12.0, seed: int = 7) -> NDArray[np.float64]:
    """Drums, a saturated bass line and a four-note chord per bar, quiet intro, loud chorus."""
    rng = np.random.default_rng(seed)
    n = int(FS * seconds)
    out = np.zeros((n, 2))
    t = np.arange(int(0.3 * FS)) / FS
    kick = np.sin(2 * np.pi * (50 * t + 2 * (1 - np.exp(-t * 30)))) * np.exp(-t * 12)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.5
    hat = np.diff(rng.standard_normal(t.size) * np.exp(-t * 120) * 0.2, prepend=0.0)
    eighth = FS // 4  # 120 bpm
    for k, start in enumerate(range(0, n, eighth)):
        stop = min(n, start + t.size)
        m = stop - start
        out[start:stop] += hat[:m, None] * [0.7, 1.0]
        if k % 2 == 0:
            out[start:stop] += kick[:m, None]
        if k % 4 == 2:
            out[start:stop] += snare[:m, None] * [1.0, 0.8]
    roots = (55.0, 43.65, 49.0, 41.2)
    bar = 2 * FS
    for b, start in enumerate(range(0, n, bar)):
        stop = min(n, start + bar)
        tb = np.arange(stop - start) / FS
        root = roots[b % 4]
        bass = 0.5 * np.tanh(2 * np.sin(2 * np.pi * root * tb)) * np.exp(-tb * 0.8)
        chord = sum(
            0.08 * np.sin(2 * np.pi * root * 4 * ratio * tb + phase)
            for ratio, phase in ((1.0, 0.0), (1.26, 1.0), (1.5, 2.0), (2.0, 0.5))
        )
        pan = 0.3 * np.sin(2 * np.pi * 0.5 * tb)
        out[start:stop, 0] += bass + chord * (1 + pan)
        out[start:stop, 1] += bass + chord * (1 - pan)
    times = np.arange(n) / FS
    envelope = np.interp(times, [0, 3, 4, 8, 9, seconds], [0.3, 0.3, 1.0, 1.0, 0.6, 0.6])
    signal: NDArray[np.float64] = out * envelope[:, None] * 0.3
    signal.setflags(write=False)
    return signal


@pytest.mark.parametrize(("target", "ceiling"), [(-14.0, -1.0), (-23.0, -1.0), (-9.0, -0.3)])
def test_target_is_met_under_the_ceiling(target: float, ceiling: float) -> None:
    x = music()
    y, result = match_loudness(x, FS, target, ceiling)
    assert y.shape == x.shape
    assert result.reached and result.note == ""
    assert abs(integrated(y) - target) <= 0.1
    assert true_peak(y) <= ceiling + 1e-6
    # The result reports what an independent measurement finds.
    assert result.output_lufs == pytest.approx(integrated(y), abs=1e-9)
    assert result.true_peak_dbtp == pytest.approx(true_peak(y), abs=1e-9)
    assert result.input_lufs == pytest.approx(integrated(x), abs=1e-9)
    assert 1 <= result.iterations <= 4


def test_the_loud_target_needs_limiting_and_the_quiet_one_does_not() -> None:
    x = music()
    _, loud = match_loudness(x, FS, -9.0, -0.3)
    _, quiet = match_loudness(x, FS, -23.0, -1.0)
    # -9 LUFS: the gain is well above the loudness difference (the limiter ate some of it).
    assert loud.gain_db > (-9.0 - loud.input_lufs) + 1.0
    assert quiet.iterations == 1
    assert quiet.gain_db == pytest.approx(-23.0 - quiet.input_lufs, abs=1e-9)


def test_an_input_already_on_target_changes_little() -> None:
    x = music()
    on_target = x * 10 ** ((-24.0 - integrated(x)) / 20.0)
    assert true_peak(on_target) < -1.0  # nothing for the limiter to do
    y, result = match_loudness(on_target, FS, -24.0, -1.0)
    assert result.reached and result.iterations == 1
    assert abs(result.gain_db) < 0.01
    np.testing.assert_allclose(y, on_target, rtol=0.002, atol=0)


def test_an_impossible_target_returns_the_best_and_says_so() -> None:
    x = music()
    y, result = match_loudness(x, FS, -4.0, -1.0)
    assert not result.reached
    assert "out of reach" in result.note or "not within" in result.note
    assert result.output_lufs < -4.1
    assert true_peak(y) <= -1.0 + 1e-6
    assert result.output_lufs == pytest.approx(integrated(y), abs=1e-9)


def test_the_given_limiter_is_the_one_used() -> None:
    calls: list[float] = []

    def slow_release(x: NDArray[np.float64], fs: int, ceiling: float) -> NDArray[np.float64]:
        calls.append(ceiling)
        return limit(x, fs, ceiling, release_ms=400.0, adaptive_release=False)

    _, result = match_loudness(music(), FS, -12.0, -2.0, limiter=slow_release)
    assert len(calls) == result.iterations and set(calls) == {-2.0}
    assert result.reached


@pytest.mark.parametrize("level", [0.0, 1e-7])
def test_silence_and_near_silence_are_refused(level: float) -> None:
    x = np.random.default_rng(0).standard_normal((FS * 2, 2)) * level
    with pytest.raises(InvalidInputError, match="silent"):
        match_loudness(x, FS, -14.0, -1.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"target_lufs": 3.0}, "target_lufs"),
        ({"target_lufs": math.nan}, "target_lufs"),
        ({"ceiling_dbtp": 1.0}, "ceiling_dbtp"),
        ({"max_iterations": 0}, "max_iterations"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"target_lufs": -14.0, "ceiling_dbtp": -1.0, **kwargs}
    with pytest.raises(InvalidInputError, match=name):
        match_loudness(music(), FS, **args)


def test_result_is_a_plain_record() -> None:
    result = LoudnessResult(-20.0, -14.0, -1.0, 6.0, 1, True)
    assert result.note == ""
    with pytest.raises(AttributeError):
        result.reached = False  # type: ignore[misc]
