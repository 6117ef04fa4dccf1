"""`voidline stems IN OUTDIR`: separate a file into stems through the gateway's StemsService.

The input streams as PCM, config first (as `voidline analyze` does). Stems come back as raw
float PCM blocks while the song is still being separated; each stem is written block by
block to a temporary file in OUTDIR and renamed to `<stem>.<ext>` once the summary has
arrived, so OUTDIR never holds a half-written stem under its final name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc
import soundfile

from voidline.audio.decode import PcmDecoder
from voidline.audio.format import Encoding
from voidline.cli import state
from voidline.cli.analyze import WIRE_ENCODING
from voidline.cli.audio_source import AudioSource, AudioSourceError, chunk_frames
from voidline.cli.grpc_client import API_KEY_METADATA, open_channel, report_failed_stream
from voidline.v1 import audio_pb2, stems_pb2, stems_pb2_grpc

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
CHUNK_MS = 100.0
BACKENDS = {
    "auto": stems_pb2.SEPARATION_BACKEND_AUTO,
    "demucs": stems_pb2.SEPARATION_BACKEND_DEMUCS,
    "dsp": stems_pb2.SEPARATION_BACKEND_DSP,
}
# Output file formats: (soundfile format, subtype, extension).
FORMATS = {
    "wav": ("WAV", "PCM_24", "wav"),
    "wav16": ("WAV", "PCM_16", "wav"),
    "f32": ("WAV", "FLOAT", "wav"),
    "flac": ("FLAC", "PCM_24", "flac"),
}


@dataclass(frozen=True)
class StemsOptions:
    source: Path
    out_dir: Path
    gateway: str
    api_key: str | None
    model: str = ""
    backend: str = "auto"
    stems: tuple[str, ...] = ()
    shifts: int = 0
    overlap: float | None = None
    file_format: str = "wav"
    as_json: bool = False


def build_config(options: StemsOptions, source: AudioSource) -> stems_pb2.SeparateConfig:
    """The stream's first message (raises ValueError for a bad flag)."""
    if options.backend not in BACKENDS:
        raise ValueError(f"unknown --backend {options.backend!r}; use {', '.join(BACKENDS)}")
    if options.file_format not in FORMATS:
        raise ValueError(f"unknown --format {options.file_format!r}; use {', '.join(FORMATS)}")
    config = stems_pb2.SeparateConfig(
        format=audio_pb2.AudioFormat(
            encoding=WIRE_ENCODING[source.encoding],
            sample_rate_hz=source.format.sample_rate_hz,
            channel_count=source.format.channels,
        ),
        backend=BACKENDS[options.backend],
        model=options.model,
        stems=list(options.stems),
        shifts=options.shifts,
        output_encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
    )
    if options.overlap is not None:
        config.overlap = options.overlap
    return config


def _requests(
    config: stems_pb2.SeparateConfig, source: AudioSource, errors: list[AudioSourceError]
) -> Iterator[stems_pb2.SeparateRequest]:
    yield stems_pb2.SeparateRequest(config=config)
    try:
        for data in source.chunks(chunk_frames(source.format.sample_rate_hz, CHUNK_MS)):
            yield stems_pb2.SeparateRequest(audio=audio_pb2.AudioChunk(data=data))
    except AudioSourceError as e:  # raised on gRPC's thread: keep it for the caller
        errors.append(e)


class _StemWriters:
    """One open sound file per stem, under a temporary name until `commit`."""

    def __init__(self, options: StemsOptions, source: AudioSource) -> None:
        self.options = options
        self.source = source
        self.decoder = PcmDecoder(Encoding.PCM_F32LE, source.format.channels)
        self.files: dict[str, soundfile.SoundFile] = {}
        self.frames: dict[str, int] = {}

    def final_path(self, stem: str) -> Path:
        return self.options.out_dir / f"{stem}.{FORMATS[self.options.file_format][2]}"

    def _temporary(self, stem: str) -> Path:
        final = self.final_path(stem)
        return final.with_name(f".{final.name}.part")

    def write(self, audio: stems_pb2.StemAudio) -> None:
        if audio.stem not in self.files:
            major, subtype, _ = FORMATS[self.options.file_format]
            self.files[audio.stem] = soundfile.SoundFile(
                str(self._temporary(audio.stem)),
                mode="w",
                samplerate=self.source.format.sample_rate_hz,
                channels=self.source.format.channels,
                format=major,
                subtype=subtype,
            )
            self.frames[audio.stem] = 0
        if audio.start_frame != self.frames[audio.stem]:
            raise OSError(f"stem {audio.stem} block at frame {audio.start_frame} is out of order")
        block = self.decoder.decode(audio.data)
        self.files[audio.stem].write(block)
        self.frames[audio.stem] += block.shape[0]

    def close(self) -> None:
        for file in self.files.values():
            file.close()

    def commit(self) -> dict[str, Path]:
        self.close()
        paths = {}
        for stem in self.files:
            self._temporary(stem).replace(self.final_path(stem))
            paths[stem] = self.final_path(stem)
        return paths

    def discard(self) -> None:
        self.close()
        for stem in self.files:
            self._temporary(stem).unlink(missing_ok=True)


def summary_json(summary: Any, paths: Mapping[str, Path], options: StemsOptions) -> dict[str, Any]:
    """The --json object."""
    return {
        "input_file": str(options.source),
        "backend": summary.backend,
        "model": summary.model,
        "stems": {stem: str(path) for stem, path in paths.items()},
        "sample_rate_hz": summary.sample_rate_hz,
        "channel_count": summary.channel_count,
        "duration_s": summary.duration_s,
        "processing_s": summary.processing_s,
        "real_time_factor": summary.real_time_factor,
        "first_stem_s": summary.first_stem_s,
        "reconstruction_error_db": summary.reconstruction_error_db,
        "segment_s": summary.segment_s,
        "overlap": summary.overlap,
        "shifts": summary.shifts,
        "device": summary.device,
        "notes": list(summary.notes),
    }


def format_summary(summary: Any, paths: Mapping[str, Path], options: StemsOptions) -> str:
    label = f"demucs:{summary.model}" if summary.backend == "demucs" else summary.backend
    lines = [f"{options.source} -> {options.out_dir}  ({label})"]
    lines += [f"{stem:<10}  {path}" for stem, path in paths.items()]
    error = summary.reconstruction_error_db
    lines += [
        f"time        {summary.processing_s:.2f} s for {summary.duration_s:.2f} s of audio "
        f"({summary.real_time_factor:.2f}x real time), first stem after "
        f"{summary.first_stem_s:.2f} s",
        "sum check   stems sum back to the input within "
        + (f"{error:.1f} dB" if math.isfinite(error) else "float rounding"),
    ]
    lines += [f"note        {note}" for note in summary.notes]
    return "\n".join(lines) + "\n"


def separate(options: StemsOptions, stdout: TextIO, stderr: TextIO) -> int:
    """Separate one file; exit code 0, 1 (the call failed) or 2 (bad local input or flags)."""
    try:
        source = AudioSource.open(options.source)
        config = build_config(options, source)
        options.out_dir.mkdir(parents=True, exist_ok=True)
    except (AudioSourceError, ValueError, OSError) as e:
        stderr.write(f"error: {e}\n")
        return EXIT_USAGE
    metadata = [(API_KEY_METADATA, options.api_key)] if options.api_key else []
    errors: list[AudioSourceError] = []
    writers = _StemWriters(options, source)
    summary = None
    try:
        with open_channel(options.gateway) as channel:
            stub = stems_pb2_grpc.StemsServiceStub(channel)
            for response in stub.Separate(_requests(config, source, errors), metadata=metadata):
                kind = response.WhichOneof("response")
                if kind == "audio":
                    writers.write(response.audio)
                elif kind == "summary":
                    summary = response.summary
                elif kind == "progress" and stderr.isatty():
                    progress = response.progress
                    stderr.write(
                        f"\r{response.backend} {progress.stage:<10} "
                        f"{progress.stream.processed_s:7.1f} s"
                    )
        if stderr.isatty():
            stderr.write("\r" + " " * 40 + "\r")
    except grpc.RpcError as e:
        writers.discard()
        return report_failed_stream(e, errors, options.gateway, stderr)
    except (OSError, soundfile.LibsndfileError) as e:
        writers.discard()
        stderr.write(f"error: cannot write the stems into {options.out_dir}: {e}\n")
        return EXIT_USAGE
    if errors or summary is None:
        writers.discard()
        stderr.write(f"error: {errors[0] if errors else 'the stream ended without a summary'}\n")
        return EXIT_USAGE if errors else EXIT_RPC_ERROR
    paths = writers.commit()
    if options.as_json:
        stdout.write(json.dumps(summary_json(summary, paths, options), allow_nan=False) + "\n")
    else:
        stdout.write(format_summary(summary, paths, options))
    return EXIT_OK


def resolve_options(
    *, gateway: str | None, api_key: str | None, home: str | None, env: Mapping[str, str], **kw: Any
) -> StemsOptions:
    connection = state.resolve_connection(gateway, api_key, home, env)
    return StemsOptions(gateway=connection.gateway, api_key=connection.api_key, **kw)
