"""Feed-forward soft-knee compressor and a multiband compressor built on the crossover.

The design is the one recommended by D. Giannoulis, M. Massberg and J. D. Reiss, "Digital
Dynamic Range Compressor Design - A Tutorial and Analysis", JAES 60(6), 2012:

1. Level (section 2.1): the input level in dB, 20 log10 |x|. Detection is stereo-linked:
   the larger of the channels' absolute values, so both channels get the same gain and the
   stereo image does not shift.
2. Gain computer (section 2.2, eq. 4): the static curve with a quadratic soft knee of width W
   around the threshold T; see static_curve_db.
3. Level detector (sections 3.1-3.3): the gain reduction x_L = x_dB - y_G, smoothed in the
   log domain by a "smooth branching peak detector": attack coefficient while the reduction
   grows, release coefficient while it falls, alpha = exp(-1 / (tau fs)). A step in the
   reduction therefore reaches 1 - 1/e (63 %) of its final value after tau.
4. Gain: makeup minus the smoothed reduction, applied to every channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from voidline.dsp import fastmath
from voidline.dsp.biquad import as_frames, check_sample_rate, to_frames, to_rows
from voidline.dsp.crossover import Crossover
from voidline.dsp.parallel import Pool
from voidline.errors import InvalidInputError

SEGMENT_FRAMES = 1 << 16  # multiband: frames per stretch (a stretch's bands take a few MB)


def _check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInputError(f"{name} must lie within {low:g}-{high:g}{unit}, got {value}")


@dataclass(frozen=True)
class CompressorBand:
    """Settings of one compressor (one band of the multiband compressor)."""

    threshold_db: float = -18.0
    ratio: float = 2.0  # >= 1; 1 turns compression off
    knee_db: float = 6.0  # total knee width W; 0 is a hard knee
    attack_ms: float = 10.0
    release_ms: float = 100.0
    makeup_db: float = 0.0

    def __post_init__(self) -> None:
        _check_range("threshold_db", self.threshold_db, -80.0, 0.0, " dB")
        _check_range("ratio", self.ratio, 1.0, 100.0)
        _check_range("knee_db", self.knee_db, 0.0, 24.0, " dB")
        _check_range("attack_ms", self.attack_ms, 0.0, 1000.0, " ms")
        _check_range("release_ms", self.release_ms, 0.0, 5000.0, " ms")
        _check_range("makeup_db", self.makeup_db, -24.0, 24.0, " dB")

    @property
    def is_transparent(self) -> bool:
        """Ratio 1 and no makeup: the compressor does nothing."""
        return self.ratio == 1.0 and self.makeup_db == 0.0


@njit(cache=True, nogil=True)
def _reduction_db(level_db: float, t: float, w: float, r: float) -> float:  # pragma: no cover
    """Input level minus the gain computer's output (Giannoulis et al. eq. 4), >= 0 dB.

    Below the knee, T - W/2: no reduction. Above it, T + W/2: output T + (x - T) / R.
    Inside it: output x + (1/R - 1) (x - T + W/2)^2 / (2W), joining both lines smoothly.
    """
    over = level_db - t
    if 2.0 * over <= -w:
        return 0.0
    if 2.0 * over > w:
        return over - over / r
    return (1.0 - 1.0 / r) * (over + w / 2.0) ** 2 / (2.0 * w)


@njit(cache=True, nogil=True)
def _static_curve(
    levels_db: NDArray[np.float64], t: float, w: float, r: float
) -> NDArray[np.float64]:  # pragma: no cover - compiled
    out = np.empty_like(levels_db)
    for i in range(levels_db.shape[0]):
        out[i] = levels_db[i] - _reduction_db(levels_db[i], t, w, r)
    return out


def static_curve_db(level_db: ArrayLike, band: CompressorBand) -> NDArray[np.float64]:
    """Output level of the gain computer for input levels in dB (the static curve)."""
    levels = np.atleast_1d(np.asarray(level_db, dtype=np.float64)).ravel()
    out = _static_curve(levels, band.threshold_db, band.knee_db, band.ratio)
    return np.asarray(out.reshape(np.shape(level_db)), dtype=np.float64)


def _coefficient(time_ms: float, fs: int) -> float:
    """One-pole smoothing coefficient for time constant time_ms (0 ms: no smoothing)."""
    if time_ms == 0.0:
        return 0.0
    return math.exp(-1.0 / (time_ms * 1e-3 * fs))


@njit(cache=True, nogil=True)
def _gain_db_kernel(
    x: NDArray[np.float64],
    t: float,
    w: float,
    r: float,
    attack: float,
    release: float,
    makeup_db: float,
    state: NDArray[np.float64],
    out: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """Per-frame gain in dB of x (channels, frames) into out: steps 1-4 of the module doc.

    The smoothed reduction starts at state[0] (0 dB for a fresh signal) and is left there at
    the end, so consecutive stretches of a signal continue where the last one stopped. Levels
    below the knee skip the logarithm: their reduction is 0 whatever the exact level.
    Returns 0.
    """
    knee_start = 10.0 ** ((t - w / 2.0) / 20.0)
    y = state[0]
    for n in range(x.shape[1]):
        peak = 0.0
        for c in range(x.shape[0]):
            peak = max(peak, abs(x[c, n]))  # stereo-linked detection
        reduction = 0.0
        if peak > knee_start:
            reduction = _reduction_db(20.0 * np.log10(peak), t, w, r)
        coefficient = attack if reduction > y else release  # branching peak detector
        y = coefficient * y + (1.0 - coefficient) * reduction
        out[n] = makeup_db - y
    state[0] = y
    return 0.0


_TO_NEPERS = math.log(10.0) / 20.0


@njit(cache=True, nogil=True, inline="always")
def _db_to_factor(gain_db: float) -> float:  # pragma: no cover - compiled
    """10^(gain_db / 20) through `fastmath.exp`, so a loop over it vectorises."""
    return fastmath.exp(gain_db * _TO_NEPERS)


@njit(cache=True, nogil=True)
def _gain_factors(gain: NDArray[np.float64]) -> None:  # pragma: no cover - compiled
    """gain[n] (dB) becomes the factor 10^(gain[n] / 20), computed as `_apply_gain_db` does.

    A gain of exactly 0 dB gives exactly 1.0, which leaves a sample as it is.
    """
    for n in range(gain.shape[0]):
        factor = _db_to_factor(gain[n])
        gain[n] = factor if gain[n] != 0.0 else 1.0


@njit(cache=True, nogil=True)
def _mix_bands(
    bands: NDArray[np.float64], factors: NDArray[np.float64], out: NDArray[np.float64]
) -> float:  # pragma: no cover - compiled
    """out[n] = sum over b of bands[b, n] * factors[b, n], added lowest band first. Returns 0.

    Each product is rounded before it is added, as when every band is scaled in place and
    then summed, so the result is bit for bit that of compress_in_place and +=.
    """
    for n in range(out.shape[0]):
        total = bands[0, n] * factors[0, n]
        for b in range(1, bands.shape[0]):
            product = bands[b, n] * factors[b, n]
            total = total + product
        out[n] = total
    return 0.0


@njit(cache=True, nogil=True)
def _apply_gain_db(x: NDArray[np.float64], gain: NDArray[np.float64]) -> None:  # pragma: no cover
    """x[n, c] *= 10^(gain[n] / 20), in place."""
    for n in range(x.shape[0]):
        if gain[n] != 0.0:
            factor = _db_to_factor(gain[n])
            for c in range(x.shape[1]):
                x[n, c] *= factor


def gain_db(x: ArrayLike, band: CompressorBand, fs: int) -> NDArray[np.float64]:
    """Per-frame gain in dB the compressor applies to x (frames, channels)."""
    check_sample_rate(fs)
    frames = as_frames(x, max_channels=8)
    out = np.empty(frames.shape[0])
    _band_gain_db(frames.T, band, fs, np.zeros(1), out)
    return out


def _band_gain_db(
    rows: NDArray[np.float64],
    band: CompressorBand,
    fs: int,
    state: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """The gain in dB of rows (channels, frames) into out, from and into state (the kernel's)."""
    _gain_db_kernel(
        rows,
        band.threshold_db,
        band.knee_db,
        band.ratio,
        _coefficient(band.attack_ms, fs),
        _coefficient(band.release_ms, fs),
        band.makeup_db,
        state,
        out,
    )


def compress_in_place(x: NDArray[np.float64], band: CompressorBand, fs: int) -> None:
    """Compress x (frames, channels, float64) in place."""
    if band.is_transparent:
        check_sample_rate(fs)
        return
    _apply_gain_db(x, gain_db(x, band, fs))


def compress(x: ArrayLike, band: CompressorBand, fs: int) -> NDArray[np.float64]:
    """Compress x (frames, channels); returns a new array (a copy when band is transparent)."""
    out = as_frames(x, max_channels=8).copy()
    compress_in_place(out, band, fs)
    return out


class MultibandCompressor:
    """Split with a crossover, compress each band with its own settings, sum the bands."""

    def __init__(self, crossover: Crossover, bands: Sequence[CompressorBand]) -> None:
        if len(bands) != crossover.n_bands:
            raise InvalidInputError(
                f"bands must hold one CompressorBand per crossover band "
                f"({crossover.n_bands}), got {len(bands)}"
            )
        self.crossover = crossover
        self.bands = tuple(bands)
        self.fs = crossover.fs

    def process(self, x: ArrayLike) -> NDArray[np.float64]:
        """Compress x (frames, channels) band by band; returns a new array.

        With every band transparent the result is the crossover's all-pass.
        """
        rows = to_rows(as_frames(x, max_channels=8))
        out = np.empty_like(rows)
        self.process_rows(rows, out)
        return to_frames(out)

    def process_rows(self, rows: NDArray[np.float64], out: NDArray[np.float64]) -> None:
        """Compress rows (channels, frames) into out, which may be rows itself.

        The signal goes through in stretches of SEGMENT_FRAMES, carrying the crossover's and
        the detectors' state, so memory stays at the signal, out and one stretch's bands
        whatever the length. Per stretch: the bands of each channel (a thread per channel),
        each band's gain (a thread per band: detection is stereo-linked), then each channel's
        sum of gained bands. The numbers are those of compressing each whole band in place
        and adding the bands lowest first, bit for bit.
        """
        channels, frames = rows.shape
        n_bands = self.crossover.n_bands
        length = max(1, min(SEGMENT_FRAMES, frames))
        bands = np.empty((channels, n_bands, length))
        factors = np.ones((n_bands, length))  # a transparent band keeps factor 1
        filters = [self.crossover.new_state() for _ in range(channels)]
        detectors = [np.zeros(1) for _ in range(n_bands)]  # smoothed reduction, dB
        active = [b for b, band in enumerate(self.bands) if not band.is_transparent]
        with Pool() as pool:
            for start in range(0, frames, length):
                stop = min(start + length, frames)
                span = stop - start
                pool.run(
                    [
                        partial(self.crossover.split_into, rows[c, start:stop], state, bands[c])
                        for c, state in enumerate(filters)
                    ]
                )
                pool.run(
                    [
                        partial(self._factors, bands[:, b, :span], b, detectors[b], factors[b])
                        for b in active
                    ]
                )
                pool.run(
                    [
                        partial(_mix_bands, bands[c, :, :span], factors, out[c, start:stop])
                        for c in range(channels)
                    ]
                )

    def _factors(
        self,
        rows: NDArray[np.float64],
        band: int,
        state: NDArray[np.float64],
        out: NDArray[np.float64],
    ) -> None:
        """Band `band`'s gain factors for its rows (channels, frames) into out[:frames]."""
        gain = out[: rows.shape[1]]
        _band_gain_db(rows, self.bands[band], self.fs, state, gain)
        _gain_factors(gain)
