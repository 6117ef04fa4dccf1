"""The StemsService servicer: the stream protocol, limits, metrics and the relay of results.

No DSP or model code here. Separate reads the config, resolves the backend
(voidline.stems.separation.SeparatorCatalog), then feeds each audio message to a
SeparationJob in a worker thread and sends every stem block the job finishes, so the first
stems leave while the song is still arriving. Transcribe collects the audio (and separates
the vocals first when asked), then relays segments as faster-whisper decodes them. Domain
errors are `voidline.errors` exceptions; the shared interceptor maps them to status codes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import grpc
import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.streams import audio_payload, first_config
from services.stems.convert import (
    SeparateRequestConfig,
    TranscribeRequestConfig,
    info_to_proto,
    segment_to_proto,
    separate_config_from_proto,
    separation_model_to_proto,
    summary_to_proto,
    transcribe_config_from_proto,
    transcription_model_to_proto,
)
from services.stems.settings import StemsServiceSettings
from voidline.audio.decode import ContainerReader, PcmDecoder
from voidline.audio.encode import encode_pcm
from voidline.audio.format import Encoding
from voidline.errors import InvalidInputError, LimitExceededError, NotFoundError
from voidline.stems.separation import SeparationJob, SeparatorCatalog, separate_whole
from voidline.stems.transcribe import (
    SegmentStream,
    WhisperTranscriber,
    installed_whisper_models,
)
from voidline.v1 import audio_pb2, stems_pb2, stems_pb2_grpc

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")
CONTAINER_BLOCK_FRAMES = 1 << 16
CALLER_ERRORS = (InvalidInputError, NotFoundError, LimitExceededError)


class StemsMetrics:
    """Domain metrics (the grpc_server_* series come from the shared runtime)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter(
            "voidline_stems_jobs_total",
            "Separate and Transcribe calls finished, by backend and outcome (ok, rejected, error).",
            ["grpc_method", "backend", "outcome"],
            registry=registry,
        )
        self.audio_seconds = Counter(
            "voidline_stems_audio_seconds_total",
            "Seconds of input audio separated or transcribed.",
            ["grpc_method", "backend"],
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "voidline_stems_real_time_factor",
            "Processing time over audio duration, per finished call.",
            ["grpc_method", "backend"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
            registry=registry,
        )
        self.first_result_seconds = Histogram(
            "voidline_stems_first_result_seconds",
            "Seconds from the config to the first stem block or transcript segment.",
            ["grpc_method", "backend"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
            registry=registry,
        )
        self.active_jobs = Gauge(
            "voidline_stems_active_jobs",
            "Separate and Transcribe calls in flight.",
            registry=registry,
        )


class _Admission:
    """Counts calls in flight, refuses those over the limit and records each outcome."""

    def __init__(self, limit: int, metrics: StemsMetrics) -> None:
        self.limit = limit
        self.metrics = metrics
        self.active = 0  # touched only on the event loop

    async def run(
        self, method: str, calls: Callable[[dict[str, str]], AsyncIterator[Any]]
    ) -> AsyncIterator[Any]:
        if self.active >= self.limit:
            raise LimitExceededError(
                f"the stems service is already running {self.limit} calls "
                "(max_concurrent_jobs); retry later"
            )
        self.active += 1
        self.metrics.active_jobs.inc()
        labels = {"backend": "none"}  # the call sets it once the backend is known
        try:
            async for message in calls(labels):
                yield message
        except CALLER_ERRORS:
            self.metrics.jobs.labels(method, labels["backend"], "rejected").inc()
            raise
        except Exception:
            self.metrics.jobs.labels(method, labels["backend"], "error").inc()
            raise
        else:
            self.metrics.jobs.labels(method, labels["backend"], "ok").inc()
        finally:
            self.active -= 1
            self.metrics.active_jobs.dec()


def _decode_whole(container: bytes) -> tuple[int, list[NDArray[np.float32]]]:
    with ContainerReader(container) as reader:
        return reader.sample_rate_hz, list(reader.blocks(CONTAINER_BLOCK_FRAMES))


def _close_when_idle(segments: SegmentStream, timeout_s: float = 600.0) -> None:
    """Close a segment generator, waiting while another thread is still advancing it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            segments.close()
            return
        except ValueError:  # "generator already executing"
            if time.monotonic() > deadline:
                logger.warning("a transcription kept decoding after its call ended")
                return
            time.sleep(0.05)


def _next_segment(segments: SegmentStream) -> Any:
    return next(segments, None)


def _transcription_progress(
    stage: str, fraction: float, duration_s: float
) -> stems_pb2.TranscribeResponse:
    return stems_pb2.TranscribeResponse(
        progress=stems_pb2.TranscriptionProgress(
            stage=stage,
            fraction=fraction,
            stream=audio_pb2.StreamProgress(
                received_s=duration_s, processed_s=fraction * duration_s
            ),
        )
    )


class StemsServicer(stems_pb2_grpc.StemsServiceServicer):  # type: ignore[misc]
    """voidline.v1.StemsService on grpc.aio. See services/stems/README.md."""

    def __init__(
        self,
        settings: StemsServiceSettings,
        catalog: SeparatorCatalog,
        metrics: StemsMetrics,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._metrics = metrics
        self._admission = _Admission(settings.max_concurrent_jobs, metrics)
        self._slots = asyncio.Semaphore(settings.processing_slots)
        # The heavy work runs on these threads only: a few long-lived threads keep glibc's
        # per-thread malloc arenas (each holding a segment's peak) few (measured: random
        # worker threads nearly doubled the peak memory of a full-size model).
        self._compute = concurrent.futures.ThreadPoolExecutor(
            settings.processing_slots, thread_name_prefix="stems-compute"
        )
        self._transcribers: dict[str, WhisperTranscriber] = {}

    async def compute(self, function: Callable[..., T], *args: Any) -> T:
        """Run CPU-heavy work on a compute thread once a processing slot is free."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._compute, functools.partial(function, *args))

    # -- RPCs -----------------------------------------------------------------------------

    async def Separate(  # noqa: N802 (the RPC name)
        self, request_iterator: AsyncIterator[stems_pb2.SeparateRequest], context: Context
    ) -> AsyncIterator[stems_pb2.SeparateResponse]:
        def call(labels: dict[str, str]) -> AsyncIterator[Any]:
            return self._separate(aiter(request_iterator), labels)

        async for message in self._admission.run("Separate", call):
            yield message

    async def Transcribe(  # noqa: N802 (the RPC name)
        self, request_iterator: AsyncIterator[stems_pb2.TranscribeRequest], context: Context
    ) -> AsyncIterator[stems_pb2.TranscribeResponse]:
        def call(labels: dict[str, str]) -> AsyncIterator[Any]:
            labels["backend"] = "whisper"
            return self._transcribe(aiter(request_iterator))

        async for message in self._admission.run("Transcribe", call):
            yield message

    async def ListModels(  # noqa: N802 (the RPC name)
        self, request: stems_pb2.ListModelsRequest, context: Context
    ) -> stems_pb2.ListModelsResponse:
        separation = await asyncio.to_thread(self._catalog.installed)
        whisper = await asyncio.to_thread(installed_whisper_models, self._catalog.model_dir)
        return stems_pb2.ListModelsResponse(
            model_dir=str(self._catalog.model_dir),
            separation=[separation_model_to_proto(model) for model in separation],
            transcription=[transcription_model_to_proto(model) for model in whisper],
            default_separation_model=self._catalog.default_model,
            default_transcription_model=self._settings.default_transcription_model,
            dsp_available=True,
        )

    # -- Separate -------------------------------------------------------------------------

    async def _separate(
        self, requests: AsyncIterator[stems_pb2.SeparateRequest], labels: dict[str, str]
    ) -> AsyncIterator[stems_pb2.SeparateResponse]:
        started = time.perf_counter()
        config = separate_config_from_proto(await first_config(requests))
        stream = _SeparationStream(self, config, started, labels)
        if config.format is not None:  # PCM: separate while the audio arrives
            decoder = PcmDecoder(config.encoding, config.format.channels)
            async for message in stream.start(config.format.sample_rate_hz, decoder.channels):
                yield message
            async for request in requests:
                data = self._audio_of(request)
                frames = decoder.decode(data, frame_offset=stream.frames_in)
                async for message in stream.push(frames):
                    yield message
        else:  # a container is decoded once it is whole
            container = await self._container_bytes(requests)
            with await asyncio.to_thread(ContainerReader, container) as reader:
                async for message in stream.start(reader.sample_rate_hz, reader.channels):
                    yield message
                blocks = reader.blocks(CONTAINER_BLOCK_FRAMES)
                while (block := await asyncio.to_thread(next, blocks, None)) is not None:
                    async for message in stream.push(block):
                        yield message
        async for message in stream.finish():
            yield message

    async def _container_bytes(self, requests: AsyncIterator[Any]) -> bytes:
        data = bytearray()
        async for request in requests:
            data += self._audio_of(request)
            if len(data) > self._settings.max_input_bytes:
                raise LimitExceededError(
                    f"the file is over the {self._settings.max_input_bytes}-byte limit "
                    "(max_input_bytes); stream PCM instead, which has no size limit"
                )
        if not data:
            raise InvalidInputError("the stream ended without audio; send the file's bytes")
        return bytes(data)

    def _audio_of(self, request: Any) -> bytes:
        return audio_payload(request, self._settings.max_chunk_bytes)

    # -- Transcribe -----------------------------------------------------------------------

    async def _transcribe(
        self, requests: AsyncIterator[stems_pb2.TranscribeRequest]
    ) -> AsyncIterator[stems_pb2.TranscribeResponse]:
        started = time.perf_counter()
        config = transcribe_config_from_proto(await first_config(requests))
        transcriber = self._transcriber(config.device)
        audio, rate = await self._whole_input(config, requests)
        duration_s = audio.shape[0] / rate
        notes: list[str] = []
        vocals_backend = ""
        if config.vocals_first:
            yield _transcription_progress("separating", 0.0, duration_s)
            audio, vocals_backend, separation_notes = await self._vocals(config, audio, rate)
            notes += separation_notes
        yield _transcription_progress("loading", 0.0, duration_s)
        info, segments = await self.compute(transcriber.transcribe, audio, rate, config.options)
        del audio
        yield stems_pb2.TranscribeResponse(info=info_to_proto(info, vocals_backend))
        count = 0
        first_segment_s = 0.0
        try:
            while True:
                segment = await self.compute(_next_segment, segments)
                if segment is None:
                    break
                if not count:
                    first_segment_s = time.perf_counter() - started
                count += 1
                yield stems_pb2.TranscribeResponse(segment=segment_to_proto(segment))
                yield _transcription_progress(
                    "transcribing", min(1.0, segment.end / duration_s), duration_s
                )
        finally:
            # Stop decoding (also when the caller went away). A cancelled call may leave a
            # next() still running on a compute thread, so the close waits for it there.
            self._compute.submit(_close_when_idle, segments)
        if info.language is None:
            notes.append("no speech was found: the transcript is empty")
        yield _transcription_progress("done", 1.0, duration_s)
        processing_s = time.perf_counter() - started
        metrics = self._metrics
        metrics.audio_seconds.labels("Transcribe", "whisper").inc(duration_s)
        metrics.real_time_factor.labels("Transcribe", "whisper").observe(processing_s / duration_s)
        if count:
            metrics.first_result_seconds.labels("Transcribe", "whisper").observe(first_segment_s)
        yield stems_pb2.TranscribeResponse(
            summary=stems_pb2.TranscribeSummary(
                segment_count=count,
                duration_s=duration_s,
                processing_s=processing_s,
                real_time_factor=processing_s / duration_s,
                model=info.model,
                notes=notes,
            )
        )

    def _transcriber(self, device: str) -> WhisperTranscriber:
        if device not in self._transcribers:
            self._transcribers[device] = WhisperTranscriber(
                self._catalog.model_dir,
                default_model=self._settings.default_transcription_model or None,
                device=device,
                cpu_threads=self._settings.whisper_cpu_threads,
            )
        return self._transcribers[device]

    async def _whole_input(
        self, config: TranscribeRequestConfig, requests: AsyncIterator[Any]
    ) -> tuple[NDArray[np.float32], int]:
        """All the audio of a call (transcription needs the whole of it), within the limits."""
        limit_s = self._settings.max_input_seconds
        too_long = LimitExceededError(
            f"the input is longer than the {limit_s:g} s one call may transcribe "
            "(max_input_seconds)"
        )
        if config.format is None:
            container = await self._container_bytes(requests)
            rate, blocks = await asyncio.to_thread(_decode_whole, container)
        else:
            rate = config.format.sample_rate_hz
            decoder = PcmDecoder(config.encoding, config.format.channels)
            blocks, frames = [], 0
            async for request in requests:
                block = decoder.decode(self._audio_of(request), frame_offset=frames)
                frames += block.shape[0]
                if frames > limit_s * rate:
                    raise too_long
                blocks.append(block)
        audio = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
        if audio.shape[0] == 0:
            raise InvalidInputError("the stream ended without audio; send audio after the config")
        if audio.shape[0] > limit_s * rate:
            raise too_long
        return audio, rate

    async def _vocals(
        self, config: TranscribeRequestConfig, audio: NDArray[np.float32], rate: int
    ) -> tuple[NDArray[np.float32], str, list[str]]:
        """The vocals stem of the whole input, for vocals-first transcription."""
        channels = audio.shape[1]
        if channels > 2:  # separation takes stereo; transcription mixes to mono anyway
            audio = audio.mean(axis=1, keepdims=True, dtype=np.float32)
            channels = 1
        resolved = await asyncio.to_thread(self._catalog.resolve, config.separation, rate)
        job = SeparationJob(resolved, config.separation, rate, channels)
        stems = await self.compute(separate_whole, job, audio)
        return stems["vocals"], resolved.label, list(resolved.notes)


class _SeparationStream:
    """One Separate call's job and the messages it produces."""

    def __init__(
        self,
        servicer: StemsServicer,
        config: SeparateRequestConfig,
        started: float,
        labels: dict[str, str],
    ) -> None:
        self.servicer = servicer
        self.config = config
        self.started = started
        self.labels = labels
        self.job: SeparationJob | None = None
        self.label = ""
        self.notes: list[str] = []
        self.first_stem_s = 0.0
        self.max_frames = 0

    @property
    def frames_in(self) -> int:
        return self.job.frames_in if self.job is not None else 0

    def _response(self, **fields: Any) -> stems_pb2.SeparateResponse:
        return stems_pb2.SeparateResponse(backend=self.label, **fields)

    def _progress(self, stage: str) -> stems_pb2.SeparateResponse:
        assert self.job is not None
        received = self.job.frames_in / self.job.samplerate
        processed = self.job.frames_out / self.job.samplerate
        fraction = 1.0 if stage == "done" else processed / received if received else 0.0
        return self._response(
            progress=stems_pb2.SeparationProgress(
                stage=stage,
                fraction=fraction,
                stream=audio_pb2.StreamProgress(received_s=received, processed_s=processed),
            )
        )

    async def start(self, rate: int, channels: int) -> AsyncIterator[stems_pb2.SeparateResponse]:
        settings = self.servicer._settings
        options = self.config.options
        resolved = await asyncio.to_thread(self.servicer._catalog.resolve, options, rate)
        self.label = resolved.label
        self.labels["backend"] = resolved.backend
        self.job = SeparationJob(resolved, options, rate, channels)
        self.notes.extend(resolved.notes)
        if channels == 1:
            self.notes.append("mono input: separated as dual mono, stems averaged back to mono")
        self.max_frames = int(settings.max_input_seconds * rate)
        yield self._progress("loading")

    async def push(self, frames: NDArray[np.float32]) -> AsyncIterator[stems_pb2.SeparateResponse]:
        assert self.job is not None
        if self.job.frames_in + frames.shape[0] > self.max_frames:
            raise LimitExceededError(
                f"the input is longer than the {self.servicer._settings.max_input_seconds:g} s "
                "one call may separate (max_input_seconds)"
            )
        stems = await self.servicer.compute(self.job.push, frames)
        for message in self._stem_messages(stems):
            yield message

    async def finish(self) -> AsyncIterator[stems_pb2.SeparateResponse]:
        if self.job is None or self.job.frames_in == 0:
            raise InvalidInputError("the stream ended without audio; send audio after the config")
        job = self.job
        stems = await self.servicer.compute(job.finish)
        for message in self._stem_messages(stems):
            yield message
        if job.silent:
            self.notes.append("the input is digital silence: every stem is silent")
        yield self._progress("done")
        processing_s = time.perf_counter() - self.started
        summary = summary_to_proto(
            job,
            self.config.output_encoding,
            self.config.options,
            processing_s,
            self.first_stem_s,
            self.notes,
        )
        self._observe(summary)
        yield self._response(summary=summary)

    def _stem_messages(self, stems: dict[str, NDArray[np.float32]]) -> Iterator[Any]:
        assert self.job is not None
        count = next(iter(stems.values())).shape[0] if stems else 0
        if count == 0:
            return
        if not self.first_stem_s:
            self.first_stem_s = time.perf_counter() - self.started
        start = self.job.frames_out - count
        encoding: Encoding = self.config.output_encoding
        frame_bytes = self.job.channels * encoding.bytes_per_sample
        step = max(1, self.servicer._settings.output_chunk_bytes // frame_bytes)
        for offset in range(0, count, step):
            for stem, frames in stems.items():
                block = frames[offset : offset + step]
                yield self._response(
                    audio=stems_pb2.StemAudio(
                        stem=stem,
                        data=encode_pcm(block, encoding),
                        start_frame=start + offset,
                        frame_count=block.shape[0],
                    )
                )
        yield self._progress("separating")

    def _observe(self, summary: stems_pb2.SeparateSummary) -> None:
        metrics = self.servicer._metrics
        backend = summary.backend
        metrics.audio_seconds.labels("Separate", backend).inc(summary.duration_s)
        if summary.duration_s > 0:
            metrics.real_time_factor.labels("Separate", backend).observe(summary.real_time_factor)
        metrics.first_result_seconds.labels("Separate", backend).observe(summary.first_stem_s)
        logger.info(
            "separation finished",
            extra={
                "backend": self.label,
                "audio_s": round(summary.duration_s, 3),
                "processing_s": round(summary.processing_s, 3),
                "first_stem_s": round(summary.first_stem_s, 3),
                "reconstruction_error_db": round(summary.reconstruction_error_db, 1),
            },
        )
