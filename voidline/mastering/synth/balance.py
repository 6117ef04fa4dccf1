"""Tonal balance of a generated mix: the mastering engineer's corrective EQ.

A raw generated mix has whatever spectrum its parts add up to (in practice heavy in the low
mids and dull on top: synthesised parts lack the air of recorded ones). A mastered track
does not: commercial masters sit close to a common long-term average spectrum, the reference
tonal balance of the analysis service (`voidline.analysis.spectrum.reference_curve_db`, a PSD
falling 4.5 dB per octave), with a few dB of spread from genre and taste. The training
targets must look like masters, spread evenly around that curve, or the model learns to push
real music towards the generator's colour (a first version that corrected only 70-100 % of
the deviation left the targets 2-3 dB heavy in the low mids and 7-9 dB dull on top on
average, and its model boosted the lows and cut the highs of real recordings by as much), so
`balance_tone` equalises each mix to a "house curve" drawn around the reference:

1. Draw the house curve: a tilt of -1 to +1 dB per octave around 1 kHz plus an offset per
   octave band (normal, clipped to +-2 sigma), median removed. Its mean is the reference
   curve. Its spread gives the targets a realistic variety: sigma 1 dB per band up to 4 kHz,
   but 2.2 dB at 8 kHz and 5.7 dB at 16 kHz, the spread real masters show there (on Debian's
   `warzone2100-music`, `benchmarks/tonal_prior.py`, the band sigmas that reproduce the
   corpus's spread by simulation), so that the model learns that a dark or bright top octave
   is often the music, not a degradation (docs/benchmarks.md, "Top-octave spread": with the
   standard recipe it ties on warzone2100 and gains 6 points of median on nexuiz). Real
   masters spread more in the other bands too (tilt standard deviation 1.09 dB per octave
   against this curve's 0.58, per-band residual 1.8-4.2 dB against 0.8-0.9), but a house
   curve with that spread in every band made the model worse on real music (it shrank its EQ
   corrections too far; docs/benchmarks.md, "A wider tonal prior"), one centred on the
   corpus's median curve did not carry over to another corpus (docs/benchmarks.md, "A house
   curve centred on real masters"), and the same spread at 31.5 and 63 Hz (5.3 and 3.7 dB)
   changed nothing measurable ("Bottom-octave spread").
2. Measure the mix's long-term octave-band levels at the EQ's centres (31.5 Hz-16 kHz) from a
   Welch PSD (Hann, 50 % overlap) of the mid signal, as mean PSD per band in dB, minus the
   reference curve. The offset is the median of those differences over the bands in range,
   so a band with no content (no bass in a solo piece) does not move the others.
3. The wanted change per band is house - deviation; the EQ's total gain per band stays
   within +-12 dB (its range: an empty band is not boosted without limit).
4. The octave bands of `voidline.dsp.eq.Equalizer` (Q = sqrt 2) overlap, so gains equal to
   the wanted changes overshoot; three fixed-point steps on the EQ's own response at the
   centres (g <- g + wanted - response(g)) fit the gains. A second measurement of the
   equalised mix corrects what the centre-point fit missed on the real spectrum.
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

HOUSE_TILT_RANGE_DB_PER_OCTAVE = (-1.0, 1.0)
# Per EQ band, 31.5 Hz ... 16 kHz: the top two octaves spread as real masters do (docstring, 1).
HOUSE_BAND_SIGMA_DB = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.2, 5.7)
HOUSE_BAND_LIMIT_SIGMAS = 2.0
FIT_STEPS = 3
PASSES = 2
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


def _fit_gains(wanted: FloatArray, fs: int) -> FloatArray:
    """EQ band gains whose response at the centres is `wanted` (NaN: band out of range, 0)."""
    centres = np.asarray(BAND_CENTRES_HZ)
    in_range = np.isfinite(wanted)
    gains = np.where(in_range, wanted, 0.0)
    for _ in range(FIT_STEPS):
        response = Equalizer(_eq_settings(gains), fs).response_db(centres[in_range])
        gains[in_range] += wanted[in_range] - response
    return gains


def draw_house_curve(rng: np.random.Generator, fs: int) -> tuple[float, FloatArray]:
    """One house curve (module docstring, 1): its tilt, and its deviation per EQ band, dB."""
    centres = np.asarray(BAND_CENTRES_HZ)
    tilt = float(rng.uniform(*HOUSE_TILT_RANGE_DB_PER_OCTAVE))
    sigma = np.asarray(HOUSE_BAND_SIGMA_DB)
    offsets = sigma * np.clip(
        rng.standard_normal(centres.size), -HOUSE_BAND_LIMIT_SIGMAS, HOUSE_BAND_LIMIT_SIGMAS
    )
    house = tilt * np.log2(centres / 1000.0) + offsets
    in_range = centres < MAX_FREQUENCY_FRACTION * fs
    house -= np.median(house[in_range])
    return tilt, np.asarray(house, dtype=np.float64)


def balance_tone(
    rng: np.random.Generator, mix: FloatArray, fs: int
) -> tuple[FloatArray, dict[str, Any]]:
    """Equalise the mix to a house curve drawn around the reference (module docstring)."""
    centres = np.asarray(BAND_CENTRES_HZ)
    tilt, house = draw_house_curve(rng, fs)
    gains = np.zeros(centres.size)
    balanced = mix
    for _ in range(PASSES):
        change = house - octave_deviation_db(balanced, fs)
        gains = np.clip(gains + _fit_gains(change, fs), -EQ_MAX_GAIN_DB, EQ_MAX_GAIN_DB)
        balanced = Equalizer(_eq_settings(gains), fs).process(mix)
    details = {
        "house_tilt_db_per_octave": round(tilt, 3),
        "house_curve_db": [round(float(v), 3) for v in house],
        "eq_gains_db": list(_eq_settings(gains).band_gains_db),
    }
    return balanced, details
