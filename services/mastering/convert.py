"""Protobuf <-> domain conversion for the mastering service, with validation of the config.

Every check raises `InvalidInputError` naming the field as the caller spells it
(`config.intensity`) and the allowed values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.analysis.convert import audio_format_from_proto
from services.analysis.convert import report_to_proto as analysis_report_to_proto
from voidline.audio.encode import OutputFormat, check_encodable
from voidline.audio.format import AudioFormat, Encoding
from voidline.errors import InvalidInputError
from voidline.mastering.engine import MasteringResult, job_metrics
from voidline.mastering.joblog import JobRecord
from voidline.mastering.parameters import BY_NAME, PARAMETER_NAMES
from voidline.mastering.styles import check_intensity
from voidline.mastering.targets import LoudnessTarget, resolve_target
from voidline.v1 import mastering_pb2

OUTPUT_FORMATS: dict[int, OutputFormat] = {
    mastering_pb2.OUTPUT_FORMAT_UNSPECIFIED: OutputFormat.WAV24,
    mastering_pb2.OUTPUT_FORMAT_WAV16: OutputFormat.WAV16,
    mastering_pb2.OUTPUT_FORMAT_WAV24: OutputFormat.WAV24,
    mastering_pb2.OUTPUT_FORMAT_F32: OutputFormat.F32,
    mastering_pb2.OUTPUT_FORMAT_FLAC16: OutputFormat.FLAC16,
    mastering_pb2.OUTPUT_FORMAT_FLAC24: OutputFormat.FLAC24,
    mastering_pb2.OUTPUT_FORMAT_MP3: OutputFormat.MP3,
    mastering_pb2.OUTPUT_FORMAT_OGG: OutputFormat.OGG,
}
_OUTPUT_FORMATS_TO_PROTO: dict[OutputFormat, Any] = {
    fmt: number
    for number, fmt in OUTPUT_FORMATS.items()
    if number != mastering_pb2.OUTPUT_FORMAT_UNSPECIFIED
}
STYLES: dict[int, str] = {
    mastering_pb2.MASTERING_STYLE_UNSPECIFIED: "balanced",
    mastering_pb2.MASTERING_STYLE_BALANCED: "balanced",
    mastering_pb2.MASTERING_STYLE_WARM: "warm",
    mastering_pb2.MASTERING_STYLE_BRIGHT: "bright",
    mastering_pb2.MASTERING_STYLE_PUNCHY: "punchy",
    mastering_pb2.MASTERING_STYLE_OPEN: "open",
}
_STYLES_TO_PROTO: dict[str, Any] = {
    name: number
    for number, name in STYLES.items()
    if number != mastering_pb2.MASTERING_STYLE_UNSPECIFIED
}
_PRECISIONS: dict[int, str | None] = {
    mastering_pb2.MODEL_PRECISION_UNSPECIFIED: None,
    mastering_pb2.MODEL_PRECISION_INT8: "int8",
    mastering_pb2.MODEL_PRECISION_FP32: "fp32",
}
_PRECISIONS_TO_PROTO = {
    "int8": mastering_pb2.MODEL_PRECISION_INT8,
    "fp32": mastering_pb2.MODEL_PRECISION_FP32,
}


@dataclass(frozen=True)
class ReferenceRequest:
    """The config's reference: an earlier upload's id or a whole file, and the amount."""

    reference_id: str
    data: bytes
    amount: float


@dataclass(frozen=True)
class JobConfig:
    """A validated MasterConfig."""

    encoding: Encoding
    format: AudioFormat | None  # None for a container
    target: LoudnessTarget
    intensity: float
    style: str
    output_format: OutputFormat
    precision: str | None  # None: the service's default
    reference: ReferenceRequest | None
    skip_cache: bool


def _enum(value: int, table: Mapping[int, object], field_name: str, enum_name: str) -> None:
    if value not in table:
        raise InvalidInputError(
            f"{field_name} {value} is not a known {enum_name}; leave it unset for the default"
        )


def _reference(config: mastering_pb2.MasterConfig, max_bytes: int) -> ReferenceRequest | None:
    if not config.HasField("reference"):
        return None
    ref = config.reference
    amount = ref.amount if ref.HasField("amount") else 1.0
    if not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
        raise InvalidInputError(f"config.reference.amount must lie within 0 to 1, got {amount}")
    source = ref.WhichOneof("source")
    if source is None:
        raise InvalidInputError(
            "config.reference is set but holds neither reference_id nor data; "
            "send an UploadReference id or the reference file's bytes"
        )
    if source == "data":
        if len(ref.data) > max_bytes:
            raise InvalidInputError(
                f"config.reference.data is {len(ref.data)} bytes, over the {max_bytes}-byte "
                "limit for a reference sent with the config; upload it with UploadReference"
            )
        return ReferenceRequest("", bytes(ref.data), amount)
    if not ref.reference_id:
        raise InvalidInputError("config.reference.reference_id is empty")
    return ReferenceRequest(ref.reference_id, b"", amount)


def config_from_proto(config: mastering_pb2.MasterConfig, max_reference_bytes: int) -> JobConfig:
    """Validate a MasterConfig and turn it into domain values."""
    encoding, fmt = audio_format_from_proto(config.format)
    if fmt is not None and fmt.channels > 2:
        raise InvalidInputError(
            f"config.format.channel_count is {fmt.channels}; mastering takes mono or stereo "
            "(downmix surround to stereo first)"
        )
    target_kind = config.WhichOneof("target")
    ceiling = config.ceiling_dbtp if config.HasField("ceiling_dbtp") else None
    target = resolve_target(
        config.target_name if target_kind == "target_name" else "",
        config.target_lufs if target_kind == "target_lufs" else None,
        ceiling,
    )
    intensity = check_intensity(config.intensity if config.HasField("intensity") else 1.0)
    _enum(config.style, STYLES, "config.style", "MasteringStyle")
    _enum(config.output_format, OUTPUT_FORMATS, "config.output_format", "OutputFormat")
    _enum(config.precision, _PRECISIONS, "config.precision", "ModelPrecision")
    if fmt is not None:  # PCM: refuse an output format that cannot carry the rate up front
        check_encodable(fmt.sample_rate_hz, OUTPUT_FORMATS[config.output_format])
    return JobConfig(
        encoding=encoding,
        format=fmt,
        target=target,
        intensity=intensity,
        style=STYLES[config.style],
        output_format=OUTPUT_FORMATS[config.output_format],
        precision=_PRECISIONS[config.precision],
        reference=_reference(config, max_reference_bytes),
        skip_cache=config.skip_cache,
    )


def master_report_to_proto(result: MasteringResult) -> mastering_pb2.MasterReport:
    """The job's result as the API's MasterReport (without the audio)."""
    settings = result.settings
    parameters = [
        mastering_pb2.AppliedParameter(
            name=name,
            value=result.applied[name],
            unit=BY_NAME[name].unit,
            predicted=result.predicted[name],
        )
        for name in PARAMETER_NAMES
    ]
    message = mastering_pb2.MasterReport(
        job_id=result.job_id,
        target_name=settings.target.name,
        target_lufs=result.target_lufs,
        ceiling_dbtp=settings.target.ceiling_dbtp,
        intensity=settings.intensity,
        style=_STYLES_TO_PROTO[settings.style],
        input=analysis_report_to_proto(result.input_report),
        output=analysis_report_to_proto(result.output_report),
        parameters=parameters,
        model=mastering_pb2.ModelInfo(
            version=result.model_version,
            sha256=result.model_sha256,
            precision=_PRECISIONS_TO_PROTO[result.model_precision],
        ),
        ab_gain_db=result.ab_gain_db,
        processing_s=result.processing_s,
        cached=False,
        output_format=_OUTPUT_FORMATS_TO_PROTO[settings.output_format],
        mime_type=settings.output_format.mime_type,
        output_bytes=len(result.encoded),
        excerpt_start_s=result.excerpt_start_s,
        excerpt_duration_s=result.excerpt_duration_s,
        notes=result.notes,
    )
    if result.reference is not None:
        ref = result.reference
        message.reference.CopyFrom(
            mastering_pb2.ReferenceReport(
                reference_id=ref.reference_id,
                amount=ref.amount,
                reference_lufs=ref.reference_lufs,
                max_boost_db=ref.max_boost_db,
                max_cut_db=ref.max_cut_db,
            )
        )
    return message


def report_metrics(report: mastering_pb2.MasterReport) -> dict[str, Any]:
    """A report's numbers as the job log keeps them (a cache hit has no domain result)."""
    return job_metrics(report, report.input, report.output, report.output_bytes)


def job_to_proto(record: JobRecord) -> mastering_pb2.GetJobResponse:
    predicted = record.predicted or {}
    applied = record.applied or {}
    return mastering_pb2.GetJobResponse(
        job_id=record.job_id,
        kind=record.kind,
        status=record.status,
        created_at_unix_s=record.created_at,
        input_sha256=record.input_sha256,
        model_version=record.model_version or "",
        model_sha256=record.model_sha256 or "",
        parameters=[
            mastering_pb2.JobParameter(
                name=name, predicted=predicted.get(name, 0.0), applied=applied.get(name, 0.0)
            )
            for name in PARAMETER_NAMES
            if name in predicted or name in applied
        ],
        settings_json=json.dumps(record.settings, sort_keys=True),
        result_json=json.dumps(record.result or {}, sort_keys=True),
        cached=record.cached,
        error=record.error or "",
    )
