"""A Schroeder-Moorer reverb in the "Freeverb" layout, compiled with numba.

Per channel: eight parallel feedback comb filters, each with a one-pole low-pass in its loop
(J. A. Moorer, "About this reverberation business", Computer Music Journal 3(2), 1979: the
loop low-pass makes highs die first, as air absorption does), then four series all-passes
that thicken the echo density (M. R. Schroeder, "Natural sounding artificial
reverberation", JAES 10(3), 1962). Delay lengths are Jezar's public-domain Freeverb tunings
at 44.1 kHz, scaled to the sample rate; the right channel's delays are 23 samples longer,
which decorrelates the channels and makes the reverb wide.

The comb feedback g sets the decay: a comb of delay D seconds loses 20 log10(g) dB per
pass, so it falls 60 dB after RT60 = -3 D / log10(g); g is chosen per comb for the wanted
RT60. A per-sample loop over eight combs costs a few milliseconds per second of stereo
audio in numba, several times less than an FFT convolution with a long impulse response.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

COMB_TUNING = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASS_TUNING = (556, 441, 341, 225)
STEREO_SPREAD = 23
ALLPASS_FEEDBACK = 0.5
TUNING_RATE_HZ = 44100


@njit(cache=True, nogil=True)
def _freeverb_channel(
    x: NDArray[np.float64],
    comb_delays: NDArray[np.int64],
    comb_feedback: NDArray[np.float64],
    damping: float,
    allpass_delays: NDArray[np.int64],
    out: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    n = x.shape[0]
    combs = np.zeros((comb_delays.shape[0], comb_delays.max()))
    stores = np.zeros(comb_delays.shape[0])
    comb_index = np.zeros(comb_delays.shape[0], dtype=np.int64)
    passes = np.zeros((allpass_delays.shape[0], allpass_delays.max()))
    pass_index = np.zeros(allpass_delays.shape[0], dtype=np.int64)
    for i in range(n):
        acc = 0.0
        for c in range(comb_delays.shape[0]):
            j = comb_index[c]
            y = combs[c, j]
            stores[c] = y * (1.0 - damping) + stores[c] * damping
            combs[c, j] = x[i] + stores[c] * comb_feedback[c]
            comb_index[c] = j + 1 if j + 1 < comb_delays[c] else 0
            acc += y
        for a in range(allpass_delays.shape[0]):
            j = pass_index[a]
            buffered = passes[a, j]
            passes[a, j] = acc + buffered * ALLPASS_FEEDBACK
            acc = buffered - acc
            pass_index[a] = j + 1 if j + 1 < allpass_delays[a] else 0
        out[i] = acc


def reverb(
    x: NDArray[np.float64], fs: int, rt60_s: float, damping: float, mono: bool
) -> NDArray[np.float64]:
    """Wet signal (frames, 2) of x (frames, 2); mono: the left channel's reverb on both."""
    scale = fs / TUNING_RATE_HZ
    out = np.zeros_like(x)
    channels = 1 if mono else 2
    for c in range(channels):
        spread = STEREO_SPREAD * c
        combs = np.array([max(1, round((d + spread) * scale)) for d in COMB_TUNING])
        passes = np.array([max(1, round((d + spread) * scale)) for d in ALLPASS_TUNING])
        feedback = np.array([10.0 ** (-3.0 * (d / fs) / rt60_s) for d in combs])
        source = np.ascontiguousarray(x[:, 0] + x[:, 1] if mono else x[:, c])
        channel = np.empty(x.shape[0])
        _freeverb_channel(source, combs, feedback, damping, passes, channel)
        out[:, c] = channel
    if mono:
        out[:, 1] = out[:, 0]
    # Eight combs add up: bring the wet level to about the dry level's scale.
    out /= len(COMB_TUNING) * math.sqrt(max(rt60_s, 0.1))
    return out
