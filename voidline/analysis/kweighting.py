"""K-weighting filter of ITU-R BS.1770-5 (section 2.1, Annex 1), exact at any sample rate.

The standard tabulates the two biquads at 48 kHz only and asks for the same response at other
rates. Like libebur128 and ffmpeg, we take the analogue prototypes that reproduce the 48 kHz
table (a high shelf for the head's acoustic effect, then the RLB high-pass) and discretise them
with the bilinear transform at the target rate.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

# Analogue parameters whose bilinear transform at 48 kHz gives the BS.1770 table to 1e-15.
SHELF_F0_HZ = 1681.974450955533
SHELF_GAIN_DB = 3.999843853973347
SHELF_Q = 0.7071752369554196
SHELF_VB_EXPONENT = 0.4996667741545416
HIGHPASS_F0_HZ = 38.13547087602444
HIGHPASS_Q = 0.5003270373238773


def shelf_coefficients(sample_rate_hz: float) -> tuple[list[float], list[float]]:
    """Stage 1, the pre-filter (high shelf): (b, a) with a[0] = 1."""
    k = math.tan(math.pi * SHELF_F0_HZ / sample_rate_hz)
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh**SHELF_VB_EXPONENT
    a0 = 1.0 + k / SHELF_Q + k * k
    b = [
        (vh + vb * k / SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / SHELF_Q + k * k) / a0,
    ]
    a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / SHELF_Q + k * k) / a0]
    return b, a


def highpass_coefficients(sample_rate_hz: float) -> tuple[list[float], list[float]]:
    """Stage 2, the RLB weighting curve (high-pass): (b, a) with b = [1, -2, 1]."""
    k = math.tan(math.pi * HIGHPASS_F0_HZ / sample_rate_hz)
    a0 = 1.0 + k / HIGHPASS_Q + k * k
    a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / HIGHPASS_Q + k * k) / a0]
    return [1.0, -2.0, 1.0], a


def k_weighting_sos(sample_rate_hz: float) -> NDArray[np.float64]:
    """Both stages as second-order sections (scipy's sos layout: b0 b1 b2 a0 a1 a2)."""
    (b1, a1), (b2, a2) = shelf_coefficients(sample_rate_hz), highpass_coefficients(sample_rate_hz)
    return np.array([b1 + a1, b2 + a2], dtype=np.float64)
