"""`voidline analyze FILE`: stream a file through the gateway's StreamAnalyze and show the report.

The call follows the API's config-first convention: one AnalysisConfig message, then one
AudioChunk per ``--chunk-ms`` of audio, produced lazily by a generator so the file is read while
it is sent and never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc

from voidline.audio.format import Encoding
from voidline.cli import state
from voidline.cli.audio_source import AudioSource, AudioSourceError, chunk_frames
from voidline.cli.grpc_client import API_KEY_METADATA, describe_rpc_error, open_channel, rpc_code
from voidline.cli.progress import ProgressBar
from voidline.cli.report_format import flatten_report, format_report
from voidline.v1 import analysis_pb2, analysis_pb2_grpc, audio_pb2

# Interim results drive the progress bar; once per second of audio is plenty for that and
# costs the server almost nothing.
INTERIM_INTERVAL_S = 1.0

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2

WIRE_ENCODING = {
    Encoding.PCM_S16LE: audio_pb2.SAMPLE_ENCODING_PCM_S16LE,
    Encoding.PCM_S24LE: audio_pb2.SAMPLE_ENCODING_PCM_S24LE,
    Encoding.PCM_F32LE: audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
}


@dataclass(frozen=True)
class AnalyzeOptions:
    """What `voidline analyze` was asked to do, resolved from flags, environment and state."""

    path: Path
    gateway: str
    api_key: str | None
    chunk_ms: float = 100.0
    target_lufs: float | None = None
    as_json: bool = False
    interim: bool = False


def build_config(
    source: AudioSource, *, interim: bool, target_lufs: float | None
) -> Any:  # analysis_pb2.AnalysisConfig (the generated stubs are untyped)
    """The stream's first message: the file's format and what to report while streaming."""
    config = analysis_pb2.AnalysisConfig(
        format=audio_pb2.AudioFormat(
            encoding=WIRE_ENCODING[source.encoding],
            sample_rate_hz=source.format.sample_rate_hz,
            channel_count=source.format.channels,
        ),
        interim_results=interim,
        interim_interval_s=INTERIM_INTERVAL_S if interim else 0.0,
    )
    if target_lufs is not None:
        config.options.target_lufs = target_lufs
    return config


class RequestStream:
    """The request iterator: config, then the file chunk by chunk.

    gRPC pulls it on its own thread, where an exception would only be logged and the call
    cancelled; so a decode error is kept in ``error`` for the caller, and the stream just ends.
    """

    def __init__(self, config: Any, source: AudioSource, frames_per_chunk: int) -> None:
        self._config = config
        self._source = source
        self._frames_per_chunk = frames_per_chunk
        self.error: AudioSourceError | None = None

    def __iter__(self) -> Iterator[Any]:
        yield analysis_pb2.StreamAnalyzeRequest(config=self._config)
        try:
            for data in self._source.chunks(self._frames_per_chunk):
                yield analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=data))
        except AudioSourceError as e:
            self.error = e


def _format_interim(live: Any) -> str:
    def lufs(value: float, ready: bool = True) -> str:
        return f"{value:6.1f}" if ready and value > float("-inf") else "   -- "

    return (
        f"{live.stream_time_s:7.1f} s  M {lufs(live.momentary_lufs, live.momentary_ready)}  "
        f"S {lufs(live.short_term_lufs, live.short_term_ready)}  "
        f"I {lufs(live.integrated_lufs)} LUFS  TP {lufs(live.true_peak_dbtp)} dBTP"
    )


def _hint(error: grpc.RpcError, options: AnalyzeOptions) -> str | None:
    code = rpc_code(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return (
            f"no gateway answered at {options.gateway}: start one with `voidline up`, "
            "or pass --gateway / set VOIDLINE_GATEWAY"
        )
    if code == grpc.StatusCode.UNAUTHENTICATED and options.api_key is None:
        return "no API key found: pass --api-key, set VOIDLINE_API_KEY or run `voidline up`"
    return None


def analyze(options: AnalyzeOptions, stdout: TextIO, stderr: TextIO) -> int:
    """Run one analysis; the exit code is 0, 1 (the call failed) or 2 (bad local input)."""
    try:
        source = AudioSource.open(options.path)
        frames_per_chunk = chunk_frames(source.format.sample_rate_hz, options.chunk_ms)
    except (AudioSourceError, ValueError) as e:
        stderr.write(f"error: {e}\n")
        return EXIT_USAGE

    show_progress = stderr.isatty()
    config = build_config(
        source, interim=show_progress or options.interim, target_lufs=options.target_lufs
    )
    requests = RequestStream(config, source, frames_per_chunk)
    metadata = [(API_KEY_METADATA, options.api_key)] if options.api_key else []
    progress = ProgressBar(stderr, source.duration_s) if show_progress else None
    report = None
    try:
        with open_channel(options.gateway) as channel:
            stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
            call = stub.StreamAnalyze(iter(requests), metadata=metadata)
            for response in call:
                if requests.error is not None:
                    call.cancel()  # the rest of the file cannot be read: stop the server too
                    break
                if response.is_final:
                    report = response.report
                    continue
                if options.interim:
                    if progress is not None:
                        progress.close()
                    stderr.write(_format_interim(response.interim) + "\n")
                if progress is not None:
                    progress.update(response.progress.processed_s)
    except grpc.RpcError as e:
        if requests.error is None:
            if progress is not None:
                progress.close()
            stderr.write(f"error: {describe_rpc_error(e)}\n")
            hint = _hint(e, options)
            if hint:
                stderr.write(f"hint: {hint}\n")
            return EXIT_RPC_ERROR
    finally:
        if progress is not None:
            progress.close()

    if requests.error is not None:
        stderr.write(f"error: {requests.error}\n")
        return EXIT_USAGE
    if report is None:
        stderr.write("error: the server ended the stream without a final report\n")
        return EXIT_RPC_ERROR

    if options.as_json:
        data = {"file": str(options.path), **flatten_report(report)}
        stdout.write(json.dumps(data, allow_nan=False) + "\n")
    else:
        stdout.write(format_report(report, str(options.path)))
    return EXIT_OK


def resolve_options(
    *,
    path: str,
    gateway: str | None,
    api_key: str | None,
    home: str | None,
    chunk_ms: float,
    target_lufs: float | None,
    as_json: bool,
    interim: bool,
    env: Mapping[str, str],
) -> AnalyzeOptions:
    """Fill in the gateway and key from flags, environment and `voidline up`'s state dir."""
    home_dir = state.resolve_home(home, env)
    return AnalyzeOptions(
        path=Path(path),
        gateway=state.resolve_gateway(gateway, env, home_dir),
        api_key=state.resolve_api_key(api_key, env, home_dir),
        chunk_ms=chunk_ms,
        target_lufs=target_lufs,
        as_json=as_json,
        interim=interim,
    )
