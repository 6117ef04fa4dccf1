from voidline.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TruePeakMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRUE_PEAK_MODE_UNSPECIFIED: _ClassVar[TruePeakMode]
    TRUE_PEAK_MODE_STANDARD: _ClassVar[TruePeakMode]
    TRUE_PEAK_MODE_HIGH_PRECISION: _ClassVar[TruePeakMode]
TRUE_PEAK_MODE_UNSPECIFIED: TruePeakMode
TRUE_PEAK_MODE_STANDARD: TruePeakMode
TRUE_PEAK_MODE_HIGH_PRECISION: TruePeakMode

class AnalysisOptions(_message.Message):
    __slots__ = ("target_lufs", "clip_run_samples", "true_peak_mode")
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    CLIP_RUN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_MODE_FIELD_NUMBER: _ClassVar[int]
    target_lufs: float
    clip_run_samples: int
    true_peak_mode: TruePeakMode
    def __init__(self, target_lufs: _Optional[float] = ..., clip_run_samples: _Optional[int] = ..., true_peak_mode: _Optional[_Union[TruePeakMode, str]] = ...) -> None: ...

class AnalysisConfig(_message.Message):
    __slots__ = ("format", "interim_results", "interim_interval_s", "options")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    INTERIM_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    format: _audio_pb2.AudioFormat
    interim_results: bool
    interim_interval_s: float
    options: AnalysisOptions
    def __init__(self, format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., interim_results: _Optional[bool] = ..., interim_interval_s: _Optional[float] = ..., options: _Optional[_Union[AnalysisOptions, _Mapping]] = ...) -> None: ...

class StreamAnalyzeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: AnalysisConfig
    audio: _audio_pb2.AudioChunk
    def __init__(self, config: _Optional[_Union[AnalysisConfig, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class StreamAnalyzeResponse(_message.Message):
    __slots__ = ("is_final", "progress", "interim", "report")
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INTERIM_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    is_final: bool
    progress: _audio_pb2.StreamProgress
    interim: LiveLoudness
    report: AnalysisReport
    def __init__(self, is_final: _Optional[bool] = ..., progress: _Optional[_Union[_audio_pb2.StreamProgress, _Mapping]] = ..., interim: _Optional[_Union[LiveLoudness, _Mapping]] = ..., report: _Optional[_Union[AnalysisReport, _Mapping]] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("config", "data")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    config: AnalysisConfig
    data: bytes
    def __init__(self, config: _Optional[_Union[AnalysisConfig, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: AnalysisReport
    def __init__(self, report: _Optional[_Union[AnalysisReport, _Mapping]] = ...) -> None: ...

class LiveLoudness(_message.Message):
    __slots__ = ("stream_time_s", "momentary_lufs", "momentary_ready", "short_term_lufs", "short_term_ready", "integrated_lufs", "max_momentary_lufs", "max_short_term_lufs", "loudness_range_lu", "true_peak_dbtp", "sample_peak_dbfs")
    STREAM_TIME_S_FIELD_NUMBER: _ClassVar[int]
    MOMENTARY_LUFS_FIELD_NUMBER: _ClassVar[int]
    MOMENTARY_READY_FIELD_NUMBER: _ClassVar[int]
    SHORT_TERM_LUFS_FIELD_NUMBER: _ClassVar[int]
    SHORT_TERM_READY_FIELD_NUMBER: _ClassVar[int]
    INTEGRATED_LUFS_FIELD_NUMBER: _ClassVar[int]
    MAX_MOMENTARY_LUFS_FIELD_NUMBER: _ClassVar[int]
    MAX_SHORT_TERM_LUFS_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_LU_FIELD_NUMBER: _ClassVar[int]
    TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PEAK_DBFS_FIELD_NUMBER: _ClassVar[int]
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
    def __init__(self, stream_time_s: _Optional[float] = ..., momentary_lufs: _Optional[float] = ..., momentary_ready: _Optional[bool] = ..., short_term_lufs: _Optional[float] = ..., short_term_ready: _Optional[bool] = ..., integrated_lufs: _Optional[float] = ..., max_momentary_lufs: _Optional[float] = ..., max_short_term_lufs: _Optional[float] = ..., loudness_range_lu: _Optional[float] = ..., true_peak_dbtp: _Optional[float] = ..., sample_peak_dbfs: _Optional[float] = ...) -> None: ...

class LoudnessReport(_message.Message):
    __slots__ = ("integrated_lufs", "loudness_range_lu", "loudness_range_low_lufs", "loudness_range_high_lufs", "loudness_range_stable", "max_momentary_lufs", "max_short_term_lufs", "relative_gate_lufs", "gating_blocks", "gated_blocks")
    INTEGRATED_LUFS_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_LU_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_LOW_LUFS_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_HIGH_LUFS_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_RANGE_STABLE_FIELD_NUMBER: _ClassVar[int]
    MAX_MOMENTARY_LUFS_FIELD_NUMBER: _ClassVar[int]
    MAX_SHORT_TERM_LUFS_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_GATE_LUFS_FIELD_NUMBER: _ClassVar[int]
    GATING_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    GATED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    integrated_lufs: float
    loudness_range_lu: float
    loudness_range_low_lufs: float
    loudness_range_high_lufs: float
    loudness_range_stable: bool
    max_momentary_lufs: float
    max_short_term_lufs: float
    relative_gate_lufs: float
    gating_blocks: int
    gated_blocks: int
    def __init__(self, integrated_lufs: _Optional[float] = ..., loudness_range_lu: _Optional[float] = ..., loudness_range_low_lufs: _Optional[float] = ..., loudness_range_high_lufs: _Optional[float] = ..., loudness_range_stable: _Optional[bool] = ..., max_momentary_lufs: _Optional[float] = ..., max_short_term_lufs: _Optional[float] = ..., relative_gate_lufs: _Optional[float] = ..., gating_blocks: _Optional[int] = ..., gated_blocks: _Optional[int] = ...) -> None: ...

class ChannelPeak(_message.Message):
    __slots__ = ("true_peak_dbtp", "sample_peak_dbfs", "dc_offset", "crest_factor_db", "rms_dbfs")
    TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PEAK_DBFS_FIELD_NUMBER: _ClassVar[int]
    DC_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CREST_FACTOR_DB_FIELD_NUMBER: _ClassVar[int]
    RMS_DBFS_FIELD_NUMBER: _ClassVar[int]
    true_peak_dbtp: float
    sample_peak_dbfs: float
    dc_offset: float
    crest_factor_db: float
    rms_dbfs: float
    def __init__(self, true_peak_dbtp: _Optional[float] = ..., sample_peak_dbfs: _Optional[float] = ..., dc_offset: _Optional[float] = ..., crest_factor_db: _Optional[float] = ..., rms_dbfs: _Optional[float] = ...) -> None: ...

class PeakReport(_message.Message):
    __slots__ = ("true_peak_dbtp", "sample_peak_dbfs", "oversampling_factor", "channels")
    TRUE_PEAK_DBTP_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PEAK_DBFS_FIELD_NUMBER: _ClassVar[int]
    OVERSAMPLING_FACTOR_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    true_peak_dbtp: float
    sample_peak_dbfs: float
    oversampling_factor: int
    channels: _containers.RepeatedCompositeFieldContainer[ChannelPeak]
    def __init__(self, true_peak_dbtp: _Optional[float] = ..., sample_peak_dbfs: _Optional[float] = ..., oversampling_factor: _Optional[int] = ..., channels: _Optional[_Iterable[_Union[ChannelPeak, _Mapping]]] = ...) -> None: ...

class Percentile(_message.Message):
    __slots__ = ("percentile", "value")
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    percentile: float
    value: float
    def __init__(self, percentile: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class DynamicsReport(_message.Message):
    __slots__ = ("plr_db", "crest_factor_db", "dynamic_range_db", "short_term_percentiles", "short_term_histogram_start_lufs", "short_term_histogram")
    PLR_DB_FIELD_NUMBER: _ClassVar[int]
    CREST_FACTOR_DB_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_RANGE_DB_FIELD_NUMBER: _ClassVar[int]
    SHORT_TERM_PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    SHORT_TERM_HISTOGRAM_START_LUFS_FIELD_NUMBER: _ClassVar[int]
    SHORT_TERM_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    plr_db: float
    crest_factor_db: float
    dynamic_range_db: float
    short_term_percentiles: _containers.RepeatedCompositeFieldContainer[Percentile]
    short_term_histogram_start_lufs: float
    short_term_histogram: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, plr_db: _Optional[float] = ..., crest_factor_db: _Optional[float] = ..., dynamic_range_db: _Optional[float] = ..., short_term_percentiles: _Optional[_Iterable[_Union[Percentile, _Mapping]]] = ..., short_term_histogram_start_lufs: _Optional[float] = ..., short_term_histogram: _Optional[_Iterable[int]] = ...) -> None: ...

class StereoReport(_message.Message):
    __slots__ = ("is_stereo", "correlation", "correlation_percentiles", "width_db", "width", "balance_db", "mono_loudness_change_db")
    IS_STEREO_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_DB_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    BALANCE_DB_FIELD_NUMBER: _ClassVar[int]
    MONO_LOUDNESS_CHANGE_DB_FIELD_NUMBER: _ClassVar[int]
    is_stereo: bool
    correlation: float
    correlation_percentiles: _containers.RepeatedCompositeFieldContainer[Percentile]
    width_db: float
    width: float
    balance_db: float
    mono_loudness_change_db: float
    def __init__(self, is_stereo: _Optional[bool] = ..., correlation: _Optional[float] = ..., correlation_percentiles: _Optional[_Iterable[_Union[Percentile, _Mapping]]] = ..., width_db: _Optional[float] = ..., width: _Optional[float] = ..., balance_db: _Optional[float] = ..., mono_loudness_change_db: _Optional[float] = ...) -> None: ...

class ClippingEvent(_message.Message):
    __slots__ = ("channel", "start_s", "samples")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    channel: int
    start_s: float
    samples: int
    def __init__(self, channel: _Optional[int] = ..., start_s: _Optional[float] = ..., samples: _Optional[int] = ...) -> None: ...

class ClippingReport(_message.Message):
    __slots__ = ("run_samples", "event_count", "clipped_samples", "events")
    RUN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CLIPPED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    run_samples: int
    event_count: int
    clipped_samples: int
    events: _containers.RepeatedCompositeFieldContainer[ClippingEvent]
    def __init__(self, run_samples: _Optional[int] = ..., event_count: _Optional[int] = ..., clipped_samples: _Optional[int] = ..., events: _Optional[_Iterable[_Union[ClippingEvent, _Mapping]]] = ...) -> None: ...

class SpectrumReport(_message.Message):
    __slots__ = ("mel_band_db", "mel_band_center_hz", "centroid_hz", "tilt_db_per_octave", "tonal_balance_deviation_db", "tonal_balance_deviation_per_band_db")
    MEL_BAND_DB_FIELD_NUMBER: _ClassVar[int]
    MEL_BAND_CENTER_HZ_FIELD_NUMBER: _ClassVar[int]
    CENTROID_HZ_FIELD_NUMBER: _ClassVar[int]
    TILT_DB_PER_OCTAVE_FIELD_NUMBER: _ClassVar[int]
    TONAL_BALANCE_DEVIATION_DB_FIELD_NUMBER: _ClassVar[int]
    TONAL_BALANCE_DEVIATION_PER_BAND_DB_FIELD_NUMBER: _ClassVar[int]
    mel_band_db: _containers.RepeatedScalarFieldContainer[float]
    mel_band_center_hz: _containers.RepeatedScalarFieldContainer[float]
    centroid_hz: float
    tilt_db_per_octave: float
    tonal_balance_deviation_db: float
    tonal_balance_deviation_per_band_db: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, mel_band_db: _Optional[_Iterable[float]] = ..., mel_band_center_hz: _Optional[_Iterable[float]] = ..., centroid_hz: _Optional[float] = ..., tilt_db_per_octave: _Optional[float] = ..., tonal_balance_deviation_db: _Optional[float] = ..., tonal_balance_deviation_per_band_db: _Optional[_Iterable[float]] = ...) -> None: ...

class SubScore(_message.Message):
    __slots__ = ("name", "score", "weight", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    score: float
    weight: float
    detail: str
    def __init__(self, name: _Optional[str] = ..., score: _Optional[float] = ..., weight: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class ScoreReport(_message.Message):
    __slots__ = ("voidline_score", "target_lufs", "sub_scores")
    VOIDLINE_SCORE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    SUB_SCORES_FIELD_NUMBER: _ClassVar[int]
    voidline_score: float
    target_lufs: float
    sub_scores: _containers.RepeatedCompositeFieldContainer[SubScore]
    def __init__(self, voidline_score: _Optional[float] = ..., target_lufs: _Optional[float] = ..., sub_scores: _Optional[_Iterable[_Union[SubScore, _Mapping]]] = ...) -> None: ...

class AnalysisReport(_message.Message):
    __slots__ = ("duration_s", "sample_rate_hz", "channels", "channel_roles", "loudness", "peaks", "dynamics", "stereo", "clipping", "spectrum", "score", "features", "feature_layout_version")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ROLES_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_FIELD_NUMBER: _ClassVar[int]
    PEAKS_FIELD_NUMBER: _ClassVar[int]
    DYNAMICS_FIELD_NUMBER: _ClassVar[int]
    STEREO_FIELD_NUMBER: _ClassVar[int]
    CLIPPING_FIELD_NUMBER: _ClassVar[int]
    SPECTRUM_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_LAYOUT_VERSION_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    sample_rate_hz: int
    channels: int
    channel_roles: _containers.RepeatedScalarFieldContainer[_audio_pb2.ChannelRole]
    loudness: LoudnessReport
    peaks: PeakReport
    dynamics: DynamicsReport
    stereo: StereoReport
    clipping: ClippingReport
    spectrum: SpectrumReport
    score: ScoreReport
    features: _containers.RepeatedScalarFieldContainer[float]
    feature_layout_version: str
    def __init__(self, duration_s: _Optional[float] = ..., sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ..., channel_roles: _Optional[_Iterable[_Union[_audio_pb2.ChannelRole, str]]] = ..., loudness: _Optional[_Union[LoudnessReport, _Mapping]] = ..., peaks: _Optional[_Union[PeakReport, _Mapping]] = ..., dynamics: _Optional[_Union[DynamicsReport, _Mapping]] = ..., stereo: _Optional[_Union[StereoReport, _Mapping]] = ..., clipping: _Optional[_Union[ClippingReport, _Mapping]] = ..., spectrum: _Optional[_Union[SpectrumReport, _Mapping]] = ..., score: _Optional[_Union[ScoreReport, _Mapping]] = ..., features: _Optional[_Iterable[float]] = ..., feature_layout_version: _Optional[str] = ...) -> None: ...
