"""Tonal balance of a generated mix: the mastering engineer's corrective EQ.

A raw generated mix has whatever spectrum its parts add up to (in practice heavy in the low
mids and dull on top: synthesised parts lack the air of recorded ones). A mastered track
does not: commercial masters sit close to a common long-term average spectrum, the reference
tonal balance of the analysis service (`voidline.analysis.spectrum.reference_curve_db`, a PSD
falling 4.5 dB per octave), with a few dB of spread from genre and taste. The training
targets must look like masters, or the model learns to push real music towards the
generator's colour, so `balance_tone` equalises each mix most of the way to that curve:

1. Measure the mix's long-term octave-band levels at the EQ's centres (31.5 Hz-16 kHz) from a
   Welch PSD (Hann, 50 % overlap) of the mid signal, as mean PSD per band in dB, minus the
   reference curve. The offset is the median of those differences over the bands in range,
   so a band with no content (no bass in a solo piece) does not move the others.
2. Draw how thorough the engineer is (`strength`, 0.7-1.0 of the deviation corrected) and a
   house tilt (-0.5 to +0.5 dB per octave around 1 kHz), so targets keep a realistic spread.
3. Wanted change per band: -strength x deviation + tilt, limited to -12 / +9 dB (an empty
   band is not boosted far into noise).
4. The octave bands of `voidline.dsp.eq.Equalizer` (Q = sqrt 2) overlap, so gains that are
   the wanted changes overshoot; three fixed-point steps on the EQ's own response at the
   centres (g <- g + wanted - response(g)) bring it to the wanted change within a fraction
   of a dB.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.signal

from voidline.analysis.spectrum import reference_curve_db
from voidline.dsp.eq import BAND_CENTRES_HZ, MAX_FREQUENCY_FRACTION, EqSettings, Equalizer
from voidline.dsp.eq import MAX_GAIN_DB as EQ_MAX_GAIN_DB
from voidline.mastering.synth.oscillators import FloatArray

STRENGTH_RANGE = (0.7, 1.0)
TILT_RANGE_DB_PER_OCTAVE = (-0.5, 0.5)
MAX_CUT_DB = 12.0
MAX_BOOST_DB = 9.0
FIT_STEPS = 3
WELCH_BIN_HZ = 5.0  # at most: the 31.5 Hz octave (22-45 Hz) then spans four bins


def octave_deviation_db(audio: FloatArray, fs: int) -> FloatArray:
    """Octave-band level of the mid signal minus the reference curve, median offset removed.

    One value per `BAND_CENTRES_HZ` band; NaN for bands at or above 0.45 fs (the EQ's range).
    """
    mid = audio.mean(axis=1)
    nperseg = min(1 << math.ceil(math.log2(fs / WELCH_BIN_HZ)), 1 << int(math.log2(mid.size)))
    freqs, psd = scipy.signal.welch(mid, fs, window="hann", nperseg=nperseg)
    centres = np.asarray(BAND_CENTRES_HZ)
    levels = np.full(centres.size, np.nan)
    for k, centre in enumerate(centres):
        if centre >= MAX_FREQUENCY_FRACTION * fs:
            continue
        inside = (freqs >= centre / math.sqrt(2.0)) & (freqs < centre * math.sqrt(2.0))
        mean_psd = float(psd[inside].mean()) if inside.any() else 0.0
        levels[k] = 10.0 * math.log10(max(mean_psd, 1e-30))
    relative = levels - reference_curve_db(centres)
    return np.asarray(relative - np.nanmedian(relative), dtype=np.float64)


def _eq_settings(gains_db: FloatArray) -> EqSettings:
    limited = np.clip(np.nan_to_num(gains_db), -EQ_MAX_GAIN_DB, EQ_MAX_GAIN_DB)
    return EqSettings(band_gains_db=tuple(round(float(g), 3) for g in limited))


def balance_tone(
    rng: np.random.Generator, mix: FloatArray, fs: int
) -> tuple[FloatArray, dict[str, Any]]:
    """Equalise the mix part of the way to the reference tonal balance (module docstring)."""
    strength = float(rng.uniform(*STRENGTH_RANGE))
    tilt = float(rng.uniform(*TILT_RANGE_DB_PER_OCTAVE))
    deviation = octave_deviation_db(mix, fs)
    centres = np.asarray(BAND_CENTRES_HZ)
    wanted = -strength * deviation + tilt * np.log2(centres / 1000.0)
    wanted = np.clip(wanted, -MAX_CUT_DB, MAX_BOOST_DB)
    in_range = np.isfinite(wanted)
    gains = np.where(in_range, wanted, 0.0)
    for _ in range(FIT_STEPS):
        response = Equalizer(_eq_settings(gains), fs).response_db(centres[in_range])
        gains[in_range] += wanted[in_range] - response
    settings = _eq_settings(gains)
    details = {
        "strength": round(strength, 3),
        "tilt_db_per_octave": round(tilt, 3),
        "eq_gains_db": list(settings.band_gains_db),
    }
    return Equalizer(settings, fs).process(mix), details
