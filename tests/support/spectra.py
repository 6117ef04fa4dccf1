"""Band levels for tests that compare spectra."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

THIRD_OCTAVE_CENTRES_HZ = 1000.0 * 2.0 ** (np.arange(-13, 13) / 3.0)  # 50 Hz-16 kHz


def third_octave_mid_db(x: NDArray[np.float64], fs: int) -> NDArray[np.float64]:
    """Mid-signal power in the 26 third-octave bands 50 Hz-16 kHz (IEC 61260 base-2 centres)."""
    mid = x.mean(axis=1)
    power = np.abs(np.fft.rfft(mid)) ** 2
    freqs = np.fft.rfftfreq(mid.size, 1.0 / fs)
    return np.array(
        [
            10 * np.log10(power[(freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))].sum())
            for c in THIRD_OCTAVE_CENTRES_HZ
        ]
    )
