from voidline.v1 import analysis_pb2 as _analysis_pb2
from voidline.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_WAV16: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_WAV24: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_F32: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_FLAC16: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_FLAC24: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_MP3: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_OGG: _ClassVar[OutputFormat]

class MasteringStyle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASTERING_STYLE_UNSPECIFIED: _ClassVar[MasteringStyle]
    MASTERING_STYLE_BALANCED: _ClassVar[MasteringStyle]
    MASTERING_STYLE_WARM: _ClassVar[MasteringStyle]
    MASTERING_STYLE_BRIGHT: _ClassVar[MasteringStyle]
    MASTERING_STYLE_PUNCHY: _ClassVar[MasteringStyle]
    MASTERING_STYLE_OPEN: _ClassVar[MasteringStyle]

class ModelPrecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_PRECISION_UNSPECIFIED: _ClassVar[ModelPrecision]
    MODEL_PRECISION_INT8: _ClassVar[ModelPrecision]
    MODEL_PRECISION_FP32: _ClassVar[ModelPrecision]
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_WAV16: OutputFormat
OUTPUT_FORMAT_WAV24: OutputFormat
OUTPUT_FORMAT_F32: OutputFormat
OUTPUT_FORMAT_FLAC16: OutputFormat
OUTPUT_FORMAT_FLAC24: OutputFormat
OUTPUT_FORMAT_MP3: OutputFormat
OUTPUT_FORMAT_OGG: OutputFormat
MASTERING_STYLE_UNSPECIFIED: MasteringStyle
MASTERING_STYLE_BALANCED: MasteringStyle
MASTERING_STYLE_WARM: MasteringStyle
MASTERING_STYLE_BRIGHT: MasteringStyle
MASTERING_STYLE_PUNCHY: MasteringStyle
MASTERING_STYLE_OPEN: MasteringStyle
MODEL_PRECISION_UNSPECIFIED: ModelPrecision
MODEL_PRECISION_INT8: ModelPrecision
MODEL_PRECISION_FP32: ModelPrecision

class ReferenceConfig(_message.Message):
    __slots__ = ("reference_id", "data", "amount")
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    reference_id: str
    data: bytes
    amount: float
    def __init__(self, reference_id: _Optional[str] = ..., data: _Optional[bytes] = ..., amount: _Optional[float] = ...) -> None: ...

class MasterConfig(_message.Message):
    __slots__ = ("format", "target_name", "target_lufs", "ceiling_dbtp", "intensity", "style", "output_format", "reference", "precision", "skip_cache")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TARGET_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    CEILING_DBTP_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    SKIP_CACHE_FIELD_NUMBER: _ClassVar[int]
    format: _audio_pb2.AudioFormat
    target_name: str
    target_lufs: float
    ceiling_dbtp: float
    intensity: float
    style: MasteringStyle
    output_format: OutputFormat
    reference: ReferenceConfig
    precision: ModelPrecision
    skip_cache: bool
    def __init__(self, format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., target_name: _Optional[str] = ..., target_lufs: _Optional[float] = ..., ceiling_dbtp: _Optional[float] = ..., intensity: _Optional[float] = ..., style: _Optional[_Union[MasteringStyle, str]] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., reference: _Optional[_Union[ReferenceConfig, _Mapping]] = ..., precision: _Optional[_Union[ModelPrecision, str]] = ..., skip_cache: _Optional[bool] = ...) -> None: ...

class MasterRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: MasterConfig
    audio: _audio_pb2.AudioChunk
    def __init__(self, config: _Optional[_Union[MasterConfig, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class MasteringProgress(_message.Message):
    __slots__ = ("stage", "fraction", "stream")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stage: str
    fraction: float
    stream: _audio_pb2.StreamProgress
    def __init__(self, stage: _Optional[str] = ..., fraction: _Optional[float] = ..., stream: _Optional[_Union[_audio_pb2.StreamProgress, _Mapping]] = ...) -> None: ...

class AppliedParameter(_message.Message):
    __slots__ = ("name", "value", "unit", "predicted")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    unit: str
    predicted: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., unit: _Optional[str] = ..., predicted: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("version", "sha256", "precision")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    version: str
    sha256: str
    precision: ModelPrecision
    def __init__(self, version: _Optional[str] = ..., sha256: _Optional[str] = ..., precision: _Optional[_Union[ModelPrecision, str]] = ...) -> None: ...

class ReferenceReport(_message.Message):
    __slots__ = ("reference_id", "amount", "reference_lufs", "max_boost_db", "max_cut_db")
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_LUFS_FIELD_NUMBER: _ClassVar[int]
    MAX_BOOST_DB_FIELD_NUMBER: _ClassVar[int]
    MAX_CUT_DB_FIELD_NUMBER: _ClassVar[int]
    reference_id: str
    amount: float
    reference_lufs: float
    max_boost_db: float
    max_cut_db: float
    def __init__(self, reference_id: _Optional[str] = ..., amount: _Optional[float] = ..., reference_lufs: _Optional[float] = ..., max_boost_db: _Optional[float] = ..., max_cut_db: _Optional[float] = ...) -> None: ...

class MasterReport(_message.Message):
    __slots__ = ("job_id", "target_name", "target_lufs", "ceiling_dbtp", "intensity", "style", "input", "output", "parameters", "model", "ab_gain_db", "processing_s", "cached", "output_format", "mime_type", "output_bytes", "reference", "excerpt_start_s", "excerpt_duration_s", "notes")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_LUFS_FIELD_NUMBER: _ClassVar[int]
    CEILING_DBTP_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    AB_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_S_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_START_S_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    target_name: str
    target_lufs: float
    ceiling_dbtp: float
    intensity: float
    style: MasteringStyle
    input: _analysis_pb2.AnalysisReport
    output: _analysis_pb2.AnalysisReport
    parameters: _containers.RepeatedCompositeFieldContainer[AppliedParameter]
    model: ModelInfo
    ab_gain_db: float
    processing_s: float
    cached: bool
    output_format: OutputFormat
    mime_type: str
    output_bytes: int
    reference: ReferenceReport
    excerpt_start_s: float
    excerpt_duration_s: float
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., target_name: _Optional[str] = ..., target_lufs: _Optional[float] = ..., ceiling_dbtp: _Optional[float] = ..., intensity: _Optional[float] = ..., style: _Optional[_Union[MasteringStyle, str]] = ..., input: _Optional[_Union[_analysis_pb2.AnalysisReport, _Mapping]] = ..., output: _Optional[_Union[_analysis_pb2.AnalysisReport, _Mapping]] = ..., parameters: _Optional[_Iterable[_Union[AppliedParameter, _Mapping]]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., ab_gain_db: _Optional[float] = ..., processing_s: _Optional[float] = ..., cached: _Optional[bool] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., mime_type: _Optional[str] = ..., output_bytes: _Optional[int] = ..., reference: _Optional[_Union[ReferenceReport, _Mapping]] = ..., excerpt_start_s: _Optional[float] = ..., excerpt_duration_s: _Optional[float] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class MasterResponse(_message.Message):
    __slots__ = ("progress", "audio", "report")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    progress: MasteringProgress
    audio: _audio_pb2.AudioChunk
    report: MasterReport
    def __init__(self, progress: _Optional[_Union[MasteringProgress, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., report: _Optional[_Union[MasterReport, _Mapping]] = ...) -> None: ...

class PreviewConfig(_message.Message):
    __slots__ = ("master", "start_s", "duration_s")
    MASTER_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    master: MasterConfig
    start_s: float
    duration_s: float
    def __init__(self, master: _Optional[_Union[MasterConfig, _Mapping]] = ..., start_s: _Optional[float] = ..., duration_s: _Optional[float] = ...) -> None: ...

class PreviewRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: PreviewConfig
    audio: _audio_pb2.AudioChunk
    def __init__(self, config: _Optional[_Union[PreviewConfig, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class PreviewResponse(_message.Message):
    __slots__ = ("progress", "audio", "report")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    progress: MasteringProgress
    audio: _audio_pb2.AudioChunk
    report: MasterReport
    def __init__(self, progress: _Optional[_Union[MasteringProgress, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., report: _Optional[_Union[MasterReport, _Mapping]] = ...) -> None: ...

class UploadReferenceRequest(_message.Message):
    __slots__ = ("format", "audio")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    format: _audio_pb2.AudioFormat
    audio: _audio_pb2.AudioChunk
    def __init__(self, format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class UploadReferenceResponse(_message.Message):
    __slots__ = ("reference_id", "duration_s", "integrated_lufs")
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    INTEGRATED_LUFS_FIELD_NUMBER: _ClassVar[int]
    reference_id: str
    duration_s: float
    integrated_lufs: float
    def __init__(self, reference_id: _Optional[str] = ..., duration_s: _Optional[float] = ..., integrated_lufs: _Optional[float] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobParameter(_message.Message):
    __slots__ = ("name", "predicted", "applied")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    name: str
    predicted: float
    applied: float
    def __init__(self, name: _Optional[str] = ..., predicted: _Optional[float] = ..., applied: _Optional[float] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job_id", "kind", "status", "created_at_unix_s", "input_sha256", "model_version", "model_sha256", "parameters", "settings_json", "result_json", "cached", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: str
    status: str
    created_at_unix_s: float
    input_sha256: str
    model_version: str
    model_sha256: str
    parameters: _containers.RepeatedCompositeFieldContainer[JobParameter]
    settings_json: str
    result_json: str
    cached: bool
    error: str
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., created_at_unix_s: _Optional[float] = ..., input_sha256: _Optional[str] = ..., model_version: _Optional[str] = ..., model_sha256: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[JobParameter, _Mapping]]] = ..., settings_json: _Optional[str] = ..., result_json: _Optional[str] = ..., cached: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...
