"""`voidline transcribe IN`: a timed transcript of a file through the gateway's StemsService.

The input streams as PCM, config first. Segments print as the service decodes them
(`[00:01.20 -> 00:03.40] text`); with --json one object is printed at the end: the language,
every segment (with words when asked for) and the summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc

from voidline.cli import state
from voidline.cli.analyze import WIRE_ENCODING
from voidline.cli.audio_source import AudioSource, AudioSourceError, chunk_frames
from voidline.cli.grpc_client import API_KEY_METADATA, open_channel, report_failed_stream
from voidline.cli.stems import BACKENDS
from voidline.v1 import audio_pb2, stems_pb2, stems_pb2_grpc

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
CHUNK_MS = 100.0


@dataclass(frozen=True)
class TranscribeOptions:
    source: Path
    gateway: str
    api_key: str | None
    model: str = ""
    language: str = ""
    vocals_first: bool = False
    separation_backend: str = "auto"
    vad: bool = False
    words: bool = False
    beam_size: int = 0
    translate: bool = False
    as_json: bool = False


def build_config(options: TranscribeOptions, source: AudioSource) -> stems_pb2.TranscribeConfig:
    if options.separation_backend not in BACKENDS:
        raise ValueError(
            f"unknown --separation-backend {options.separation_backend!r}; "
            f"use {', '.join(BACKENDS)}"
        )
    return stems_pb2.TranscribeConfig(
        format=audio_pb2.AudioFormat(
            encoding=WIRE_ENCODING[source.encoding],
            sample_rate_hz=source.format.sample_rate_hz,
            channel_count=source.format.channels,
        ),
        model=options.model,
        language=options.language,
        vad_filter=options.vad,
        word_timestamps=options.words,
        beam_size=options.beam_size,
        vocals_first=options.vocals_first,
        separation_backend=BACKENDS[options.separation_backend],
        translate=options.translate,
    )


def _requests(
    config: stems_pb2.TranscribeConfig, source: AudioSource, errors: list[AudioSourceError]
) -> Iterator[stems_pb2.TranscribeRequest]:
    yield stems_pb2.TranscribeRequest(config=config)
    try:
        for data in source.chunks(chunk_frames(source.format.sample_rate_hz, CHUNK_MS)):
            yield stems_pb2.TranscribeRequest(audio=audio_pb2.AudioChunk(data=data))
    except AudioSourceError as e:  # raised on gRPC's thread: keep it for the caller
        errors.append(e)


def clock(seconds: float) -> str:
    """mm:ss.ss (hh:mm:ss.ss past an hour)."""
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes:02d}:{secs:05.2f}"


def segment_line(segment: Any) -> str:
    return f"[{clock(segment.start_s)} -> {clock(segment.end_s)}] {segment.text}"


def segment_json(segment: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": segment.id,
        "start_s": segment.start_s,
        "end_s": segment.end_s,
        "text": segment.text,
        "avg_logprob": segment.avg_logprob,
        "no_speech_prob": segment.no_speech_prob,
    }
    if segment.words:
        data["words"] = [
            {"start_s": w.start_s, "end_s": w.end_s, "word": w.word, "probability": w.probability}
            for w in segment.words
        ]
    return data


def transcribe(options: TranscribeOptions, stdout: TextIO, stderr: TextIO) -> int:
    """Transcribe one file; exit code 0, 1 (the call failed) or 2 (bad local input or flags)."""
    try:
        source = AudioSource.open(options.source)
        config = build_config(options, source)
    except (AudioSourceError, ValueError) as e:
        stderr.write(f"error: {e}\n")
        return EXIT_USAGE
    metadata = [(API_KEY_METADATA, options.api_key)] if options.api_key else []
    errors: list[AudioSourceError] = []
    info, summary, segments = None, None, []
    try:
        with open_channel(options.gateway) as channel:
            stub = stems_pb2_grpc.StemsServiceStub(channel)
            for response in stub.Transcribe(_requests(config, source, errors), metadata=metadata):
                kind = response.WhichOneof("response")
                if kind == "info":
                    info = response.info
                    if not options.as_json:
                        language = info.language or "none detected"
                        stdout.write(f"language    {language} ({info.language_probability:.2f})\n")
                elif kind == "segment":
                    segments.append(response.segment)
                    if not options.as_json:
                        stdout.write(segment_line(response.segment) + "\n")
                        stdout.flush()
                elif kind == "summary":
                    summary = response.summary
                elif kind == "progress" and stderr.isatty():
                    stderr.write(
                        f"\r{response.progress.stage:<12} {response.progress.fraction:4.0%}"
                    )
        if stderr.isatty():
            stderr.write("\r" + " " * 20 + "\r")
    except grpc.RpcError as e:
        return report_failed_stream(e, errors, options.gateway, stderr)
    if errors or summary is None or info is None:
        stderr.write(f"error: {errors[0] if errors else 'the stream ended without a summary'}\n")
        return EXIT_USAGE if errors else EXIT_RPC_ERROR
    if options.as_json:
        data = {
            "input_file": str(options.source),
            "model": summary.model,
            "language": info.language or None,
            "language_probability": info.language_probability,
            "vocals_backend": info.vocals_backend or None,
            "duration_s": info.duration_s,
            "segments": [segment_json(s) for s in segments],
            "processing_s": summary.processing_s,
            "real_time_factor": summary.real_time_factor,
            "notes": list(summary.notes),
        }
        stdout.write(json.dumps(data, allow_nan=False) + "\n")
    else:
        stdout.write(
            f"{summary.segment_count} segments, {summary.processing_s:.2f} s "
            f"({summary.real_time_factor:.2f}x real time), model {summary.model}\n"
        )
        for note in summary.notes:
            stdout.write(f"note        {note}\n")
    return EXIT_OK


def resolve_options(
    *, gateway: str | None, api_key: str | None, home: str | None, env: Mapping[str, str], **kw: Any
) -> TranscribeOptions:
    connection = state.resolve_connection(gateway, api_key, home, env)
    return TranscribeOptions(gateway=connection.gateway, api_key=connection.api_key, **kw)
