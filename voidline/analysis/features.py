"""The 384-value feature vector: what the mastering model sees of a programme.

Layout (version v1), in this order: 64 spectral, 32 dynamics, 16 stereo, 64 harmonic,
32 transient, 176 contextual. Every feature has a name, a unit and a one-line definition in
FEATURE_SPECS; docs/features.md is generated from them (`feature_table_markdown`), and
`build_feature_vector` fills the vector by name, so code, names and documentation cannot drift.

Values are finite and roughly O(1)-O(100): -inf is replaced by documented floors
(-70 LUFS for loudness, -120 dB for levels, -60 dB for side/mid ratios) and ratios are clamped.
The vector is a pure function of the analysis, so the same audio always gives the same vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from voidline.analysis.report import (
    ClippingReport,
    DynamicsReport,
    LoudnessReport,
    PeakReport,
    SpectrumReport,
    StereoReport,
)
from voidline.analysis.spectrum import (
    MEL_BANDS,
    OCTAVE_CENTRES_HZ,
    STEREO_BANDS_HZ,
    SpectrumAnalyzer,
    SpectrumStatistics,
)
from voidline.analysis.stereo import StereoMeter

FloatArray = NDArray[np.float64]

FEATURE_LAYOUT_VERSION = "v1"

LUFS_FLOOR = -70.0  # loudness of silence (the BS.1770 absolute gate)
DB_FLOOR = -120.0  # level of silence
RATIO_DB_FLOOR = -60.0  # side/mid ratio of dual mono
RATIO_DB_CEILING = 20.0  # side/mid ratio of pure side
SHORT_TERM_PERCENTILES = (5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0)
PITCH_CLASSES = ("c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b")
# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
ENERGY_BANDS_HZ = (
    ("sub", 20.0, 60.0),
    ("bass", 60.0, 250.0),
    ("low_mid", 250.0, 2000.0),
    ("high_mid", 2000.0, 6000.0),
    ("air", 6000.0, 20_000.0),
)
STEREO_BAND_NAMES = ("bass", "low_mid", "high_mid", "high")
OCTAVE_NAMES = tuple(f"{fc:g}".replace(".", "p") + "hz" for fc in OCTAVE_CENTRES_HZ)
FLUX_GROUPS = 8  # the 64 mel bands in 8 groups of 8 for per-band transient features
RESONANCE_HALF_WIDTH = 3  # mel bands either side for the smoothed spectrum


class LoudnessStatistics(Protocol):
    """The loudness meter's methods the features read (LoudnessMeter implements them)."""

    def short_term_percentiles(self, ps: Sequence[float]) -> list[tuple[float, float]]: ...

    def short_term_histogram(self) -> tuple[float, list[int]]: ...

    def momentary_dynamic_range_db(self) -> float: ...

    def balance_db(self) -> float: ...

    def mono_loudness_change_db(self) -> float: ...


@dataclass
class FeatureInputs:
    duration_s: float
    loudness: LoudnessReport
    peaks: PeakReport
    dynamics: DynamicsReport
    stereo: StereoReport | None
    clipping: ClippingReport
    spectrum: SpectrumReport
    loudness_meter: LoudnessStatistics
    spectrum_analyzer: SpectrumAnalyzer
    stereo_meter: StereoMeter | None


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: str
    unit: str
    definition: str


# ----- the layout -----


def _mel_centres_48k() -> FloatArray:
    """Mel band centres at 44.1 kHz and above (20 Hz - 20 kHz), for the documentation."""
    return SpectrumAnalyzer(48_000, 1, None).mel_center_hz


def _specs() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []

    def add(group: str, name: str, unit: str, definition: str) -> None:
        specs.append(FeatureSpec(f"{group}_{name}", group, unit, definition))

    mel_hz = _mel_centres_48k()
    for b in range(MEL_BANDS):
        add(
            "spectral",
            f"mel{b:02d}_deviation",
            "dB",
            f"Long-term level of mel band {b} (centre {mel_hz[b]:.0f} Hz at 44.1/48 kHz) minus "
            "the reference tonal-balance curve and the mean offset, clamped to +-60",
        )

    add("dynamics", "integrated", "LUFS", "Integrated loudness (BS.1770-5), floor -70")
    add("dynamics", "lra", "LU", "Loudness range (EBU Tech 3342)")
    add("dynamics", "lra_low", "LUFS", "LRA 10th percentile, floor -70")
    add("dynamics", "lra_high", "LUFS", "LRA 95th percentile, floor -70")
    add("dynamics", "max_momentary", "LUFS", "Maximum momentary loudness, floor -70")
    add("dynamics", "max_short_term", "LUFS", "Maximum short-term loudness, floor -70")
    add("dynamics", "true_peak", "dBTP", "True peak, floor -120")
    add("dynamics", "sample_peak", "dBFS", "Sample peak, floor -120")
    add("dynamics", "plr", "dB", "Peak-to-loudness ratio: true peak minus integrated, 0-60")
    add("dynamics", "psr", "dB", "True peak minus maximum short-term loudness, 0-60")
    add("dynamics", "crest", "dB", "Overall crest factor: sample peak over RMS, 0-60")
    add("dynamics", "rms", "dBFS", "RMS of all channels, floor -120")
    add("dynamics", "momentary_range", "dB", "95th minus 10th percentile of momentary loudness")
    for p in SHORT_TERM_PERCENTILES:
        add(
            "dynamics",
            f"short_term_p{p:g}",
            "LU",
            f"{p:g}th percentile of short-term loudness minus integrated, -70..30",
        )
    add("dynamics", "short_term_iqr", "LU", "75th minus 25th percentile of short-term loudness")
    add("dynamics", "short_term_std", "LU", "Standard deviation of short-term loudness (1 LU bins)")
    add(
        "dynamics",
        "quiet_fraction",
        "ratio",
        "Share of short-term values more than 10 LU below integrated",
    )
    add("dynamics", "loud_fraction", "ratio", "Share of short-term values over integrated + 3 LU")
    add("dynamics", "short_term_entropy", "bits", "Entropy of the 1 LU short-term histogram")
    add("dynamics", "gated_fraction", "ratio", "Gating blocks passing both gates / all blocks")
    add("dynamics", "lra_stable", "flag", "1 when the programme is long enough (60 s) for LRA")
    add("dynamics", "channel_crest_mean", "dB", "Mean of the per-channel crest factors")
    add("dynamics", "channel_rms_spread", "dB", "Loudest minus quietest channel RMS, 0-60")
    add("dynamics", "clip_rate", "log10", "log10(1 + clipping events per minute)")
    add("dynamics", "clipped_per_mille", "1/1000", "Clipped samples per thousand, 0-1000")
    add("dynamics", "dc_offset", "% FS", "Largest absolute DC offset of any channel, percent of FS")

    add("stereo", "is_stereo", "flag", "1 with a left/right pair, else 0 (then mono values)")
    add("stereo", "correlation", "r", "Pearson correlation of L and R (mono: 1)")
    for p in (5, 50, 95):
        add(
            "stereo",
            f"correlation_p{p}",
            "r",
            f"{p}th percentile of the correlation of 400 ms windows (mono: 1)",
        )
    add("stereo", "negative_fraction", "ratio", "Share of 400 ms windows with correlation < 0")
    add("stereo", "width_db", "dB", "Side over mid energy, -60..20 (dual mono -60)")
    add("stereo", "width", "ratio", "Side energy over mid + side energy, 0-1")
    for p in (10, 90):
        add(
            "stereo",
            f"width_p{p}",
            "dB",
            f"{p}th percentile of side over mid energy of 400 ms windows, -60..20",
        )
    add("stereo", "balance", "dB", "K-weighted left over right energy, -30..30")
    add("stereo", "mono_change", "dB", "Loudness change when summed to mono, -30..30")
    for name, (lo, hi) in zip(STEREO_BAND_NAMES, STEREO_BANDS_HZ, strict=True):
        add(
            "stereo",
            f"side_to_mid_{name}",
            "dB",
            f"Side over mid power {lo:g}-{hi:g} Hz (every 4th frame), -60..20",
        )

    for c, pc in enumerate(PITCH_CLASSES):
        add("harmonic", f"chroma_{pc}", "ratio", f"Average chroma of pitch class {c} (C=0), x12")
    for c, pc in enumerate(PITCH_CLASSES):
        add(
            "harmonic",
            f"chroma_std_{pc}",
            "ratio",
            f"Std over frames of normalised chroma of pitch class {c}, x12",
        )
    add("harmonic", "chroma_peak", "ratio", "Largest average chroma value, x12 (1 = flat)")
    add("harmonic", "chroma_entropy", "bits", "Mean per-frame entropy of the chroma (max 3.58)")
    for octave, name in zip(OCTAVE_CENTRES_HZ, OCTAVE_NAMES, strict=True):
        add(
            "harmonic",
            f"flatness_{name}",
            "dB",
            f"Mean spectral flatness of the FFT bins in the {octave:g} Hz octave (0 = noise)",
        )
    add("harmonic", "flatness_full", "dB", "Mean spectral flatness of 22 Hz - 22 kHz")
    for octave, name in zip(OCTAVE_CENTRES_HZ, OCTAVE_NAMES, strict=True):
        add(
            "harmonic",
            f"contrast_{name}",
            "dB",
            f"Mean peak-bin over mean-bin power in the {octave:g} Hz octave",
        )
    add("harmonic", "contrast_full", "dB", "Mean peak-bin over mean-bin power, 22 Hz - 22 kHz")
    add("harmonic", "flatness_full_std", "dB", "Std over frames of the full-range flatness")
    add("harmonic", "contrast_full_std", "dB", "Std over frames of the full-range contrast")
    add("harmonic", "centroid", "oct", "log2(centroid of the long-term spectrum / 1 kHz)")
    add("harmonic", "centroid_mean", "oct", "Mean of log2(per-frame centroid / 1 kHz)")
    add("harmonic", "centroid_std", "oct", "Std of log2(per-frame centroid / 1 kHz)")
    add("harmonic", "spread", "kHz", "Mean per-frame spectral spread")
    add("harmonic", "rolloff85", "oct", "log2(85 % power roll-off frequency / 1 kHz)")
    add("harmonic", "rolloff95", "oct", "log2(95 % power roll-off frequency / 1 kHz)")
    add(
        "harmonic",
        "bandwidth",
        "oct",
        "log2(centre of the highest mel band within 60 dB of the loudest / 1 kHz)",
    )
    add("harmonic", "tilt", "dB/oct", "Octave-band tilt of the long-term spectrum (pink = 0)")
    add("harmonic", "tonal_deviation", "dB", "RMS deviation from the reference tonal balance")
    add("harmonic", "key_clarity", "r", "Best correlation of the average chroma with a key profile")
    add("harmonic", "key_mode", "r", "Best major-key minus best minor-key correlation")
    add("harmonic", "resonance_max", "dB", "Largest mel band excess over its +-3 band average")
    add("harmonic", "resonance_freq", "oct", "log2(centre of that band / 1 kHz)")
    add("harmonic", "roughness", "dB", "RMS of the mel band excess over the +-3 band average")

    add("transient", "flux_mean", "dB", "Mean spectral flux (mean rectified band level rise)")
    add("transient", "flux_std", "dB", "Std of spectral flux")
    for p in (50, 90, 99):
        add("transient", f"flux_p{p}", "dB", f"{p}th percentile of spectral flux")
    add("transient", "flux_max", "dB", "Maximum spectral flux, up to 60")
    add("transient", "onset_rate", "1/s", "Flux peaks above the adaptive threshold per second")
    add("transient", "flux_peakiness", "dB", "99th minus 50th percentile of spectral flux")
    for octave, name in zip(OCTAVE_CENTRES_HZ, OCTAVE_NAMES, strict=True):
        add(
            "transient",
            f"crest_{name}",
            "dB",
            f"Loudest frame over mean frame power in the {octave:g} Hz octave",
        )
    for g in range(FLUX_GROUPS):
        first, last = g * MEL_BANDS // FLUX_GROUPS, (g + 1) * MEL_BANDS // FLUX_GROUPS - 1
        add(
            "transient",
            f"band_flux_{g}",
            "dB",
            f"Mean rectified level rise per frame of mel bands {first}-{last}",
        )
    for p in (1, 5, 95, 99):
        add(
            "transient",
            f"level_change_p{p}",
            "dB",
            f"{p}th percentile of the frame-to-frame level change (23 ms hop at 44.1/48 kHz)",
        )
    add("transient", "level_change_std", "dB", "Std of the frame-to-frame level change")
    add(
        "transient",
        "attack_asymmetry",
        "dB",
        "99th plus 1st percentile of level change: > 0 when rises are sharper than falls",
    )

    for b in range(MEL_BANDS):
        add(
            "context",
            f"mel{b:02d}_std",
            "dB",
            f"Std over active frames of the level of mel band {b}",
        )
    for b in range(MEL_BANDS):
        add(
            "context",
            f"mel{b:02d}_modulation",
            "dB",
            f"Mean absolute level change per frame of mel band {b}",
        )
    for s in range(8):
        add("context", f"section{s}_level", "dB", f"Level of eighth {s} minus the whole, +-60")
    for s in range(8):
        add(
            "context",
            f"section{s}_brightness",
            "oct",
            f"log2(centroid of eighth {s} / centroid of the whole)",
        )
    for s in range(8):
        add("context", f"section{s}_flux", "dB", f"Mean flux of eighth {s} minus the whole")
    for name, lo, hi in ENERGY_BANDS_HZ:
        add(
            "context",
            f"energy_{name}",
            "dB",
            f"Power {lo:g}-{hi:g} Hz over total power, floor -100",
        )
    add("context", "duration", "log10 s", "log10 of the duration in seconds (>= 0.01 s)")
    add("context", "silence_fraction", "ratio", "Share of frames below -70 dB mean square")
    for p in (5, 25, 50, 75, 95):
        add("context", f"frame_level_p{p}", "dB", f"{p}th percentile of frame level, -130..10")
    add("context", "frame_level_std", "dB", "Std of frame level")
    for p in (10, 50, 90):
        add("context", f"centroid_p{p}", "oct", f"{p}th percentile of log2(frame centroid / 1 kHz)")
    add("context", "centroid_iqr", "oct", "75th minus 25th percentile of log2 frame centroid")
    add("context", "sample_rate", "ratio", "Sample rate / 48 kHz")
    add("context", "channels", "count", "Number of channels")
    add("context", "loudness_minus_rms", "dB", "Integrated loudness minus RMS (0 for silence)")
    add("context", "short_term_headroom", "LU", "Maximum short-term minus integrated loudness")
    add(
        "context",
        "momentary_burst",
        "LU",
        "Maximum momentary minus maximum short-term loudness",
    )
    add("context", "section_level_range", "dB", "Loudest minus quietest eighth, 0-60")
    add("context", "clip_events", "log10", "log10(1 + clipping events)")
    return specs


FEATURE_SPECS: tuple[FeatureSpec, ...] = tuple(_specs())
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURE_SPECS)
GROUP_SIZES = {
    "spectral": 64,
    "dynamics": 32,
    "stereo": 16,
    "harmonic": 64,
    "transient": 32,
    "context": 176,
}


# ----- helpers -----


def _clamp(value: float, lo: float, hi: float) -> float:
    """value clamped to [lo, hi]; nan reads lo (never produced, but never let through)."""
    if math.isnan(value):
        return lo
    return min(max(value, lo), hi)


def _lufs(value: float) -> float:
    return _clamp(value, LUFS_FLOOR, 30.0)


def _db(value: float) -> float:
    return _clamp(value, DB_FLOOR, 30.0)


def _ratio_db(numerator: float, denominator: float) -> float:
    """10 log10(numerator / denominator) within [RATIO_DB_FLOOR, RATIO_DB_CEILING]."""
    if numerator <= 0.0:
        return RATIO_DB_FLOOR
    if denominator <= 0.0:
        return RATIO_DB_CEILING
    return _clamp(10.0 * math.log10(numerator / denominator), RATIO_DB_FLOOR, RATIO_DB_CEILING)


def _difference(a: float, b: float, lo: float, hi: float) -> float:
    """a - b clamped to [lo, hi]; 0 when either is infinite (silence)."""
    return _clamp(a - b, lo, hi) if math.isfinite(a) and math.isfinite(b) else 0.0


def _log2_khz(f_hz: float) -> float:
    return math.log2(max(f_hz, 20.0) / 1000.0)


def _histogram_stats(start: float, counts: Sequence[int]) -> tuple[float, float]:
    """(mean, std) of 1-wide bins from start, read at bin centres."""
    c = np.asarray(counts, dtype=np.float64)
    if c.sum() == 0:
        return 0.0, 0.0
    centres = start + 0.5 + np.arange(c.size)
    mean = float((c * centres).sum() / c.sum())
    return mean, float(math.sqrt((c * (centres - mean) ** 2).sum() / c.sum()))


def _rolloff_hz(freqs: FloatArray, psd: FloatArray, share: float) -> float:
    cumulative = np.cumsum(psd)
    if cumulative[-1] <= 0:
        return 0.0
    return float(freqs[int(np.searchsorted(cumulative, share * cumulative[-1]))])


def _key_correlations(chroma: FloatArray) -> tuple[float, float]:
    """(best major-key r, best minor-key r) of the chroma against the 12 rotations."""
    if chroma.std() == 0:
        return 0.0, 0.0
    best = []
    for profile in (MAJOR_PROFILE, MINOR_PROFILE):
        p = np.asarray(profile)
        best.append(max(float(np.corrcoef(chroma, np.roll(p, k))[0, 1]) for k in range(12)))
    return best[0], best[1]


# ----- the groups -----


def _spectral(inputs: FeatureInputs) -> dict[str, float]:
    deviation = inputs.spectrum.tonal_balance_deviation_per_band_db
    if len(deviation) != MEL_BANDS:
        deviation = [0.0] * MEL_BANDS
    return {
        f"spectral_mel{b:02d}_deviation": _clamp(v, -60.0, 60.0) for b, v in enumerate(deviation)
    }


def _dynamics(inputs: FeatureInputs) -> dict[str, float]:
    lo, pk, dyn, meter = inputs.loudness, inputs.peaks, inputs.dynamics, inputs.loudness_meter
    integrated = lo.integrated_lufs
    silent = not math.isfinite(integrated)
    percentiles = dict(meter.short_term_percentiles(SHORT_TERM_PERCENTILES))
    hist_start, hist = meter.short_term_histogram()
    _, st_std = _histogram_stats(hist_start, hist)
    counts = np.asarray(hist, dtype=np.float64)
    total = counts.sum()
    edges = hist_start + np.arange(counts.size)  # lower bin edges
    quiet = float(counts[edges + 1.0 <= integrated - 10.0].sum() / total) if total else 0.0
    loud = float(counts[edges >= integrated + 3.0].sum() / total) if total else 0.0
    probs = counts[counts > 0] / total if total else np.zeros(0)
    entropy = float(-(probs * np.log2(probs)).sum())
    channel_rms = [c.rms_dbfs for c in pk.channels if math.isfinite(c.rms_dbfs)]
    minutes = inputs.duration_s / 60.0
    samples = round(inputs.duration_s * _rate(inputs)) * len(pk.channels)
    rate = inputs.clipping.event_count / minutes if minutes > 0 else 0.0
    out = {
        "dynamics_integrated": _lufs(integrated),
        "dynamics_lra": _clamp(lo.loudness_range_lu, 0.0, 60.0),
        "dynamics_lra_low": _lufs(lo.loudness_range_low_lufs),
        "dynamics_lra_high": _lufs(lo.loudness_range_high_lufs),
        "dynamics_max_momentary": _lufs(lo.max_momentary_lufs),
        "dynamics_max_short_term": _lufs(lo.max_short_term_lufs),
        "dynamics_true_peak": _db(pk.true_peak_dbtp),
        "dynamics_sample_peak": _db(pk.sample_peak_dbfs),
        "dynamics_plr": 0.0 if silent else _clamp(dyn.plr_db, 0.0, 60.0),
        "dynamics_psr": 0.0
        if not math.isfinite(lo.max_short_term_lufs)
        else _clamp(pk.true_peak_dbtp - lo.max_short_term_lufs, 0.0, 60.0),
        "dynamics_crest": _clamp(dyn.crest_factor_db, 0.0, 60.0),
        "dynamics_rms": _db(_dynamics_rms(inputs)),
        "dynamics_momentary_range": _clamp(meter.momentary_dynamic_range_db(), 0.0, 60.0),
        "dynamics_short_term_iqr": 0.0,
        "dynamics_short_term_std": _clamp(st_std, 0.0, 60.0),
        "dynamics_quiet_fraction": quiet,
        "dynamics_loud_fraction": loud,
        "dynamics_short_term_entropy": entropy,
        "dynamics_gated_fraction": lo.gated_blocks / lo.gating_blocks if lo.gating_blocks else 0.0,
        "dynamics_lra_stable": 1.0 if lo.loudness_range_stable else 0.0,
        "dynamics_channel_crest_mean": _clamp(
            float(np.mean([c.crest_factor_db for c in pk.channels])) if pk.channels else 0.0,
            0.0,
            60.0,
        ),
        "dynamics_channel_rms_spread": _clamp(
            max(channel_rms) - min(channel_rms) if channel_rms else 0.0, 0.0, 60.0
        ),
        "dynamics_clip_rate": math.log10(1.0 + rate),
        "dynamics_clipped_per_mille": _clamp(
            1000.0 * inputs.clipping.clipped_samples / samples if samples else 0.0, 0.0, 1000.0
        ),
        "dynamics_dc_offset": _clamp(
            100.0 * max((abs(c.dc_offset) for c in pk.channels), default=0.0), 0.0, 100.0
        ),
    }
    for p in SHORT_TERM_PERCENTILES:
        value = percentiles.get(p, -math.inf)
        rel = value - integrated if math.isfinite(value) and not silent else 0.0
        out[f"dynamics_short_term_p{p:g}"] = _clamp(rel, -70.0, 30.0)
    p25, p75 = percentiles.get(25.0, -math.inf), percentiles.get(75.0, -math.inf)
    if math.isfinite(p25) and math.isfinite(p75):
        out["dynamics_short_term_iqr"] = _clamp(p75 - p25, 0.0, 60.0)
    return out


def _rate(inputs: FeatureInputs) -> float:
    return float(inputs.spectrum_analyzer.sample_rate_hz)


def _stereo(inputs: FeatureInputs, s: SpectrumStatistics) -> dict[str, float]:
    report, meter = inputs.stereo, inputs.stereo_meter
    names = [f"stereo_side_to_mid_{n}" for n in STEREO_BAND_NAMES]
    if report is None or meter is None or not report.is_stereo:
        out = {
            "stereo_is_stereo": 0.0,
            "stereo_correlation": 1.0,
            "stereo_correlation_p5": 1.0,
            "stereo_correlation_p50": 1.0,
            "stereo_correlation_p95": 1.0,
            "stereo_negative_fraction": 0.0,
            "stereo_width_db": RATIO_DB_FLOOR,
            "stereo_width": 0.0,
            "stereo_width_p10": RATIO_DB_FLOOR,
            "stereo_width_p90": RATIO_DB_FLOOR,
            "stereo_balance": 0.0,
            "stereo_mono_change": 0.0,
        }
        out.update({n: RATIO_DB_FLOOR for n in names})
        return out
    stats = meter.statistics()
    hist, width_hist = stats.window_correlation, stats.window_width_db
    side_to_mid = s.side_to_mid_db
    out = {
        "stereo_is_stereo": 1.0,
        "stereo_correlation": report.correlation,
        "stereo_correlation_p5": hist.percentile(5, report.correlation),
        "stereo_correlation_p50": hist.percentile(50, report.correlation),
        "stereo_correlation_p95": hist.percentile(95, report.correlation),
        "stereo_negative_fraction": hist.fraction_below(0.0),
        "stereo_width_db": _clamp(report.width_db, RATIO_DB_FLOOR, RATIO_DB_CEILING),
        "stereo_width": report.width,
        "stereo_width_p10": width_hist.percentile(10, RATIO_DB_FLOOR),
        "stereo_width_p90": width_hist.percentile(90, RATIO_DB_FLOOR),
        "stereo_balance": _clamp(report.balance_db, -30.0, 30.0),
        "stereo_mono_change": _clamp(report.mono_loudness_change_db, -30.0, 30.0),
    }
    values = side_to_mid if side_to_mid is not None else np.full(len(names), RATIO_DB_FLOOR)
    for name, value in zip(names, values, strict=True):
        out[name] = _clamp(float(value), RATIO_DB_FLOOR, RATIO_DB_CEILING)
    return out


def _by_octave(prefix: str, values: FloatArray, centres: FloatArray) -> dict[str, float]:
    """One value per nominal octave band; bands at or above Nyquist read 0."""
    out = {f"{prefix}_{name}": 0.0 for name in OCTAVE_NAMES}
    for fc, value in zip(centres, values, strict=False):
        out[f"{prefix}_{OCTAVE_NAMES[OCTAVE_CENTRES_HZ.index(float(fc))]}"] = float(value)
    return out


def _harmonic(inputs: FeatureInputs, s: SpectrumStatistics) -> dict[str, float]:
    chroma = s.chroma_mean
    out = {
        f"harmonic_chroma_{pc}": 12.0 * float(v)
        for pc, v in zip(PITCH_CLASSES, chroma, strict=True)
    }
    out.update(
        {
            f"harmonic_chroma_std_{pc}": 12.0 * float(v)
            for pc, v in zip(PITCH_CLASSES, s.chroma_std, strict=True)
        }
    )
    out["harmonic_chroma_peak"] = 12.0 * float(chroma.max())
    out["harmonic_chroma_entropy"] = s.chroma_entropy_bits
    n_oct = s.octave_centres_hz.size
    centres = s.octave_centres_hz
    out.update(_by_octave("harmonic_flatness", s.flatness_mean_db[:n_oct], centres))
    out.update(_by_octave("harmonic_contrast", s.contrast_mean_db[:n_oct], centres))
    out["harmonic_flatness_full"] = float(s.flatness_mean_db[-1])
    out["harmonic_contrast_full"] = float(s.contrast_mean_db[-1])
    out["harmonic_flatness_full_std"] = float(s.flatness_std_db[-1])
    out["harmonic_contrast_full_std"] = float(s.contrast_std_db[-1])
    spectrum = inputs.spectrum
    silent = float(s.psd.sum()) <= 0.0
    out["harmonic_centroid"] = 0.0 if silent else _log2_khz(spectrum.centroid_hz)
    out["harmonic_centroid_mean"] = s.centroid_log2_khz.mean()
    out["harmonic_centroid_std"] = s.centroid_log2_khz.std()
    out["harmonic_spread"] = s.spread_khz
    out["harmonic_rolloff85"] = 0.0 if silent else _log2_khz(_rolloff_hz(s.freqs_hz, s.psd, 0.85))
    out["harmonic_rolloff95"] = 0.0 if silent else _log2_khz(_rolloff_hz(s.freqs_hz, s.psd, 0.95))
    mel = s.mel_db
    loud_bands = np.flatnonzero(mel >= mel.max() - 60.0)
    out["harmonic_bandwidth"] = 0.0 if silent else _log2_khz(float(s.mel_center_hz[loud_bands[-1]]))
    out["harmonic_tilt"] = _clamp(spectrum.tilt_db_per_octave, -30.0, 30.0)
    out["harmonic_tonal_deviation"] = _clamp(spectrum.tonal_balance_deviation_db, 0.0, 60.0)
    major, minor = _key_correlations(chroma)
    out["harmonic_key_clarity"] = max(major, minor)
    out["harmonic_key_mode"] = major - minor
    resonance_max, resonance_hz, roughness = _resonance(s) if not silent else (0.0, 1000.0, 0.0)
    out["harmonic_resonance_max"] = resonance_max
    out["harmonic_resonance_freq"] = _log2_khz(resonance_hz)
    out["harmonic_roughness"] = roughness
    return out


def _resonance(s: SpectrumStatistics) -> tuple[float, float, float]:
    """Largest excess of a mel band over the mean of its +-3 neighbours (40 Hz - 16 kHz),
    its centre frequency, and the RMS of the excess: narrow peaks a mastering EQ would tame."""
    mel = s.mel_db
    k = RESONANCE_HALF_WIDTH
    padded = np.pad(mel, k, mode="edge")
    neighbours = (np.convolve(padded, np.ones(2 * k + 1), mode="valid") - mel) / (2 * k)
    excess = mel - neighbours
    use = (s.mel_center_hz >= 40.0) & (s.mel_center_hz <= 16_000.0)
    excess = excess[use]
    b = int(np.argmax(excess))
    return (
        _clamp(float(excess[b]), -60.0, 60.0),
        float(s.mel_center_hz[use][b]),
        _clamp(float(np.sqrt(np.mean(excess**2))), 0.0, 60.0),
    )


def _transient(inputs: FeatureInputs, s: SpectrumStatistics) -> dict[str, float]:
    flux, change = s.flux, s.level_change_db
    active_s = s.active_frames / s.frame_rate_hz
    out = {
        "transient_flux_mean": flux.mean(),
        "transient_flux_std": flux.std(),
        "transient_flux_p50": flux.percentile(50),
        "transient_flux_p90": flux.percentile(90),
        "transient_flux_p99": flux.percentile(99),
        "transient_flux_max": flux.max if flux.count else 0.0,
        "transient_onset_rate": s.onsets / active_s if active_s > 0 else 0.0,
        "transient_flux_peakiness": flux.percentile(99) - flux.percentile(50),
        "transient_level_change_p1": change.percentile(1),
        "transient_level_change_p5": change.percentile(5),
        "transient_level_change_p95": change.percentile(95),
        "transient_level_change_p99": change.percentile(99),
        "transient_level_change_std": change.std(),
        "transient_attack_asymmetry": change.percentile(99) + change.percentile(1),
    }
    out.update(_by_octave("transient_crest", s.octave_crest_db, s.octave_centres_hz))
    groups = s.mel_flux_db.reshape(FLUX_GROUPS, -1).mean(axis=1)
    out.update({f"transient_band_flux_{g}": float(v) for g, v in enumerate(groups)})
    return {k: _clamp(v, -60.0, 60.0) for k, v in out.items()}


def _context(inputs: FeatureInputs, s: SpectrumStatistics) -> dict[str, float]:
    out = {f"context_mel{b:02d}_std": float(v) for b, v in enumerate(s.mel_std_db)}
    out.update(
        {f"context_mel{b:02d}_modulation": float(v) for b, v in enumerate(s.mel_modulation_db)}
    )
    frames, energy, energy_f, flux = s.sections.T
    total_frames, total_energy = frames.sum(), energy.sum()
    overall_level = total_energy / total_frames if total_frames else 0.0
    overall_centroid = energy_f.sum() / total_energy if total_energy > 0 else 0.0
    overall_flux = s.flux.mean()
    levels = []
    for i in range(len(frames)):
        level = 0.0
        brightness = 0.0
        section_flux = 0.0
        if frames[i] > 0 and energy[i] > 0 and overall_level > 0:
            level = _clamp(10.0 * math.log10(energy[i] / frames[i] / overall_level), -60.0, 60.0)
            if overall_centroid > 0 and energy_f[i] > 0:
                brightness = math.log2(energy_f[i] / energy[i] / overall_centroid)
        if frames[i] > 0:
            section_flux = flux[i] / frames[i] - overall_flux
            levels.append(level)
        out[f"context_section{i}_level"] = level
        out[f"context_section{i}_brightness"] = _clamp(brightness, -10.0, 10.0)
        out[f"context_section{i}_flux"] = _clamp(section_flux, -40.0, 40.0)
    total_power = float(s.psd.sum())
    for name, lo, hi in ENERGY_BANDS_HZ:
        out[f"context_energy_{name}"] = _clamp(
            10.0 * math.log10(s.band_power(lo, hi) / s.band_power(0.0, s.freqs_hz[-1]))
            if total_power > 0 and s.band_power(lo, hi) > 0
            else -100.0,
            -100.0,
            0.0,
        )
    frame_level = s.level_db
    out["context_duration"] = math.log10(max(inputs.duration_s, 0.01))
    out["context_silence_fraction"] = 1.0 - s.active_frames / s.frames if s.frames else 1.0
    for p in (5, 25, 50, 75, 95):
        out[f"context_frame_level_p{p}"] = frame_level.percentile(p, -130.0)
    out["context_frame_level_std"] = frame_level.std()
    centroid = s.centroid_log2_khz
    for p in (10, 50, 90):
        out[f"context_centroid_p{p}"] = centroid.percentile(p)
    out["context_centroid_iqr"] = centroid.percentile(75) - centroid.percentile(25)
    out["context_sample_rate"] = _rate(inputs) / 48_000.0
    out["context_channels"] = float(len(inputs.peaks.channels))
    loudness = inputs.loudness
    out["context_loudness_minus_rms"] = _difference(
        loudness.integrated_lufs, _dynamics_rms(inputs), -30.0, 30.0
    )
    out["context_short_term_headroom"] = _difference(
        loudness.max_short_term_lufs, loudness.integrated_lufs, 0.0, 60.0
    )
    out["context_momentary_burst"] = _difference(
        loudness.max_momentary_lufs, loudness.max_short_term_lufs, -30.0, 30.0
    )
    out["context_section_level_range"] = (
        _clamp(max(levels) - min(levels), 0.0, 60.0) if levels else 0.0
    )
    out["context_clip_events"] = math.log10(1.0 + inputs.clipping.event_count)
    return out


def _dynamics_rms(inputs: FeatureInputs) -> float:
    powers = [10 ** (c.rms_dbfs / 10) for c in inputs.peaks.channels if math.isfinite(c.rms_dbfs)]
    if not powers:
        return -math.inf
    return 10.0 * math.log10(sum(powers) / len(inputs.peaks.channels))


# ----- the vector -----


def build_feature_vector(inputs: FeatureInputs) -> list[float]:
    """The 384 features in FEATURE_NAMES order (finite floats)."""
    stats = inputs.spectrum_analyzer.statistics()
    groups: list[Callable[[], dict[str, float]]] = [
        lambda: _spectral(inputs),
        lambda: _dynamics(inputs),
        lambda: _stereo(inputs, stats),
        lambda: _harmonic(inputs, stats),
        lambda: _transient(inputs, stats),
        lambda: _context(inputs, stats),
    ]
    values: dict[str, float] = {}
    for group in groups:
        values.update(group())
    extra = set(values) - set(FEATURE_NAMES)
    if extra:
        raise AssertionError(f"features computed but not in the layout: {sorted(extra)}")
    vector = [float(values[name]) for name in FEATURE_NAMES]
    # + 0.0 turns -0.0 into 0.0, so equal analyses give identical vectors.
    return [v + 0.0 if math.isfinite(v) else 0.0 for v in vector]


# ----- documentation -----


def feature_table_markdown() -> str:
    """The feature table of docs/features.md (between its features:begin/end markers)."""
    lines = [
        "| index | name | group | unit | definition |",
        "|---:|---|---|---|---|",
    ]
    for i, spec in enumerate(FEATURE_SPECS):
        if "|" in spec.definition + spec.unit:
            raise ValueError(f"{spec.name}: a '|' would break the table")
        lines.append(f"| {i} | `{spec.name}` | {spec.group} | {spec.unit} | {spec.definition} |")
    return "\n".join(lines) + "\n"
