"""Mastering equaliser: ten octave-spaced peaking bands plus a low and a high shelf.

The bands sit at the ISO 266 octave centres 31.5 Hz ... 16 kHz; each is an RBJ cookbook
peaking filter with Q = sqrt(2), a bandwidth of one octave, so neighbouring bands overlap at
their half-gain points. The shelves are RBJ cookbook shelves (slope 1) at 80 Hz and 10 kHz.
All gains are limited to +-12 dB. The whole EQ is one cascade of second-order sections (run
as scipy.signal.sosfilt would, one thread per channel: `voidline.dsp.biquad.filter_rows`); a
band set to 0 dB is left out of the cascade, so it costs nothing, and a flat setting returns
the input unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from voidline.dsp.biquad import (
    as_frames,
    check_sample_rate,
    filter_rows,
    high_shelf,
    low_shelf,
    peaking,
    sos_response_db,
    to_frames,
    to_rows,
)
from voidline.errors import InvalidInputError

BAND_CENTRES_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
BAND_Q = math.sqrt(2.0)  # one octave between the -3 dB-of-gain points
LOW_SHELF_HZ = 80.0
HIGH_SHELF_HZ = 10_000.0
MAX_GAIN_DB = 12.0
MAX_FREQUENCY_FRACTION = 0.45  # bands at or above 0.45 fs are skipped


def _check_gain(name: str, gain_db: float) -> None:
    if not (math.isfinite(gain_db) and abs(gain_db) <= MAX_GAIN_DB):
        raise InvalidInputError(f"{name} must lie within +-{MAX_GAIN_DB:g} dB, got {gain_db}")


@dataclass(frozen=True)
class EqSettings:
    """Gains in dB: one per band of BAND_CENTRES_HZ, and the two shelves; 0 means off."""

    band_gains_db: tuple[float, ...] = field(default=(0.0,) * len(BAND_CENTRES_HZ))
    low_shelf_db: float = 0.0
    high_shelf_db: float = 0.0

    def __post_init__(self) -> None:
        if len(self.band_gains_db) != len(BAND_CENTRES_HZ):
            raise InvalidInputError(
                f"band_gains_db must hold {len(BAND_CENTRES_HZ)} gains (bands at "
                f"{', '.join(f'{f:g}' for f in BAND_CENTRES_HZ)} Hz), "
                f"got {len(self.band_gains_db)}"
            )
        for centre, gain in zip(BAND_CENTRES_HZ, self.band_gains_db, strict=True):
            _check_gain(f"band_gains_db ({centre:g} Hz band)", gain)
        _check_gain("low_shelf_db", self.low_shelf_db)
        _check_gain("high_shelf_db", self.high_shelf_db)


class Equalizer:
    """The EQ for one setting and sample rate: a fixed cascade of biquads."""

    def __init__(self, settings: EqSettings, fs: int) -> None:
        check_sample_rate(fs)
        self.settings = settings
        self.fs = fs
        top = MAX_FREQUENCY_FRACTION * fs
        sections: list[NDArray[np.float64]] = []
        if settings.low_shelf_db != 0.0 and top > LOW_SHELF_HZ:
            sections.append(low_shelf(LOW_SHELF_HZ, settings.low_shelf_db, fs))
        for centre, gain in zip(BAND_CENTRES_HZ, settings.band_gains_db, strict=True):
            if gain != 0.0 and centre < top:
                sections.append(peaking(centre, gain, BAND_Q, fs))
        if settings.high_shelf_db != 0.0 and top > HIGH_SHELF_HZ:
            sections.append(high_shelf(HIGH_SHELF_HZ, settings.high_shelf_db, fs))
        self.sos: NDArray[np.float64] = (
            np.vstack(sections) if sections else np.empty((0, 6), dtype=np.float64)
        )

    @property
    def is_flat(self) -> bool:
        """True when every band is off or out of range: process() then copies its input."""
        return bool(self.sos.shape[0] == 0)

    def process(self, x: ArrayLike) -> NDArray[np.float64]:
        """Equalise x (frames, channels); returns a new array."""
        frames = as_frames(x, max_channels=8)
        if self.is_flat:
            return frames.copy()
        # The filters run along contiguous channel-major rows, one thread per channel.
        return to_frames(self.process_rows(to_rows(frames)))

    def process_rows(
        self, rows: NDArray[np.float64], out: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Equalise rows (channels, frames) into out (new when None; may be rows itself)."""
        return filter_rows(self.sos, rows, out)

    def response_db(self, freqs_hz: ArrayLike) -> NDArray[np.float64]:
        """Magnitude response in dB at the given frequencies."""
        return sos_response_db(self.sos, freqs_hz, self.fs)
