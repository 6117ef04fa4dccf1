"""`voidline master IN OUT`: master a file through the gateway's MasteringService.

The input is streamed as PCM, config first (as `voidline analyze` does); a reference goes
inside the config when it is small, else through UploadReference first. The master arrives in
chunks and is written to a temporary file beside OUT, renamed into place once the final report
has arrived, so OUT is never a half-written file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc

from voidline.cli import state
from voidline.cli.analyze import WIRE_ENCODING
from voidline.cli.audio_source import AudioSource, AudioSourceError, chunk_frames
from voidline.cli.grpc_client import API_KEY_METADATA, open_channel, report_failed_stream
from voidline.v1 import audio_pb2, mastering_pb2, mastering_pb2_grpc

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
CHUNK_MS = 100.0
INLINE_REFERENCE_BYTES = 8 * 1024 * 1024  # larger references go through UploadReference
UPLOAD_CHUNK_BYTES = 1024 * 1024

FORMATS = {
    "wav24": mastering_pb2.OUTPUT_FORMAT_WAV24,
    "wav16": mastering_pb2.OUTPUT_FORMAT_WAV16,
    "f32": mastering_pb2.OUTPUT_FORMAT_F32,
    "flac": mastering_pb2.OUTPUT_FORMAT_FLAC24,
    "flac24": mastering_pb2.OUTPUT_FORMAT_FLAC24,
    "flac16": mastering_pb2.OUTPUT_FORMAT_FLAC16,
    "mp3": mastering_pb2.OUTPUT_FORMAT_MP3,
    "ogg": mastering_pb2.OUTPUT_FORMAT_OGG,
}
_BY_EXTENSION = {".wav": "wav24", ".flac": "flac24", ".mp3": "mp3", ".ogg": "ogg"}
STYLES = {
    "balanced": mastering_pb2.MASTERING_STYLE_BALANCED,
    "warm": mastering_pb2.MASTERING_STYLE_WARM,
    "bright": mastering_pb2.MASTERING_STYLE_BRIGHT,
    "punchy": mastering_pb2.MASTERING_STYLE_PUNCHY,
    "open": mastering_pb2.MASTERING_STYLE_OPEN,
}


@dataclass(frozen=True)
class MasterOptions:
    source: Path
    output: Path
    gateway: str
    api_key: str | None
    target: str | None = None  # a preset name or a LUFS number
    ceiling_dbtp: float | None = None
    intensity: float | None = None
    style: str | None = None
    reference: Path | None = None
    reference_amount: float | None = None
    output_format: str | None = None
    as_json: bool = False
    no_cache: bool = False  # process even when the service holds an identical job


def output_format_name(options: MasterOptions) -> str:
    """--format, else from OUT's extension (.wav 24-bit, .flac 24-bit, .mp3, .ogg)."""
    if options.output_format:
        name = options.output_format.lower()
        if name not in FORMATS:
            raise ValueError(
                f"unknown --format {options.output_format!r}; use {', '.join(FORMATS)}"
            )
        return name
    return _BY_EXTENSION.get(options.output.suffix.lower(), "wav24")


def build_config(options: MasterOptions, source: AudioSource) -> Any:
    """The stream's first message (raises ValueError for a bad flag)."""
    config = mastering_pb2.MasterConfig(
        format=audio_pb2.AudioFormat(
            encoding=WIRE_ENCODING[source.encoding],
            sample_rate_hz=source.format.sample_rate_hz,
            channel_count=source.format.channels,
        ),
        output_format=FORMATS[output_format_name(options)],
        skip_cache=options.no_cache,
    )
    if options.target is not None:
        try:
            config.target_lufs = float(options.target)
        except ValueError:
            config.target_name = options.target
    if options.ceiling_dbtp is not None:
        config.ceiling_dbtp = options.ceiling_dbtp
    if options.intensity is not None:
        config.intensity = options.intensity
    if options.style is not None:
        if options.style.lower() not in STYLES:
            raise ValueError(f"unknown --style {options.style!r}; use {', '.join(STYLES)}")
        config.style = STYLES[options.style.lower()]
    return config


def _requests(config: Any, source: AudioSource, errors: list[AudioSourceError]) -> Iterator[Any]:
    yield mastering_pb2.MasterRequest(config=config)
    try:
        for data in source.chunks(chunk_frames(source.format.sample_rate_hz, CHUNK_MS)):
            yield mastering_pb2.MasterRequest(audio=audio_pb2.AudioChunk(data=data))
    except AudioSourceError as e:  # raised on gRPC's thread: keep it for the caller
        errors.append(e)


def _upload(stub: Any, data: bytes, metadata: list[tuple[str, str]]) -> str:
    def requests() -> Iterator[Any]:
        yield mastering_pb2.UploadReferenceRequest(
            format=audio_pb2.AudioFormat(encoding=audio_pb2.SAMPLE_ENCODING_CONTAINER)
        )
        for i in range(0, len(data), UPLOAD_CHUNK_BYTES):
            chunk = audio_pb2.AudioChunk(data=data[i : i + UPLOAD_CHUNK_BYTES])
            yield mastering_pb2.UploadReferenceRequest(audio=chunk)

    response = stub.UploadReference(requests(), metadata=metadata)
    return str(response.reference_id)


def _levels(report: Any) -> dict[str, float | None]:
    def finite(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "integrated_lufs": finite(report.loudness.integrated_lufs),
        "true_peak_dbtp": finite(report.peaks.true_peak_dbtp),
        "loudness_range_lu": finite(report.loudness.loudness_range_lu),
        "voidline_score": finite(report.score.voidline_score),
    }


def report_json(report: Any, options: MasterOptions) -> dict[str, Any]:
    """The --json object: job, target, input and output levels, parameters, model, A/B gain."""
    data: dict[str, Any] = {
        "job_id": report.job_id,
        "input_file": str(options.source),
        "output_file": str(options.output),
        "format": output_format_name(options),
        "target_name": report.target_name,
        "target_lufs": report.target_lufs,
        "ceiling_dbtp": report.ceiling_dbtp,
        "intensity": report.intensity,
        "style": mastering_pb2.MasteringStyle.Name(report.style)
        .removeprefix("MASTERING_STYLE_")
        .lower(),
        "input": _levels(report.input),
        "output": _levels(report.output),
        "parameters": {p.name: p.value for p in report.parameters},
        "predicted": {p.name: p.predicted for p in report.parameters},
        "model": {
            "version": report.model.version,
            "sha256": report.model.sha256,
            "precision": mastering_pb2.ModelPrecision.Name(report.model.precision)
            .removeprefix("MODEL_PRECISION_")
            .lower(),
        },
        "ab_gain_db": report.ab_gain_db,
        "processing_s": report.processing_s,
        "cached": report.cached,
        "output_bytes": report.output_bytes,
        "notes": list(report.notes),
    }
    if report.HasField("reference"):
        data["reference"] = {
            "reference_id": report.reference.reference_id,
            "amount": report.reference.amount,
            "reference_lufs": report.reference.reference_lufs,
        }
    return data


def format_summary(report: Any, options: MasterOptions) -> str:
    def level(value: float, unit: str) -> str:
        return f"{value:7.2f} {unit}" if math.isfinite(value) else f"{'-inf':>7} {unit}"

    inp, out = report.input, report.output
    lines = [
        f"{options.source} -> {options.output}  (job {report.job_id}"
        + (", from cache)" if report.cached else ")"),
        f"target      {report.target_name} {report.target_lufs:g} LUFS, "
        f"ceiling {report.ceiling_dbtp:g} dBTP",
        f"              {'input':>12}  {'master':>12}",
        f"integrated  {level(inp.loudness.integrated_lufs, 'LUFS')}  "
        f"{level(out.loudness.integrated_lufs, 'LUFS')}",
        f"true peak   {level(inp.peaks.true_peak_dbtp, 'dBTP')}  "
        f"{level(out.peaks.true_peak_dbtp, 'dBTP')}",
        f"LRA         {level(inp.loudness.loudness_range_lu, 'LU  ')}  "
        f"{level(out.loudness.loudness_range_lu, 'LU  ')}",
        f"score       {inp.score.voidline_score:7.1f}       {out.score.voidline_score:7.1f}",
        f"A/B gain    {report.ab_gain_db:+.2f} dB (play the original at this gain to compare)",
        f"model       {report.model.version} ({report.model.sha256[:12]})",
        f"time        {report.processing_s:.2f} s",
    ]
    lines += [f"note        {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def master(options: MasterOptions, stdout: TextIO, stderr: TextIO) -> int:
    """Master one file; exit code 0, 1 (the call failed) or 2 (bad local input or flags)."""
    try:
        source = AudioSource.open(options.source)
        config = build_config(options, source)
        reference_bytes = options.reference.read_bytes() if options.reference else None
    except (AudioSourceError, ValueError, OSError) as e:
        stderr.write(f"error: {e}\n")
        return EXIT_USAGE
    metadata = [(API_KEY_METADATA, options.api_key)] if options.api_key else []
    errors: list[AudioSourceError] = []
    temporary = options.output.with_name(f".{options.output.name}.part")
    report = None
    try:
        with open_channel(options.gateway) as channel:
            stub = mastering_pb2_grpc.MasteringServiceStub(channel)
            if reference_bytes is not None:
                if len(reference_bytes) <= INLINE_REFERENCE_BYTES:
                    config.reference.data = reference_bytes
                else:
                    config.reference.reference_id = _upload(stub, reference_bytes, metadata)
                if options.reference_amount is not None:
                    config.reference.amount = options.reference_amount
            with open(temporary, "wb") as out:
                for response in stub.Master(_requests(config, source, errors), metadata=metadata):
                    kind = response.WhichOneof("response")
                    if kind == "audio":
                        out.write(response.audio.data)
                    elif kind == "report":
                        report = response.report
                    elif kind == "progress" and stderr.isatty():
                        stderr.write(
                            f"\r{response.progress.stage:<12} {response.progress.fraction:4.0%}"
                        )
            if stderr.isatty():
                stderr.write("\r" + " " * 20 + "\r")
    except grpc.RpcError as e:
        temporary.unlink(missing_ok=True)
        return report_failed_stream(e, errors, options.gateway, stderr)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        stderr.write(f"error: cannot write {options.output}: {e}\n")
        return EXIT_USAGE
    if errors or report is None:
        temporary.unlink(missing_ok=True)
        stderr.write(f"error: {errors[0] if errors else 'the stream ended without a report'}\n")
        return EXIT_USAGE if errors else EXIT_RPC_ERROR
    os.replace(temporary, options.output)
    if options.as_json:
        stdout.write(json.dumps(report_json(report, options), allow_nan=False) + "\n")
    else:
        stdout.write(format_summary(report, options))
    return EXIT_OK


def resolve_options(
    *, gateway: str | None, api_key: str | None, home: str | None, env: Mapping[str, str], **kw: Any
) -> MasterOptions:
    connection = state.resolve_connection(gateway, api_key, home, env)
    return MasterOptions(gateway=connection.gateway, api_key=connection.api_key, **kw)
