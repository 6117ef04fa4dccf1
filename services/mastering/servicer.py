"""The MasteringService servicer: the stream protocol, limits, cache and progress relay.

No DSP here: the servicer reads the config and the audio (voidline.audio.decode), looks the
job up in the result cache, and otherwise runs `voidline.mastering.engine.MasteringEngine`
in a worker thread, relaying its progress as it comes. The master then goes out in chunks,
the report last. Domain errors are `voidline.errors` exceptions; the shared interceptor maps
them to status codes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc
import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.analysis.convert import audio_format_from_proto
from services.common.model_metrics import ModelTelemetry
from services.common.streams import audio_payload, first_config
from services.mastering.convert import (
    JobConfig,
    ReferenceRequest,
    config_from_proto,
    job_to_proto,
    master_report_to_proto,
    report_metrics,
)
from services.mastering.settings import MasteringServiceSettings
from voidline.audio.decode import PcmDecoder, decode_container
from voidline.audio.format import Encoding
from voidline.errors import InvalidInputError, LimitExceededError, NotFoundError
from voidline.mastering.cache import ResultCache, cache_key
from voidline.mastering.engine import (
    Excerpt,
    MasteringEngine,
    MasteringSettings,
    ReferenceInput,
)
from voidline.mastering.excerpt import DEFAULT_EXCERPT_S
from voidline.mastering.joblog import JobLog, new_job_id
from voidline.mastering.reference import ReferenceProfile
from voidline.mastering.reference_store import ReferenceStore
from voidline.v1 import audio_pb2, mastering_pb2, mastering_pb2_grpc

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
RECEIVE_PROGRESS_EVERY_S = 10.0  # seconds of audio between "receiving" progress messages


class ModelInfo(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def sha256(self) -> str: ...


class MasteringMetrics:
    """Domain metrics (the grpc_server_* series come from the shared runtime)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter(
            "voidline_mastering_jobs_total",
            "Mastering jobs finished, by method and outcome (ok, cached, rejected, error).",
            ["grpc_method", "outcome"],
            registry=registry,
        )
        self.audio_seconds = Counter(
            "voidline_mastering_audio_seconds_total",
            "Seconds of input audio mastered (cache hits not counted).",
            ["grpc_method"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "voidline_mastering_processing_seconds",
            "Wall time from the last input message to the report, per job.",
            ["grpc_method"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
            registry=registry,
        )
        self.loudness_error = Histogram(
            "voidline_mastering_loudness_error_lu",
            "Delivered integrated loudness minus the target, LU, per job.",
            buckets=(-1, -0.5, -0.2, -0.1, -0.05, 0, 0.05, 0.1, 0.2, 0.5, 1),
            registry=registry,
        )
        self.active_jobs = Gauge(
            "voidline_mastering_active_jobs",
            "Master and Preview calls in flight.",
            registry=registry,
        )
        self.model_info = Gauge(
            "voidline_mastering_model_info",
            "1 for the parameter model each precision serves (labels: version, sha256).",
            ["model_version", "precision", "sha256"],
            registry=registry,
        )


class _Input:
    """A call's input as it arrives: decoded PCM blocks or buffered container bytes, hashed."""

    def __init__(self, config: JobConfig, settings: MasteringServiceSettings) -> None:
        self.config = config
        self.settings = settings
        self.hash = hashlib.sha256()
        fmt = config.format
        self.hash.update(f"{config.encoding.name}|{fmt}|".encode())
        self.decoder = None if fmt is None else PcmDecoder(config.encoding, fmt.channels)
        self.blocks: list[NDArray[np.float32]] = []
        self.container = bytearray()
        self.bytes = 0
        self.frames = 0

    @property
    def received_s(self) -> float:
        fmt = self.config.format
        return self.frames / fmt.sample_rate_hz if fmt is not None else 0.0

    def add(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.bytes > self.settings.max_input_bytes:
            raise LimitExceededError(
                f"the input is over the {self.settings.max_input_bytes}-byte limit "
                "(max_input_bytes)"
            )
        self.hash.update(data)
        if self.decoder is None:
            self.container += data
            return
        block = self.decoder.decode(data, frame_offset=self.frames)
        self.frames += block.shape[0]
        self._check_seconds(self.received_s)
        self.blocks.append(block)

    def _check_seconds(self, seconds: float) -> None:
        if seconds > self.settings.max_input_seconds:
            raise LimitExceededError(
                f"the input is longer than the {self.settings.max_input_seconds:g} s one call "
                "may master (max_input_seconds)"
            )

    def finish(self) -> tuple[NDArray[np.float64], int]:
        """The whole input as float64 (frames, channels) and its sample rate."""
        if self.bytes == 0:
            raise InvalidInputError(
                "the stream ended without audio; send audio chunks after the config"
            )
        if self.decoder is None:
            samples, fs, _, _ = decode_container(bytes(self.container))
            self.container = bytearray()
            audio = np.asarray(samples, dtype=np.float64)
            if audio.shape[1] > 2:
                raise InvalidInputError(
                    f"the file has {audio.shape[1]} channels; mastering takes mono or stereo "
                    "(downmix surround to stereo first)"
                )
            self._check_seconds(audio.shape[0] / fs)
            return audio, fs
        assert self.config.format is not None
        audio = np.concatenate(self.blocks).astype(np.float64)
        self.blocks = []
        return audio, self.config.format.sample_rate_hz


def _progress(stage: str, fraction: float, received_s: float) -> mastering_pb2.MasteringProgress:
    return mastering_pb2.MasteringProgress(
        stage=stage,
        fraction=fraction,
        stream=audio_pb2.StreamProgress(received_s=received_s, processed_s=received_s),
    )


def measure_reference(data: bytes) -> ReferenceProfile:
    """Decode a reference file and measure its profile (runs in a worker thread)."""
    samples, fs, _, _ = decode_container(data)
    audio = np.asarray(samples, dtype=np.float64)
    if audio.shape[1] > 2:
        raise InvalidInputError(
            f"the reference has {audio.shape[1]} channels; send a mono or stereo reference"
        )
    return ReferenceProfile.measure(audio, fs)


# A response message of either RPC: Master and Preview share their shape.
Response = mastering_pb2.MasterResponse | mastering_pb2.PreviewResponse


class MasteringServicer(mastering_pb2_grpc.MasteringServiceServicer):  # type: ignore[misc]
    """voidline.v1.MasteringService on grpc.aio. See services/mastering/README.md."""

    def __init__(
        self,
        settings: MasteringServiceSettings,
        engine: MasteringEngine,
        models: Callable[[str], ModelInfo],
        job_log: JobLog,
        cache: ResultCache,
        references: ReferenceStore,
        metrics: MasteringMetrics,
        telemetry: ModelTelemetry | None = None,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._models = models
        self._job_log = job_log
        self._cache = cache
        self._references = references
        self._metrics = metrics
        self._telemetry = telemetry
        self._active = 0  # touched only on the event loop
        self._slots = asyncio.Semaphore(settings.processing_slots)

    # -- RPCs -----------------------------------------------------------------------------

    async def Master(  # noqa: N802 (the RPC name)
        self, request_iterator: AsyncIterator[mastering_pb2.MasterRequest], context: Context
    ) -> AsyncIterator[mastering_pb2.MasterResponse]:
        async for message in self._admitted(request_iterator, "Master"):
            yield message  # type: ignore[misc]

    async def Preview(  # noqa: N802 (the RPC name)
        self, request_iterator: AsyncIterator[mastering_pb2.PreviewRequest], context: Context
    ) -> AsyncIterator[mastering_pb2.PreviewResponse]:
        async for message in self._admitted(request_iterator, "Preview"):
            yield message  # type: ignore[misc]

    async def UploadReference(  # noqa: N802 (the RPC name)
        self,
        request_iterator: AsyncIterator[mastering_pb2.UploadReferenceRequest],
        context: Context,
    ) -> mastering_pb2.UploadReferenceResponse:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("request") != "format":
            raise InvalidInputError(
                "the first UploadReference message must carry the format (a container: "
                "SAMPLE_ENCODING_CONTAINER), then the file's bytes"
            )
        encoding, _ = audio_format_from_proto(first.format)
        if encoding is not Encoding.CONTAINER:
            raise InvalidInputError(
                "UploadReference takes a whole file (WAV, FLAC, OGG, MP3): set "
                "format.encoding to SAMPLE_ENCODING_CONTAINER"
            )
        data = bytearray()
        async for request in requests:
            data += self._audio_of(request)
            if len(data) > self._settings.max_input_bytes:
                raise LimitExceededError(
                    f"the reference is over the {self._settings.max_input_bytes}-byte limit "
                    "(max_input_bytes)"
                )
        if not data:
            raise InvalidInputError("the stream ended without the reference's bytes")
        reference_id = hashlib.sha256(data).hexdigest()
        profile = await asyncio.to_thread(measure_reference, bytes(data))
        await asyncio.to_thread(self._references.save, reference_id, profile)
        return mastering_pb2.UploadReferenceResponse(
            reference_id=reference_id,
            duration_s=profile.duration_s,
            integrated_lufs=profile.integrated_lufs,
        )

    async def GetJob(  # noqa: N802 (the RPC name)
        self, request: mastering_pb2.GetJobRequest, context: Context
    ) -> mastering_pb2.GetJobResponse:
        if not request.job_id:
            raise InvalidInputError("job_id is empty; give the id a Master or Preview returned")
        record = await asyncio.to_thread(self._job_log.get, request.job_id)
        return job_to_proto(record)

    # -- the job protocol -----------------------------------------------------------------

    async def _admitted(self, requests: AsyncIterator[Any], method: str) -> AsyncIterator[Any]:
        limit = self._settings.max_concurrent_jobs
        if self._active >= limit:
            raise LimitExceededError(
                f"the mastering service is already running {limit} jobs "
                "(max_concurrent_jobs); retry later"
            )
        self._active += 1
        self._metrics.active_jobs.inc()
        try:
            async for message in self._job(requests, method):
                yield message
        except (InvalidInputError, NotFoundError, LimitExceededError):
            self._metrics.jobs.labels(method, "rejected").inc()  # the caller's to fix
            raise
        except Exception:
            self._metrics.jobs.labels(method, "error").inc()
            raise
        finally:
            self._active -= 1
            self._metrics.active_jobs.dec()

    async def _job(self, request_iterator: AsyncIterator[Any], method: str) -> AsyncIterator[Any]:
        response = (
            mastering_pb2.MasterResponse if method == "Master" else mastering_pb2.PreviewResponse
        )
        requests = aiter(request_iterator)
        first = await first_config(requests)
        excerpt: Excerpt | None = None
        if method == "Preview":
            preview = first
            excerpt = Excerpt(
                start_s=preview.start_s if preview.HasField("start_s") else None,
                duration_s=preview.duration_s
                if preview.HasField("duration_s")
                else DEFAULT_EXCERPT_S,
            )
            config = config_from_proto(preview.master, self._settings.max_reference_bytes)
        else:
            config = config_from_proto(first, self._settings.max_reference_bytes)

        received = _Input(config, self._settings)
        next_report_s = RECEIVE_PROGRESS_EVERY_S
        async for request in requests:
            received.add(self._audio_of(request))
            if received.received_s >= next_report_s:
                next_report_s += RECEIVE_PROGRESS_EVERY_S
                yield response(progress=_progress("receiving", 0.0, received.received_s))
        started = time.perf_counter()
        audio, fs = await asyncio.to_thread(received.finish)
        received_s = audio.shape[0] / fs
        reference = await self._reference_input(config.reference)
        precision = config.precision or self._settings.default_precision
        settings = MasteringSettings(
            target=config.target,
            intensity=config.intensity,
            style=config.style,
            output_format=config.output_format,
            precision=precision,
            reference=reference,
            excerpt=excerpt,
        )
        input_sha256 = received.hash.hexdigest()
        model = self._models(precision)
        key = cache_key(input_sha256, {**settings.describe(), "model_sha256": model.sha256})

        cached = None if config.skip_cache else self._cache.get(key)
        if cached is not None:
            report = mastering_pb2.MasterReport.FromString(cached.report)
            await asyncio.to_thread(
                self._record_cache_hit, report, method, input_sha256, settings.describe()
            )
            report.processing_s = time.perf_counter() - started
            self._metrics.jobs.labels(method, "cached").inc()
            self._observe_features(report)
            for message in self._audio_messages(cached.audio, response):
                yield message
            yield response(report=report)
            return

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

        def progress(stage: str, fraction: float) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (stage, fraction))

        yield response(progress=_progress("queued", 0.0, received_s))
        async with self._slots:
            task = asyncio.ensure_future(
                asyncio.to_thread(self._engine.master, audio, fs, settings, input_sha256, progress)
            )
            del audio  # the engine holds it now
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    stage, fraction = getter.result()
                    yield response(progress=_progress(stage, fraction, received_s))
                else:
                    getter.cancel()
            while not queue.empty():  # stages reported just before the job returned
                stage, fraction = queue.get_nowait()
                yield response(progress=_progress(stage, fraction, received_s))
            result = task.result()
        report = master_report_to_proto(result)
        report.processing_s = time.perf_counter() - started
        self._observe(method, result.excerpt_duration_s, report)
        self._observe_features(report)
        await asyncio.to_thread(self._cache.put, key, result.encoded, report.SerializeToString())
        for message in self._audio_messages(result.encoded, response):
            yield message
        yield response(report=report)

    # -- helpers --------------------------------------------------------------------------

    async def _reference_input(self, request: ReferenceRequest | None) -> ReferenceInput | None:
        if request is None:
            return None
        if request.data:
            reference_id = hashlib.sha256(request.data).hexdigest()
            profile = await asyncio.to_thread(measure_reference, request.data)
            await asyncio.to_thread(self._references.save, reference_id, profile)
        else:
            reference_id = request.reference_id
            profile = await asyncio.to_thread(self._references.load, reference_id)
        return ReferenceInput(reference_id, profile, request.amount)

    def _audio_messages(self, encoded: bytes, response: Callable[..., Any]) -> list[Any]:
        step = self._settings.output_chunk_bytes
        return [
            response(audio=audio_pb2.AudioChunk(data=encoded[i : i + step]))
            for i in range(0, len(encoded), step)
        ]

    def _audio_of(self, request: Any) -> bytes:
        return audio_payload(request, self._settings.max_chunk_bytes)

    def _observe_features(self, report: mastering_pb2.MasterReport) -> None:
        """Every job's input features go to the drift monitor (cache hits are traffic too)."""
        if self._telemetry is not None and len(report.input.features):
            self._telemetry.observe(list(report.input.features))

    def _observe(self, method: str, audio_s: float, report: mastering_pb2.MasterReport) -> None:
        self._metrics.jobs.labels(method, "ok").inc()
        self._metrics.audio_seconds.labels(method).inc(audio_s)
        self._metrics.processing_seconds.labels(method).observe(report.processing_s)
        error = report.output.loudness.integrated_lufs - report.target_lufs
        if math.isfinite(error):
            self._metrics.loudness_error.observe(error)
        logger.info(
            "mastering job finished",
            extra={
                "job_id": report.job_id,
                "grpc_method": method,
                "audio_s": round(audio_s, 3),
                "processing_s": round(report.processing_s, 3),
                "target_lufs": report.target_lufs,
                "output_lufs": round(report.output.loudness.integrated_lufs, 2),
            },
        )

    def _record_cache_hit(
        self,
        report: mastering_pb2.MasterReport,
        method: str,
        input_sha256: str,
        settings: dict[str, Any],
    ) -> None:
        """A cache hit is a job of its own: new id, logged with the cached numbers."""
        job_id = new_job_id()
        report.job_id = job_id
        report.cached = True
        kind = "preview" if method == "Preview" else "master"
        self._job_log.start(job_id, kind, input_sha256, settings, cached=True)
        self._job_log.succeed(
            job_id,
            list(report.input.features),
            {p.name: p.predicted for p in report.parameters},
            {p.name: p.value for p in report.parameters},
            report.model.version,
            report.model.sha256,
            report_metrics(report),
        )
