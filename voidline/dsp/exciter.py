"""Harmonic exciter: saturate the top of the spectrum and add the new harmonics back.

Method (the classic "aural exciter" chain):
1. High-pass the signal at freq_hz (two cascaded RBJ Audio EQ Cookbook Butterworth sections,
   a 4th-order Linkwitz-Riley high-pass), so only the treble band is saturated.
2. Upsample that band OVERSAMPLING (4x) times with a polyphase Kaiser-windowed FIR
   (scipy.signal.upfirdn with the filter scipy.signal.resample_poly would design), so the
   harmonics the saturator makes above the original Nyquist frequency have room and do not
   fold back onto the audio band as inharmonic aliases.
3. Saturate: s = tanh(g * h) / g with g = 10^(drive_db / 20). For small signals s = h; the
   larger g, the harder the band clips. Keep e = s - h: the odd harmonics (tanh is odd) and
   the soft compression of the band, nothing of the clean band itself.
4. Downsample e back (the same FIR: its low-pass removes everything above the
   original Nyquist frequency).
5. Mix: y = x + mix * amount * e. With amount = mix = 1 the high band is replaced by its
   saturated version; amount sets how much of the effect the band gets, mix is the
   plug-in-style dry/wet of the whole effect (kept separate so a preset can hold amount and
   a user turn mix).

The dry path is never resampled: amount = 0 or mix = 0 returns the input bit for bit.
Aliasing: the 4x band reaches 2 fs, so an odd harmonic k f of a tone at f aliases into the
audio band only if k f is near a multiple of 4 fs. For a 15 kHz tone at 48 kHz that is the
13th harmonic (195 kHz -> 3 kHz); tanh's harmonics fall fast enough that it stays more than
40 dB down up to g * peak = 4 (18 dB of drive on a -6 dBFS band), while a saturator run at
48 kHz folds the 3rd harmonic (45 kHz) straight onto 3 kHz, about 15 dB down.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike, NDArray

from voidline.dsp.biquad import as_frames, butterworth_highpass, check_sample_rate
from voidline.errors import InvalidInputError

OVERSAMPLING = 4
RESAMPLE_WINDOW = ("kaiser", 10.0)  # about 100 dB stop band (scipy's default, beta 5: ~50 dB)
DRIVE_RANGE_DB = (0.0, 36.0)
MAX_FREQ_FRACTION = 0.45  # freq_hz at most this fraction of fs
# Resampling filter: HALF_LENGTH * 4 taps either side at the 4x rate, as resample_poly
# designs it. Steps 2-4 run on chunks (memory: a few chunks at 4x, not the whole track at 4x).
# Each chunk is extended by MARGIN input samples on both sides: both filters reach
# HALF_LENGTH input samples either way, so an output depends on the input within
# +-2 HALF_LENGTH samples and the chunks join exactly.
HALF_LENGTH = 10
CHUNK = 1 << 13
MARGIN = 2 * HALF_LENGTH + 4


def _check_unit(name: str, value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidInputError(f"{name} must lie within 0 to 1, got {value}")
    return float(value)


def saturate(h: NDArray[np.float64], drive_db: float) -> NDArray[np.float64]:
    """tanh soft clip with unity small-signal gain: tanh(g h) / g, g = 10^(drive_db / 20)."""
    g = 10.0 ** (drive_db / 20.0)
    out: NDArray[np.float64] = np.tanh(h * g) / g
    return out


def excite(
    x: ArrayLike,
    fs: int,
    amount: float = 0.5,
    drive_db: float = 12.0,
    freq_hz: float = 3000.0,
    mix: float = 1.0,
) -> NDArray[np.float64]:
    """Add saturation harmonics of the band above freq_hz to x (frames, channels).

    amount (0-1): how much of the saturated band's new content is added; 0 is bit-transparent.
    drive_db (0-36): gain into the tanh saturator; higher drives more harmonics.
    freq_hz (20 Hz to 0.45 fs): corner of the high-pass in front of the saturator.
    mix (0-1): dry/wet of the whole effect.
    """
    check_sample_rate(fs)
    frames = as_frames(x, max_channels=8)
    amount = _check_unit("amount", amount)
    mix = _check_unit("mix", mix)
    low, high = DRIVE_RANGE_DB
    if not (math.isfinite(drive_db) and low <= drive_db <= high):
        raise InvalidInputError(f"drive_db must lie within {low:g} to {high:g} dB, got {drive_db}")
    top = MAX_FREQ_FRACTION * fs
    if not (math.isfinite(freq_hz) and 20.0 <= freq_hz <= top):
        raise InvalidInputError(f"freq_hz must lie within 20 to {top:g} Hz, got {freq_hz}")
    if not np.isfinite(frames).all():
        raise InvalidInputError("x must hold finite samples (no NaN or infinity)")
    if amount == 0.0 or mix == 0.0 or frames.shape[0] == 0:
        return frames.copy()
    section = butterworth_highpass(freq_hz, fs)
    band = scipy.signal.sosfilt(np.vstack([section, section]), frames, axis=0)
    h = _resampling_filter()
    out = frames.copy()
    n = frames.shape[0]
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        lead = min(start, MARGIN)
        added = _harmonics(band[start - lead : min(n, stop + MARGIN)], drive_db, h)
        out[start:stop] += (mix * amount) * added[lead : lead + stop - start]
    return out


def _resampling_filter() -> NDArray[np.float64]:
    """The low-pass FIR that resample_poly would design for 4x up or down (unity DC gain)."""
    taps = 2 * HALF_LENGTH * OVERSAMPLING + 1
    h: NDArray[np.float64] = scipy.signal.firwin(taps, 1.0 / OVERSAMPLING, window=RESAMPLE_WINDOW)
    return h


def _harmonics(
    band: NDArray[np.float64], drive_db: float, h: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Steps 2-4 for one chunk: what the saturator adds to `band`, back at the input rate.

    Up: zero-stuff by 4 and filter with 4h (polyphase, scipy.signal.upfirdn). The full
    convolution is kept, filter ringing before the first and after the last sample included,
    so a chunk at the start or end of the signal behaves as if silence surrounded it. Down:
    filter with h and keep every 4th sample. Each filter delays by HALF_LENGTH input
    samples, so input sample j comes out at index j + 2 HALF_LENGTH.
    """
    up = scipy.signal.upfirdn(h * OVERSAMPLING, band, up=OVERSAMPLING, axis=0)
    up = saturate(up, drive_db) - up
    down: NDArray[np.float64] = scipy.signal.upfirdn(h, up, down=OVERSAMPLING, axis=0)
    return down[2 * HALF_LENGTH : 2 * HALF_LENGTH + band.shape[0]]
