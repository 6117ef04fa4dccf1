"""True-peak look-ahead limiter: ceiling against the 16x meter, transparency, smoothness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from voidline.analysis.truepeak import TruePeakMeter
from voidline.dsp import limiter
from voidline.dsp.limiter import limit, limit_with_gain
from voidline.errors import InvalidInputError

DRIVE_DB = 12.0


def true_peak(x: NDArray[np.float64], fs: int) -> float:
    meter = TruePeakMeter(fs, x.shape[1], high_precision=True)
    meter.push(x)
    meter.flush()
    return max(meter.true_peak_dbtp())


def noise(fs: int, channels: int, seconds: float = 3.0, seed: int = 1) -> NDArray[np.float64]:
    return np.random.default_rng(seed).standard_normal((int(fs * seconds), channels)) * 0.1


def drums(fs: int, channels: int, seconds: float = 3.0, seed: int = 2) -> NDArray[np.float64]:
    """Kick on every beat, snare on 2 and 4, closed hats on eighths, at 120 bpm."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    out = np.zeros((n, channels))
    beat = fs // 2
    t = np.arange(int(0.3 * fs)) / fs
    kick = np.sin(2 * np.pi * (50 * t + 60 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.6
    hat = rng.standard_normal(t.size) * np.exp(-t * 120) * 0.25
    hat = np.diff(hat, prepend=0.0)  # bright
    for k, start in enumerate(range(0, n, beat // 2)):
        stop = min(n, start + t.size)
        parts = [hat]
        if k % 2 == 0:
            parts.append(kick)
        if k % 4 == 2:
            parts.append(snare)
        for part in parts:
            for c in range(channels):
                out[start:stop, c] += part[: stop - start] * (1.0 - 0.1 * c)
    return out


def driven(x: NDArray[np.float64], fs: int, ceiling: float) -> NDArray[np.float64]:
    """x scaled so its 16x true peak is DRIVE_DB over the ceiling."""
    scaled: NDArray[np.float64] = x * 10.0 ** ((ceiling + DRIVE_DB - true_peak(x, fs)) / 20.0)
    return scaled


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fs", [44100, 48000])
@pytest.mark.parametrize("ceiling", [-1.0, -0.3])
@pytest.mark.parametrize("make", [noise, drums], ids=["noise", "drums"])
def test_output_true_peak_sits_at_the_ceiling(
    make: Callable[[int, int], NDArray[np.float64]], ceiling: float, fs: int, channels: int
) -> None:
    x = driven(make(fs, channels), fs, ceiling)
    y, gain = limit_with_gain(x, fs, ceiling)
    assert y.shape == x.shape
    measured = true_peak(y, fs)
    assert ceiling - 0.1 <= measured <= ceiling + 1e-6
    # The gain is what was applied, one value per frame, all channels alike.
    np.testing.assert_allclose(y, x * gain[:, None], rtol=0, atol=1e-15)
    assert gain.max() <= 1.0 and gain.min() > 0.0


def test_below_the_ceiling_the_input_passes_bit_exact() -> None:
    fs = 48000
    x = noise(fs, 2)
    x *= 10.0 ** ((-1.5 - true_peak(x, fs)) / 20.0)  # 0.5 dB under a -1 dBTP ceiling
    y, gain = limit_with_gain(x, fs, -1.0)
    assert np.array_equal(gain, np.ones(x.shape[0]))
    assert np.array_equal(y, x)
    assert y is not x


def test_a_single_peak_leaves_the_rest_untouched_and_aligned() -> None:
    """Latency is compensated: gain 1 exactly outside the look-ahead and release around it."""
    fs = 48000
    n = fs
    x = np.zeros((n, 2))
    x[:, 0] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / fs)
    x[:, 1] = x[:, 0]
    hit = n // 2
    x[hit, :] = 1.5  # one loud sample: an inter-sample and a sample over at the same time
    y, gain = limit_with_gain(x, fs, -1.0, lookahead_ms=1.5, release_ms=50.0)
    lookahead = round(1.5e-3 * fs)
    assert np.array_equal(y[: hit - lookahead], x[: hit - lookahead])  # not delayed
    assert gain[hit] == gain.min()  # deepest reduction exactly on the peak, not later
    assert y[hit, 0] <= 10 ** (-1.0 / 20.0)
    assert gain[-1] == 1.0  # released fully well before the end
    assert true_peak(y, fs) <= -1.0 + 1e-6


@pytest.mark.parametrize("fs", [44100, 48000])
def test_gain_changes_are_smooth(fs: int) -> None:
    """No clicks: bounded sample-to-sample gain change and little gain energy above 1 kHz."""
    x = driven(drums(fs, 2), fs, -1.0)
    _, gain = limit_with_gain(x, fs, -1.0, lookahead_ms=1.5)
    window = round(1.5e-3 * fs)
    step = np.abs(np.diff(gain)).max()
    # Each of the two averaging stages bounds the step by full reduction / its length.
    assert step <= 1.0 / (window // 2)
    # A gain that follows the required gain sample by sample (no look-ahead smoothing) jumps
    # far more and puts far more of its energy above 1 kHz.
    level = np.abs(x).max(axis=1)
    target = 10 ** (-1.02 / 20)
    naive = np.minimum(1.0, target / np.maximum(level, 1e-12))
    assert np.abs(np.diff(naive)).max() > 5 * step

    def share_above_1khz(g: NDArray[np.float64]) -> float:
        spectrum = np.abs(np.fft.rfft(g - g.mean())) ** 2
        freqs = np.fft.rfftfreq(g.size, 1.0 / fs)
        return float(spectrum[freqs > 1000.0].sum() / spectrum.sum())

    assert share_above_1khz(gain) < 0.01
    assert share_above_1khz(naive) > 10 * share_above_1khz(gain)


def recovery_ms(gain: NDArray[np.float64], after: int, fs: int) -> float:
    """Time from frame `after` until the gain is back within 0.1 dB of unity."""
    back = np.nonzero(gain[after:] >= 10 ** (-0.1 / 20))[0]
    assert back.size
    return 1000.0 * float(back[0]) / fs


def test_adaptive_release_is_fast_after_transients_and_slow_after_sustained_limiting() -> None:
    fs = 48000
    n = 2 * fs
    t = np.arange(n) / fs
    bed = 0.2 * np.sin(2 * np.pi * 200 * t)
    short = bed.copy()
    short[fs // 2 : fs // 2 + fs // 200] *= 6.0  # 5 ms burst
    sustained = bed.copy()
    sustained[fs // 2 : fs] *= 6.0  # 500 ms of hard limiting
    results = {}
    for name, signal, end in (("short", short, fs // 2 + fs // 200), ("long", sustained, fs)):
        x = signal[:, None]
        adaptive = limit_with_gain(x, fs, -1.0, release_ms=100.0, adaptive_release=True)[1]
        fixed = limit_with_gain(x, fs, -1.0, release_ms=100.0, adaptive_release=False)[1]
        results[name] = (recovery_ms(adaptive, end, fs), recovery_ms(fixed, end, fs))
    short_adaptive, short_fixed = results["short"]
    long_adaptive, long_fixed = results["long"]
    assert short_adaptive < 0.5 * short_fixed  # fast after a transient
    assert long_adaptive > 0.8 * long_fixed  # about the full release after sustained limiting
    assert long_adaptive > 2 * short_adaptive


def test_mono_and_one_dimensional_shapes() -> None:
    fs = 44100
    x = driven(drums(fs, 1, seconds=1.0), fs, -1.0)
    y = limit(x, fs, -1.0)
    assert y.shape == x.shape
    with pytest.raises(InvalidInputError, match="shape"):
        limit(x[:, 0], fs, -1.0)


def test_empty_input_gives_empty_output() -> None:
    y = limit(np.zeros((0, 2)), 48000, -1.0)
    assert y.shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"ceiling_dbtp": 0.5}, "ceiling_dbtp"),
        ({"ceiling_dbtp": float("nan")}, "ceiling_dbtp"),
        ({"lookahead_ms": 0.0}, "lookahead_ms"),
        ({"release_ms": 1e6}, "release_ms"),
        ({"fs": 4000}, "fs"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"fs": 48000, **kwargs}
    fs = int(args.pop("fs"))
    with pytest.raises(InvalidInputError, match=name):
        limit(np.zeros((100, 2)), fs, **args)


def test_non_finite_samples_are_rejected() -> None:
    x = np.zeros((100, 2))
    x[5, 1] = np.nan
    with pytest.raises(InvalidInputError, match="finite"):
        limit(x, 48000, -1.0)


def test_a_pass_that_lands_over_the_ceiling_is_redone_lower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 16x meter check catches a pass that misses and reruns it with a lower aim."""
    real_gain = limiter._gain
    aims: list[float] = []

    def optimistic(
        frames: NDArray[np.float64], fs: int, ceiling: float, *rest: Any
    ) -> tuple[NDArray[np.float64], limiter.PeakBounds]:
        aims.append(ceiling)  # a detector that under-reads every peak by 0.3 dB
        return real_gain(frames, fs, ceiling + 0.3, *rest)

    monkeypatch.setattr(limiter, "_gain", optimistic)
    fs = 48000
    x = driven(drums(fs, 2), fs, -1.0)
    y = limit(x, fs, -1.0)
    assert len(aims) == 2 and aims[1] < aims[0]
    assert -1.1 <= true_peak(y, fs) <= -1.0 + 1e-6


def test_the_static_trim_guarantees_the_ceiling_when_every_pass_misses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_gain = limiter._gain
    calls: list[float] = []

    def worse_each_time(
        frames: NDArray[np.float64], fs: int, ceiling: float, *rest: Any
    ) -> tuple[NDArray[np.float64], limiter.PeakBounds]:
        calls.append(ceiling)
        return real_gain(frames, fs, ceiling + 0.5 * len(calls), *rest)

    monkeypatch.setattr(limiter, "_gain", worse_each_time)
    fs = 48000
    x = driven(noise(fs, 2, seconds=1.0), fs, -1.0)
    y = limit(x, fs, -1.0)
    assert len(calls) == limiter.MAX_PASSES
    assert -1.1 <= true_peak(y, fs) <= -1.0 + 1e-6


@pytest.mark.parametrize("make", [noise, drums], ids=["noise", "drums"])
def test_the_bounded_check_reads_what_the_whole_16x_meter_reads(
    make: Callable[[int, int], NDArray[np.float64]],
) -> None:
    """Step 7 measures only the blocks the detector's peaks say can come near the ceiling."""
    fs = 44100
    x = driven(make(fs, 2), fs, -1.0)
    gain, bounds = limiter._gain(x, fs, -1.0, limiter.DEFAULT_LOOKAHEAD_MS, 100.0, True)
    y = x * gain[:, None]
    level = limiter.target_peak(-1.0) * 10.0 ** (-limiter.CHECK_BELOW_TARGET_DB / 20.0)
    bounded = limiter._bounded_true_peak(y, x, gain, bounds, (16, 48, 8.0), level)
    assert bounded >= level
    assert 20.0 * np.log10(bounded) == limiter.true_peak_dbtp(y, fs) == true_peak(y, fs)


def test_the_bounded_check_skips_the_blocks_that_cannot_reach_the_ceiling() -> None:
    fs = 44100
    x = driven(drums(fs, 2), fs, -1.0)
    gain, bounds = limiter._gain(x, fs, -1.0, limiter.DEFAULT_LOOKAHEAD_MS, 100.0, True)
    level = limiter.target_peak(-1.0) * 10.0 ** (-limiter.CHECK_BELOW_TARGET_DB / 20.0)
    flagged = limiter._flag_blocks(
        x,
        gain,
        bounds.peaks,
        bounds.scale * 10.0 ** (limiter.PEAK_BOUND_MARGIN_DB / 20.0),
        bounds.exact_above,
        2.65,
        23,
        25,
        level,
    )
    # The hits are limited; their decays and the gaps between them are measured by no one.
    assert 0.0 < flagged.mean() < 0.5
    # Where a block is skipped, the output really stays below the level.
    y = x * gain[:, None]
    for b in np.flatnonzero(~flagged)[:: max(1, (~flagged).sum() // 40)]:
        start = max(0, b * limiter.CHECK_BLOCK - 23)
        stop = (b + 1) * limiter.CHECK_BLOCK + 24
        assert 10.0 ** (true_peak(y[start:stop], fs) / 20.0) < level


def test_detected_peaks_bound_the_16x_meter_within_the_check_margin() -> None:
    """The bounded check's premise: step 1 under-reads the 16x points by less than its margin.

    White noise is the hard case (all its energy sits near Nyquist, where the parabola
    refinement fits worst); tones come within a few thousandths of a dB.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    from voidline.analysis.truepeak import interpolation_phases

    x = np.random.default_rng(7).standard_normal(50_000) * 0.2
    detected = limiter.segment_peaks(x[:, None], 0.0)
    # The 16x meter's 15 points inside every interval [n, n + 1], and both ends.
    windows = sliding_window_view(np.concatenate([np.zeros(23), x, np.zeros(25)]), 48)
    inside = np.abs(windows[: x.size] @ interpolation_phases(16, 48, 8.0).T).max(axis=1)
    ends = np.maximum(np.abs(x), np.abs(np.append(x[1:], 0.0)))
    under_read_db = 20.0 * np.log10(np.maximum(inside, ends) / detected)
    assert 0.0 < under_read_db.max() < limiter.PEAK_BOUND_MARGIN_DB


@pytest.mark.parametrize(("length", "window"), [(1, 2), (5, 7), (66, 66), (1000, 66), (1001, 2)])
def test_lookahead_maximum_is_the_maximum_of_each_window(length: int, window: int) -> None:
    rng = np.random.default_rng(length + window)
    # Limiting comes in bursts: mostly exact zeros, some runs of reduction.
    reduction = np.where(rng.random(length) < 0.7, 0.0, rng.random(length))
    out = np.empty(length)
    limiter._lookahead_max(reduction, window, out)
    padded = np.concatenate([reduction, np.zeros(window - 1)])  # the window is cut at the end
    expected = np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1)
    np.testing.assert_array_equal(out, expected)
