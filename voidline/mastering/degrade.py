"""Un-mastering: random degradations of a mastered track, and the chain settings that undo them.

A generated track (`voidline.mastering.synth`) is the target. `random_degradation` draws a
degradation, `apply_degradation` spoils the track with it, and `labels` gives the 32
mastering-chain parameters (`voidline.mastering.parameters`) that undo it: the training
label for the degraded track's features.

The chain (`voidline.mastering.chain`) runs working gain -> EQ -> multiband compressor ->
width -> exciter -> loudness. The inverse of a sequence is the inverses in reverse order, so
the degradation runs the other way round:

    source -> 1. dullness -> 2. width -> 3. expander (at the working level) -> 4. tonal EQ
           -> 5. level

1. Dullness (probability 0.35): a 1st- or 2nd-order Butterworth low-pass at 6-12 kHz, like
   a dull microphone, tape or an over-eager de-esser. Two labels undo it. The EQ band
   gains add the low-pass's inverse at each band centre (`undo_dullness_eq`, within the
   EQ's +-9 dB; what the 16 kHz band cannot give goes to the high shelf, within +-6 dB) to
   the tonal inverse of step 4: up to 16 kHz that restores the tonal balance. Above the
   top band the roll-off keeps falling, and the harmonics it took are gone, so the
   exciter regenerates them: `exciter_freq_hz` = half the cutoff (the band that lost its
   harmonics), `exciter_amount` = the loss / 12 dB (capped at 1), where the loss is the
   low-pass's mean attenuation over 1/6-octave points from that corner to 16 kHz (or
   0.45 fs). Without dullness `exciter_amount` = 0.
2. Width: M/S with the chain's crossover (`CROSSOVER_HZ`); side band b times w_b
   (probability 0.8, else 1): a common factor (0.5-1.6, log-uniform) times a per-band one
   (0.8-1.25), clipped to 0.5-1.6. Neighbouring bands stay close, where the crossover's
   overlap keeps the per-band inverse accurate (alternating 0.6/1.4 would leave up to
   0.8 dB of side/mid error after the chain); mid through the crossover's all-pass as in
   `voidline.dsp.stereo.widen`. Label `width_<band>` = 1 / w_b (clipped to 0-2). Mono
   sources keep w = 1. Wide bass (probability 0.25 when the source's bass is mono): the mid
   below f (60-200 Hz, 4th-order Linkwitz-Riley low-pass), delayed 5-15 ms, is added to
   the side at 0.3-0.8: a chorus or stereo-widener smeared over the low end. Label
   `mono_bass_hz` = f, else 0.
3. Dynamics: an upward expander per compressor band (crossover `CROSSOVER_HZ`), each band
   with probability 0.6, built as the exact inverse of the chain's compressor
   (`voidline.dsp.compressor`, Giannoulis et al. 2012) with threshold T, ratio R and the
   shared knee, attack and release. Statically, above the threshold a level x becomes
   T + R (x - T) and the compressor maps that back to x. The simple feed-forward form
   (-R times the compressor's gain computed on the input) is only approximately undone,
   because the compressor's detector sees the *expanded* signal; so the expander solves
   the compressor's detector equation on its own output (see `_expander_boost_kernel`),
   and the compressor at the same settings returns each band's samples to rounding. What
   remains approximate is the re-split: the chain's crossover splits the sum of the
   expanded bands, whose overlap regions mix a little. The chain's thresholds refer to its
   working level (`WORKING_LUFS` integrated), so the expander acts at the level the chain
   will see: its input is scaled so that the expanded, equalised signal lands at
   WORKING_LUFS (a secant search on that gain, to within 0.2 LU). Thresholds are placed
   0-70 % of the way from the band's median to its 90th-percentile 10 ms level (from the
   recipe's `band_levels_dbfs`, moved to the working level), within -34 to -3 dBFS; ratios
   are 1.25-4 (log-uniform), lowered so that the loudest 1 % of the band gains at most
   4-10 dB. Bands whose loudest 1 % lies below -40 dBFS at the working level, or less than
   3 dB above the threshold, are left alone. Labels: `comp_<band>_threshold_db` = T,
   `comp_<band>_ratio` = R; bands not expanded: ratio 1, threshold 0.
4. Tonal: a tilt of -1.5 to +1.5 dB/octave around 1 kHz on the ten octave bands plus a
   random offset per band (normal, sigma 1.5 dB, clipped to +-3 dB), the sum clipped to
   +-9 dB, and each shelf with probability 0.5 at -5 to +5 dB; 15 % of tracks keep a flat
   EQ. Applied with `voidline.dsp.eq.Equalizer`. RBJ peaking and shelving filters with gain
   -G are the exact inverses of +G, so the labels are the negated gains (plus, on a dull
   track, the lift of step 1). Bands at or above 0.45 fs, which the EQ skips, stay 0.
5. Level: a gain of -20 to 0 dB from the working level, lowered where needed so the sample
   peak stays at or below -0.3 dBFS (an unmastered mix does not clip). Not a label: the
   chain's loudness targeting sets the level.

Parameters that no degradation inverts get engineering rules of thumb from the recipe, so
that they are learnable from the features (the expander uses the same attack, release and
knee, so its inverse is exact in those too):
- `comp_release_ms` = a sixteenth note, 15000 / bpm ms (the gain recovers before the next
  subdivision, so the compressor breathes with the groove instead of pumping against it);
  an eighth note (x2) without drums, where slower release avoids audible gain riding.
- `comp_attack_ms` = 5 + 30 p ms, p the drums' share of the mix power
  (`percussive_share`): slower attack on drum-heavy tracks lets transients through.
- `comp_knee_db` = 9 - 6 p dB: soft knees for sustained material, firmer on drums.
- `limiter_release_ms` = a thirty-second note, 7500 / bpm ms; x3 without drums (sustained
  material hides a slow release and distorts with a fast one).
- `exciter_drive_db` = 12 - 1.5 n dB (clipped to 3-12), n the number of instruments
  (sparse arrangements take more drive before they turn harsh), plus 12 x amount when the
  track is dull (more loss needs more new harmonics).
- `exciter_freq_hz` without dullness: 5 kHz with drums (cymbals already fill the top),
  3 kHz without (presence for voices and leads).
Every time value is clipped to its parameter's range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import scipy.signal
from numba import njit
from numpy.typing import NDArray

from voidline.dsp.biquad import as_frames, butterworth_lowpass, check_sample_rate
from voidline.dsp.compressor import CompressorBand, _coefficient, _reduction_db
from voidline.dsp.crossover import Crossover, linkwitz_riley_lowpass
from voidline.dsp.eq import BAND_CENTRES_HZ, EqSettings, Equalizer
from voidline.dsp.loudness_target import integrated_lufs
from voidline.errors import InvalidInputError
from voidline.mastering.chain import WORKING_LUFS
from voidline.mastering.parameters import (
    BAND_NAMES,
    BY_NAME,
    CROSSOVER_HZ,
    EQ_BAND_NAMES,
    EQ_RANGE_DB,
    MONO_BASS_OFF_BELOW_HZ,
    PARAMETER_NAMES,
    SHELF_RANGE_DB,
)

FloatArray = NDArray[np.float64]

TILT_RANGE_DB_PER_OCTAVE = 1.5
BAND_OFFSET_SIGMA_DB = 1.5
BAND_OFFSET_LIMIT_DB = 3.0
SHELF_LIMIT_DB = 5.0
FLAT_EQ_PROBABILITY = 0.15
EXPAND_PROBABILITY = 0.6
RATIO_RANGE = (1.25, 4.0)
MIN_RATIO = 1.1  # below this an expander is left off
THRESHOLD_RANGE_DB = (-34.0, -3.0)
THRESHOLD_PLACEMENT = (0.0, 0.7)  # from the band's median (0) to its 90th percentile (1)
SILENT_BAND_DBFS = -40.0
MAX_BOOST_RANGE_DB = (4.0, 10.0)
WIDTH_PROBABILITY = 0.8
SIDE_GAIN_RANGE = (0.5, 1.6)
SIDE_GAIN_SPREAD = (0.8, 1.25)  # per band, around the track's common width change
WIDE_BASS_PROBABILITY = 0.25
WIDE_BASS_HZ = (60.0, 200.0)
WIDE_BASS_GAIN = (0.3, 0.8)
WIDE_BASS_DELAY_MS = (5.0, 15.0)
DULL_PROBABILITY = 0.35
DULL_CUTOFF_HZ = (6000.0, 12000.0)
LEVEL_RANGE_DB = (-20.0, 0.0)
MAX_PEAK_DBFS = -0.3
LOUDNESS_TOLERANCE_LU = 0.2  # a threshold 0.2 dB off: well within what a model resolves
INITIAL_SLOPE = 1.5  # LU per dB of input gain: typical once the expander works
MAX_LEVEL_SEARCH_STEPS = 8
EXCITER_FULL_LOSS_DB = 12.0
MAX_FREQUENCY_FRACTION = 0.45
NEPERS_PER_DB = math.log(10.0) / 20.0
MAX_FIXED_POINT_STEPS = 12
FIXED_POINT_TOLERANCE_DB = 1e-12


@dataclass(frozen=True)
class Degradation:
    """Every value one degradation chose; apply_degradation and labels read only these."""

    # 1. dullness: 0 Hz is off
    lowpass_hz: float
    lowpass_order: int
    # 2. width
    side_gains: tuple[float, ...]  # one per compressor band
    wide_bass_hz: float  # 0 is off
    wide_bass_gain: float
    wide_bass_delay_ms: float
    # 3. dynamics: upward expander per band (ratio 1: off), shared knee and times
    expander_thresholds_db: tuple[float, ...]
    expander_ratios: tuple[float, ...]
    knee_db: float
    attack_ms: float
    release_ms: float
    # 4. tonal
    tilt_db_per_octave: float
    eq_band_gains_db: tuple[float, ...]
    low_shelf_db: float
    high_shelf_db: float
    # 5. level
    gain_db: float

    def __post_init__(self) -> None:
        n_bands = len(BAND_NAMES)
        for name, values in (
            ("side_gains", self.side_gains),
            ("expander_thresholds_db", self.expander_thresholds_db),
            ("expander_ratios", self.expander_ratios),
        ):
            if len(values) != n_bands:
                raise InvalidInputError(f"{name} must hold {n_bands} values, got {len(values)}")
        if len(self.eq_band_gains_db) != len(BAND_CENTRES_HZ):
            raise InvalidInputError(
                f"eq_band_gains_db must hold {len(BAND_CENTRES_HZ)} values, "
                f"got {len(self.eq_band_gains_db)}"
            )
        if any(abs(g) > EQ_RANGE_DB for g in self.eq_band_gains_db) or any(
            abs(g) > SHELF_RANGE_DB for g in (self.low_shelf_db, self.high_shelf_db)
        ):
            raise InvalidInputError(
                f"EQ gains must lie within +-{EQ_RANGE_DB:g} dB (bands) and "
                f"+-{SHELF_RANGE_DB:g} dB (shelves) so that the chain can undo them"
            )
        if any(r < 1.0 for r in self.expander_ratios):
            raise InvalidInputError("expander ratios must be at least 1 (1 is off)")
        if any(not 0.0 < w <= 2.0 for w in self.side_gains):
            raise InvalidInputError("side gains must lie within 0 (exclusive) and 2")
        if self.lowpass_order not in (1, 2):
            raise InvalidInputError(f"lowpass_order must be 1 or 2, got {self.lowpass_order}")

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> Degradation:
        """The degradation `as_json` wrote (e.g. from a training set's recipes)."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in values]
        if missing:
            raise InvalidInputError(f"degradation values lack {', '.join(missing)}")
        arguments: dict[str, Any] = {
            name: tuple(float(v) for v in values[name])
            if isinstance(values[name], list | tuple)
            else values[name]
            for name in names
        }
        return cls(**arguments)


# --- rules of thumb for the parameters no degradation inverts --------------------------------


def _clip(name: str, value: float) -> float:
    spec = BY_NAME[name]
    return min(max(float(value), spec.low), spec.high)


def _has_drums(recipe: Mapping[str, Any]) -> bool:
    return bool(recipe.get("drums", False))


def _tempo(recipe: Mapping[str, Any]) -> float:
    tempo = float(recipe.get("tempo_bpm", 120.0))
    if not (math.isfinite(tempo) and tempo > 0.0):
        raise InvalidInputError(f"recipe tempo_bpm must be a positive number, got {tempo}")
    return tempo


def release_rule_ms(recipe: Mapping[str, Any]) -> float:
    """A sixteenth note (an eighth without drums), clipped to the parameter's range."""
    sixteenth = 15000.0 / _tempo(recipe)
    return _clip("comp_release_ms", sixteenth * (1.0 if _has_drums(recipe) else 2.0))


def attack_rule_ms(recipe: Mapping[str, Any]) -> float:
    """5 ms plus 30 ms per unit of the drums' share of the mix power."""
    share = float(recipe.get("percussive_share", 0.0))
    return _clip("comp_attack_ms", 5.0 + 30.0 * share)


def knee_rule_db(recipe: Mapping[str, Any]) -> float:
    """Soft (9 dB) for sustained material, down to 3 dB for all-drum mixes."""
    share = float(recipe.get("percussive_share", 0.0))
    return _clip("comp_knee_db", 9.0 - 6.0 * share)


def limiter_release_rule_ms(recipe: Mapping[str, Any]) -> float:
    """A thirty-second note (three of them without drums)."""
    note = 7500.0 / _tempo(recipe)
    return _clip("limiter_release_ms", note * (1.0 if _has_drums(recipe) else 3.0))


def drive_rule_db(recipe: Mapping[str, Any], amount: float) -> float:
    """12 - 1.5 per instrument (3-12 dB), plus 12 dB per unit of exciter amount."""
    instruments = len(recipe.get("instruments", ()))
    base = min(max(12.0 - 1.5 * instruments, 3.0), 12.0)
    return _clip("exciter_drive_db", base + 12.0 * amount)


def dullness_loss_db(cutoff_hz: float, order: int, fs: int) -> float:
    """Mean attenuation (dB) of the dulling low-pass from cutoff / 2 to 16 kHz or 0.45 fs."""
    top = min(16000.0, MAX_FREQUENCY_FRACTION * fs)
    bottom = min(0.5 * cutoff_hz, top)
    points = max(2, int(6 * math.log2(top / bottom)) + 1) if top > bottom else 1
    freqs = np.geomspace(bottom, top, points)
    response = np.abs(_dullness_response(cutoff_hz, order, freqs, fs))
    return float(np.mean(-20.0 * np.log10(np.maximum(response, 1e-12))))


DULLNESS_FIT_STEPS = 4


def undo_dullness_eq(
    band_gains_db: Sequence[float],
    low_shelf_db: float,
    high_shelf_db: float,
    cutoff_hz: float,
    order: int,
    fs: int,
) -> tuple[list[float], float]:
    """Band gains and high shelf that add the dulling low-pass's inverse to an EQ.

    The EQ (`band_gains_db` and the shelves) is the tonal inverse; the result keeps its
    response and adds -|H(f)| dB of the low-pass at each band centre below 0.45 fs, each
    band within the EQ's +-EQ_RANGE_DB. What the top band cannot give within its limit
    goes to the 10 kHz high shelf (within +-SHELF_RANGE_DB), which also lifts the roll-off
    above the top band. Peaking bands overlap, so the gains are refined a few times against
    the cascade's own response (as `synth.balance` fits its curves).
    """
    centres = np.asarray(BAND_CENTRES_HZ)
    in_range = centres < MAX_FREQUENCY_FRACTION * fs
    top = int(np.flatnonzero(in_range)[-1])
    gains = np.asarray(band_gains_db, dtype=np.float64).copy()
    shelf = float(high_shelf_db)

    def response(g: FloatArray, high: float) -> FloatArray:
        settings = EqSettings(tuple(float(v) for v in g), low_shelf_db, high)
        return Equalizer(settings, fs).response_db(centres)

    lowpass_db = 20.0 * np.log10(
        np.maximum(np.abs(_dullness_response(cutoff_hz, order, centres, fs)), 1e-12)
    )
    wanted = response(gains, shelf) - lowpass_db

    def fit(g: FloatArray, high: float) -> FloatArray:
        for _ in range(DULLNESS_FIT_STEPS):
            g = g.copy()
            g[in_range] += (wanted - response(g, high))[in_range]
            g = np.clip(g, -EQ_RANGE_DB, EQ_RANGE_DB)
        return g

    gains = fit(gains, shelf)
    short = float((wanted - response(gains, shelf))[top])
    if short > 0.0:
        shelf = min(shelf + short, SHELF_RANGE_DB)
        gains = fit(gains, shelf)
    return [round(float(g), 3) + 0.0 for g in gains], round(shelf, 3) + 0.0


# --- drawing --------------------------------------------------------------------------------


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _expander_settings(
    rng: np.random.Generator, recipe: Mapping[str, Any]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    levels = recipe.get("band_levels_dbfs")
    if not isinstance(levels, Mapping) or any(b not in levels for b in BAND_NAMES):
        raise InvalidInputError(
            "recipe needs band_levels_dbfs (per-band level percentiles, as generate_track "
            "records them) to place the expander thresholds"
        )
    shift = WORKING_LUFS - float(recipe.get("integrated_lufs", WORKING_LUFS))
    thresholds: list[float] = []
    ratios: list[float] = []
    for band in BAND_NAMES:
        stats = levels[band]
        p50, p90, p99 = (float(stats[k]) + shift for k in ("p50", "p90", "p99"))
        # Draw every value whatever happens, so one band's outcome never shifts the others'.
        expand = bool(rng.random() < EXPAND_PROBABILITY)
        placement = float(rng.uniform(*THRESHOLD_PLACEMENT))
        ratio = _log_uniform(rng, *RATIO_RANGE)
        max_boost = float(rng.uniform(*MAX_BOOST_RANGE_DB))
        threshold = min(max(p50 + placement * (p90 - p50), THRESHOLD_RANGE_DB[0]), -3.0)
        if p99 > threshold:
            ratio = min(ratio, 1.0 + max_boost / (p99 - threshold))
        if not expand or p99 < max(SILENT_BAND_DBFS, threshold + 3.0) or ratio < MIN_RATIO:
            thresholds.append(0.0)
            ratios.append(1.0)
        else:
            thresholds.append(round(threshold, 3))
            ratios.append(round(ratio, 4))
    return tuple(thresholds), tuple(ratios)


def neutral_degradation(recipe: Mapping[str, Any]) -> Degradation:
    """A degradation that changes nothing but the level (every stage off, gain 0 dB).

    Its labels are the chain's neutral settings with the rule-of-thumb time constants: the
    "already mastered" example, and a base for degradations built by hand.
    """
    n_bands = len(BAND_NAMES)
    return Degradation(
        lowpass_hz=0.0,
        lowpass_order=1,
        side_gains=(1.0,) * n_bands,
        wide_bass_hz=0.0,
        wide_bass_gain=0.0,
        wide_bass_delay_ms=0.0,
        expander_thresholds_db=(0.0,) * n_bands,
        expander_ratios=(1.0,) * n_bands,
        knee_db=knee_rule_db(recipe),
        attack_ms=attack_rule_ms(recipe),
        release_ms=release_rule_ms(recipe),
        tilt_db_per_octave=0.0,
        eq_band_gains_db=(0.0,) * len(BAND_CENTRES_HZ),
        low_shelf_db=0.0,
        high_shelf_db=0.0,
        gain_db=0.0,
    )


def random_degradation(rng: np.random.Generator, recipe: Mapping[str, Any]) -> Degradation:
    """Draw a degradation for a generated track (its recipe; see the module docstring)."""
    fs = int(recipe.get("fs", 44100))
    check_sample_rate(fs)
    stereo = recipe.get("stereo_image", "normal") != "mono"

    dull = bool(rng.random() < DULL_PROBABILITY)
    cutoff = min(_log_uniform(rng, *DULL_CUTOFF_HZ), 0.4 * fs)
    order = int(rng.choice((1, 2)))

    # Every value is drawn whatever the recipe, so the draws after it never shift.
    widen = bool(rng.random() < WIDTH_PROBABILITY) and stereo
    # A common width change times a per-band one: neighbouring bands stay within a factor
    # of 1.25^2, where the crossover's overlap keeps the per-band inverse accurate.
    common = _log_uniform(rng, *SIDE_GAIN_RANGE)
    low, high = SIDE_GAIN_RANGE
    side_gains = tuple(
        round(min(max(common * _log_uniform(rng, *SIDE_GAIN_SPREAD), low), high), 4)
        for _ in BAND_NAMES
    )
    # Mono sources may get wide bass too (it makes them stereo); wide-bass sources may not,
    # since mono bass would then also remove the source's own low side.
    wide_bass = bool(rng.random() < WIDE_BASS_PROBABILITY) and not recipe.get("wide_bass")
    bass_hz = round(float(rng.uniform(*WIDE_BASS_HZ)), 1)
    bass_gain = float(rng.uniform(*WIDE_BASS_GAIN))
    bass_delay = float(rng.uniform(*WIDE_BASS_DELAY_MS))

    thresholds, ratios = _expander_settings(rng, recipe)

    flat = bool(rng.random() < FLAT_EQ_PROBABILITY)
    tilt = float(rng.uniform(-TILT_RANGE_DB_PER_OCTAVE, TILT_RANGE_DB_PER_OCTAVE))
    offsets = np.clip(
        rng.normal(0.0, BAND_OFFSET_SIGMA_DB, len(BAND_CENTRES_HZ)),
        -BAND_OFFSET_LIMIT_DB,
        BAND_OFFSET_LIMIT_DB,
    )
    shelves = [
        float(rng.uniform(-SHELF_LIMIT_DB, SHELF_LIMIT_DB)) if rng.random() < 0.5 else 0.0
        for _ in range(2)
    ]
    gains = []
    for centre, offset in zip(BAND_CENTRES_HZ, offsets, strict=True):
        gain = tilt * math.log2(centre / 1000.0) + float(offset)
        in_range = centre < MAX_FREQUENCY_FRACTION * fs
        gains.append(round(min(max(gain, -EQ_RANGE_DB), EQ_RANGE_DB), 3) if in_range else 0.0)
    if flat:
        tilt, gains, shelves = 0.0, [0.0] * len(BAND_CENTRES_HZ), [0.0, 0.0]

    return Degradation(
        lowpass_hz=round(cutoff, 1) if dull else 0.0,
        lowpass_order=order,
        side_gains=side_gains if widen else (1.0,) * len(BAND_NAMES),
        wide_bass_hz=bass_hz if wide_bass else 0.0,
        wide_bass_gain=bass_gain if wide_bass else 0.0,
        wide_bass_delay_ms=bass_delay if wide_bass else 0.0,
        expander_thresholds_db=thresholds,
        expander_ratios=ratios,
        knee_db=knee_rule_db(recipe),
        attack_ms=attack_rule_ms(recipe),
        release_ms=release_rule_ms(recipe),
        tilt_db_per_octave=tilt,
        eq_band_gains_db=tuple(gains),
        low_shelf_db=round(shelves[0], 3),
        high_shelf_db=round(shelves[1], 3),
        gain_db=float(rng.uniform(*LEVEL_RANGE_DB)),
    )


# --- applying -------------------------------------------------------------------------------


def _dullness_sos(cutoff_hz: float, order: int, fs: int) -> FloatArray:
    """1st-order (bilinear Butterworth) or 2nd-order (RBJ Butterworth) low-pass."""
    if order == 2:
        return butterworth_lowpass(cutoff_hz, fs)
    b, a = scipy.signal.butter(1, cutoff_hz, fs=fs)
    return np.array([[b[0], b[1], 0.0, 1.0, a[1], 0.0]])


def _dullness_response(cutoff_hz: float, order: int, freqs: FloatArray, fs: int) -> FloatArray:
    _, h = scipy.signal.freqz_sos(_dullness_sos(cutoff_hz, order, fs), worN=freqs, fs=fs)
    return np.asarray(h)


def _filter(sos: FloatArray, x: FloatArray) -> FloatArray:
    return np.asarray(scipy.signal.sosfilt(sos, x, axis=0), dtype=np.float64)


def _apply_width(x: FloatArray, fs: int, degradation: Degradation) -> FloatArray:
    """Step 2: side gain per band and wide bass, mid through the matching all-pass."""
    side_gains = degradation.side_gains
    if all(w == 1.0 for w in side_gains) and degradation.wide_bass_hz == 0.0:
        return x
    mid = 0.5 * (x[:, 0] + x[:, 1])
    side = 0.5 * (x[:, 0] - x[:, 1])
    if any(w != 1.0 for w in side_gains):
        crossover = Crossover(CROSSOVER_HZ, fs)
        scaled = np.zeros_like(side)
        for band, w in zip(crossover.bands(side[:, None]), side_gains, strict=True):
            scaled += w * band[:, 0]
        side = scaled
        mid = _filter(crossover.allpass_sos, mid)
    if degradation.wide_bass_hz > 0.0:
        delay = round(degradation.wide_bass_delay_ms * 1e-3 * fs)
        low = _filter(linkwitz_riley_lowpass(degradation.wide_bass_hz, fs), mid)
        late = np.zeros_like(low)
        late[delay:] = low[: low.shape[0] - delay]
        side = side + degradation.wide_bass_gain * late
    return np.stack([mid + side, mid - side], axis=1)


@njit(cache=True, nogil=True)
def _solve_boost(
    level: float, previous: float, coefficient: float, t: float, w: float, r: float
) -> float:  # pragma: no cover - compiled
    """y = c previous + (1 - c) rho(level + y) by fixed-point steps (a contraction)."""
    y = previous
    for _ in range(MAX_FIXED_POINT_STEPS):
        updated = coefficient * previous + (1.0 - coefficient) * _reduction_db(level + y, t, w, r)
        if abs(updated - y) < FIXED_POINT_TOLERANCE_DB:
            return updated
        y = updated
    return y


@njit(cache=True, nogil=True)
def _expander_boost_kernel(
    x: NDArray[np.float64],
    scale: float,
    t: float,
    w: float,
    r: float,
    attack: float,
    release: float,
    boost: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """Per-frame boost (dB) whose output the compressor (t, w, r, attack, release) undoes.

    The compressor smooths its reduction y_n = c y_(n-1) + (1 - c) rho(L_n), where L_n is
    the level of *its* input, here the expander's output: L_n = level(x_n) + y_n, and c is
    the attack coefficient while rho(L_n) > y_(n-1), else the release one. Boosting x_n by
    exactly y_n makes the compressor's gain -y_n, its output x_n again. The equation is a
    contraction in y_n (slope at most (1 - c)(1 - 1/r) < 1), so a few fixed-point steps
    from y_(n-1) solve it to rounding. Below the knee at the previous boost the answer is
    the release step alone (rho stays 0 as y falls), which is most samples.

    x is the band at unit gain, scale its input gain (linear); the boost in dB goes to
    `boost` and scale times the boosted band is added to `out`.
    """
    knee_start_db = t - w / 2.0
    scale_db = 20.0 * np.log10(scale)
    y = 0.0
    for n in range(x.shape[0]):
        peak = 0.0
        for c in range(x.shape[1]):
            peak = max(peak, abs(x[n, c]))
        level = 20.0 * np.log10(peak) + scale_db if peak > 0.0 else -1.0e9
        previous = y
        if level + previous <= knee_start_db:
            y = release * previous
        else:
            y = _solve_boost(level, previous, attack, t, w, r)
            if _reduction_db(level + y, t, w, r) <= previous:  # not rising: release branch
                y = _solve_boost(level, previous, release, t, w, r)
        boost[n] = y
        factor = scale * np.exp(y * NEPERS_PER_DB)
        for c in range(x.shape[1]):
            out[n, c] += factor * x[n, c]


def _expand_into(
    band: FloatArray, scale: float, settings: CompressorBand, fs: int, out: FloatArray
) -> FloatArray:
    """Add the expanded band (input gain `scale`, linear) to out; returns the boost in dB."""
    boost = np.empty(band.shape[0])
    _expander_boost_kernel(
        band,
        scale,
        settings.threshold_db,
        settings.knee_db,
        settings.ratio,
        _coefficient(settings.attack_ms, fs),
        _coefficient(settings.release_ms, fs),
        boost,
        out,
    )
    return boost


def expand(x: NDArray[np.floating], settings: CompressorBand, fs: int) -> FloatArray:
    """Upward-expand x (frames, channels) so that `compress(result, settings, fs)` is x.

    The exact inverse of `voidline.dsp.compressor.compress` with the same settings (makeup
    must be 0): see `_expander_boost_kernel`. Returns a new array.
    """
    frames = _check_audio(x, fs)
    if settings.makeup_db != 0.0:
        raise InvalidInputError("the expander inverts compressors without makeup gain only")
    out = np.zeros_like(frames)
    if settings.ratio == 1.0:
        out += frames
        return out
    _expand_into(frames, 1.0, settings, fs, out)
    return out


class _Expander:
    """Step 3: the per-band upward expander, for any input gain (the bands are split once)."""

    def __init__(self, x: FloatArray, fs: int, degradation: Degradation) -> None:
        self.fs = fs
        self.settings = [
            CompressorBand(
                threshold_db=t,
                ratio=r,
                knee_db=degradation.knee_db,
                attack_ms=degradation.attack_ms,
                release_ms=degradation.release_ms,
            )
            if r > 1.0
            else None
            for t, r in zip(
                degradation.expander_thresholds_db, degradation.expander_ratios, strict=True
            )
        ]
        self.active = any(s is not None for s in self.settings)
        self.bands = Crossover(CROSSOVER_HZ, fs).split(x) if self.active else []
        # The bands left alone, summed once (contiguous, frames x channels).
        self.plain: FloatArray = np.zeros_like(x)
        if self.active:
            for band, settings in zip(self.bands, self.settings, strict=True):
                if settings is None:
                    self.plain += band

    def __call__(self, input_gain_db: float) -> FloatArray:
        """The expanded signal for the input scaled by input_gain_db."""
        scale = 10.0 ** (input_gain_db / 20.0)
        out: FloatArray = self.plain * scale
        for band, settings in zip(self.bands, self.settings, strict=True):
            if settings is not None:
                _expand_into(band, scale, settings, self.fs, out)
        return out


def _check_audio(audio: NDArray[np.floating], fs: int) -> FloatArray:
    check_sample_rate(fs)
    frames = as_frames(audio)
    if frames.shape[0] == 0 or not np.isfinite(frames).all():
        raise InvalidInputError("audio must hold at least one frame of finite samples")
    return frames


def apply_degradation(audio: NDArray[np.floating], fs: int, degradation: Degradation) -> FloatArray:
    """Spoil audio (frames, 1-2 channels) with the degradation; returns a new array.

    Width and wide bass need stereo and are skipped for mono input. Raises
    InvalidInputError for silent input when the expander is on (it has no level to act at).
    """
    x = _check_audio(audio, fs).copy()
    if degradation.lowpass_hz > 0.0:
        cutoff = min(degradation.lowpass_hz, 0.4 * fs)
        x = _filter(_dullness_sos(cutoff, degradation.lowpass_order, fs), x)
    if x.shape[1] == 2:
        x = _apply_width(x, fs, degradation)
    equalizer = Equalizer(
        EqSettings(
            band_gains_db=degradation.eq_band_gains_db,
            low_shelf_db=degradation.low_shelf_db,
            high_shelf_db=degradation.high_shelf_db,
        ),
        fs,
    )
    expander = _Expander(x, fs, degradation)
    if expander.active:
        y = _at_working_level(expander, equalizer, x, fs)
    else:
        y = equalizer.process(x)
        loudness = integrated_lufs(y, fs)
        if math.isfinite(loudness):
            y *= 10.0 ** ((WORKING_LUFS - loudness) / 20.0)
    gain = degradation.gain_db
    peak = float(np.abs(y).max())
    if peak > 0.0:
        gain = min(gain, MAX_PEAK_DBFS - 20.0 * math.log10(peak))
    y *= 10.0 ** (gain / 20.0)
    return y


def _at_working_level(
    expander: _Expander, equalizer: Equalizer, x: FloatArray, fs: int
) -> FloatArray:
    """Expand then equalise, with the input gain that puts the result at WORKING_LUFS.

    The loudness rises with the input gain at least 1:1 (more where the expander works), so
    a secant search from a 1.5:1 guess converges in a few steps; the closest result wins.
    """
    start = integrated_lufs(x, fs)
    if not math.isfinite(start):
        raise InvalidInputError("the audio is silent: there is no level for the expander")
    gain = WORKING_LUFS - start
    best: tuple[float, FloatArray] | None = None
    previous: tuple[float, float] | None = None
    slope = INITIAL_SLOPE
    for _ in range(MAX_LEVEL_SEARCH_STEPS):
        y = equalizer.process(expander(gain))
        error = integrated_lufs(y, fs) - WORKING_LUFS
        if best is None or abs(error) < best[0]:
            best = (abs(error), y)
        if abs(error) <= LOUDNESS_TOLERANCE_LU:
            break
        if previous is not None and gain != previous[0]:
            slope = min(max((error - previous[1]) / (gain - previous[0]), 0.5), 8.0)
        previous = (gain, error)
        gain -= error / slope
    assert best is not None
    return best[1]


# --- labels ---------------------------------------------------------------------------------


def labels(degradation: Degradation, recipe: Mapping[str, Any]) -> dict[str, float]:
    """The 32 chain parameters (physical units, by name) that undo the degradation."""
    fs = int(recipe.get("fs", 44100))
    out: dict[str, float] = {}
    for name, gain in zip(EQ_BAND_NAMES, degradation.eq_band_gains_db, strict=True):
        out[name] = -gain + 0.0  # + 0.0 turns -0.0 into 0.0
    out["low_shelf_db"] = -degradation.low_shelf_db + 0.0
    out["high_shelf_db"] = -degradation.high_shelf_db + 0.0
    if degradation.lowpass_hz > 0.0:
        gains, out["high_shelf_db"] = undo_dullness_eq(
            [out[name] for name in EQ_BAND_NAMES],
            out["low_shelf_db"],
            out["high_shelf_db"],
            min(degradation.lowpass_hz, 0.4 * fs),
            degradation.lowpass_order,
            fs,
        )
        out.update(zip(EQ_BAND_NAMES, gains, strict=True))
    for band, threshold, ratio in zip(
        BAND_NAMES, degradation.expander_thresholds_db, degradation.expander_ratios, strict=True
    ):
        expanded = ratio > 1.0
        out[f"comp_{band}_threshold_db"] = _clip(
            f"comp_{band}_threshold_db", threshold if expanded else 0.0
        )
        out[f"comp_{band}_ratio"] = _clip(f"comp_{band}_ratio", ratio if expanded else 1.0)
    out["comp_attack_ms"] = _clip("comp_attack_ms", degradation.attack_ms)
    out["comp_release_ms"] = _clip("comp_release_ms", degradation.release_ms)
    out["comp_knee_db"] = _clip("comp_knee_db", degradation.knee_db)
    for band, w in zip(BAND_NAMES, degradation.side_gains, strict=True):
        out[f"width_{band}"] = _clip(f"width_{band}", 1.0 / w)
    mono_bass = degradation.wide_bass_hz
    out["mono_bass_hz"] = _clip(
        "mono_bass_hz", mono_bass if mono_bass >= MONO_BASS_OFF_BELOW_HZ else 0.0
    )
    if degradation.lowpass_hz > 0.0:
        cutoff = min(degradation.lowpass_hz, 0.4 * fs)
        loss = dullness_loss_db(cutoff, degradation.lowpass_order, fs)
        amount = min(1.0, loss / EXCITER_FULL_LOSS_DB)
        freq = 0.5 * cutoff
    else:
        amount = 0.0
        freq = 5000.0 if _has_drums(recipe) else 3000.0
    out["exciter_amount"] = _clip("exciter_amount", amount)
    out["exciter_drive_db"] = drive_rule_db(recipe, amount)
    out["exciter_freq_hz"] = _clip("exciter_freq_hz", freq)
    out["limiter_release_ms"] = limiter_release_rule_ms(recipe)
    return {name: out[name] for name in PARAMETER_NAMES}
