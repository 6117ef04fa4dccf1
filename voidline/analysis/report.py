"""The analysis report as plain dataclasses (the API's AnalysisReport, without protobuf).

Loudness values are LUFS, levels dBFS / dBTP, ranges LU or dB. Silence reads -inf.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voidline.audio.format import ChannelRole

NEG_INF = float("-inf")


@dataclass
class LiveLoudness:
    """The meter at one point of the stream (interim results)."""

    stream_time_s: float
    momentary_lufs: float
    momentary_ready: bool
    short_term_lufs: float
    short_term_ready: bool
    integrated_lufs: float
    max_momentary_lufs: float
    max_short_term_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float


@dataclass
class LoudnessReport:
    integrated_lufs: float = NEG_INF
    loudness_range_lu: float = 0.0
    loudness_range_low_lufs: float = NEG_INF
    loudness_range_high_lufs: float = NEG_INF
    loudness_range_stable: bool = False
    max_momentary_lufs: float = NEG_INF
    max_short_term_lufs: float = NEG_INF
    relative_gate_lufs: float = NEG_INF
    gating_blocks: int = 0
    gated_blocks: int = 0


@dataclass
class ChannelPeak:
    true_peak_dbtp: float = NEG_INF
    sample_peak_dbfs: float = NEG_INF
    dc_offset: float = 0.0
    crest_factor_db: float = 0.0
    rms_dbfs: float = NEG_INF


@dataclass
class PeakReport:
    true_peak_dbtp: float = NEG_INF
    sample_peak_dbfs: float = NEG_INF
    oversampling_factor: int = 4
    channels: list[ChannelPeak] = field(default_factory=list)


@dataclass
class DynamicsReport:
    plr_db: float = 0.0
    crest_factor_db: float = 0.0
    dynamic_range_db: float = 0.0
    # (percentile, value) pairs, percentile in 0-100.
    short_term_percentiles: list[tuple[float, float]] = field(default_factory=list)
    short_term_histogram_start_lufs: float = -70.0
    short_term_histogram: list[int] = field(default_factory=list)


@dataclass
class StereoReport:
    is_stereo: bool = False
    correlation: float = 0.0
    correlation_percentiles: list[tuple[float, float]] = field(default_factory=list)
    width_db: float = NEG_INF
    width: float = 0.0
    balance_db: float = 0.0
    mono_loudness_change_db: float = 0.0


@dataclass
class ClippingEvent:
    channel: int
    start_s: float
    samples: int


@dataclass
class ClippingReport:
    run_samples: int = 3
    event_count: int = 0
    clipped_samples: int = 0
    events: list[ClippingEvent] = field(default_factory=list)


@dataclass
class SpectrumReport:
    mel_band_db: list[float] = field(default_factory=list)
    mel_band_center_hz: list[float] = field(default_factory=list)
    centroid_hz: float = 0.0
    tilt_db_per_octave: float = 0.0
    tonal_balance_deviation_db: float = 0.0
    tonal_balance_deviation_per_band_db: list[float] = field(default_factory=list)


@dataclass
class SubScore:
    name: str
    score: float
    weight: float
    detail: str


@dataclass
class ScoreReport:
    voidline_score: float = 0.0
    target_lufs: float = -14.0
    sub_scores: list[SubScore] = field(default_factory=list)


@dataclass
class AnalysisReport:
    duration_s: float
    sample_rate_hz: int
    channels: int
    channel_roles: tuple[ChannelRole, ...]
    loudness: LoudnessReport
    peaks: PeakReport
    dynamics: DynamicsReport
    stereo: StereoReport
    clipping: ClippingReport
    spectrum: SpectrumReport
    score: ScoreReport
    features: list[float]
    feature_layout_version: str
