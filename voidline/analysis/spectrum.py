"""Long-term spectrum and per-frame spectral statistics of the programme's mid signal.

What is analysed: (L + R) / 2 of the stereo pair when the layout has one, otherwise the plain
mean of all channels (LFE included: without roles the analyser cannot tell it apart). With a
pair, the side signal (L - R) / 2 is analysed too, on every 4th frame, for per-band width.

Frames: Hann window (periodic), N = 43 ms rounded to a power of two (2048 at 44.1 and 48 kHz,
4096 at 88.2/96 kHz), hop N / 2. Only complete frames are analysed; the unfinished one waits for
the next push. Frames are analysed in batches of BATCH_HOPS that always start at the same frame
index, so any chunking of the stream gives bit-identical results. The FFT runs in float32 (its
rounding, ~1e-7, is far below any level that matters here); accumulations run in float64.

Units: the power spectrum is a one-sided power spectral density in full-scale^2 per Hz, scaled so
that summing it over frequency gives the mean square of the signal. White noise is flat; pink
noise falls 3 dB per octave.

Mel bands: 64 triangles equally spaced on the HTK mel scale, mel(f) = 2595 log10(1 + f / 700),
edges from 20 Hz to min(20 kHz, Nyquist). Each triangle is integrated over each FFT bin's
frequency interval (so narrow low bands still get weight) and normalised to unit sum: a band's
value is the weighted mean PSD in the band, in dB re FS^2/Hz (silent bands read -160).

Reference tonal balance: a PSD falling 4.5 dB per octave through 1 kHz (1.5 dB/octave darker than
pink noise), a common summary of the long-term average spectrum of commercial masters. The
deviation of a band is its level minus the curve minus the mean offset; offset and RMS weight each
band by its width in octaves and use bands centred from 40 Hz to 16 kHz. Tilt is the least-squares
slope of octave-band power (bands centred at 1 kHz * 2^k from 31.25 Hz to 16 kHz, below Nyquist)
against log2 frequency: pink noise reads 0, white noise +3 dB/octave.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from voidline.analysis.accumulators import CompensatedSum, Histogram
from voidline.analysis.report import SpectrumReport

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

FRAME_S = 0.043
BATCH_HOPS = 256  # frames analysed together (about 5.5 s at 48 kHz)
MEL_BANDS = 64
MEL_LOW_HZ = 20.0
MEL_HIGH_HZ = 20_000.0
OCTAVE_CENTRES_HZ = tuple(1000.0 * 2.0**k for k in range(-5, 5))  # 31.25 Hz .. 16 kHz
REFERENCE_SLOPE_DB_PER_OCTAVE = -4.5
TONAL_RANGE_HZ = (40.0, 16_000.0)
LEVEL_FLOOR_DB = -160.0  # silent mel band, dB re FS^2/Hz
STAT_FLOOR_DB = -140.0  # per-frame band levels are floored here before statistics
ACTIVE_FRAME_POWER = 1e-7  # frames below -70 dB mean square are silence for the statistics
CHROMA_RANGE_HZ = (200.0, 5000.0)
SUBSAMPLE_EVERY = 4  # flatness, contrast and side spectrum: every 4th frame is plenty
# Bands for the side/mid ratio: sub and bass, low mids, high mids, highs.
STEREO_BANDS_HZ = ((20.0, 150.0), (150.0, 1000.0), (1000.0, 5000.0), (5000.0, 20_000.0))
# Onsets: a local maximum of spectral flux above 1.5x the mean flux of the previous second + 1 dB.
ONSET_CONTEXT_S = 1.0
ONSET_RATIO = 1.5
ONSET_MARGIN_DB = 1.0
SECTION_SLOTS = 32
SECTIONS = 8
_DB = 10.0 / math.log(10.0)  # natural log of a power ratio to dB


# ----- filterbanks and curves -----


def frame_size(sample_rate_hz: int) -> int:
    """43 ms rounded to the nearest power of two."""
    return int(2 ** round(math.log2(FRAME_S * sample_rate_hz)))


def hz_to_mel(f: FloatArray | float) -> FloatArray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: FloatArray | float) -> FloatArray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_edges_hz(high_hz: float) -> FloatArray:
    """The 66 triangle corner frequencies: band b spans edges b .. b+2, centred at b+1."""
    return mel_to_hz(np.linspace(hz_to_mel(MEL_LOW_HZ), hz_to_mel(high_hz), MEL_BANDS + 2))


def reference_curve_db(f_hz: FloatArray) -> FloatArray:
    """The reference tonal balance (PSD shape, dB), 0 dB at 1 kHz."""
    return REFERENCE_SLOPE_DB_PER_OCTAVE * np.log2(f_hz / 1000.0)


def _bin_edges(n_bins: int, bin_hz: float) -> FloatArray:
    """Frequency interval each FFT bin stands for: [k - 1/2, k + 1/2] bin widths, DC from 0."""
    edges: FloatArray = (np.arange(n_bins + 1, dtype=np.float64) - 0.5) * bin_hz
    edges[0] = 0.0
    edges[-1] = (n_bins - 1) * bin_hz
    return edges


def _overlap(edges: FloatArray, lo: float, hi: float) -> FloatArray:
    """Hz of each bin interval that lies inside [lo, hi]."""
    inside: FloatArray = np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo)
    return np.clip(inside, 0.0, None)


def mel_filterbank(n_bins: int, bin_hz: float, high_hz: float) -> FloatArray:
    """(n_bins, 64) weights, each band summing to 1: PSD @ weights = mean PSD per band."""
    points = mel_edges_hz(high_hz)
    edges = _bin_edges(n_bins, bin_hz)
    # Integrate each triangle over each bin's interval: 16 sample points per bin.
    sub = 16
    f = edges[:-1, None] + (np.arange(sub) + 0.5) / sub * np.diff(edges)[:, None]
    weights = np.zeros((n_bins, MEL_BANDS))
    for b in range(MEL_BANDS):
        lo, mid, hi = points[b], points[b + 1], points[b + 2]
        tri = np.clip(np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)), 0.0, None)
        weights[:, b] = tri.mean(axis=1) * np.diff(edges)
    weights /= weights.sum(axis=0, keepdims=True)
    return weights


def band_weights(n_bins: int, bin_hz: float, bands: list[tuple[float, float]]) -> FloatArray:
    """(n_bins, bands) Hz of each bin inside each band: PSD @ weights = band power."""
    edges = _bin_edges(n_bins, bin_hz)
    return np.stack([_overlap(edges, lo, hi) for lo, hi in bands], axis=1)


def semitone_weights(n_bins: int, bin_hz: float) -> tuple[FloatArray, IntArray]:
    """(n_bins, notes) weights of each bin for the semitones (MIDI notes) it lies between,
    split linearly in pitch, over CHROMA_RANGE_HZ; and each note's pitch class (C = 0)."""
    f = np.arange(n_bins) * bin_hz
    use = np.flatnonzero((f >= CHROMA_RANGE_HZ[0]) & (f <= CHROMA_RANGE_HZ[1]))
    note = 12.0 * np.log2(f[use] / 440.0) + 69.0
    low = np.floor(note).astype(np.int64)
    frac = note - low
    first, last = int(low.min()), int(low.max()) + 1
    weights = np.zeros((n_bins, last - first + 1))
    weights[use, low - first] = 1.0 - frac
    weights[use, low - first + 1] += frac
    return weights, np.arange(first, last + 1) % 12


def octave_bands(nyquist_hz: float) -> list[tuple[float, float, float]]:
    """(centre, low, high) of the octave bands centred below Nyquist, high capped at Nyquist."""
    return [
        (fc, fc / math.sqrt(2.0), min(fc * math.sqrt(2.0), nyquist_hz))
        for fc in OCTAVE_CENTRES_HZ
        if fc < nyquist_hz
    ]


def tilt_db_per_octave(centres_hz: FloatArray, band_power: FloatArray) -> float:
    """Least-squares slope of band level (dB) against log2 frequency; 0 with < 2 bands."""
    use = band_power > 0
    if use.sum() < 2:
        return 0.0
    x = np.log2(centres_hz[use])
    y = 10.0 * np.log10(band_power[use])
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


@dataclass(frozen=True)
class TonalBalance:
    deviation_per_band_db: FloatArray
    deviation_rms_db: float


def tonal_balance(band_db: FloatArray, edges_hz: FloatArray) -> TonalBalance:
    """Deviation of the 64 mel band levels from the reference curve, mean offset removed.

    Offset and RMS weight each band by its width in octaves (half its triangle's base), so each
    octave counts the same, over bands centred in TONAL_RANGE_HZ.
    """
    centres = edges_hz[1:-1]
    width_oct = np.log2(edges_hz[2:] / edges_hz[:-2]) / 2.0
    use = (centres >= TONAL_RANGE_HZ[0]) & (centres <= TONAL_RANGE_HZ[1])
    rel = band_db - reference_curve_db(centres)
    w = width_oct * use
    offset = float((w * rel).sum() / w.sum())
    dev = rel - offset
    return TonalBalance(dev, float(math.sqrt((w * dev * dev).sum() / w.sum())))


# ----- compiled inner loops -----


@njit(cache=True, nogil=True)
def _mix_into(
    x: FloatArray, start: int, left: int, right: int, out: NDArray[np.float32], fill: int
) -> int:  # pragma: no cover - compiled
    """Write the analysed signals of x[start:] into out[:, fill:], as many frames as fit.

    With a pair (left >= 0): row 0 = (L + R) / 2, row 1 = (L - R) / 2. Otherwise row 0 = the
    mean of all channels. Each sample is computed the same way whatever the chunking (products
    by 0.5 are exact), then rounded to float32. Returns the number of frames written.
    """
    n = min(x.shape[0] - start, out.shape[1] - fill)
    src = x[start : start + n]
    mid = out[0, fill : fill + n]
    if left >= 0:
        side = out[1, fill : fill + n]
        for i in range(n):
            lv = src[i, left]
            rv = src[i, right]
            mid[i] = 0.5 * lv + 0.5 * rv
            side[i] = 0.5 * lv - 0.5 * rv
    else:
        channels = x.shape[1]
        for i in range(n):
            total = 0.0
            for c in range(channels):
                total += src[i, c]
            mid[i] = total / channels
    return n  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _band_powers(
    spectrum: NDArray[np.complex64],
    lo: IntArray,
    hi: IntArray,
    offset: IntArray,
    weights: FloatArray,
    power_sum: FloatArray,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Band j of frame t: out[t, j] = sum of |X[t, k]|^2 * weights[offset[j] + k - lo[j]] over
    bins k = lo[j] .. hi[j] - 1; and power_sum[k] += |X[t, k]|^2 over the frames.

    Every band covers one contiguous range of bins, so each is a short dot product (vectorised:
    `reassoc` lets the compiler split the sum, in an order fixed by the band's length alone).
    This beats a dense matrix product and never starts BLAS threads, which fight over a busy
    machine's cores.
    """
    n_bins = spectrum.shape[1]
    power = np.empty(n_bins)
    for t in range(spectrum.shape[0]):
        row = spectrum[t]
        for k in range(n_bins):
            z = row[k]
            re = np.float64(z.real)
            im = np.float64(z.imag)
            power[k] = re * re + im * im
        for k in range(n_bins):
            power_sum[k] += power[k]
        for j in range(lo.shape[0]):
            # Slices indexed from 0 let the compiler drop negative-index checks and vectorise.
            n = hi[j] - lo[j]
            p = power[lo[j] : hi[j]]
            w = weights[offset[j] : offset[j] + n]
            acc = 0.0
            for i in range(n):
                acc += p[i] * w[i]
            out[t, j] = acc


@njit(cache=True, nogil=True)
def _band_shape(
    power: NDArray[np.float32],
    log_power: NDArray[np.float32],
    lo: IntArray,
    hi: IntArray,
    flatness: FloatArray,
    contrast: FloatArray,
    valid: NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    """Per frame and band of bins lo..hi-1: flatness = geometric over arithmetic mean of the bin
    powers (dB, <= 0; 0 for a flat spectrum), contrast = peak bin over mean (dB, >= 0).
    The last column is the whole range lo[0]..hi[-1]-1. Bands with < 2 bins or no power are
    marked invalid."""
    bands = lo.shape[0]
    for t in range(power.shape[0]):
        all_sum = 0.0
        all_log = 0.0
        all_max = 0.0
        for j in range(bands):
            p = power[t, lo[j] : hi[j]]
            lp = log_power[t, lo[j] : hi[j]]
            s = 0.0
            s_log = 0.0
            peak = 0.0
            for i in range(p.shape[0]):
                s += p[i]
                s_log += lp[i]
                peak = max(peak, np.float64(p[i]))
            all_sum += s
            all_log += s_log
            all_max = max(all_max, peak)
            n = p.shape[0]
            if n >= 2 and s > 0.0:
                mean = s / n
                flatness[t, j] = _DB * (s_log / n - math.log(mean))
                contrast[t, j] = _DB * math.log(peak / mean)
                valid[t, j] = True
        n = hi[bands - 1] - lo[0]
        if n >= 2 and all_sum > 0.0:
            mean = all_sum / n
            flatness[t, bands] = _DB * (all_log / n - math.log(mean))
            contrast[t, bands] = _DB * math.log(all_max / mean)
            valid[t, bands] = True


class _BandBank:
    """Bands that each weight one contiguous range of FFT bins, in `_band_powers`'s layout."""

    def __init__(self, dense: FloatArray) -> None:
        """dense: (n_bins, bands); a band's bins are its first to last nonzero weight."""
        lo, hi, offset, flat = [], [], [], []
        at = 0
        for j in range(dense.shape[1]):
            nonzero = np.flatnonzero(dense[:, j])
            a, b = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
            lo.append(a)
            hi.append(b)
            offset.append(at)
            flat.append(dense[a:b, j])
            at += b - a
        self.bands = dense.shape[1]
        self.lo = np.array(lo, dtype=np.int64)
        self.hi = np.array(hi, dtype=np.int64)
        self.offset = np.array(offset, dtype=np.int64)
        self.weights = np.ascontiguousarray(np.concatenate(flat), dtype=np.float64)

    def apply(self, spectrum: NDArray[np.complex64], power_sum: FloatArray) -> FloatArray:
        """(frames, bands) band powers of spectrum rows; adds |X|^2 per bin into power_sum."""
        out = np.empty((spectrum.shape[0], self.bands))
        _band_powers(spectrum, self.lo, self.hi, self.offset, self.weights, power_sum, out)
        return out


# ----- running statistics -----


class _Moments:
    """Count, sum and sum of squares per column over the rows of pushed arrays."""

    def __init__(self, width: int) -> None:
        self.n = np.zeros(width)
        self.s = np.zeros(width)
        self.ss = np.zeros(width)

    def add(self, values: FloatArray, valid: NDArray[np.bool_] | None = None) -> None:
        if valid is None:
            self.n += values.shape[0]
        else:
            values = np.where(valid, values, 0.0)
            self.n += valid.sum(axis=0)
        self.s += values.sum(axis=0)
        self.ss += (values * values).sum(axis=0)

    def mean(self) -> FloatArray:
        return np.divide(self.s, self.n, out=np.zeros_like(self.s), where=self.n > 0)

    def std(self) -> FloatArray:
        m = self.mean()
        ms = np.divide(self.ss, self.n, out=np.zeros_like(self.s), where=self.n > 0)
        return np.sqrt(np.clip(ms - m * m, 0.0, None))


class _SectionProfile:
    """Energy, brightness and flux of the programme over time, in constant memory.

    Frames go to SECTION_SLOTS slots of equal length; when the stream outgrows them, neighbouring
    slots merge and the slot length doubles, so the slots always span the whole programme.
    """

    def __init__(self) -> None:
        self.slot_frames = 1
        # Columns: frames, energy, frequency-weighted energy, flux.
        self.slots = np.zeros((SECTION_SLOTS, 4))

    def add(self, first_index: int, values: FloatArray) -> None:
        last = first_index + values.shape[0] - 1
        while last // self.slot_frames >= SECTION_SLOTS:
            merged = self.slots.reshape(SECTION_SLOTS // 2, 2, 4).sum(axis=1)
            self.slots = np.concatenate([merged, np.zeros((SECTION_SLOTS // 2, 4))])
            self.slot_frames *= 2
        slot = (first_index + np.arange(values.shape[0])) // self.slot_frames
        for col in range(4):
            self.slots[:, col] += np.bincount(slot, values[:, col], minlength=SECTION_SLOTS)

    def sections(self, total_frames: int) -> FloatArray:
        """(SECTIONS, 4) sums per eighth of the programme (slots assigned by their centre)."""
        out = np.zeros((SECTIONS, 4))
        if total_frames == 0:
            return out
        starts = np.arange(SECTION_SLOTS) * self.slot_frames
        used = starts < total_frames
        # The centre of the frames a slot actually holds (the last slot may be partly filled).
        centres = (starts[used] + np.minimum(starts[used] + self.slot_frames, total_frames)) / 2
        section = np.minimum((centres * SECTIONS / total_frames).astype(np.int64), SECTIONS - 1)
        np.add.at(out, section, self.slots[used])
        return out


@dataclass(frozen=True)
class SpectrumStatistics:
    """Everything the feature vector reads from the spectrum analyser (docs/features.md)."""

    frames: int
    active_frames: int
    frame_rate_hz: float  # frames per second
    freqs_hz: FloatArray  # FFT bin centre frequencies
    psd: FloatArray  # average PSD over all frames, FS^2/Hz
    mel_db: FloatArray  # long-term mel band levels, dB re FS^2/Hz
    mel_center_hz: FloatArray
    mel_std_db: FloatArray  # std over active frames of each band's level
    mel_modulation_db: FloatArray  # mean |level change| frame to frame, per band
    mel_flux_db: FloatArray  # mean rectified level increase frame to frame, per band
    flux: Histogram  # onset strength per frame: mean rectified increase over bands, dB
    onsets: int
    level_db: Histogram  # frame mean-square level, dB, all frames
    level_change_db: Histogram  # frame-to-frame level change, dB, active frames
    centroid_log2_khz: Histogram  # per-frame centroid, log2(f / 1 kHz)
    spread_khz: float  # mean per-frame spectral spread (standard deviation of frequency), kHz
    chroma_mean: FloatArray  # energy-weighted average chroma, sums to 1 (C = 0)
    chroma_std: FloatArray  # std over frames of each frame's normalised chroma
    chroma_entropy_bits: float  # mean per-frame entropy of the normalised chroma
    octave_centres_hz: FloatArray
    octave_crest_db: FloatArray  # per octave band: max frame power over mean frame power, dB
    flatness_mean_db: FloatArray  # per octave band, then the whole range (last)
    flatness_std_db: FloatArray
    contrast_mean_db: FloatArray  # per octave band, then the whole range (last)
    contrast_std_db: FloatArray
    side_to_mid_db: FloatArray | None  # per STEREO_BANDS_HZ band; None without a stereo pair
    sections: FloatArray  # (SECTIONS, 4): frames, energy, frequency-weighted energy, flux

    def band_power(self, lo_hz: float, hi_hz: float) -> float:
        """Mean square of the average spectrum between lo_hz and hi_hz."""
        bin_hz = float(self.freqs_hz[1] - self.freqs_hz[0])
        w = _overlap(_bin_edges(self.freqs_hz.size, bin_hz), lo_hz, hi_hz)
        return float(self.psd @ w)


# ----- the analyser -----


class SpectrumAnalyzer:
    """Streaming STFT analysis of frames (n, channels), full scale 1.0; see the module doc."""

    def __init__(self, sample_rate_hz: int, channels: int, pair: tuple[int, int] | None) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.pair = pair
        self.frame_size = frame_size(sample_rate_hz)
        self.hop = self.frame_size // 2
        n = self.frame_size
        self.n_bins = n // 2 + 1
        bin_hz = sample_rate_hz / n
        nyquist = sample_rate_hz / 2.0
        self.freqs_hz: FloatArray = np.arange(self.n_bins, dtype=np.float64) * bin_hz
        self.window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)
        # |X|^2 times this is the one-sided PSD (DC and Nyquist are not doubled).
        scale = np.full(self.n_bins, 2.0 / (sample_rate_hz * float(np.sum(self.window**2.0))))
        scale[[0, -1]] /= 2.0
        self._psd_scale = scale

        mel_high = min(MEL_HIGH_HZ, nyquist)
        self.mel_edges_hz = mel_edges_hz(mel_high)
        self.mel_center_hz = self.mel_edges_hz[1:-1]
        self.mel_weights = mel_filterbank(self.n_bins, bin_hz, mel_high)
        octaves = octave_bands(nyquist)
        self.octave_centres_hz = np.array([c for c, _, _ in octaves])
        self.octave_weights = band_weights(self.n_bins, bin_hz, [(lo, hi) for _, lo, hi in octaves])
        semitones, pitch_class = semitone_weights(self.n_bins, bin_hz)
        # (notes, 12) one-hot: semitone powers @ this = chroma.
        self._fold_to_chroma = (pitch_class[:, None] == np.arange(12)[None, :]).astype(np.float64)
        stereo_weights = band_weights(
            self.n_bins, bin_hz, [(lo, min(hi, nyquist)) for lo, hi in STEREO_BANDS_HZ]
        )
        # One bank maps |X|^2 of a frame to every per-frame band quantity at once.
        columns = [
            ("mel", self.mel_weights),  # mean PSD per mel band
            ("notes", semitones),  # power per semitone, folded into chroma
            ("octave", self.octave_weights),  # octave band power
            ("stereo", stereo_weights),  # mid power in STEREO_BANDS_HZ
            ("f", (bin_hz * self.freqs_hz)[:, None]),  # sum of f * power
            ("f2", (bin_hz * self.freqs_hz**2)[:, None]),  # sum of f^2 * power
            ("total", np.full((self.n_bins, 1), bin_hz)),  # total power (mean square)
        ]
        self._cols: dict[str, slice] = {}
        at = 0
        for name, weights in columns:
            self._cols[name] = slice(at, at + weights.shape[1])
            at += weights.shape[1]
        self._bank = _BandBank(np.concatenate([w for _, w in columns], axis=1) * scale[:, None])
        self._side_bank = _BandBank(stereo_weights * scale[:, None])
        # Bins whose centre lies in each octave band, for flatness and contrast.
        self._shape_lo = np.array(
            [int(np.searchsorted(self.freqs_hz, lo)) for _, lo, _ in octaves], dtype=np.int64
        )
        self._shape_hi = np.array(
            [int(np.searchsorted(self.freqs_hz, hi)) for _, _, hi in octaves], dtype=np.int64
        )

        # The analysed signals (mid, and side with a pair), float32, one row each. When the
        # buffer is full, its BATCH_HOPS complete frames are analysed and the last hop, the
        # first half of the next frame, moves to the front.
        streams = 2 if pair is not None else 1
        self._signal = np.zeros((streams, (BATCH_HOPS + 1) * self.hop), dtype=np.float32)
        self._fill = 0
        self._frame_buffer = np.empty((BATCH_HOPS, n), dtype=np.float32)
        self.frames = 0
        self._psd_sum = CompensatedSum(self.n_bins)
        self._init_statistics(len(octaves))

    def _init_statistics(self, n_oct: int) -> None:
        self.active_frames = 0
        self._prev_mel_db: FloatArray | None = None
        self._prev_level_db = 0.0
        self._mel = _Moments(MEL_BANDS)
        self._mel_abs_change = np.zeros(MEL_BANDS)
        self._mel_rise = np.zeros(MEL_BANDS)
        self._flux = Histogram(0.0, 40.0, 2000)
        context = max(1, round(ONSET_CONTEXT_S * self.sample_rate_hz / self.hop))
        # Flux of the latest frames: the context for the threshold, and the last frame, which
        # waits for its successor before it can be called a peak. Zeros stand for "before".
        self._flux_recent = np.zeros(context + 1)
        self._active_recent = np.zeros(context + 1, dtype=bool)
        self.onsets = 0
        self._level = Histogram(-130.0, 10.0, 1400)
        self._level_change = Histogram(-60.0, 60.0, 2400)
        self._centroid = Histogram(-6.0, 5.0, 1100)
        self._spread_sum = 0.0
        self._chroma_sum = np.zeros(12)
        self._chroma = _Moments(12)
        self._chroma_entropy_sum = 0.0
        self._oct_max = np.zeros(n_oct)
        self._oct_sum = np.zeros(n_oct)
        self._flatness = _Moments(n_oct + 1)
        self._contrast = _Moments(n_oct + 1)
        self._side_power = np.zeros(len(STEREO_BANDS_HZ))
        self._mid_power = np.zeros(len(STEREO_BANDS_HZ))
        self._sections = _SectionProfile()

    # ----- streaming -----

    def push(self, x: NDArray[np.floating]) -> None:
        frames: FloatArray = np.ascontiguousarray(x, dtype=np.float64)
        left, right = self.pair if self.pair is not None else (-1, -1)
        start = 0
        while start < frames.shape[0]:
            taken: int = _mix_into(frames, start, left, right, self._signal, self._fill)
            self._fill += taken
            start += taken
            if self._fill == self._signal.shape[1]:
                self._analyse_buffer()

    def _analyse_buffer(self) -> None:
        """Analyse every complete frame in the signal buffer; keep the rest for later."""
        if self._fill < self.frame_size:
            return
        count = (self._fill - self.frame_size) // self.hop + 1
        self._analyse_frames(count)
        used = count * self.hop
        self._signal[:, : self._fill - used] = self._signal[:, used : self._fill]
        self._fill -= used

    def _windowed(self, row: int, count: int, picks: IntArray | None = None) -> NDArray[np.float32]:
        """Frames 0 .. count-1 (or those in picks) of signal row `row`, Hann-windowed."""
        signal = self._signal[row, : (count + 1) * self.hop]
        frames = sliding_window_view(signal, self.frame_size)[:: self.hop][:count]
        if picks is not None:
            frames = frames[picks]
        return np.multiply(frames, self.window, out=self._frame_buffer[: frames.shape[0]])

    def _analyse_frames(self, count: int) -> None:
        """Analyse frames self.frames .. self.frames + count - 1 (the buffer's first ones)."""
        first = self.frames
        spectrum = scipy.fft.rfft(self._windowed(0, count), axis=1)
        power_sum = np.zeros(self.n_bins)
        bands = self._bank.apply(spectrum, power_sum)
        self._psd_sum.add(power_sum)
        active = bands[:, self._cols["total"]][:, 0] >= ACTIVE_FRAME_POWER
        self._frame_statistics(first, bands, active)
        # Every SUBSAMPLE_EVERY-th frame (by stream index): fine structure and side spectrum.
        picks = np.flatnonzero((first + np.arange(count)) % SUBSAMPLE_EVERY == 0)
        self._fine_structure(spectrum[picks[active[picks]]])
        if self.pair is not None and picks.size:
            side = scipy.fft.rfft(self._windowed(1, count, picks), axis=1)
            self._side_power += self._side_bank.apply(side, np.zeros(self.n_bins)).sum(axis=0)
            self._mid_power += bands[picks, self._cols["stereo"]].sum(axis=0)
        self.frames += count

    def _frame_statistics(self, first: int, bands: FloatArray, active: NDArray[np.bool_]) -> None:
        self.active_frames += int(active.sum())
        total = bands[:, self._cols["total"]][:, 0]
        energy_f = bands[:, self._cols["f"]][:, 0]

        # Band levels, floored, and their change from the previous frame (spectral flux).
        mel_db = _DB * np.log(np.maximum(bands[:, self._cols["mel"]], 10 ** (STAT_FLOOR_DB / 10)))
        prev = mel_db[:1] if self._prev_mel_db is None else self._prev_mel_db[None, :]
        change = np.diff(np.concatenate([prev, mel_db]), axis=0)
        self._prev_mel_db = mel_db[-1]
        rise = np.maximum(change, 0.0)
        flux = rise.mean(axis=1)
        self._mel.add(mel_db[active])
        self._mel_abs_change += np.abs(change[active]).sum(axis=0)
        self._mel_rise += rise[active].sum(axis=0)
        self._flux.add(flux[active])
        self._count_onsets(first, flux, active)

        # Broadband level and its change.
        level_db = _DB * np.log(np.maximum(total, 1e-13))
        self._level.add(level_db)
        prev_level = level_db[0] if first == 0 else self._prev_level_db
        level_change = np.diff(level_db, prepend=prev_level)
        self._prev_level_db = float(level_db[-1])
        self._level_change.add(level_change[active])

        # Centroid and spread of each active frame.
        power = total[active]
        mean_f = energy_f[active] / power
        mean_f2 = bands[active, self._cols["f2"]][:, 0] / power
        self._centroid.add(np.log2(np.maximum(mean_f, 1.0) / 1000.0))
        self._spread_sum += float(np.sqrt(np.clip(mean_f2 - mean_f**2, 0.0, None)).sum()) / 1000

        # Chroma: semitone powers folded into pitch classes.
        chroma = bands[active, self._cols["notes"]] @ self._fold_to_chroma
        chroma_total = chroma.sum(axis=1)
        chroma = chroma[chroma_total > 0]
        self._chroma_sum += chroma.sum(axis=0)
        norm = chroma / chroma.sum(axis=1, keepdims=True)
        self._chroma.add(norm)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._chroma_entropy_sum -= float(np.where(norm > 0, norm * np.log2(norm), 0.0).sum())

        # Octave band power over time: peak and mean, for the per-band crest factor.
        octave = bands[active, self._cols["octave"]]
        self._oct_max = np.maximum(self._oct_max, octave.max(axis=0, initial=0.0))
        self._oct_sum += octave.sum(axis=0)

        count = bands.shape[0]
        self._sections.add(
            first, np.column_stack([np.ones(count), total, energy_f, np.where(active, flux, 0.0)])
        )

    def _count_onsets(self, first: int, flux: FloatArray, active: NDArray[np.bool_]) -> None:
        """Onsets: local maxima of flux over the adaptive threshold (previous second's mean).

        Frame `first` is the first of `flux`; the previous frames come from _flux_recent, where
        positions before the stream hold zeros and are left out of the mean.
        """
        context = self._flux_recent.size - 1
        seq = np.concatenate([self._flux_recent, flux])
        act = np.concatenate([self._active_recent, active])
        # Candidates: positions context .. len - 2 (the last frame waits for its successor).
        t = np.arange(context, seq.size - 1)
        stream_index = first - (context + 1) + t
        real = np.clip(stream_index, 1, context)  # frames of context inside the stream
        before = sliding_window_view(seq[:-1], context)[t - context].sum(axis=1) / real
        peak = (seq[t] > seq[t - 1]) & (seq[t] >= seq[t + 1]) & act[t] & (stream_index > 0)
        peak &= seq[t] > ONSET_RATIO * before + ONSET_MARGIN_DB
        self.onsets += int(peak.sum())
        self._flux_recent = seq[-(context + 1) :]
        self._active_recent = act[-(context + 1) :]

    def _fine_structure(self, spectrum: NDArray[np.complex64]) -> None:
        """Flatness and contrast of the bins in each octave band, and over all of them."""
        if spectrum.shape[0] == 0 or self._shape_lo.size == 0:
            return
        power = spectrum.real**2 + spectrum.imag**2  # float32 is plenty for ratios
        log_power = np.log(power + np.float32(1e-30))
        shape = (spectrum.shape[0], self._shape_lo.size + 1)
        flatness, contrast = np.zeros(shape), np.zeros(shape)
        valid = np.zeros(shape, dtype=bool)
        _band_shape(power, log_power, self._shape_lo, self._shape_hi, flatness, contrast, valid)
        self._flatness.add(flatness, valid)
        self._contrast.add(contrast, valid)

    # ----- results -----

    def average_psd(self) -> FloatArray:
        """Average one-sided PSD over all frames, FS^2/Hz (zeros before the first frame)."""
        self._analyse_buffer()
        if self.frames == 0:
            return np.zeros(self.n_bins)
        psd: FloatArray = self._psd_sum.value * self._psd_scale / self.frames
        return psd

    def mel_band_db(self) -> FloatArray:
        """Long-term mel band levels, dB re FS^2/Hz, floored at LEVEL_FLOOR_DB."""
        mel_power = self.average_psd() @ self.mel_weights
        return np.maximum(_DB * np.log(np.maximum(mel_power, 1e-300)), LEVEL_FLOOR_DB)

    def report(self) -> SpectrumReport:
        psd = self.average_psd()
        mel_db = self.mel_band_db()
        total = float(psd.sum())
        if total > 0:
            centroid = float((self.freqs_hz * psd).sum() / total)
            tilt = tilt_db_per_octave(self.octave_centres_hz, psd @ self.octave_weights)
            balance = tonal_balance(mel_db, self.mel_edges_hz)
            deviation, rms = balance.deviation_per_band_db, balance.deviation_rms_db
        else:
            centroid, tilt, deviation, rms = 0.0, 0.0, np.zeros(MEL_BANDS), 0.0
        return SpectrumReport(
            mel_band_db=[float(v) for v in mel_db],
            mel_band_center_hz=[float(v) for v in self.mel_center_hz],
            centroid_hz=centroid,
            tilt_db_per_octave=tilt,
            tonal_balance_deviation_db=rms,
            tonal_balance_deviation_per_band_db=[float(v) for v in deviation],
        )

    def statistics(self) -> SpectrumStatistics:
        psd = self.average_psd()
        active = max(self.active_frames, 1)
        oct_mean = self._oct_sum / active
        with np.errstate(divide="ignore", invalid="ignore"):
            crest = np.where(oct_mean > 0, _DB * np.log(self._oct_max / oct_mean), 0.0)
        side_to_mid = None
        if self.pair is not None:
            side, mid = self._side_power, self._mid_power
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = _DB * (np.log(side) - np.log(mid))
            # No side: -inf (also in silence); side without mid: +inf.
            side_to_mid = np.where(side > 0, np.where(mid > 0, ratio, np.inf), -np.inf)
        chroma_frames = max(float(self._chroma.n[0]), 1.0)
        chroma_total = float(self._chroma_sum.sum())
        return SpectrumStatistics(
            frames=self.frames,
            active_frames=self.active_frames,
            frame_rate_hz=self.sample_rate_hz / self.hop,
            freqs_hz=self.freqs_hz,
            psd=psd,
            mel_db=self.mel_band_db(),
            mel_center_hz=self.mel_center_hz,
            mel_std_db=self._mel.std(),
            mel_modulation_db=self._mel_abs_change / active,
            mel_flux_db=self._mel_rise / active,
            flux=self._flux,
            onsets=self.onsets,
            level_db=self._level,
            level_change_db=self._level_change,
            centroid_log2_khz=self._centroid,
            spread_khz=self._spread_sum / active,
            chroma_mean=self._chroma_sum / chroma_total if chroma_total > 0 else np.zeros(12),
            chroma_std=self._chroma.std(),
            chroma_entropy_bits=self._chroma_entropy_sum / chroma_frames,
            octave_centres_hz=self.octave_centres_hz,
            octave_crest_db=crest,
            flatness_mean_db=self._flatness.mean(),
            flatness_std_db=self._flatness.std(),
            contrast_mean_db=self._contrast.mean(),
            contrast_std_db=self._contrast.std(),
            side_to_mid_db=side_to_mid,
            sections=self._sections.sections(self.frames),
        )
