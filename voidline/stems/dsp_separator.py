"""The DSP fallback separator: drums, bass, other, vocals without any trained weights.

The stems service runs this when no Demucs weights are installed and labels the result
"dsp". It is a handful of spectrogram masks, each a classic cue (docs/stems.md measures how
far they get):

1. STFT: Hann windows of about 93 ms (4096 samples at 44.1 kHz; the size scales with the
   rate by powers of two), 75 % overlap, weighted overlap-add inverse. Every mask is
   computed on the power averaged over the channels and applied to each channel alike.
2. Drums against pitched sound: harmonic/percussive separation by median filtering
   (D. FitzGerald, "Harmonic/percussive separation using median filtering", DAFx 2010). A
   median along time (0.3 s) keeps what is steady in time, a median along frequency
   (500 Hz) keeps what is flat in frequency; soft Wiener-style masks H^2 / (H^2 + P^2)
   share each bin between them (FitzGerald's p = 2 masks).
3. The low band (below 150 Hz), where the kick and the bass overlap and neither looks like a
   broadband transient, is split differently: what a 1.5 s median along time explains is
   sustained (the bass), the rest is the kick, and a kick's bin keeps ringing with an
   exponential decay (0.3 s), as a drum's body does, so its estimate is held by a decaying
   peak follower after every hit (the sustain-versus-decay cue of onset-based drum
   separation, e.g. O. Gillet and G. Richard, "Transcription and separation of drum signals
   from polyphonic music", IEEE TASLP 16(3), 2008).
4. Bass: the harmonic part below 100 Hz, fading out by 200 Hz.
5. Vocals: the harmonic part of the 150 Hz-8 kHz band that is panned to the centre. The
   centre cue is the inter-channel coherence of C. Avendano and J.-M. Jot ("A
   frequency-domain approach to multichannel upmix", JAES 52(7/8), 2004; "Frequency domain
   techniques for stereo to multichannel upmix", AES 22nd conference, 2002) in the form
   |L + R|^2 / (2 (|L|^2 + |R|^2)), smoothed over about 0.1 s and 30 Hz: 1 for a
   centre-panned source, about 1/2 for uncorrelated (wide) sound, 0 for anti-phase. Lead
   vocals are mixed to the centre, wide chords and reverb are not. Without stereo
   information (mono, or two equal channels, which is how the stems service hands mono to
   a two-channel model) the cue says nothing, and a fixed share (0.7) of that harmonic band
   goes to the vocals instead.
6. Other: the mix minus the three stems above, so the four stems always sum to the input
   (to float32 rounding), whatever the masks get wrong.

All kernel lengths are given in seconds and hertz and converted with the STFT's actual
resolution, so every rate from 8 kHz to 192 kHz works natively. Any segment length works:
the signal is padded by reflection for the analysis and cut back. Computation is float32,
vectorised, with the two running filters compiled by numba; a 3-minute stereo song takes
about 5 s on a 2-core machine, segments and cross-fades included (docs/stems.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.ndimage
from numba import njit

from voidline.errors import InvalidInputError
from voidline.stems.backend import FOUR_STEMS, FloatArray

__all__ = ["MAX_SAMPLERATE", "MIN_SAMPLERATE", "SEGMENT_S", "DspSeparator"]

ComplexArray = npt.NDArray[np.complex64]

MIN_SAMPLERATE = 8_000
MAX_SAMPLERATE = 192_000
# Segments of 10 s: ten times the low band's 1.5 s sustain kernel, so the medians have
# context, while the streaming layer's memory stays small (about 15 MB of spectra).
SEGMENT_S = 10.0

REFERENCE_RATE = 44_100
REFERENCE_FFT = 4096  # 93 ms: resolves bass harmonics (10.8 Hz bins) yet follows a beat
HOPS_PER_WINDOW = 4  # 75 % overlap: Hann^2 windows then sum to a constant

HARMONIC_KERNEL_S = 0.3
PERCUSSIVE_KERNEL_HZ = 500.0
LOW_BAND_HZ = 150.0
LOW_SUSTAIN_KERNEL_S = 1.5
KICK_DECAY_S = 0.3
BASS_FULL_HZ = 100.0
BASS_ZERO_HZ = 200.0
VOCAL_LOW_HZ = 150.0  # the vocal band fades in from here to twice this
VOCAL_HIGH_HZ = 8000.0
CENTRE_SMOOTHING_S = 0.116  # five hops at 44.1 kHz
CENTRE_SMOOTHING_HZ = 32.0  # three bins at 44.1 kHz
CENTRE_THRESHOLD = 0.75  # coherence below this is not centre (uncorrelated sound is ~0.5)
MONO_VOCAL_SHARE = 0.7
# Side-to-mid energy of the segment, dB: below the first the centre cue is not trusted at
# all (a mono mix), above the second fully; a real stereo mix lies far above (-15 to -5 dB).
STEREO_TRUST_DB = (-30.0, -20.0)
TINY = np.float32(1e-20)


# --- running filters (numba) ----------------------------------------------------------------


@njit(cache=True, nogil=True)
def _running_median_rows(
    padded: npt.NDArray[np.float32], size: int, out: npt.NDArray[np.float32]
) -> None:  # pragma: no cover - compiled
    """Median of every `size` window along each row of `padded` (one row of out per row).

    A sorted copy of the window is kept and updated by one deletion and one insertion per
    step, O(size) per output instead of a sort. Inputs must be finite.
    """
    half = size // 2
    rows, n = out.shape
    window = np.empty(size, dtype=padded.dtype)
    for r in range(rows):
        for i in range(size):
            window[i] = padded[r, i]
        window.sort()
        out[r, 0] = window[half]
        for j in range(1, n):
            old = padded[r, j - 1]
            new = padded[r, j + size - 1]
            k = 0
            while k < size - 1 and window[k] != old:
                k += 1
            # Slide the gap left by `old` towards where `new` belongs, then fill it.
            if new >= old:
                while k + 1 < size and window[k + 1] < new:
                    window[k] = window[k + 1]
                    k += 1
            else:
                while k > 0 and window[k - 1] > new:
                    window[k] = window[k - 1]
                    k -= 1
            window[k] = new
            out[r, j] = window[half]


@njit(cache=True, nogil=True)
def _decaying_peak_rows(
    x: npt.NDArray[np.float32], factor: float
) -> None:  # pragma: no cover - compiled
    """In place along each row: y[t] = max(x[t], factor * y[t - 1]) (a peak hold that decays)."""
    rows, n = x.shape
    for r in range(rows):
        for t in range(1, n):
            held = factor * x[r, t - 1]
            if held > x[r, t]:
                x[r, t] = held


def running_median(x: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """Median filter of odd length `size` along the last axis, edges mirrored.

    The same as scipy.ndimage.median_filter(x, size=(1, size), mode="reflect"), several
    times faster for the kernel lengths used here.
    """
    size = max(1, size | 1)
    half = size // 2
    rows = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
    padded = np.pad(rows, ((0, 0), (half, half)), mode="symmetric")
    out = np.empty_like(rows)
    _running_median_rows(padded, size, out)
    return out.reshape(x.shape)


def decaying_peak(x: npt.NDArray[np.float32], factor: float) -> npt.NDArray[np.float32]:
    """max(x[t], factor * y[t - 1]) along the last axis (a new array)."""
    out = np.array(x, dtype=np.float32, order="C").reshape(-1, x.shape[-1])
    _decaying_peak_rows(out, float(factor))
    return out.reshape(x.shape)


# --- STFT -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stft:
    """Hann-window STFT with 75 % overlap and its weighted overlap-add inverse.

    The signal is padded by reflection so that every input frame lies under a full set of
    windows; the inverse divides by the summed squared windows, so an all-ones mask gives
    the input back (to float32 rounding) for any length, one frame included.
    """

    n_fft: int

    @property
    def hop(self) -> int:
        return self.n_fft // HOPS_PER_WINDOW

    @property
    def window(self) -> npt.NDArray[np.float32]:
        return np.hanning(self.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann

    @property
    def lead(self) -> int:
        """Padding before the first input frame."""
        return self.n_fft - self.hop

    def n_frames(self, frames: int) -> int:
        return -(-frames // self.hop) + HOPS_PER_WINDOW - 1

    def forward(self, x: npt.NDArray[np.float32]) -> ComplexArray:
        """(channels, frames) -> (channels, time, frequency) complex64."""
        n_frames = self.n_frames(x.shape[1])
        padded_length = (n_frames - 1) * self.hop + self.n_fft
        padded = np.pad(
            x, ((0, 0), (self.lead, padded_length - x.shape[1] - self.lead)), mode="symmetric"
        )
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft, axis=1)
        spectra: ComplexArray = scipy.fft.rfft(frames[:, :: self.hop] * self.window, axis=2)
        return spectra

    def inverse(self, spectra: ComplexArray, frames: int) -> npt.NDArray[np.float32]:
        """(channels, time, frequency) -> (channels, frames) float32."""
        window = self.window
        blocks = scipy.fft.irfft(spectra, n=self.n_fft, axis=2).astype(np.float32) * window
        channels, n_frames, _ = blocks.shape
        length = (n_frames + HOPS_PER_WINDOW - 1) * self.hop
        out = np.zeros((channels, length), dtype=np.float32)
        norm = np.zeros(length, dtype=np.float32)
        squared = window * window
        # Overlap-add as HOPS_PER_WINDOW shifted block copies instead of a loop over frames.
        for k in range(HOPS_PER_WINDOW):
            part = slice(k * self.hop, (k + 1) * self.hop)
            start = k * self.hop
            stop = start + n_frames * self.hop
            out[:, start:stop] += blocks[:, :, part].reshape(channels, -1)
            norm[start:stop] += np.tile(squared[part], n_frames)
        kept = slice(self.lead, self.lead + frames)
        return (out[:, kept] / norm[kept]).astype(np.float32, copy=False)


def fft_size(samplerate: int) -> int:
    """About 93 ms: 4096 at 44.1 and 48 kHz, scaled by powers of two with the rate."""
    return int(REFERENCE_FFT * 2.0 ** round(math.log2(samplerate / REFERENCE_RATE)))


# --- masks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Masks:
    """Soft masks (time, frequency) in [0, 1] whose sum is at most 1; other is the rest."""

    drums: npt.NDArray[np.float32]
    bass: npt.NDArray[np.float32]
    vocals: npt.NDArray[np.float32]


@dataclass(frozen=True)
class Resolution:
    """The STFT grid in physical units, to turn kernel lengths into bins and frames."""

    hop_s: float
    bin_hz: float
    freqs: npt.NDArray[np.float32]

    def frames(self, seconds: float) -> int:
        return max(1, round(seconds / self.hop_s)) | 1

    def bins(self, hz: float) -> int:
        return max(1, round(hz / self.bin_hz)) | 1


def _wiener(
    wanted: npt.NDArray[np.float32], rest: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """FitzGerald's soft mask with p = 2: wanted^2 / (wanted^2 + rest^2)."""
    squared = wanted * wanted
    return (squared / (squared + rest * rest + TINY)).astype(np.float32, copy=False)


def percussive_mask(
    magnitude: npt.NDArray[np.float32], grid: Resolution
) -> npt.NDArray[np.float32]:
    """Share of each bin that is percussive: median-filter HPSS, low band by sustain and decay.

    magnitude: (time, frequency), the channels' RMS magnitude.
    """
    along_time = running_median(magnitude.T, grid.frames(HARMONIC_KERNEL_S)).T
    along_freq = running_median(magnitude, grid.bins(PERCUSSIVE_KERNEL_HZ))
    low = grid.freqs < LOW_BAND_HZ
    low_magnitude = np.ascontiguousarray(magnitude[:, low].T)  # (bins, time)
    sustained = running_median(low_magnitude, grid.frames(LOW_SUSTAIN_KERNEL_S))
    hits = np.maximum(low_magnitude - sustained, 0.0)
    ringing = decaying_peak(hits, math.exp(-grid.hop_s / KICK_DECAY_S))
    harmonic = along_time.copy()
    percussive = along_freq.copy()
    harmonic[:, low] = sustained.T
    percussive[:, low] = np.minimum(ringing, low_magnitude).T
    return _wiener(percussive, harmonic)


def centre_cue(spectra: ComplexArray, grid: Resolution) -> npt.NDArray[np.float32]:
    """How centre-panned each bin is, 0-1: smoothed |L + R|^2 / (2 (|L|^2 + |R|^2)) mapped
    from CENTRE_THRESHOLD (and below) to 1."""
    left, right = spectra[0], spectra[1]
    smoothing = (grid.frames(CENTRE_SMOOTHING_S), grid.bins(CENTRE_SMOOTHING_HZ))
    mid = np.abs(left + right) ** 2
    total = 2.0 * (np.abs(left) ** 2 + np.abs(right) ** 2)
    mid = scipy.ndimage.uniform_filter(mid, smoothing, mode="nearest")
    total = scipy.ndimage.uniform_filter(total, smoothing, mode="nearest")
    coherence = mid / (total + TINY)
    cue: npt.NDArray[np.float32] = np.clip(
        (coherence - CENTRE_THRESHOLD) / (1.0 - CENTRE_THRESHOLD), 0.0, 1.0
    ).astype(np.float32)
    return cue


def stereo_trust(x: npt.NDArray[np.float32]) -> float:
    """0 (no stereo information: mono or equal channels) to 1 (a stereo mix), from the
    segment's side-to-mid energy ratio."""
    if x.shape[0] != 2:
        return 0.0
    side = float(np.sum((x[0].astype(np.float64) - x[1]) ** 2))
    mid = float(np.sum((x[0].astype(np.float64) + x[1]) ** 2))
    if side <= 0.0 or mid <= 0.0:
        return 0.0 if side <= 0.0 else 1.0
    ratio_db = 10.0 * math.log10(side / mid)
    low, high = STEREO_TRUST_DB
    return min(max((ratio_db - low) / (high - low), 0.0), 1.0)


def _ramp(freqs: npt.NDArray[np.float32], zero_hz: float, one_hz: float) -> npt.NDArray[np.float32]:
    """0 at zero_hz, 1 at one_hz, linear between (either may be the larger)."""
    out: npt.NDArray[np.float32] = np.clip((freqs - zero_hz) / (one_hz - zero_hz), 0.0, 1.0).astype(
        np.float32
    )
    return out


def compute_masks(spectra: ComplexArray, grid: Resolution, trust: float) -> Masks:
    """The drums, bass and vocals masks of one segment's spectra (channels, time, freq)."""
    power = np.mean(np.abs(spectra) ** 2, axis=0)
    magnitude = np.sqrt(power).astype(np.float32)
    drums = percussive_mask(magnitude, grid)
    harmonic = 1.0 - drums
    bass_band = _ramp(grid.freqs, BASS_ZERO_HZ, BASS_FULL_HZ)
    vocal_band = _ramp(grid.freqs, VOCAL_LOW_HZ, 2.0 * VOCAL_LOW_HZ) * (grid.freqs < VOCAL_HIGH_HZ)
    centre: npt.NDArray[np.float32] | float = MONO_VOCAL_SHARE
    if trust > 0.0:
        centre = trust * centre_cue(spectra, grid) + (1.0 - trust) * MONO_VOCAL_SHARE
    bass = harmonic * bass_band
    vocals = harmonic * ((1.0 - bass_band) * vocal_band) * centre
    return Masks(drums=drums, bass=bass.astype(np.float32), vocals=vocals.astype(np.float32))


# --- the separator ----------------------------------------------------------------------------


class DspSeparator:
    """Median-filtering HPSS, a low-band sustain/decay split and a centre cue: see the module.

    A `SegmentSeparator` (voidline.stems.backend) at any rate from 8 kHz to 192 kHz; the
    streaming separator runs it on overlapping segments of `segment_s` seconds.
    """

    def __init__(self, samplerate: int) -> None:
        if isinstance(samplerate, bool) or not isinstance(samplerate, int | np.integer):
            raise InvalidInputError(f"samplerate must be a whole number of Hz, got {samplerate!r}")
        if not MIN_SAMPLERATE <= samplerate <= MAX_SAMPLERATE:
            raise InvalidInputError(
                f"the DSP separator works at {MIN_SAMPLERATE}-{MAX_SAMPLERATE} Hz, "
                f"got {samplerate} Hz; resample the input first"
            )
        self._samplerate = int(samplerate)
        self._stft = Stft(fft_size(self._samplerate))
        bins = self._stft.n_fft // 2 + 1
        self._grid = Resolution(
            hop_s=self._stft.hop / self._samplerate,
            bin_hz=self._samplerate / self._stft.n_fft,
            freqs=(np.arange(bins) * (self._samplerate / self._stft.n_fft)).astype(np.float32),
        )

    @property
    def name(self) -> str:
        return "dsp"

    @property
    def sources(self) -> tuple[str, ...]:
        return FOUR_STEMS

    @property
    def samplerate(self) -> int:
        return self._samplerate

    @property
    def audio_channels(self) -> int:
        return 2

    @property
    def segment_s(self) -> float:
        return SEGMENT_S

    def valid_length(self, frames: int, segment_frames: int) -> int:
        """Any length works as it is (the STFT pads internally)."""
        return frames

    def separate_segment(self, segment: FloatArray) -> FloatArray:
        """(frames, channels) -> (4, frames, channels) float32: drums, bass, other, vocals.

        The stems sum to the input to float32 rounding. Any number of channels works; the
        centre cue needs exactly two.
        """
        x = self._checked(segment)
        frames, channels = x.shape
        stems = np.zeros((len(FOUR_STEMS), frames, channels), dtype=np.float32)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak == 0.0:
            return stems
        # Masks do not depend on the level; normalising keeps |X|^2 far from overflow.
        channels_first = np.ascontiguousarray(x.T) / np.float32(peak)
        spectra = self._stft.forward(channels_first)
        masks = compute_masks(spectra, self._grid, stereo_trust(channels_first))
        mix = x.astype(np.float64)
        other = mix.copy()
        for name, mask in (("drums", masks.drums), ("bass", masks.bass), ("vocals", masks.vocals)):
            index = FOUR_STEMS.index(name)
            stems[index] = self._stft.inverse(spectra * mask, frames).T * np.float32(peak)
            other -= stems[index]  # the float32 stem, so only other's own rounding remains
        stems[FOUR_STEMS.index("other")] = other
        return stems

    @staticmethod
    def _checked(segment: FloatArray) -> npt.NDArray[np.float32]:
        array = np.asarray(segment)
        if array.ndim != 2 or array.shape[1] < 1:
            raise InvalidInputError(
                f"a segment must be (frames, channels) with at least one channel, "
                f"got shape {array.shape}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise InvalidInputError(f"samples must be floating point, got dtype {array.dtype}")
        x = array.astype(np.float32, copy=False)
        if not np.all(np.isfinite(x)):
            raise InvalidInputError("the segment holds NaN or infinite samples")
        return x
