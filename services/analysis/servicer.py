"""The AnalysisService servicer: validates requests, decodes audio, drives StreamingAnalyzer.

The servicer holds no DSP: it checks the stream protocol and the limits, converts protobuf to
domain values (convert.py), decodes bytes (voidline.audio.decode) and pushes frames to
`voidline.analysis.analyzer.StreamingAnalyzer`. Domain errors are raised as
`voidline.errors` exceptions; the shared error interceptor turns them into status codes.

The analysis is CPU-bound numpy, so every decode and push runs in a worker thread
(`asyncio.to_thread`): the event loop stays free for other calls' I/O. One call awaits each
push before reading the next message, so a stream's audio is analysed strictly in order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.analysis.convert import (
    StreamConfig,
    config_from_proto,
    live_to_proto,
    report_to_proto,
)
from services.analysis.settings import AnalysisSettings
from services.common.streams import audio_payload
from voidline.analysis.analyzer import StreamingAnalyzer
from voidline.analysis.report import AnalysisReport, LiveLoudness
from voidline.audio.decode import ContainerReader, PcmDecoder
from voidline.audio.format import AudioFormat, Encoding
from voidline.errors import InvalidInputError, LimitExceededError
from voidline.v1 import analysis_pb2, analysis_pb2_grpc, audio_pb2

logger = logging.getLogger(__name__)

# Audio messages a stream may read ahead of its analysis. Bursts are then analysed in one push;
# past the limit, gRPC flow control slows the client down. At the 4 MiB cap per message this
# bounds a stream's read-ahead to 64 MiB; at the usual 100 ms per message, to 1.6 s of audio.
READ_AHEAD_MESSAGES = 16

# Frames decoded and pushed per step when a whole file is analysed (about 1.4 s at 48 kHz):
# large enough for numpy to be efficient, small enough to keep memory flat.
BLOCK_FRAMES = 1 << 16

Context = grpc.aio.ServicerContext[Any, Any]


class AnalysisMetrics:
    """The service's domain metrics (the grpc_server_* series come from the shared runtime)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.audio_seconds = Counter(
            "voidline_analysis_audio_seconds_total",
            "Seconds of audio analysed, counted as it is pushed to the meters.",
            ["grpc_method"],
            registry=registry,
        )
        self.realtime_factor = Histogram(
            "voidline_analysis_realtime_factor",
            "Seconds of audio analysed per wall-clock second spent decoding and analysing it, "
            "one observation per completed call (time waiting for the client is not counted).",
            ["grpc_method"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
            registry=registry,
        )
        self.active_streams = Gauge(
            "voidline_analysis_active_streams",
            "StreamAnalyze calls in flight.",
            registry=registry,
        )
        self.integrated_lufs = Histogram(
            "voidline_analysis_integrated_lufs",
            "Integrated loudness (BS.1770-5) of each completed analysis; silence is not observed.",
            buckets=(
                -60,
                -40,
                -30,
                -27,
                -24,
                -23,
                -22,
                -20,
                -18,
                -16,
                -14,
                -12,
                -10,
                -8,
                -6,
                -3,
                0,
            ),
            registry=registry,
        )


class _Analysis:
    """One call's analysis: the analyzer, its limits and the time spent working.

    Its methods run in a worker thread, one at a time. `stop` is set when the call ends early
    (cancelled, deadline, shutdown) so a long file decode does not keep burning CPU.
    """

    def __init__(
        self,
        fmt: AudioFormat,
        config: StreamConfig,
        source_encoding: Encoding,
        *,
        max_seconds: float,
        method: str,
        metrics: AnalysisMetrics,
    ) -> None:
        self.analyzer = StreamingAnalyzer(fmt, config.options(source_encoding))
        self.rate = fmt.sample_rate_hz
        self.max_seconds = max_seconds
        self.max_frames = math.floor(max_seconds * fmt.sample_rate_hz)
        self.method = method
        self.metrics = metrics
        self.received_frames = 0
        self.busy_s = 0.0

    @property
    def received_s(self) -> float:
        return self.received_frames / self.rate

    def accept(self, frame_count: int) -> None:
        """Count frames in, refusing them past the stream-length limit."""
        if self.received_frames + frame_count > self.max_frames:
            raise LimitExceededError(
                f"the audio is longer than the {self.max_seconds:g} s this service analyses "
                "in one call (max_stream_seconds)"
            )
        self.received_frames += frame_count

    def push(
        self, frames: NDArray[np.floating], interim_every_s: float | None
    ) -> list[LiveLoudness]:
        """Analyse frames; with `interim_every_s`, return the live meter at each interval."""
        started = time.perf_counter()
        if interim_every_s is None:
            self.analyzer.push(frames)
            lives = []
        else:
            lives = list(self.analyzer.push_with_interim(frames, interim_every_s))
        self.busy_s += time.perf_counter() - started
        self.metrics.audio_seconds.labels(self.method).inc(frames.shape[0] / self.rate)
        return lives

    def finish(self) -> AnalysisReport:
        if self.analyzer.frames_processed == 0:
            raise InvalidInputError(
                "the stream ended without audio; send at least one audio chunk after the config"
            )
        started = time.perf_counter()
        report = self.analyzer.finish()
        self.busy_s += time.perf_counter() - started
        seconds = self.analyzer.seconds_processed
        factor = seconds / self.busy_s if self.busy_s > 0 else None
        if factor is not None:
            self.metrics.realtime_factor.labels(self.method).observe(factor)
        lufs = report.loudness.integrated_lufs
        if math.isfinite(lufs):
            self.metrics.integrated_lufs.observe(lufs)
        logger.info(
            "analysis finished",
            extra={
                "grpc_method": self.method,
                "audio_s": round(seconds, 3),
                # JSON has no -inf: silence logs null.
                "integrated_lufs": round(lufs, 2) if math.isfinite(lufs) else None,
                "realtime_factor": round(factor, 1) if factor is not None else None,
            },
        )
        return report


# Builds a call's _Analysis once the audio format is known (for a container: after opening it).
AnalysisFactory = Callable[[AudioFormat, Encoding], _Analysis]


def _analyse_container(
    data: bytes | bytearray, config: StreamConfig, start: AnalysisFactory, stop: threading.Event
) -> AnalysisReport | None:
    """Decode a whole file block by block and analyse it (runs in a worker thread).

    Returns None when `stop` was set: the call is gone and nobody reads the result.
    """
    with ContainerReader(data) as reader:
        fmt = config.format_for_container(reader.sample_rate_hz, reader.channels)
        analysis = start(fmt, reader.source_encoding)
        for block in reader.blocks(BLOCK_FRAMES):
            if stop.is_set():
                return None
            analysis.accept(block.shape[0])
            analysis.push(block, None)
    return analysis.finish()


def _analyse_pcm(
    data: bytes, fmt: AudioFormat, encoding: Encoding, start: AnalysisFactory, stop: threading.Event
) -> AnalysisReport | None:
    """Decode and analyse one buffer of raw PCM block by block (runs in a worker thread)."""
    decoder = PcmDecoder(encoding, fmt.channels)
    analysis = start(fmt, encoding)
    analysis.accept(decoder.frame_count(len(data)))
    step = BLOCK_FRAMES * decoder.frame_bytes
    for offset in range(0, len(data), step):
        if stop.is_set():
            return None
        frames = decoder.decode(
            data[offset : offset + step], frame_offset=offset // decoder.frame_bytes
        )
        analysis.push(frames, None)
    return analysis.finish()


async def _batches(
    queue: asyncio.Queue[bytes | BaseException | None],
) -> AsyncIterator[list[bytes]]:
    """Everything read ahead so far, one list per step, until the reader's None.

    A client that sends faster than the meters run gets its queued messages analysed in one
    push, so the per-push cost is paid once per burst rather than once per 100 ms message.
    """
    while True:
        batch: list[bytes] = []
        item = await queue.get()
        while True:
            if isinstance(item, BaseException):
                raise item
            if item is None:
                if batch:
                    yield batch
                return
            batch.append(item)
            if queue.empty():
                break
            item = queue.get_nowait()
        yield batch


def _progress(received_s: float, processed_s: float) -> audio_pb2.StreamProgress:
    return audio_pb2.StreamProgress(received_s=received_s, processed_s=processed_s)


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):  # type: ignore[misc]
    """voidline.v1.AnalysisService on grpc.aio. See services/analysis/README.md for the API."""

    def __init__(self, settings: AnalysisSettings, metrics: AnalysisMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._active_streams = 0  # touched only on the event loop, so no lock

    async def StreamAnalyze(  # noqa: N802 (the RPC name)
        self,
        request_iterator: AsyncIterator[analysis_pb2.StreamAnalyzeRequest],
        context: Context,
    ) -> AsyncIterator[analysis_pb2.StreamAnalyzeResponse]:
        limit = self._settings.max_concurrent_streams
        if self._active_streams >= limit:
            raise LimitExceededError(
                f"the analysis service is already running {limit} streams "
                "(max_concurrent_streams); retry later"
            )
        self._active_streams += 1
        self._metrics.active_streams.inc()
        stop = threading.Event()
        try:
            async for response in self._stream(request_iterator, stop):
                yield response
        finally:
            stop.set()
            self._active_streams -= 1
            self._metrics.active_streams.dec()

    async def Analyze(  # noqa: N802 (the RPC name)
        self, request: analysis_pb2.AnalyzeRequest, context: Context
    ) -> analysis_pb2.AnalyzeResponse:
        config = config_from_proto(request.config)
        data: bytes = request.data
        if not data:
            raise InvalidInputError(
                "AnalyzeRequest.data is empty; send the file's bytes or raw PCM"
            )
        self._check_file_size(len(data))
        start = functools.partial(self._new_analysis, config, "Analyze")
        stop = threading.Event()
        try:
            if config.format is None:  # a container
                report = await asyncio.to_thread(_analyse_container, data, config, start, stop)
            else:
                report = await asyncio.to_thread(
                    _analyse_pcm, data, config.format, config.encoding, start, stop
                )
        finally:
            stop.set()
        assert report is not None  # None only when stopped, and then nobody is waiting
        return analysis_pb2.AnalyzeResponse(report=report_to_proto(report))

    # -- the stream protocol --------------------------------------------------------------

    async def _stream(
        self,
        request_iterator: AsyncIterator[analysis_pb2.StreamAnalyzeRequest],
        stop: threading.Event,
    ) -> AsyncIterator[analysis_pb2.StreamAnalyzeResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None:
            raise InvalidInputError(
                "the stream ended before the config; send an AnalysisConfig, then audio"
            )
        kind = first.WhichOneof("request")
        if kind == "audio":
            raise InvalidInputError("the first message must carry the config; audio arrived first")
        if kind != "config":
            raise InvalidInputError("the first message is empty; it must carry the config")
        config = config_from_proto(first.config)

        if config.encoding is Encoding.CONTAINER:
            response = await self._stream_container(requests, config, stop)
            yield response
            return

        assert config.format is not None
        analysis = self._new_analysis(config, "StreamAnalyze", config.format, config.encoding)
        decoder = PcmDecoder(config.encoding, config.format.channels)
        every_s = config.interim_interval_s if config.interim_results else None
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(READ_AHEAD_MESSAGES)
        reader = asyncio.create_task(self._read_audio(requests, analysis, decoder, queue))
        try:
            async for batch in _batches(queue):
                offset = analysis.analyzer.frames_processed
                lives = await asyncio.to_thread(
                    self._decode_and_push, decoder, b"".join(batch), offset, analysis, every_s
                )
                for live in lives:
                    yield analysis_pb2.StreamAnalyzeResponse(
                        is_final=False,
                        progress=_progress(analysis.received_s, live.stream_time_s),
                        interim=live_to_proto(live),
                    )
        finally:
            reader.cancel()
        report = await asyncio.to_thread(analysis.finish)
        yield analysis_pb2.StreamAnalyzeResponse(
            is_final=True,
            progress=_progress(analysis.received_s, report.duration_s),
            report=report_to_proto(report),
        )

    async def _read_audio(
        self,
        requests: AsyncIterator[analysis_pb2.StreamAnalyzeRequest],
        analysis: _Analysis,
        decoder: PcmDecoder,
        queue: asyncio.Queue[bytes | BaseException | None],
    ) -> None:
        """Read audio messages ahead of the analysis; end with None, or the error raised."""
        try:
            async for request in requests:
                data = self._audio_of(request)
                analysis.accept(decoder.frame_count(len(data)))
                await queue.put(data)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # handed to the analysis loop, which raises it in order
            await queue.put(error)
        else:
            await queue.put(None)

    async def _stream_container(
        self,
        requests: AsyncIterator[analysis_pb2.StreamAnalyzeRequest],
        config: StreamConfig,
        stop: threading.Event,
    ) -> analysis_pb2.StreamAnalyzeResponse:
        """Buffer a container's bytes until half-close, then decode and analyse it.

        A file can only be decoded as a whole (headers, codec frames), so containers give no
        interim results.
        """
        buffer = bytearray()
        async for request in requests:
            data = self._audio_of(request)
            self._check_file_size(len(buffer) + len(data))
            buffer += data
        if not buffer:
            raise InvalidInputError(
                "the stream ended without audio; send the file's bytes after the config"
            )
        start = functools.partial(self._new_analysis, config, "StreamAnalyze")
        report = await asyncio.to_thread(_analyse_container, buffer, config, start, stop)
        assert report is not None
        return analysis_pb2.StreamAnalyzeResponse(
            is_final=True,
            progress=_progress(report.duration_s, report.duration_s),
            report=report_to_proto(report),
        )

    # -- helpers ------------------------------------------------------------------------

    def _audio_of(self, request: analysis_pb2.StreamAnalyzeRequest) -> bytes:
        """The audio bytes of a message after the first, checked against the protocol and cap."""
        return audio_payload(request, self._settings.max_chunk_bytes)

    def _check_file_size(self, size: int) -> None:
        cap = self._settings.max_file_bytes
        if size > cap:
            raise LimitExceededError(
                f"the file is over the {cap}-byte limit (max_file_bytes); "
                "send raw PCM with StreamAnalyze for longer audio"
            )

    @staticmethod
    def _decode_and_push(
        decoder: PcmDecoder,
        data: bytes,
        offset: int,
        analysis: _Analysis,
        every_s: float | None,
    ) -> list[LiveLoudness]:
        return analysis.push(decoder.decode(data, frame_offset=offset), every_s)

    def _new_analysis(
        self, config: StreamConfig, method: str, fmt: AudioFormat, source_encoding: Encoding
    ) -> _Analysis:
        return _Analysis(
            fmt,
            config,
            source_encoding,
            max_seconds=self._settings.max_stream_seconds,
            method=method,
            metrics=self._metrics,
        )
