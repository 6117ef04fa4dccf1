"""N-band Linkwitz-Riley crossover (4th order, 24 dB/octave) whose bands sum to an all-pass.

Each split point f is a 4th-order Linkwitz-Riley pair (S. Linkwitz, "Active crossover
networks for noncoincident drivers", JAES 24(1), 1976; R. Riley): low-pass LP = B^2 and
high-pass HP = B'^2, where B and B' are 2nd-order Butterworth low- and high-pass sections
(RBJ cookbook, Q = 1/sqrt(2)). Both are -6 dB at f and in phase there, and

    LP + HP = AP,

the 2nd-order all-pass with Q = 1/sqrt(2) at f (RBJ "APF"). The identity holds exactly for
the bilinear-transformed sections too, because all three share the same pre-warped f.

More than two bands use the usual tree: the input is split at f1, the high side is split
again at f2, and so on. So that the bands still sum to an all-pass, every band that leaves
the tree early goes through the all-passes of the split points after it (the "phase
compensation" of a multiband Linkwitz-Riley crossover). For freqs f1 < f2 < f3:

    band 0 = LP1 AP2 AP3        band 1 = HP1 LP2 AP3
    band 2 = HP1 HP2 LP3        band 3 = HP1 HP2 HP3
    sum    = AP1 AP2 AP3        (magnitude exactly 1: flat)

`split_into` computes every band of a stretch of one channel in a single compiled pass over
its samples (the tree per sample, the filters' state carried from one stretch to the next),
with the same numbers as the section-by-section cascades of `bands`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from voidline.dsp.biquad import (
    allpass,
    as_frames,
    butterworth_highpass,
    butterworth_lowpass,
    check_sample_rate,
    filter_rows,
    sections_step,
)
from voidline.errors import InvalidInputError

DEFAULT_CROSSOVER_HZ = (120.0, 1000.0, 6000.0)  # four bands
MIN_CROSSOVER_HZ = 10.0
MAX_FREQUENCY_FRACTION = 0.45


def linkwitz_riley_lowpass(f_hz: float, fs: float) -> NDArray[np.float64]:
    """4th-order Linkwitz-Riley low-pass: two identical Butterworth sections, shape (2, 6)."""
    section = butterworth_lowpass(f_hz, fs)
    return np.vstack([section, section])


def linkwitz_riley_highpass(f_hz: float, fs: float) -> NDArray[np.float64]:
    """4th-order Linkwitz-Riley high-pass: two identical Butterworth sections, shape (2, 6)."""
    section = butterworth_highpass(f_hz, fs)
    return np.vstack([section, section])


def _filter(sos: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Run a cascade along the time axis (axis 0) of x (frames, channels); new array.

    The work is done on the channel-major transpose, one thread per channel, and the result
    is handed back as its (frames, channels) view. Chained calls keep that layout and copy
    nothing. An empty cascade copies x.
    """
    if sos.shape[0] == 0:
        return x.copy()
    return filter_rows(sos, np.ascontiguousarray(x.T)).T


@njit(cache=True, nogil=True)
def _split_kernel(
    x: NDArray[np.float64],
    sos: NDArray[np.float64],
    low_stop: NDArray[np.int64],
    high_stop: NDArray[np.int64],
    state: NDArray[np.float64],
    bands: NDArray[np.float64],
) -> float:  # pragma: no cover - compiled
    """bands[:, n] = every band of x[n], the tree of the module docstring run per sample.

    For split k, sections high_stop[k - 1] .. low_stop[k] - 1 of sos make the low side from
    the remainder (LP_k, then the later all-passes) and sections up to high_stop[k] the next
    remainder (HP_k); state holds every section's memories. Returns 0.
    """
    splits = low_stop.shape[0]
    for n in range(x.shape[0]):
        rest = x[n]
        first = 0
        for k in range(splits):
            bands[k, n] = sections_step(sos, state, first, low_stop[k], rest)
            rest = sections_step(sos, state, low_stop[k], high_stop[k], rest)
            first = high_stop[k]
        bands[splits, n] = rest
    return 0.0


class Crossover:
    """Split audio into len(freqs_hz) + 1 bands that sum to an all-pass of the input."""

    def __init__(self, freqs_hz: Sequence[float], fs: int) -> None:
        check_sample_rate(fs)
        freqs = tuple(float(f) for f in freqs_hz)
        top = MAX_FREQUENCY_FRACTION * fs
        if not freqs:
            raise InvalidInputError("freqs_hz must hold at least one crossover frequency")
        for f in freqs:
            if not (math.isfinite(f) and MIN_CROSSOVER_HZ <= f < top):
                raise InvalidInputError(
                    f"freqs_hz must lie within {MIN_CROSSOVER_HZ:g} Hz and 0.45 fs = {top:g} Hz,"
                    f" got {f:g}"
                )
        if any(b <= a for a, b in itertools.pairwise(freqs)):
            raise InvalidInputError(f"freqs_hz must be strictly increasing, got {list(freqs)}")
        self.freqs_hz = freqs
        self.fs = fs
        self._lowpass = [linkwitz_riley_lowpass(f, fs) for f in freqs]
        self._highpass = [linkwitz_riley_highpass(f, fs) for f in freqs]
        self._allpass = [allpass(f, fs) for f in freqs]
        # The tree for `split_into`: per split, its low side's sections, then its high side's.
        tree: list[NDArray[np.float64]] = []
        low_stop, high_stop = [], []
        for k in range(len(freqs)):
            tree += [self._lowpass[k], *self._allpass[k + 1 :]]
            low_stop.append(sum(part.shape[0] for part in tree))
            tree.append(self._highpass[k])
            high_stop.append(sum(part.shape[0] for part in tree))
        self._tree_sos = np.vstack(tree)
        self._low_stop = np.array(low_stop, dtype=np.int64)
        self._high_stop = np.array(high_stop, dtype=np.int64)

    @property
    def n_bands(self) -> int:
        return len(self.freqs_hz) + 1

    def band_sos(self, band: int) -> NDArray[np.float64]:
        """The whole cascade that makes band `band` from the input (for responses and tests)."""
        if not 0 <= band < self.n_bands:
            raise InvalidInputError(f"band must lie within 0-{self.n_bands - 1}, got {band}")
        parts = self._highpass[:band]
        if band < len(self.freqs_hz):
            parts = [*parts, self._lowpass[band], *self._allpass[band + 1 :]]
        return np.vstack(parts)

    @property
    def allpass_sos(self) -> NDArray[np.float64]:
        """The all-pass the bands sum to: one 2nd-order all-pass per crossover frequency."""
        return np.vstack(self._allpass)

    def allpass_only(self, x: ArrayLike) -> NDArray[np.float64]:
        """What split-then-sum would give, without splitting: x through allpass_sos."""
        return _filter(self.allpass_sos, as_frames(x, max_channels=8))

    def bands(self, x: ArrayLike) -> Iterator[NDArray[np.float64]]:
        """Yield the bands of x (frames, channels), lowest first, one at a time.

        Only the current band and the not-yet-split remainder are held, so a caller that
        processes and accumulates band by band needs a few copies of the signal at most.
        """
        rest = as_frames(x, max_channels=8)
        last = len(self.freqs_hz)
        for k in range(last):
            low_side = np.vstack([self._lowpass[k], *self._allpass[k + 1 :]])
            yield _filter(low_side, rest)
            rest = _filter(self._highpass[k], rest)
        yield rest

    def new_state(self) -> NDArray[np.float64]:
        """Filter memories for `split_into`, at rest: one per channel, carried between calls."""
        return np.zeros((self._tree_sos.shape[0], 2))

    def split_into(
        self, x: NDArray[np.float64], state: NDArray[np.float64], bands: NDArray[np.float64]
    ) -> None:
        """Every band of x (one channel's next frames) into bands (n_bands, frames).

        Consecutive stretches of a channel, each with the state of the one before (from
        `new_state`), give the bands of the whole channel, bit for bit those of `bands`.
        The work is compiled and releases the GIL: channels can run in parallel threads.
        """
        _split_kernel(x, self._tree_sos, self._low_stop, self._high_stop, state, bands)

    def split(self, x: ArrayLike) -> list[NDArray[np.float64]]:
        """All bands of x at once, lowest first; their sum is allpass_only(x)."""
        return list(self.bands(x))
