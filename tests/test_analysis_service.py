"""The analysis service over real gRPC on loopback: stream protocol, reports, errors, metrics."""

from __future__ import annotations

import io
import queue
from collections.abc import Iterator, Sequence

import grpc
import numpy as np
import pytest
import soundfile
from numpy.typing import NDArray

from services.analysis.server import SERVICE_NAME, build_runtime
from services.analysis.settings import AnalysisSettings
from tests.support.metrics import scrape, series
from tests.support.servers import BackgroundRuntime
from voidline.v1 import analysis_pb2, analysis_pb2_grpc, audio_pb2

RATE = 48_000
SECONDS = 5.0
LEVEL_DBFS = -23.0
# A 1 kHz stereo sine at -23 dBFS peak per channel reads -22.993 LUFS (BS.1770-5; the
# -0.691 constant is exact at 997 Hz).
EXPECTED_LUFS = -22.993
CALL_TIMEOUT_S = 120  # guards against a hang only

Encoding = audio_pb2.SampleEncoding
F32: Encoding = audio_pb2.SAMPLE_ENCODING_PCM_F32LE
S16: Encoding = audio_pb2.SAMPLE_ENCODING_PCM_S16LE
CONTAINER: Encoding = audio_pb2.SAMPLE_ENCODING_CONTAINER
Request = analysis_pb2.StreamAnalyzeRequest


# -- audio and request builders --------------------------------------------------------------


def _sine(seconds: float = SECONDS, level_dbfs: float = LEVEL_DBFS) -> NDArray[np.float64]:
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * 1000 * t)
    return np.stack([tone, tone], axis=1)


def _pcm_bytes(frames: NDArray[np.float64], encoding: Encoding = F32) -> bytes:
    if encoding == S16:
        return np.clip(np.round(frames * 32768), -32768, 32767).astype("<i2").tobytes()
    return frames.astype("<f4").tobytes()


def _container(frames: NDArray[np.float64], fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, frames, RATE, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _config(
    encoding: Encoding = F32,
    rate: int = RATE,
    channels: int = 2,
    *,
    interim: bool = False,
    interval_s: float = 0.0,
    roles: Sequence[audio_pb2.ChannelRole] = (),
) -> analysis_pb2.AnalysisConfig:
    return analysis_pb2.AnalysisConfig(
        format=audio_pb2.AudioFormat(
            encoding=encoding, sample_rate_hz=rate, channel_count=channels, channel_roles=roles
        ),
        interim_results=interim,
        interim_interval_s=interval_s,
    )


def _audio(data: bytes) -> analysis_pb2.StreamAnalyzeRequest:
    return Request(audio=audio_pb2.AudioChunk(data=data))


def _split(data: bytes, frame_bytes: int, frame_counts: Sequence[int]) -> list[bytes]:
    """Cut `data` into chunks of the given frame counts (the last takes what is left)."""
    chunks, start = [], 0
    for count in frame_counts:
        if start >= len(data):
            break
        chunks.append(data[start : start + count * frame_bytes])
        start += count * frame_bytes
    if start < len(data):
        chunks.append(data[start:])
    return chunks


def _details(error: grpc.RpcError) -> str:
    return error.details() or ""


def _stream(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
    config: analysis_pb2.AnalysisConfig,
    chunks: Sequence[bytes],
) -> list[analysis_pb2.StreamAnalyzeResponse]:
    requests = [Request(config=config), *(_audio(c) for c in chunks)]
    return list(stub.StreamAnalyze(iter(requests), timeout=CALL_TIMEOUT_S))


# -- servers ---------------------------------------------------------------------------------


def _settings(**overrides: object) -> AnalysisSettings:
    return AnalysisSettings(drain_pause_s=0.0, grace_s=2.0, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundRuntime]:
    with BackgroundRuntime(build_runtime(_settings())) as background:
        yield background


@pytest.fixture(scope="module")
def stub(server: BackgroundRuntime) -> Iterator[analysis_pb2_grpc.AnalysisServiceStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield analysis_pb2_grpc.AnalysisServiceStub(channel)


@pytest.fixture(scope="module")
def sine() -> NDArray[np.float64]:
    return _sine()


@pytest.fixture(scope="module")
def streamed_100ms(
    stub: analysis_pb2_grpc.AnalysisServiceStub, sine: NDArray[np.float64]
) -> list[analysis_pb2.StreamAnalyzeResponse]:
    """The sine streamed as f32 in 100 ms chunks with interim results at the default 10 Hz."""
    chunks = _split(_pcm_bytes(sine), 8, [RATE // 10] * 100)
    return _stream(stub, _config(interim=True), chunks)


def _good_call_succeeds(stub: analysis_pb2_grpc.AnalysisServiceStub) -> None:
    """The service still serves: a short valid stream gets its final report."""
    responses = _stream(stub, _config(S16), [_pcm_bytes(_sine(0.5), S16)])
    assert [r.is_final for r in responses] == [True]
    assert responses[0].report.duration_s == 0.5


# -- StreamAnalyze: report and interim results -----------------------------------------------


def test_stream_report_measures_the_sine(
    streamed_100ms: list[analysis_pb2.StreamAnalyzeResponse],
) -> None:
    final = streamed_100ms[-1]
    assert final.is_final
    assert final.progress.received_s == final.progress.processed_s == SECONDS
    report = final.report
    assert report.duration_s == SECONDS
    assert (report.sample_rate_hz, report.channels) == (RATE, 2)
    assert list(report.channel_roles) == [audio_pb2.CHANNEL_ROLE_LEFT, audio_pb2.CHANNEL_ROLE_RIGHT]
    assert report.loudness.integrated_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)
    assert report.loudness.max_momentary_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)
    assert report.loudness.max_short_term_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)
    assert report.loudness.loudness_range_lu == pytest.approx(0.0, abs=0.5)
    assert not report.loudness.loudness_range_stable  # shorter than 60 s
    assert report.peaks.true_peak_dbtp == pytest.approx(LEVEL_DBFS, abs=0.1)
    assert report.peaks.sample_peak_dbfs == pytest.approx(LEVEL_DBFS, abs=0.1)
    assert report.stereo.is_stereo
    assert report.stereo.correlation == pytest.approx(1.0, abs=1e-6)
    assert report.clipping.event_count == 0
    assert len(report.features) == 384
    assert report.feature_layout_version
    assert 0.0 <= report.score.voidline_score <= 100.0


def test_interim_results_arrive_at_10_hz_of_stream_time(
    streamed_100ms: list[analysis_pb2.StreamAnalyzeResponse],
) -> None:
    interim = [r for r in streamed_100ms if not r.is_final]
    assert [r.is_final for r in streamed_100ms] == [False] * len(interim) + [True]
    assert len(interim) == round(SECONDS * 10)
    times = [r.interim.stream_time_s for r in interim]
    np.testing.assert_allclose(times, np.arange(1, len(interim) + 1) / 10, atol=1e-9)
    for response in interim:
        t = response.interim.stream_time_s
        assert response.progress.processed_s == pytest.approx(t)
        assert response.progress.received_s >= response.progress.processed_s
        # The 400 ms and 3 s windows report ready only once they have filled.
        assert response.interim.momentary_ready == (t >= 0.4 - 1e-9)
        assert response.interim.short_term_ready == (t >= 3.0 - 1e-9)
        if response.interim.momentary_ready:
            assert response.interim.momentary_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)
        else:
            assert response.interim.momentary_lufs == float("-inf")
    last = interim[-1].interim
    assert last.integrated_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)
    assert last.short_term_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)


def test_one_second_chunks_still_give_interim_results_every_100ms(
    stub: analysis_pb2_grpc.AnalysisServiceStub, sine: NDArray[np.float64]
) -> None:
    chunks = _split(_pcm_bytes(sine[: 2 * RATE], S16), 4, [RATE] * 2)
    responses = _stream(stub, _config(S16, interim=True, interval_s=0.25), chunks)
    times = [r.interim.stream_time_s for r in responses if not r.is_final]
    np.testing.assert_allclose(times, np.arange(1, 9) * 0.25, atol=1e-9)


def _loudness_values(report: analysis_pb2.AnalysisReport) -> list[float]:
    loud = report.loudness
    return [
        loud.integrated_lufs,
        loud.loudness_range_lu,
        loud.loudness_range_low_lufs,
        loud.loudness_range_high_lufs,
        loud.max_momentary_lufs,
        loud.max_short_term_lufs,
        loud.relative_gate_lufs,
        report.peaks.true_peak_dbtp,
        report.peaks.sample_peak_dbfs,
    ]


def test_any_chunking_gives_the_same_loudness(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
    sine: NDArray[np.float64],
    streamed_100ms: list[analysis_pb2.StreamAnalyzeResponse],
) -> None:
    data = _pcm_bytes(sine)
    one_chunk = _stream(stub, _config(), [data])[-1].report
    rng = np.random.default_rng(7)
    # A few single frames first, then random sizes from 1 frame to 1 s.
    sizes = [1, 1, 2, 3, *rng.integers(1, RATE + 1, size=200).tolist()]
    random_responses = _stream(stub, _config(interim=True), _split(data, 8, sizes))
    random_chunks = random_responses[-1].report

    by_100ms = streamed_100ms[-1].report
    for report in (one_chunk, random_chunks):
        assert report.loudness.gating_blocks == by_100ms.loudness.gating_blocks
        np.testing.assert_allclose(_loudness_values(report), _loudness_values(by_100ms), atol=1e-6)
    # Interim results follow stream time, not the chunking.
    assert [r.interim.stream_time_s for r in random_responses if not r.is_final] == [
        r.interim.stream_time_s for r in streamed_100ms if not r.is_final
    ]


# -- containers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_24")])
def test_analyze_reads_a_whole_file(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
    sine: NDArray[np.float64],
    fmt: str,
    subtype: str,
) -> None:
    request = analysis_pb2.AnalyzeRequest(
        config=_config(CONTAINER, rate=0, channels=0), data=_container(sine, fmt, subtype)
    )

    report = stub.Analyze(request, timeout=CALL_TIMEOUT_S).report

    assert (report.duration_s, report.sample_rate_hz, report.channels) == (SECONDS, RATE, 2)
    assert report.loudness.integrated_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)
    assert report.peaks.true_peak_dbtp == pytest.approx(LEVEL_DBFS, abs=0.1)


def test_analyze_takes_raw_pcm_and_matches_the_stream(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
    sine: NDArray[np.float64],
    streamed_100ms: list[analysis_pb2.StreamAnalyzeResponse],
) -> None:
    request = analysis_pb2.AnalyzeRequest(config=_config(), data=_pcm_bytes(sine))

    report = stub.Analyze(request, timeout=CALL_TIMEOUT_S).report

    np.testing.assert_allclose(
        _loudness_values(report), _loudness_values(streamed_100ms[-1].report), atol=1e-6
    )


def test_stream_buffers_a_container_and_reports_at_the_end(
    stub: analysis_pb2_grpc.AnalysisServiceStub, sine: NDArray[np.float64]
) -> None:
    data = _container(sine, "FLAC", "PCM_16")
    chunks = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]

    responses = _stream(stub, _config(CONTAINER, rate=0, channels=0, interim=True), chunks)

    # Containers give no interim results, only the final report.
    assert [r.is_final for r in responses] == [True]
    assert responses[0].report.duration_s == SECONDS
    assert responses[0].progress.received_s == SECONDS
    assert responses[0].report.loudness.integrated_lufs == pytest.approx(EXPECTED_LUFS, abs=0.1)


def test_clipping_is_judged_at_the_source_full_scale(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
) -> None:
    """16-bit sources clip at 32767/32768; float sources only at 1.0."""
    t = np.arange(RATE // 2) / RATE
    # 500 cycles whose positive peaks flatten at the 16-bit maximum; negative ones stay clean.
    ints = np.clip(np.round(1.2 * 32768 * np.sin(2 * np.pi * 1000 * t)), -30000, 32767)
    stereo_ints = np.stack([ints, ints], axis=1).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, stereo_ints, RATE, format="WAV", subtype="PCM_16")
    as_float = stereo_ints / 32768.0

    def events(config: analysis_pb2.AnalysisConfig, data: bytes) -> int:
        request = analysis_pb2.AnalyzeRequest(config=config, data=data)
        count: int = stub.Analyze(request, timeout=CALL_TIMEOUT_S).report.clipping.event_count
        return count

    per_channel = 500
    assert events(_config(CONTAINER), buffer.getvalue()) == 2 * per_channel
    assert events(_config(S16), stereo_ints.astype("<i2").tobytes()) == 2 * per_channel
    assert events(_config(CONTAINER), _container(as_float, "WAV", "FLOAT")) == 0
    assert events(_config(F32), _pcm_bytes(as_float, F32)) == 0


# -- bad input: INVALID_ARGUMENT with a message that names the problem -----------------------

_NAN = np.zeros((100, 2), dtype="<f4")
_NAN[42, 1] = np.nan
_INF = np.zeros((100, 2), dtype="<f4")
_INF[17, 0] = np.inf
_GOOD = _pcm_bytes(_sine(0.1))

BAD_STREAMS: dict[str, tuple[list[analysis_pb2.StreamAnalyzeRequest], str]] = {
    "audio before config": (
        [_audio(_GOOD), Request(config=_config())],
        "the first message must carry the config; audio arrived first",
    ),
    "second config": (
        [Request(config=_config()), _audio(_GOOD), Request(config=_config())],
        "a second config arrived",
    ),
    "sample rate 0": (
        [Request(config=_config(rate=0)), _audio(_GOOD)],
        "config.format.sample_rate_hz 0 is outside the supported range 8000-384000 Hz",
    ),
    "sample rate 400000": (
        [Request(config=_config(rate=400_000)), _audio(_GOOD)],
        "config.format.sample_rate_hz 400000 is outside the supported range 8000-384000 Hz",
    ),
    "0 channels": (
        [Request(config=_config(channels=0)), _audio(_GOOD)],
        "config.format.channel_count 0 is outside the supported range 1-8",
    ),
    "9 channels": (
        [Request(config=_config(channels=9)), _audio(_GOOD)],
        "config.format.channel_count 9 is outside the supported range 1-8",
    ),
    "unspecified encoding": (
        [Request(config=_config(audio_pb2.SAMPLE_ENCODING_UNSPECIFIED)), _audio(_GOOD)],
        "config.format.encoding is SAMPLE_ENCODING_UNSPECIFIED",
    ),
    "wrong number of roles": (
        [Request(config=_config(roles=[audio_pb2.CHANNEL_ROLE_LEFT])), _audio(_GOOD)],
        "config.format.channel_roles has 1 roles for 2 channels",
    ),
    "interval too long": (
        [Request(config=_config(interim=True, interval_s=20.0)), _audio(_GOOD)],
        "config.interim_interval_s 20.0 is outside 0.01-10.0 s",
    ),
    "partial frame": (
        [Request(config=_config(S16)), _audio(bytes(4000)), _audio(bytes(1001))],
        "chunk of 1001 bytes is not a whole number of 4-byte frames (2 channels x 2 bytes)",
    ),
    "NaN sample": (
        [Request(config=_config()), _audio(_GOOD), _audio(_NAN.tobytes())],
        f"sample at frame {len(_GOOD) // 8 + 42}, channel 1 is NaN",
    ),
    "Inf sample": (
        [Request(config=_config()), _audio(_INF.tobytes())],
        "sample at frame 17, channel 0 is +Inf",
    ),
    "undecodable container": (
        [Request(config=_config(CONTAINER)), _audio(b"this is not an audio file" * 40)],
        "could not decode the audio container: Format not recognised; "
        "send WAV, FLAC, OGG or MP3 bytes",
    ),
    "no audio": ([Request(config=_config())], "the stream ended without audio"),
    "empty audio chunks only": (
        [Request(config=_config()), _audio(b""), _audio(b"")],
        "the stream ended without audio",
    ),
    "container without audio": (
        [Request(config=_config(CONTAINER))],
        "the stream ended without audio",
    ),
}


@pytest.mark.parametrize("case", list(BAD_STREAMS))
def test_bad_stream_is_invalid_argument_and_the_service_keeps_serving(
    stub: analysis_pb2_grpc.AnalysisServiceStub, case: str
) -> None:
    requests, message = BAD_STREAMS[case]

    with pytest.raises(grpc.RpcError) as raised:
        list(stub.StreamAnalyze(iter(requests), timeout=CALL_TIMEOUT_S))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in _details(raised.value)
    _good_call_succeeds(stub)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            analysis_pb2.AnalyzeRequest(config=_config(CONTAINER), data=b"\x00garbage" * 100),
            "could not decode the audio container",
        ),
        (analysis_pb2.AnalyzeRequest(config=_config(), data=b""), "AnalyzeRequest.data is empty"),
        (
            analysis_pb2.AnalyzeRequest(config=_config(rate=400_000), data=_GOOD),
            "config.format.sample_rate_hz 400000",
        ),
        (
            analysis_pb2.AnalyzeRequest(config=_config(), data=_NAN.tobytes()),
            "sample at frame 42, channel 1 is NaN",
        ),
    ],
)
def test_bad_analyze_is_invalid_argument(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
    request_: analysis_pb2.AnalyzeRequest,
    message: str,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Analyze(request_, timeout=CALL_TIMEOUT_S)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in _details(raised.value)
    _good_call_succeeds(stub)


# -- limits ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server() -> Iterator[BackgroundRuntime]:
    settings = _settings(
        max_chunk_bytes=4000,
        max_file_bytes=20_000,
        max_stream_seconds=0.5,
        max_concurrent_streams=1,
    )
    with BackgroundRuntime(build_runtime(settings)) as background:
        yield background


@pytest.fixture(scope="module")
def small_stub(small_server: BackgroundRuntime) -> Iterator[analysis_pb2_grpc.AnalysisServiceStub]:
    with grpc.insecure_channel(small_server.address) as channel:
        yield analysis_pb2_grpc.AnalysisServiceStub(channel)


def _call_error(
    stub: analysis_pb2_grpc.AnalysisServiceStub, requests: list[analysis_pb2.StreamAnalyzeRequest]
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.StreamAnalyze(iter(requests), timeout=CALL_TIMEOUT_S))
    return raised.value


def test_chunk_over_the_cap_is_invalid_argument_naming_the_cap(
    small_stub: analysis_pb2_grpc.AnalysisServiceStub,
) -> None:
    error = _call_error(small_stub, [Request(config=_config(S16)), _audio(bytes(4004))])

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "audio chunk of 4004 bytes is over the 4000-byte cap" in _details(error)
    assert "max_chunk_bytes" in _details(error)
    # A chunk at the cap is fine.
    responses = _stream(small_stub, _config(S16), [bytes(4000)])
    assert responses[-1].report.duration_s == 1000 / RATE


def test_limits_are_resource_exhausted(small_stub: analysis_pb2_grpc.AnalysisServiceStub) -> None:
    too_long = _split(_pcm_bytes(_sine(0.6), S16), 4, [1000] * 100)
    error = _call_error(small_stub, [Request(config=_config(S16)), *map(_audio, too_long)])
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_stream_seconds" in _details(error)

    container = [_audio(bytes(4000))] * 6  # 24 000 bytes buffered > 20 000
    error = _call_error(small_stub, [Request(config=_config(CONTAINER)), *container])
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "20000-byte limit (max_file_bytes)" in _details(error)

    with pytest.raises(grpc.RpcError) as raised:
        small_stub.Analyze(
            analysis_pb2.AnalyzeRequest(config=_config(S16), data=bytes(20_004)),
            timeout=CALL_TIMEOUT_S,
        )
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_streams_past_the_concurrency_limit_are_refused(
    small_stub: analysis_pb2_grpc.AnalysisServiceStub,
) -> None:
    outbox: queue.Queue[analysis_pb2.StreamAnalyzeRequest | None] = queue.Queue()

    def held_open() -> Iterator[analysis_pb2.StreamAnalyzeRequest]:
        while (request := outbox.get()) is not None:
            yield request

    first = small_stub.StreamAnalyze(held_open(), timeout=CALL_TIMEOUT_S)
    outbox.put(Request(config=_config(S16, interim=True, interval_s=0.01)))
    outbox.put(_audio(_pcm_bytes(_sine(0.02), S16)))  # 3840 bytes: under the 4000-byte cap
    # An interim response proves the first stream is being handled.
    assert not next(first).is_final

    error = _call_error(small_stub, [Request(config=_config(S16)), _audio(bytes(400))])
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "already running 1 streams (max_concurrent_streams)" in _details(error)

    outbox.put(None)  # half-close the first stream: it finishes normally
    assert [r.is_final for r in first] == [False, True]  # the interim at 0.02 s, then final
    # The slot is free again.
    assert _stream(small_stub, _config(S16), [bytes(400)])[-1].is_final


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_show_grpc_and_domain_series(
    server: BackgroundRuntime, stub: analysis_pb2_grpc.AnalysisServiceStub
) -> None:
    before = scrape(server.metrics_url)
    _stream(stub, _config(S16, interim=True), [_pcm_bytes(_sine(0.5), S16)])
    with pytest.raises(grpc.RpcError):
        _stream(stub, _config(rate=0), [_GOOD])
    stub.Analyze(analysis_pb2.AnalyzeRequest(config=_config(), data=_GOOD), timeout=CALL_TIMEOUT_S)
    after = scrape(server.metrics_url)

    def grew(name: str, by: float, **labels: str) -> None:
        assert series(after, name, **labels) - series(before, name, **labels) == pytest.approx(by)

    stream = {"grpc_service": SERVICE_NAME, "grpc_method": "StreamAnalyze"}
    bidi = {**stream, "grpc_type": "bidi_stream"}
    grew("grpc_server_started_total", 2, **bidi)
    grew("grpc_server_handled_total", 1, **bidi, grpc_code="OK")
    grew("grpc_server_handled_total", 1, **bidi, grpc_code="INVALID_ARGUMENT")
    # config + chunk, then only the bad config (the handler stops reading there).
    grew("grpc_server_msg_received_total", 3, **bidi)
    grew("grpc_server_msg_sent_total", 6, **bidi)  # 5 interim + 1 final
    grew("grpc_server_handling_seconds_count", 2, **bidi)
    unary = {"grpc_service": SERVICE_NAME, "grpc_method": "Analyze", "grpc_type": "unary"}
    grew("grpc_server_handled_total", 1, **unary, grpc_code="OK")

    grew("voidline_analysis_audio_seconds_total", 0.5, grpc_method="StreamAnalyze")
    grew("voidline_analysis_audio_seconds_total", 0.1, grpc_method="Analyze")
    grew("voidline_analysis_realtime_factor_count", 1, grpc_method="StreamAnalyze")
    # 0.1 s is too short for a gating block: its -inf loudness is not observed.
    grew("voidline_analysis_integrated_lufs_count", 1)
    assert series(after, "voidline_analysis_active_streams") == 0
