"""Protobuf <-> domain conversion for the stems service, with validation of the configs.

Every check raises `InvalidInputError` naming the field as the caller spells it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.analysis.convert import audio_format_from_proto
from voidline.audio.format import AudioFormat, Encoding
from voidline.errors import InvalidInputError
from voidline.stems.demucs_models import InstalledModel
from voidline.stems.separation import DEFAULT_OVERLAP, SeparationJob, SeparationOptions
from voidline.stems.transcribe import (
    TranscribeOptions,
    TranscriptInfo,
    TranscriptSegment,
    WhisperModelInfo,
)
from voidline.v1 import audio_pb2, stems_pb2

BACKENDS = {
    stems_pb2.SEPARATION_BACKEND_UNSPECIFIED: "auto",
    stems_pb2.SEPARATION_BACKEND_AUTO: "auto",
    stems_pb2.SEPARATION_BACKEND_DEMUCS: "demucs",
    stems_pb2.SEPARATION_BACKEND_DSP: "dsp",
}
DEVICES = {
    stems_pb2.COMPUTE_DEVICE_UNSPECIFIED: "cpu",
    stems_pb2.COMPUTE_DEVICE_CPU: "cpu",
    stems_pb2.COMPUTE_DEVICE_CUDA: "cuda",
}
OUTPUT_ENCODINGS = {
    audio_pb2.SAMPLE_ENCODING_UNSPECIFIED: Encoding.PCM_F32LE,
    audio_pb2.SAMPLE_ENCODING_PCM_S16LE: Encoding.PCM_S16LE,
    audio_pb2.SAMPLE_ENCODING_PCM_S24LE: Encoding.PCM_S24LE,
    audio_pb2.SAMPLE_ENCODING_PCM_F32LE: Encoding.PCM_F32LE,
}
DEFAULT_BEAM_SIZE = 5
ENCODINGS_TO_PROTO = {
    encoding: number
    for number, encoding in OUTPUT_ENCODINGS.items()
    if number != audio_pb2.SAMPLE_ENCODING_UNSPECIFIED
}


def _choice(table: Mapping[Any, str], value: int, field_name: str) -> str:
    if value not in table:
        raise InvalidInputError(f"{field_name} {value} is not a known value")
    return table[value]


def backend_from_proto(value: int, field_name: str = "config.backend") -> str:
    return _choice(BACKENDS, value, field_name)


def device_from_proto(value: int) -> str:
    return _choice(DEVICES, value, "config.device")


@dataclass(frozen=True)
class SeparateRequestConfig:
    """A validated SeparateConfig."""

    encoding: Encoding
    format: AudioFormat | None  # None for a container
    options: SeparationOptions
    output_encoding: Encoding


def separate_config_from_proto(config: stems_pb2.SeparateConfig) -> SeparateRequestConfig:
    encoding, fmt = audio_format_from_proto(config.format)
    if fmt is not None and fmt.channels > 2:
        raise InvalidInputError(
            f"config.format.channel_count is {fmt.channels}; separation takes mono or stereo "
            "(downmix surround to stereo first)"
        )
    if config.output_encoding not in OUTPUT_ENCODINGS:
        raise InvalidInputError(
            "config.output_encoding must be SAMPLE_ENCODING_PCM_S16LE, _S24LE or _F32LE "
            "(stems stream as raw PCM)"
        )
    segment_s = config.segment_s if config.HasField("segment_s") else None
    overlap = config.overlap if config.HasField("overlap") else DEFAULT_OVERLAP
    if segment_s is not None and not math.isfinite(segment_s):
        raise InvalidInputError("config.segment_s must be a finite number of seconds")
    options = SeparationOptions(
        backend=backend_from_proto(config.backend),
        model=config.model.strip(),
        stems=tuple(stem.strip() for stem in config.stems),
        segment_s=segment_s,
        overlap=overlap,
        shifts=config.shifts,
        device=device_from_proto(config.device),
        seed=config.seed,
    )
    options.check()
    return SeparateRequestConfig(encoding, fmt, options, OUTPUT_ENCODINGS[config.output_encoding])


def summary_to_proto(
    job: SeparationJob,
    output_encoding: Encoding,
    options: SeparationOptions,
    processing_s: float,
    first_stem_s: float,
    notes: list[str],
) -> stems_pb2.SeparateSummary:
    duration_s = job.frames_in / job.samplerate
    error_db = job.reconstruction_error_db
    return stems_pb2.SeparateSummary(
        backend=job.resolved.backend,
        model=job.resolved.model,
        stems=list(job.wanted),
        sample_rate_hz=job.samplerate,
        channel_count=job.channels,
        output_encoding=ENCODINGS_TO_PROTO[output_encoding],
        frame_count=job.frames_out,
        duration_s=duration_s,
        processing_s=processing_s,
        real_time_factor=processing_s / duration_s if duration_s > 0 else 0.0,
        reconstruction_error_db=_bounded_db(error_db),
        segment_s=job.segment_s,
        overlap=options.overlap,
        shifts=options.shifts,
        device=options.device if job.resolved.backend == "demucs" else "cpu",
        first_stem_s=first_stem_s,
        notes=notes,
    )


def _bounded_db(value: float) -> float:
    """-inf (exact to the last bit, or silence) as -200 dB, so every client can read it."""
    return min(max(value, -200.0), 200.0)


def separation_model_to_proto(model: InstalledModel) -> stems_pb2.SeparationModel:
    return stems_pb2.SeparationModel(
        name=model.name,
        kind=model.kind,
        signatures=list(model.signatures),
        usable=model.usable,
        problem=model.problem,
        size_bytes=model.size_bytes,
    )


@dataclass(frozen=True)
class TranscribeRequestConfig:
    """A validated TranscribeConfig."""

    encoding: Encoding
    format: AudioFormat | None  # None for a container
    options: TranscribeOptions
    device: str
    vocals_first: bool
    separation: SeparationOptions


def transcribe_config_from_proto(config: stems_pb2.TranscribeConfig) -> TranscribeRequestConfig:
    encoding, fmt = audio_format_from_proto(config.format)
    options = TranscribeOptions(
        model=config.model.strip() or None,
        language=config.language.strip() or None,
        task="translate" if config.translate else "transcribe",
        vad_filter=config.vad_filter,
        word_timestamps=config.word_timestamps,
        beam_size=config.beam_size or DEFAULT_BEAM_SIZE,
        initial_prompt=config.initial_prompt or None,
    )
    separation = SeparationOptions(
        backend=backend_from_proto(config.separation_backend, "config.separation_backend"),
        model=config.separation_model.strip(),
        stems=("vocals",),
    )
    separation.check()
    return TranscribeRequestConfig(
        encoding,
        fmt,
        options,
        device_from_proto(config.device),
        config.vocals_first,
        separation,
    )


def segment_to_proto(segment: TranscriptSegment) -> stems_pb2.TranscriptSegment:
    return stems_pb2.TranscriptSegment(
        id=segment.id,
        start_s=segment.start,
        end_s=segment.end,
        text=segment.text,
        words=[
            stems_pb2.TranscriptWord(
                start_s=w.start, end_s=w.end, word=w.text, probability=w.probability
            )
            for w in segment.words
        ],
        avg_logprob=segment.avg_logprob,
        no_speech_prob=segment.no_speech_prob,
        compression_ratio=segment.compression_ratio,
    )


def info_to_proto(info: TranscriptInfo, vocals_backend: str) -> stems_pb2.TranscriptionInfo:
    return stems_pb2.TranscriptionInfo(
        language=info.language or "",
        language_probability=info.language_probability,
        duration_s=info.duration_s,
        duration_after_vad_s=info.duration_after_vad_s,
        model=info.model,
        vocals_backend=vocals_backend,
    )


def transcription_model_to_proto(model: WhisperModelInfo) -> stems_pb2.TranscriptionModel:
    return stems_pb2.TranscriptionModel(
        name=model.name,
        usable=model.complete,
        problem="" if model.complete else "missing " + ", ".join(model.missing),
        size_bytes=model.size_bytes,
    )
