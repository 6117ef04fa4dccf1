"""Test signals of EBU Tech 3341 and Tech 3342, generated from their definitions.

Levels are per-channel sine peaks in dBFS, as the specs give them. Sines start and end with a
short raised-cosine fade like the EBU files, so true-peak cases are not dominated by the
interpolation ringing of a hard start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Segment = tuple[float, float | None]  # (seconds, level dBFS or None for silence)


def sine(
    fs: int, seconds: float, level_dbfs: float | None, freq: float = 1000.0
) -> NDArray[np.float64]:
    n = round(seconds * fs)
    if level_dbfs is None:
        return np.zeros(n)
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * np.arange(n) / fs)


def sequence(fs: int, segments: Sequence[Segment], channels: int = 2) -> NDArray[np.float64]:
    """Stereo (or n-channel, same signal) 1 kHz sine sequence, frames x channels."""
    mono = np.concatenate([sine(fs, s, level) for s, level in segments])
    return np.repeat(mono[:, None], channels, axis=1)


def faded(x: NDArray[np.float64], fs: int, fade_s: float = 0.1) -> NDArray[np.float64]:
    n = round(fade_s * fs)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    y = x.copy()
    y[:n] *= ramp
    y[-n:] *= ramp[::-1]
    return y


def true_peak_case(fs: int, freq: float, amplitude: float, phase_deg: float) -> NDArray[np.float64]:
    """Tech 3341 cases 15-19: a sine at a fraction of fs, 3 s, stereo."""
    n = np.arange(3 * fs)
    x = faded(amplitude * np.sin(2 * np.pi * freq * n / fs + np.deg2rad(phase_deg)), fs)
    return np.stack([x, x], axis=1)


def inter_sample_case(fs: int, offset: int) -> NDArray[np.float64]:
    """Tech 3341 cases 20-23: an fs/6 sine at 0.5 with one period of fs/4 at 1.0 in it, made at
    4 fs, low-passed below the target Nyquist and decimated with sample offset 0-3. The peak of
    the burst falls between samples differently for each offset; a true-peak meter must read
    0 dBTP (+0.2/-0.4) for all four."""
    from scipy.signal import firwin, oaconvolve

    up = 4
    n = 3 * fs * up
    x = 0.5 * np.sin(2 * np.pi * (fs / 6) * np.arange(n) / (fs * up))
    period = 4 * up  # one period of fs/4 at the 4x rate
    start = (n // 2) // (6 * up) * (6 * up)  # at a zero crossing of the fs/6 sine
    x[start : start + period] = np.sin(2 * np.pi * np.arange(period) / period)
    lowpass = firwin(511, 0.9 / up, window=("kaiser", 10.0))
    y = oaconvolve(x, lowpass, mode="same")[offset::up][: 3 * fs]
    y = faded(y, fs)
    return np.stack([y, y], axis=1)


def case_6_surround(fs: int) -> NDArray[np.float64]:
    """Tech 3341 case 6: 5.0 channels L, R, C, Ls, Rs at -28, -28, -24, -30, -30 dBFS, 20 s."""
    return np.stack([sine(fs, 20, level) for level in (-28, -28, -24, -30, -30)], axis=1)


# Tech 3341 section 3: integrated-loudness cases (expected -23.0 +-0.1 LUFS).
INTEGRATED_CASES: dict[int, list[Segment]] = {
    1: [(20, -23)],
    2: [(20, -33)],
    3: [(10, -36), (60, -23), (10, -36)],
    4: [(10, -72), (10, -36), (60, -23), (10, -36), (10, -72)],
    5: [(20, -26), (20.1, -20), (20, -26)],
}
INTEGRATED_EXPECTED = {1: -23.0, 2: -33.0, 3: -23.0, 4: -23.0, 5: -23.0}

# Tech 3342 section 4: loudness range cases (expected LRA +-1 LU).
LRA_CASES: dict[int, tuple[list[Segment], float]] = {
    1: ([(20, -20), (20, -30)], 10.0),
    2: ([(20, -20), (20, -15)], 5.0),
    3: ([(20, -40), (20, -20)], 20.0),
    4: ([(20, -50), (20, -35), (20, -20), (20, -35), (20, -50)], 15.0),
}

# Tech 3341 cases 15-19: (frequency as a fraction of fs, amplitude, phase in degrees, dBTP).
TRUE_PEAK_CASES: dict[int, tuple[float, float, float, float]] = {
    15: (1 / 4, 0.5, 0.0, -6.0),
    16: (1 / 4, 0.5, 45.0, -6.0),
    17: (1 / 6, 0.5, 60.0, -6.0),
    18: (1 / 8, 0.5, 67.5, -6.0),
    19: (1 / 4, 1.41, 45.0, 3.0),
}
