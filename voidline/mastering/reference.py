"""Reference mastering: measure a reference track and plan how to move a master towards it.

Three things are matched: tonal balance (a match EQ), stereo width (a side gain per band of
the chain's crossover) and loudness (a target for the chain's loudness stage).

Profile (`ReferenceProfile.measure`), all in units that do not depend on the sample rate:

* Long-term average spectrum of the mid M = (L + R) / 2 and side S = (L - R) / 2 signals:
  a Welch PSD (Hann, 50 % overlap, bins of at most 4 Hz), integrated over a 1/6-octave window
  around each point of a fixed 1/12-octave grid from 20 Hz to 20.48 kHz, in dBFS per window.
  The tonal match works on the mid signal: the EQ acts on L and R alike, and what it cannot
  reach (the side's share per band) is the width's job.
* Integrated loudness (ITU-R BS.1770-5, `voidline.dsp.loudness_target.integrated_lufs`) of
  the track, which is the loudness target, and of its mid signal alone, which aligns the two
  spectra (a mono input and a dual-mono reference then compare as equal).
* True peak, for the record (BS.1770-5 Annex 2, the analysis service's standard 4x meter;
  the match does not use it, and the 16x meter cost 0.3-0.5 s of CPU per 3-minute
  measurement, three of which a reference-mode job makes).
* Mid and side energy per band of the chain's four bands (`CROSSOVER_HZ`), from the PSD.

Profiles compare across sample rates, so a reference is measured at its own rate (the
service stores profiles, not audio, and learns the input's rate only with the input); the
spectrum above 0.45 fs (`max_frequency_hz`, where anti-alias filters roll off) is not trusted.
`resample_to` (scipy.signal.resample_poly) measures at another rate instead; a test shows
both give the same match.

Plan (`plan_match`):

* Match EQ: d(f) = reference mid - input mid - (reference mid loudness - input mid loudness),
  limited to +-24 dB and smoothed with a 1/3-octave Hann window. Where either spectrum is
  near silence (a window 70-80 dB below the track's loudest, or below -200 dBFS) the curve
  is 0 dB, and the smoothing skips those points rather than averaging them in. The curve is
  faded to 0 dB outside MATCH_LOW_HZ-MATCH_HIGH_HZ over 1/8 octave (ending below the lower
  profile's 0.45 fs), scaled by amount and limited to +-12 dB. Aligning loudness first keeps
  the EQ from carrying a broadband gain: the EQ'd input keeps about its loudness.
* Width: w_b = (sqrt(reference side/mid energy / input side/mid energy))^amount per band,
  limited to 0-2 (the chain's width range), 1 where the input band is (nearly) mono or
  silent: there is no side to scale.
* Loudness: the reference's integrated loudness. The caller blends it with the requested
  target by the amount: target = amount * reference + (1 - amount) * requested
  (`ReferenceMatch.blended_target_lufs`). True-peak safety stays with the chain's limiter,
  which comes after the match; the plan only guarantees no more than +12 dB of boost.

Apply (`apply_match_eq`): a linear-phase FIR (scipy.signal.firwin2, Hamming window) with
fs / 10 taps, about 10 Hz between the frequency samples and a 20 Hz-wide main lobe, run by
overlap-add convolution (scipy.signal.oaconvolve). Linear phase delays every frequency by
exactly (taps - 1) / 2 samples, so removing that delay lines the output up with the input to
the sample (an impulse stays where it was) and the bands keep their timing; a minimum-phase
design has no constant delay to remove. Its pre-ringing is short and faint because the curve
is smoothed to 1/3 octave. A 3-minute stereo track at 44.1 kHz takes about 0.5 s on an
idle core (1-3 s measured on the shared, loaded 2-core test machine).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.truepeak import TruePeakMeter
from voidline.dsp.biquad import as_frames, check_sample_rate
from voidline.dsp.loudness_target import ABSOLUTE_GATE_LUFS, integrated_lufs
from voidline.dsp.parallel import cpu_cores, run_parallel
from voidline.errors import InvalidInputError
from voidline.mastering.parameters import CROSSOVER_HZ

PROFILE_VERSION = 1
GRID_STEPS_PER_OCTAVE = 12
GRID_HZ: tuple[float, ...] = tuple(20.0 * 2.0 ** (k / GRID_STEPS_PER_OCTAVE) for k in range(121))
SPECTRUM_WINDOW_OCTAVES = 1.0 / 6.0
MAX_BIN_HZ = 4.0  # Welch frequency resolution, at most
USABLE_FRACTION = 0.45  # of fs: above this the spectrum is in the anti-alias roll-off
MIN_SECONDS = 0.4  # one BS.1770 gating block
BAND_EDGES_HZ = (20.0, *CROSSOVER_HZ, 20_000.0)
POWER_FLOOR_DB = -300.0  # stands for "no energy" (JSON has no -inf)

MATCH_LOW_HZ = 25.0
MATCH_HIGH_HZ = 18_000.0
FADE_OCTAVES = 1.0 / 8.0
MAX_MATCH_DB = 12.0
MAX_DIFFERENCE_DB = 24.0  # the raw difference is limited to this before smoothing
SILENT_BELOW_PEAK_DB = 80.0  # a window this far below the loudest counts as silence
SILENT_FADE_DB = 10.0  # ... fading in over the next 10 dB
SILENT_ABSOLUTE_DB = -200.0  # and anything below this is silence, however quiet the rest
CURVE_SMOOTHING = np.hanning(9)[1:-1] / np.hanning(9)[1:-1].sum()  # 1/3 octave at 1/12 steps
MONO_SIDE_BELOW_MID_DB = 60.0  # side this far below mid: the band is mono, width is left
MAX_WIDTH = 2.0
FIR_RESOLUTION_HZ = 10.0  # taps = fs / this
MAX_AMOUNT = 1.0


def _to_db(power: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    return np.maximum(levels, POWER_FLOOR_DB)


def _welch_nperseg(frames: int, fs: int) -> int:
    """Power of two giving bins of at most MAX_BIN_HZ, or the longest the signal allows."""
    wanted = 1 << math.ceil(math.log2(fs / MAX_BIN_HZ))
    return min(wanted, 1 << int(math.log2(frames)))


class _PowerIntegral:
    """Cumulative integral of a one-sided PSD, to integrate it over any frequency range.

    Bin k covers [k df - df/2, k df + df/2] with a constant density, so windows narrower than
    a bin or not on bin edges are integrated exactly for that piecewise-constant density.
    """

    def __init__(self, psd: NDArray[np.float64], df: float) -> None:
        self.edges = (np.arange(psd.shape[0] + 1) - 0.5) * df
        self.cumulative = np.concatenate([[0.0], np.cumsum(psd) * df])

    def between(self, low_hz: ArrayLike, high_hz: ArrayLike) -> NDArray[np.float64]:
        high = np.interp(np.asarray(high_hz, dtype=np.float64), self.edges, self.cumulative)
        low = np.interp(np.asarray(low_hz, dtype=np.float64), self.edges, self.cumulative)
        return np.maximum(np.asarray(high - low, dtype=np.float64), 0.0)


def _spectrum(signal: NDArray[np.float64], fs: int) -> tuple[NDArray[np.float64], list[float]]:
    """(1/6-octave window powers in dB on GRID_HZ, band powers in dB per chain band)."""
    nperseg = _welch_nperseg(signal.shape[0], fs)
    freqs, psd = scipy.signal.welch(signal, fs, window="hann", nperseg=nperseg)
    power = _PowerIntegral(np.asarray(psd, dtype=np.float64), float(freqs[1]))
    grid = np.asarray(GRID_HZ)
    half = 2.0 ** (SPECTRUM_WINDOW_OCTAVES / 2.0)
    windows = _to_db(power.between(grid / half, grid * half))
    top = min(BAND_EDGES_HZ[-1], fs / 2.0)
    edges = [min(edge, top) for edge in BAND_EDGES_HZ]
    bands = _to_db(power.between(edges[:-1], edges[1:]))
    return windows, [float(b) for b in bands]


def _true_peak_dbtp(frames: NDArray[np.float64], fs: int) -> float:
    """Largest true peak over channels, dBTP, with the standard (4x) Annex 2 meter."""
    meter = TruePeakMeter(fs, frames.shape[1])
    meter.push(frames)
    meter.flush()
    return max(meter.true_peak_dbtp())


@dataclass(frozen=True)
class ReferenceProfile:
    """What the match needs to know of a track; JSON-serialisable with to_dict / from_dict.

    mid_db / side_db: power in a 1/6-octave window around each GRID_HZ point, dBFS.
    band_mid_db / band_side_db: power per chain band (BAND_EDGES_HZ), dBFS.
    """

    sample_rate_hz: int
    channels: int
    duration_s: float
    integrated_lufs: float
    mid_lufs: float
    true_peak_dbtp: float
    max_frequency_hz: float
    mid_db: tuple[float, ...]
    side_db: tuple[float, ...]
    band_mid_db: tuple[float, ...]
    band_side_db: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("mid_db", "side_db"):
            if len(getattr(self, name)) != len(GRID_HZ):
                raise InvalidInputError(
                    f"profile {name} must hold {len(GRID_HZ)} values (one per grid point), "
                    f"got {len(getattr(self, name))}; measure the reference again"
                )
        for name in ("band_mid_db", "band_side_db"):
            if len(getattr(self, name)) != len(BAND_EDGES_HZ) - 1:
                raise InvalidInputError(
                    f"profile {name} must hold {len(BAND_EDGES_HZ) - 1} values, one per band"
                )
        numbers = (
            self.duration_s,
            self.integrated_lufs,
            self.mid_lufs,
            self.true_peak_dbtp,
            self.max_frequency_hz,
            *self.mid_db,
            *self.side_db,
            *self.band_mid_db,
            *self.band_side_db,
        )
        if not all(math.isfinite(v) for v in numbers):
            raise InvalidInputError("a reference profile must hold finite numbers only")

    @property
    def frequencies_hz(self) -> tuple[float, ...]:
        """The grid mid_db and side_db are measured on."""
        return GRID_HZ

    @property
    def side_mid_ratios(self) -> tuple[float, ...]:
        """Side / mid energy per chain band (0 where there is no side, as in mono)."""
        return tuple(
            0.0 if side <= POWER_FLOOR_DB else 10.0 ** ((side - mid) / 10.0)
            for side, mid in zip(self.band_side_db, self.band_mid_db, strict=True)
        )

    @classmethod
    def measure(
        cls, audio: ArrayLike, fs: int, resample_to: int | None = None, role: str = "audio"
    ) -> ReferenceProfile:
        """Measure audio (frames, 1-2 channels) at fs, resampled to resample_to if given.

        role names the audio in error messages ("reference", "input"). Raises
        InvalidInputError for non-finite samples, audio shorter than 0.4 s, or audio with
        nothing above the BS.1770 absolute gate (there is nothing to match).
        """
        check_sample_rate(fs)
        frames = as_frames(audio, max_channels=2)
        if not np.isfinite(frames).all():
            raise InvalidInputError(f"the {role} holds NaN or infinite samples; send finite PCM")
        if frames.shape[0] < MIN_SECONDS * fs:
            raise InvalidInputError(
                f"the {role} is {frames.shape[0] / fs:.3f} s long; a profile needs at least "
                f"{MIN_SECONDS:g} s (one BS.1770 gating block)"
            )
        if resample_to is not None and resample_to != fs:
            check_sample_rate(resample_to)
            common = math.gcd(resample_to, fs)
            frames = np.asarray(
                scipy.signal.resample_poly(frames, resample_to // common, fs // common, axis=0),
                dtype=np.float64,
            )
            fs = resample_to
        loudness = integrated_lufs(frames, fs)
        if not (math.isfinite(loudness) and loudness >= ABSOLUTE_GATE_LUFS):
            raise InvalidInputError(
                f"the {role} is silent or nearly so (integrated loudness {loudness:.1f} LUFS, "
                f"nothing above the {ABSOLUTE_GATE_LUFS:g} LUFS gate): it has no tone or "
                "loudness to match; send audio with content"
            )
        if frames.shape[1] == 2:
            mid = 0.5 * (frames[:, 0] + frames[:, 1])
            side = 0.5 * (frames[:, 0] - frames[:, 1])
        else:
            mid = frames[:, 0]
            side = np.zeros_like(mid)
        # The two spectra are independent: their FFTs run on separate cores.
        (mid_db, band_mid), (side_db, band_side) = run_parallel(
            [functools.partial(_spectrum, mid, fs), functools.partial(_spectrum, side, fs)]
        )
        mid_lufs = integrated_lufs(mid[:, np.newaxis], fs)
        return cls(
            sample_rate_hz=fs,
            channels=frames.shape[1],
            duration_s=frames.shape[0] / fs,
            integrated_lufs=loudness,
            # The mid of an out-of-phase track can be silent while the track is not.
            mid_lufs=mid_lufs if math.isfinite(mid_lufs) else POWER_FLOOR_DB,
            true_peak_dbtp=_true_peak_dbtp(frames, fs),
            max_frequency_hz=USABLE_FRACTION * fs,
            mid_db=tuple(float(v) for v in mid_db),
            side_db=tuple(float(v) for v in side_db),
            band_mid_db=tuple(band_mid),
            band_side_db=tuple(band_side),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; from_dict reads them back."""
        data = asdict(self)
        for name, value in data.items():
            if isinstance(value, tuple):
                data[name] = list(value)
        data["version"] = PROFILE_VERSION
        data["frequencies_hz"] = list(GRID_HZ)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        """A profile from to_dict's output; InvalidInputError if it is not one of this version."""
        if data.get("version") != PROFILE_VERSION:
            raise InvalidInputError(
                f"reference profile version {data.get('version')!r} is not {PROFILE_VERSION}; "
                "upload the reference again"
            )
        grid = data.get("frequencies_hz")
        if not (
            isinstance(grid, list)
            and len(grid) == len(GRID_HZ)
            and np.allclose(grid, GRID_HZ, rtol=1e-9, atol=0.0)
        ):
            raise InvalidInputError(
                "reference profile was measured on another frequency grid; upload it again"
            )
        try:
            return cls(
                sample_rate_hz=int(data["sample_rate_hz"]),
                channels=int(data["channels"]),
                duration_s=float(data["duration_s"]),
                integrated_lufs=float(data["integrated_lufs"]),
                mid_lufs=float(data["mid_lufs"]),
                true_peak_dbtp=float(data["true_peak_dbtp"]),
                max_frequency_hz=float(data["max_frequency_hz"]),
                mid_db=tuple(float(v) for v in data["mid_db"]),
                side_db=tuple(float(v) for v in data["side_db"]),
                band_mid_db=tuple(float(v) for v in data["band_mid_db"]),
                band_side_db=tuple(float(v) for v in data["band_side_db"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(
                f"reference profile is incomplete or malformed ({error!r}); upload it again"
            ) from None


@dataclass(frozen=True)
class ReferenceMatch:
    """The plan: a match EQ curve on frequencies_hz, widths per chain band, a loudness target.

    curve_db never boosts or cuts more than MAX_MATCH_DB; width_factors lie within 0-2.
    """

    frequencies_hz: tuple[float, ...]
    curve_db: tuple[float, ...]
    width_factors: tuple[float, ...]
    target_lufs: float
    amount: float

    def __post_init__(self) -> None:
        if len(self.curve_db) != len(self.frequencies_hz):
            raise InvalidInputError("curve_db must hold one gain per frequency")
        curve = np.asarray(self.curve_db, dtype=np.float64)
        if not (np.isfinite(curve).all() and np.abs(curve).max(initial=0.0) <= MAX_MATCH_DB):
            raise InvalidInputError(f"curve_db must be finite and within +-{MAX_MATCH_DB:g} dB")
        if len(self.width_factors) != len(CROSSOVER_HZ) + 1 or not all(
            0.0 <= w <= MAX_WIDTH for w in self.width_factors
        ):
            raise InvalidInputError(
                f"width_factors must hold {len(CROSSOVER_HZ) + 1} values within 0-{MAX_WIDTH:g}"
            )

    @property
    def is_flat(self) -> bool:
        """True when the EQ does nothing: apply_match_eq then copies its input."""
        return not any(self.curve_db)

    def blended_target_lufs(self, requested_lufs: float) -> float:
        """amount * reference loudness + (1 - amount) * the caller's own target."""
        return self.amount * self.target_lufs + (1.0 - self.amount) * requested_lufs


def _silence_floor_db(loudest_db: float) -> float:
    """Power below which a window or band counts as silence, given the loudest one."""
    return max(loudest_db - SILENT_BELOW_PEAK_DB, SILENT_ABSOLUTE_DB)


def _content_weight(levels_db: NDArray[np.float64], top_hz: float) -> NDArray[np.float64]:
    """0 where a spectrum is near silence (relative to its loudest window below top_hz, or
    absolutely), 1 from SILENT_FADE_DB above that."""
    grid = np.asarray(GRID_HZ)
    floor = _silence_floor_db(float(levels_db[grid <= top_hz].max(initial=POWER_FLOOR_DB)))
    return np.clip((levels_db - floor) / SILENT_FADE_DB, 0.0, 1.0)


def _range_weight(top_hz: float) -> NDArray[np.float64]:
    """1 within MATCH_LOW_HZ-top_hz, a raised-cosine fade to 0 over FADE_OCTAVES outside."""
    octaves = np.log2(np.asarray(GRID_HZ))
    below = (np.log2(MATCH_LOW_HZ) - octaves) / FADE_OCTAVES
    above = (octaves - np.log2(top_hz)) / FADE_OCTAVES
    outside = np.clip(np.maximum(below, above), 0.0, 1.0)
    return np.asarray(0.5 * (1.0 + np.cos(np.pi * outside)), dtype=np.float64)


def _smooth(values: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weighted 1/3-octave moving average: points of weight 0 (silence) do not pull their
    neighbours towards 0; it is a normalised convolution, sum(k w v) / sum(k w)."""
    reach = CURVE_SMOOTHING.shape[0] // 2

    def convolve(signal: NDArray[np.float64]) -> NDArray[np.float64]:
        padded = np.pad(signal, reach, mode="edge")
        return np.convolve(padded, CURVE_SMOOTHING, mode="valid")

    total = convolve(weights)
    smoothed = convolve(values * weights) / np.maximum(total, 1e-12)
    return np.where(total > 1e-12, smoothed, 0.0)


def _check_amount(amount: float) -> float:
    if not (math.isfinite(amount) and 0.0 <= amount <= MAX_AMOUNT):
        raise InvalidInputError(f"reference amount must lie within 0 to 1, got {amount}")
    return float(amount)


def _width_factors(
    source: ReferenceProfile, reference: ReferenceProfile, amount: float
) -> tuple[float, ...]:
    factors: list[float] = []
    source_floor = _silence_floor_db(max(source.band_mid_db))
    reference_floor = _silence_floor_db(max(reference.band_mid_db))
    for band in range(len(source.band_mid_db)):
        source_mid, reference_mid = source.band_mid_db[band], reference.band_mid_db[band]
        source_spread = source.band_side_db[band] - source_mid
        reference_spread = max(
            reference.band_side_db[band] - reference_mid, -MONO_SIDE_BELOW_MID_DB
        )
        # A band without mid (silent, or a track all out of phase) has no ratio to match.
        silent = source_mid < source_floor or reference_mid < reference_floor
        if silent or source_spread <= -MONO_SIDE_BELOW_MID_DB:
            factors.append(1.0)
            continue
        # sqrt of the energy-ratio quotient = 10^(dB difference / 20); ^amount scales the dB.
        factor = 10.0 ** (amount * (reference_spread - source_spread) / 20.0)
        factors.append(min(max(factor, 0.0), MAX_WIDTH))
    return tuple(factors)


def plan_match(
    input_profile: ReferenceProfile, reference_profile: ReferenceProfile, amount: float
) -> ReferenceMatch:
    """The match EQ, widths and loudness target moving input towards reference by amount.

    amount 0-1: 0 plans nothing (flat EQ, widths 1); 1 matches fully. See the module
    docstring for the method.
    """
    amount = _check_amount(amount)
    source_mid = np.asarray(input_profile.mid_db)
    reference_mid = np.asarray(reference_profile.mid_db)
    top = min(
        MATCH_HIGH_HZ,
        input_profile.max_frequency_hz * 2.0**-FADE_OCTAVES,
        reference_profile.max_frequency_hz * 2.0**-FADE_OCTAVES,
    )
    offset = reference_profile.mid_lufs - input_profile.mid_lufs
    difference = np.clip(reference_mid - source_mid - offset, -MAX_DIFFERENCE_DB, MAX_DIFFERENCE_DB)
    content = _content_weight(source_mid, top) * _content_weight(reference_mid, top)
    curve = amount * _smooth(difference, content) * content * _range_weight(top)
    curve = np.clip(curve, -MAX_MATCH_DB, MAX_MATCH_DB)
    curve[np.abs(curve) < 1e-6] = 0.0  # below audibility by far; lets a flat plan be exact
    return ReferenceMatch(
        frequencies_hz=GRID_HZ,
        curve_db=tuple(float(v) for v in curve),
        width_factors=_width_factors(input_profile, reference_profile, amount),
        target_lufs=reference_profile.integrated_lufs,
        amount=amount,
    )


def fir_taps(fs: int) -> int:
    """Odd tap count giving FIR_RESOLUTION_HZ between firwin2's frequency samples."""
    return math.ceil(fs / FIR_RESOLUTION_HZ) | 1


@functools.lru_cache(maxsize=8)
def match_fir(
    frequencies_hz: tuple[float, ...], curve_db: tuple[float, ...], fs: int
) -> NDArray[np.float64]:
    """The linear-phase FIR for a curve at fs (cached: a preview and its master share it).

    The curve is interpolated on log frequency onto firwin2's own uniform grid (0 dB beyond
    the curve's ends), so firwin2 interpolates nothing further.
    """
    taps = fir_taps(fs)
    n_freqs = 1 + (1 << math.ceil(math.log2(taps)))
    freqs = np.linspace(0.0, fs / 2.0, n_freqs)
    octaves = np.log2(np.maximum(freqs, 1e-3))
    gains_db = np.interp(octaves, np.log2(frequencies_hz), curve_db, left=0.0, right=0.0)
    design = scipy.signal.firwin2(taps, freqs, 10.0 ** (gains_db / 20.0), nfreqs=n_freqs, fs=fs)
    filter_taps = np.asarray(design, dtype=np.float64)
    filter_taps.flags.writeable = False  # shared through the cache
    return filter_taps


def apply_match_eq(audio: ArrayLike, fs: int, match: ReferenceMatch) -> NDArray[np.float64]:
    """The match EQ on audio (frames, 1-2 channels): same length, aligned to the sample.

    A flat plan returns a copy of the input, bit for bit.
    """
    check_sample_rate(fs)
    frames = as_frames(audio, max_channels=2)
    if not np.isfinite(frames).all():
        raise InvalidInputError("the audio holds NaN or infinite samples; send finite PCM")
    if match.is_flat or frames.shape[0] == 0:
        return frames.copy()
    taps = match_fir(match.frequencies_hz, match.curve_db, fs)
    delay = (taps.shape[0] - 1) // 2
    with scipy.fft.set_workers(cpu_cores()):  # the same transforms, spread over the cores
        filtered = scipy.signal.oaconvolve(frames, taps[:, np.newaxis], mode="full", axes=0)
    return np.ascontiguousarray(filtered[delay : delay + frames.shape[0]], dtype=np.float64)
