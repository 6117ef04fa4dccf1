from voidline.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SeparationBackend(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEPARATION_BACKEND_UNSPECIFIED: _ClassVar[SeparationBackend]
    SEPARATION_BACKEND_AUTO: _ClassVar[SeparationBackend]
    SEPARATION_BACKEND_DEMUCS: _ClassVar[SeparationBackend]
    SEPARATION_BACKEND_DSP: _ClassVar[SeparationBackend]

class ComputeDevice(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPUTE_DEVICE_UNSPECIFIED: _ClassVar[ComputeDevice]
    COMPUTE_DEVICE_CPU: _ClassVar[ComputeDevice]
    COMPUTE_DEVICE_CUDA: _ClassVar[ComputeDevice]
SEPARATION_BACKEND_UNSPECIFIED: SeparationBackend
SEPARATION_BACKEND_AUTO: SeparationBackend
SEPARATION_BACKEND_DEMUCS: SeparationBackend
SEPARATION_BACKEND_DSP: SeparationBackend
COMPUTE_DEVICE_UNSPECIFIED: ComputeDevice
COMPUTE_DEVICE_CPU: ComputeDevice
COMPUTE_DEVICE_CUDA: ComputeDevice

class SeparateConfig(_message.Message):
    __slots__ = ("format", "backend", "model", "stems", "segment_s", "overlap", "shifts", "output_encoding", "device", "seed")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_S_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    format: _audio_pb2.AudioFormat
    backend: SeparationBackend
    model: str
    stems: _containers.RepeatedScalarFieldContainer[str]
    segment_s: float
    overlap: float
    shifts: int
    output_encoding: _audio_pb2.SampleEncoding
    device: ComputeDevice
    seed: int
    def __init__(self, format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., backend: _Optional[_Union[SeparationBackend, str]] = ..., model: _Optional[str] = ..., stems: _Optional[_Iterable[str]] = ..., segment_s: _Optional[float] = ..., overlap: _Optional[float] = ..., shifts: _Optional[int] = ..., output_encoding: _Optional[_Union[_audio_pb2.SampleEncoding, str]] = ..., device: _Optional[_Union[ComputeDevice, str]] = ..., seed: _Optional[int] = ...) -> None: ...

class SeparateRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: SeparateConfig
    audio: _audio_pb2.AudioChunk
    def __init__(self, config: _Optional[_Union[SeparateConfig, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class SeparationProgress(_message.Message):
    __slots__ = ("stage", "fraction", "stream")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stage: str
    fraction: float
    stream: _audio_pb2.StreamProgress
    def __init__(self, stage: _Optional[str] = ..., fraction: _Optional[float] = ..., stream: _Optional[_Union[_audio_pb2.StreamProgress, _Mapping]] = ...) -> None: ...

class StemAudio(_message.Message):
    __slots__ = ("stem", "data", "start_frame", "frame_count")
    STEM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    stem: str
    data: bytes
    start_frame: int
    frame_count: int
    def __init__(self, stem: _Optional[str] = ..., data: _Optional[bytes] = ..., start_frame: _Optional[int] = ..., frame_count: _Optional[int] = ...) -> None: ...

class SeparateSummary(_message.Message):
    __slots__ = ("backend", "model", "stems", "sample_rate_hz", "channel_count", "output_encoding", "frame_count", "duration_s", "processing_s", "real_time_factor", "reconstruction_error_db", "segment_s", "overlap", "shifts", "device", "first_stem_s", "notes")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_S_FIELD_NUMBER: _ClassVar[int]
    REAL_TIME_FACTOR_FIELD_NUMBER: _ClassVar[int]
    RECONSTRUCTION_ERROR_DB_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_S_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    FIRST_STEM_S_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    stems: _containers.RepeatedScalarFieldContainer[str]
    sample_rate_hz: int
    channel_count: int
    output_encoding: _audio_pb2.SampleEncoding
    frame_count: int
    duration_s: float
    processing_s: float
    real_time_factor: float
    reconstruction_error_db: float
    segment_s: float
    overlap: float
    shifts: int
    device: str
    first_stem_s: float
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., stems: _Optional[_Iterable[str]] = ..., sample_rate_hz: _Optional[int] = ..., channel_count: _Optional[int] = ..., output_encoding: _Optional[_Union[_audio_pb2.SampleEncoding, str]] = ..., frame_count: _Optional[int] = ..., duration_s: _Optional[float] = ..., processing_s: _Optional[float] = ..., real_time_factor: _Optional[float] = ..., reconstruction_error_db: _Optional[float] = ..., segment_s: _Optional[float] = ..., overlap: _Optional[float] = ..., shifts: _Optional[int] = ..., device: _Optional[str] = ..., first_stem_s: _Optional[float] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class SeparateResponse(_message.Message):
    __slots__ = ("backend", "progress", "audio", "summary")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    progress: SeparationProgress
    audio: StemAudio
    summary: SeparateSummary
    def __init__(self, backend: _Optional[str] = ..., progress: _Optional[_Union[SeparationProgress, _Mapping]] = ..., audio: _Optional[_Union[StemAudio, _Mapping]] = ..., summary: _Optional[_Union[SeparateSummary, _Mapping]] = ...) -> None: ...

class TranscribeConfig(_message.Message):
    __slots__ = ("format", "model", "language", "vad_filter", "word_timestamps", "beam_size", "vocals_first", "separation_backend", "separation_model", "device", "initial_prompt", "translate")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    VAD_FILTER_FIELD_NUMBER: _ClassVar[int]
    WORD_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    VOCALS_FIRST_FIELD_NUMBER: _ClassVar[int]
    SEPARATION_BACKEND_FIELD_NUMBER: _ClassVar[int]
    SEPARATION_MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_PROMPT_FIELD_NUMBER: _ClassVar[int]
    TRANSLATE_FIELD_NUMBER: _ClassVar[int]
    format: _audio_pb2.AudioFormat
    model: str
    language: str
    vad_filter: bool
    word_timestamps: bool
    beam_size: int
    vocals_first: bool
    separation_backend: SeparationBackend
    separation_model: str
    device: ComputeDevice
    initial_prompt: str
    translate: bool
    def __init__(self, format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., model: _Optional[str] = ..., language: _Optional[str] = ..., vad_filter: _Optional[bool] = ..., word_timestamps: _Optional[bool] = ..., beam_size: _Optional[int] = ..., vocals_first: _Optional[bool] = ..., separation_backend: _Optional[_Union[SeparationBackend, str]] = ..., separation_model: _Optional[str] = ..., device: _Optional[_Union[ComputeDevice, str]] = ..., initial_prompt: _Optional[str] = ..., translate: _Optional[bool] = ...) -> None: ...

class TranscribeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: TranscribeConfig
    audio: _audio_pb2.AudioChunk
    def __init__(self, config: _Optional[_Union[TranscribeConfig, _Mapping]] = ..., audio: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class TranscriptionProgress(_message.Message):
    __slots__ = ("stage", "fraction", "stream")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stage: str
    fraction: float
    stream: _audio_pb2.StreamProgress
    def __init__(self, stage: _Optional[str] = ..., fraction: _Optional[float] = ..., stream: _Optional[_Union[_audio_pb2.StreamProgress, _Mapping]] = ...) -> None: ...

class TranscriptionInfo(_message.Message):
    __slots__ = ("language", "language_probability", "duration_s", "duration_after_vad_s", "model", "vocals_backend")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_AFTER_VAD_S_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VOCALS_BACKEND_FIELD_NUMBER: _ClassVar[int]
    language: str
    language_probability: float
    duration_s: float
    duration_after_vad_s: float
    model: str
    vocals_backend: str
    def __init__(self, language: _Optional[str] = ..., language_probability: _Optional[float] = ..., duration_s: _Optional[float] = ..., duration_after_vad_s: _Optional[float] = ..., model: _Optional[str] = ..., vocals_backend: _Optional[str] = ...) -> None: ...

class TranscriptWord(_message.Message):
    __slots__ = ("start_s", "end_s", "word", "probability")
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    WORD_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    start_s: float
    end_s: float
    word: str
    probability: float
    def __init__(self, start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., word: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class TranscriptSegment(_message.Message):
    __slots__ = ("id", "start_s", "end_s", "text", "words", "avg_logprob", "no_speech_prob", "compression_ratio")
    ID_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    AVG_LOGPROB_FIELD_NUMBER: _ClassVar[int]
    NO_SPEECH_PROB_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIO_FIELD_NUMBER: _ClassVar[int]
    id: int
    start_s: float
    end_s: float
    text: str
    words: _containers.RepeatedCompositeFieldContainer[TranscriptWord]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    def __init__(self, id: _Optional[int] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., text: _Optional[str] = ..., words: _Optional[_Iterable[_Union[TranscriptWord, _Mapping]]] = ..., avg_logprob: _Optional[float] = ..., no_speech_prob: _Optional[float] = ..., compression_ratio: _Optional[float] = ...) -> None: ...

class TranscribeSummary(_message.Message):
    __slots__ = ("segment_count", "duration_s", "processing_s", "real_time_factor", "model", "notes")
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_S_FIELD_NUMBER: _ClassVar[int]
    REAL_TIME_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    segment_count: int
    duration_s: float
    processing_s: float
    real_time_factor: float
    model: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, segment_count: _Optional[int] = ..., duration_s: _Optional[float] = ..., processing_s: _Optional[float] = ..., real_time_factor: _Optional[float] = ..., model: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class TranscribeResponse(_message.Message):
    __slots__ = ("progress", "info", "segment", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: TranscriptionProgress
    info: TranscriptionInfo
    segment: TranscriptSegment
    summary: TranscribeSummary
    def __init__(self, progress: _Optional[_Union[TranscriptionProgress, _Mapping]] = ..., info: _Optional[_Union[TranscriptionInfo, _Mapping]] = ..., segment: _Optional[_Union[TranscriptSegment, _Mapping]] = ..., summary: _Optional[_Union[TranscribeSummary, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SeparationModel(_message.Message):
    __slots__ = ("name", "kind", "signatures", "usable", "problem", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    signatures: _containers.RepeatedScalarFieldContainer[str]
    usable: bool
    problem: str
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., signatures: _Optional[_Iterable[str]] = ..., usable: _Optional[bool] = ..., problem: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class TranscriptionModel(_message.Message):
    __slots__ = ("name", "usable", "problem", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    usable: bool
    problem: str
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., usable: _Optional[bool] = ..., problem: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("model_dir", "separation", "transcription", "default_separation_model", "default_transcription_model", "dsp_available")
    MODEL_DIR_FIELD_NUMBER: _ClassVar[int]
    SEPARATION_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SEPARATION_MODEL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TRANSCRIPTION_MODEL_FIELD_NUMBER: _ClassVar[int]
    DSP_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    model_dir: str
    separation: _containers.RepeatedCompositeFieldContainer[SeparationModel]
    transcription: _containers.RepeatedCompositeFieldContainer[TranscriptionModel]
    default_separation_model: str
    default_transcription_model: str
    dsp_available: bool
    def __init__(self, model_dir: _Optional[str] = ..., separation: _Optional[_Iterable[_Union[SeparationModel, _Mapping]]] = ..., transcription: _Optional[_Iterable[_Union[TranscriptionModel, _Mapping]]] = ..., default_separation_model: _Optional[str] = ..., default_transcription_model: _Optional[str] = ..., dsp_available: _Optional[bool] = ...) -> None: ...
