"""The gateway in front of a real (fake-behaviour) AnalysisService backend, all on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.auth import KeyRing
from gateway.ratelimit import RateLimiter
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from services.common.config import ServerSettings
from services.common.server import ServiceRuntime
from tests.support.metrics import scrape
from tests.support.servers import BackgroundRuntime, free_port
from voidline.v1 import analysis_pb2, analysis_pb2_grpc, audio_pb2

REPO = Path(__file__).resolve().parent.parent
SERVICE = "voidline.v1.AnalysisService"
ANALYZE = f"/{SERVICE}/Analyze"
STREAM_ANALYZE = f"/{SERVICE}/StreamAnalyze"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

FULL_KEY = "vl_test_full_" + "f" * 32
STEMS_KEY = "vl_test_stems_" + "s" * 32
TINY_KEY = "vl_test_tiny_" + "t" * 32  # 6 calls per minute: a burst of one


class FakeAnalysis(analysis_pb2_grpc.AnalysisServiceServicer):  # type: ignore[misc]
    """Trivial AnalysisService: reports what it saw, so tests can check what arrived."""

    def __init__(self) -> None:
        self.seen_metadata: dict[str, Any] = {}
        self.seen_time_remaining: float | None = None
        self.stream_hanging = threading.Event()
        self.stream_cancelled = threading.Event()

    async def Analyze(  # noqa: N802 (the RPC name)
        self, request: analysis_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> analysis_pb2.AnalyzeResponse:
        self.seen_metadata = dict(context.invocation_metadata() or ())
        self.seen_time_remaining = context.time_remaining()
        if request.data == b"fail":
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "no model named 'fail'",
                trailing_metadata=(("x-backend-detail", "42"),),
            )
        context.set_trailing_metadata((("x-backend-trailer", "t1"),))
        report = analysis_pb2.AnalysisReport(duration_s=len(request.data), channels=2)
        return analysis_pb2.AnalyzeResponse(report=report)

    async def StreamAnalyze(  # noqa: N802 (the RPC name)
        self,
        request_iterator: AsyncIterator[analysis_pb2.StreamAnalyzeRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[analysis_pb2.StreamAnalyzeResponse]:
        received = 0
        try:
            async for request in request_iterator:
                if request.audio.data == b"refuse":
                    # An early error while the client is still sending (a bad config).
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "refused early")
                if request.audio.data == b"hang":
                    self.stream_hanging.set()
                    await asyncio.Event().wait()  # until the call is cancelled
                received += len(request.audio.data)
                progress = audio_pb2.StreamProgress(received_s=received)
                yield analysis_pb2.StreamAnalyzeResponse(is_final=False, progress=progress)
            # Only after the client half-closes.
            final = analysis_pb2.AnalysisReport(duration_s=received)
            yield analysis_pb2.StreamAnalyzeResponse(is_final=True, report=final)
        except asyncio.CancelledError:
            self.stream_cancelled.set()
            raise


def backend_runtime(fake: FakeAnalysis, port: int = 0) -> ServiceRuntime:
    return ServiceRuntime(
        ServerSettings(port=port, drain_pause_s=0.0, grace_s=1.0),
        name="fake-analysis",
        service_names=[SERVICE],
        register=lambda server: analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(
            fake, server
        ),
    )


def write_keys(path: Path) -> Path:
    def entry(key_id: str, key: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return {"id": key_id, "sha256": digest, "scopes": scopes, **extra}

    keys = [
        entry("full", FULL_KEY, ["*"]),
        entry("stems", STEMS_KEY, ["stems"]),
        entry("tiny", TINY_KEY, ["analysis"], calls_per_minute=6),
    ]
    path.write_text(json.dumps({"keys": keys}), encoding="utf-8")
    return path


@contextmanager
def running_gateway(backend_address: str, keys: KeyRing) -> Iterator[BackgroundRuntime]:
    settings = GatewaySettings(
        backends=(f"{SERVICE}={backend_address}",),
        drain_pause_s=0.0,
        grace_s=1.0,
        health_interval_s=0.05,
        rate_limit_per_minute=60_000,
    )
    gateway = Gateway(settings, keys)
    with BackgroundRuntime(gateway.runtime, on_ready=gateway.on_ready, on_stop=gateway.close) as bg:
        yield bg


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return KeyRing.load(write_keys(tmp_path_factory.mktemp("keys") / "keys.json"))


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[FakeAnalysis, BackgroundRuntime]]:
    fake = FakeAnalysis()
    with BackgroundRuntime(backend_runtime(fake)) as bg:
        yield fake, bg


@pytest.fixture(scope="module")
def gateway(backend: tuple[FakeAnalysis, BackgroundRuntime], keys: KeyRing) -> Iterator[Any]:
    with running_gateway(backend[1].address, keys) as bg:
        yield bg


@pytest.fixture(scope="module")
def channel(gateway: BackgroundRuntime) -> Iterator[Any]:
    with grpc.insecure_channel(gateway.address) as channel:
        yield channel


def key(value: str = FULL_KEY) -> list[tuple[str, str]]:
    return [("x-api-key", value)]


def analyze_bytes(data: bytes) -> bytes:
    return analysis_pb2.AnalyzeRequest(data=data).SerializeToString()


def health(channel: Any, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (a state the system reaches on its own) for up to 30 s."""
    done = threading.Event()
    for _ in range(1500):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def test_unary_passthrough_is_byte_identical(
    channel: Any, backend: tuple[FakeAnalysis, BackgroundRuntime]
) -> None:
    request = analyze_bytes(b"abc")
    via_gateway, call = channel.unary_unary(ANALYZE).with_call(request, metadata=key(), timeout=10)
    with grpc.insecure_channel(backend[1].address) as direct_channel:
        direct: Any = direct_channel
        assert via_gateway == direct.unary_unary(ANALYZE)(request, timeout=10)
    assert analysis_pb2.AnalyzeResponse.FromString(via_gateway).report.duration_s == 3
    assert dict(call.trailing_metadata())["x-backend-trailer"] == "t1"


def test_bidi_stream_is_relayed_message_by_message(
    channel: Any, backend: tuple[FakeAnalysis, BackgroundRuntime]
) -> None:
    def chunk(data: bytes) -> bytes:
        audio = audio_pb2.AudioChunk(data=data)
        return analysis_pb2.StreamAnalyzeRequest(audio=audio).SerializeToString()

    messages = [chunk(b"1"), chunk(b"22"), chunk(b"333")]

    def converse(target: Any, metadata: list[tuple[str, str]]) -> list[bytes]:
        """Send one message, read its answer, then the next: nothing can be buffered."""
        outbox: queue.Queue[bytes | None] = queue.Queue()
        responses = target.stream_stream(STREAM_ANALYZE)(
            iter(outbox.get, None), metadata=metadata, timeout=30
        )
        received = []
        for message in messages:
            outbox.put(message)
            received.append(next(responses))
        outbox.put(None)  # half-close: only then does the final report come
        received.extend(responses)
        assert responses.code() == grpc.StatusCode.OK
        return received

    via_gateway = converse(channel, key())
    with grpc.insecure_channel(backend[1].address) as direct_channel:
        assert via_gateway == converse(direct_channel, [])
    decoded = [analysis_pb2.StreamAnalyzeResponse.FromString(m) for m in via_gateway]
    assert [m.progress.received_s for m in decoded[:3]] == [1, 3, 6]
    assert decoded[3].is_final and decoded[3].report.duration_s == 6


def test_early_backend_errors_keep_their_status_while_the_client_sends(channel: Any) -> None:
    """grpc.aio's write() can turn the backend's status into INTERNAL when the backend ends the
    call while messages are in flight (grpc/grpc#36066); the gateway must not."""

    def messages() -> Iterator[bytes]:
        refuse = analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=b"refuse"))
        yield refuse.SerializeToString()
        filler = analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=bytes(65536)))
        for _ in range(64):
            yield filler.SerializeToString()

    codes = []
    for _ in range(30):
        with pytest.raises(grpc.RpcError) as error:
            list(channel.stream_stream(STREAM_ANALYZE)(messages(), metadata=key(), timeout=30))
        codes.append((error.value.code(), error.value.details()))
    assert set(codes) == {(grpc.StatusCode.INVALID_ARGUMENT, "refused early")}


def test_missing_or_wrong_key_is_unauthenticated(channel: Any, gateway: BackgroundRuntime) -> None:
    analyze = channel.unary_unary(ANALYZE)
    with pytest.raises(grpc.RpcError) as missing:
        analyze(analyze_bytes(b"x"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert missing.value.details() == "missing API key: send it in the x-api-key metadata"

    with pytest.raises(grpc.RpcError) as wrong:
        analyze(analyze_bytes(b"x"), metadata=key("vl_not_a_key"), timeout=10)
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.value.details() == "API key not recognised"

    # The same key works as a bearer token.
    bearer = [("authorization", f"Bearer {FULL_KEY}")]
    assert analyze(analyze_bytes(b"x"), metadata=bearer, timeout=10)

    samples = scrape(gateway.metrics_url)
    assert samples[("voidline_gateway_auth_failures_total", frozenset({("reason", "missing")}))]
    labels = {
        ("grpc_type", "unary"),
        ("grpc_service", SERVICE),
        ("grpc_method", "Analyze"),
        ("grpc_code", "UNAUTHENTICATED"),
    }
    assert samples[("grpc_server_handled_total", frozenset(labels))] >= 2


def test_key_without_the_scope_is_permission_denied(channel: Any) -> None:
    with pytest.raises(grpc.RpcError) as denied:
        channel.unary_unary(ANALYZE)(analyze_bytes(b"x"), metadata=key(STEMS_KEY), timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'analysis'" in str(denied.value.details())


def test_calls_past_the_rate_limit_are_resource_exhausted(
    channel: Any, gateway: BackgroundRuntime
) -> None:
    analyze = channel.unary_unary(ANALYZE)
    assert analyze(analyze_bytes(b"x"), metadata=key(TINY_KEY), timeout=10)
    with pytest.raises(grpc.RpcError) as limited:
        analyze(analyze_bytes(b"x"), metadata=key(TINY_KEY), timeout=10)
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "retry in" in str(limited.value.details())
    samples = scrape(gateway.metrics_url)
    assert samples[("voidline_gateway_rate_limited_total", frozenset())] >= 1


def test_deadline_and_metadata_reach_the_backend(
    channel: Any, backend: tuple[FakeAnalysis, BackgroundRuntime]
) -> None:
    fake = backend[0]
    metadata = [
        *key(),
        ("x-custom", "hello"),
        ("x-trace-bin", b"\x00\x01"),
        ("x-request-id", "gw-rid-1"),
    ]
    _, call = channel.unary_unary(ANALYZE).with_call(
        analyze_bytes(b"x"), metadata=metadata, timeout=30
    )
    # grpc rounds the deadline it puts on the wire up a little, so only roughly 30 s.
    remaining = fake.seen_time_remaining
    assert remaining is not None and 0 < remaining < 40
    assert fake.seen_metadata["x-custom"] == "hello"
    assert fake.seen_metadata["x-trace-bin"] == b"\x00\x01"
    assert fake.seen_metadata["x-request-id"] == "gw-rid-1"
    assert "x-api-key" not in fake.seen_metadata
    assert dict(call.initial_metadata())["x-request-id"] == "gw-rid-1"

    # The caller's deadline it is, not one of the gateway's: a longer one arrives longer...
    channel.unary_unary(ANALYZE)(analyze_bytes(b"x"), metadata=key(), timeout=300)
    remaining = fake.seen_time_remaining
    assert remaining is not None and 40 < remaining < 400
    # ...and without a caller deadline the backend call has none either.
    bearer = [("authorization", f"Bearer {FULL_KEY}")]
    channel.unary_unary(ANALYZE)(analyze_bytes(b"x"), metadata=bearer)
    assert fake.seen_time_remaining is None
    assert "authorization" not in fake.seen_metadata


def test_backend_errors_pass_through(channel: Any) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary(ANALYZE)(analyze_bytes(b"fail"), metadata=key(), timeout=10)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert failed.value.details() == "no model named 'fail'"
    error: Any = failed.value  # grpc-stubs' RpcError lacks the Call methods
    assert dict(error.trailing_metadata())["x-backend-detail"] == "42"


def test_unknown_methods_are_unimplemented(channel: Any) -> None:
    for method in (f"/{SERVICE}/Nope", "/voidline.v1.NopeService/Analyze"):
        with pytest.raises(grpc.RpcError) as unknown:
            channel.unary_unary(method)(b"", metadata=key(), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_caller_cancellation_reaches_the_backend(
    channel: Any, backend: tuple[FakeAnalysis, BackgroundRuntime]
) -> None:
    fake = backend[0]
    fake.stream_hanging.clear()
    fake.stream_cancelled.clear()
    hang = analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=b"hang"))
    outbox: queue.Queue[bytes | None] = queue.Queue()
    call = channel.stream_stream(STREAM_ANALYZE)(iter(outbox.get, None), metadata=key(), timeout=30)
    outbox.put(hang.SerializeToString())
    assert fake.stream_hanging.wait(timeout=30)  # the backend is in the middle of the call
    call.cancel()
    outbox.put(None)
    assert fake.stream_cancelled.wait(timeout=30)


def test_health_folds_the_backends_health(
    channel: Any, backend: tuple[FakeAnalysis, BackgroundRuntime], gateway: BackgroundRuntime
) -> None:
    backend_bg = backend[1]
    wait_until(lambda: health(channel) == SERVING, "the gateway is SERVING")
    assert health(channel, SERVICE) == SERVING
    try:
        backend_bg.call(backend_bg.runtime.set_serving(False))
        wait_until(lambda: health(channel) == NOT_SERVING, "the gateway follows its backend")
        assert health(channel, SERVICE) == NOT_SERVING
        up = ("voidline_gateway_backend_up", frozenset({("service", SERVICE)}))
        assert scrape(gateway.metrics_url)[up] == 0
    finally:
        backend_bg.call(backend_bg.runtime.set_serving(True))
    wait_until(lambda: health(channel) == SERVING, "the gateway is SERVING again")
    assert scrape(gateway.metrics_url)[up] == 1


def test_reflection_lists_the_public_api_without_a_key(channel: Any) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in response.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_backend_down_is_unavailable_and_the_gateway_recovers(keys: KeyRing) -> None:
    port = free_port()
    with (
        running_gateway(f"127.0.0.1:{port}", keys) as gateway,
        grpc.insecure_channel(gateway.address) as plain_channel,
    ):
        channel: Any = plain_channel
        analyze = channel.unary_unary(ANALYZE)
        for _ in range(2):  # and again: the gateway itself stays up
            with pytest.raises(grpc.RpcError) as down:
                analyze(analyze_bytes(b"x"), metadata=key(), timeout=30)
            assert down.value.code() == grpc.StatusCode.UNAVAILABLE  # not DEADLINE_EXCEEDED
            assert str(down.value.details()).startswith(
                f"analysis backend 127.0.0.1:{port} is unavailable ("
            )
        assert health(channel) == NOT_SERVING

        with BackgroundRuntime(backend_runtime(FakeAnalysis(), port=port)):
            wait_until(lambda: health(channel) == SERVING, "the gateway sees the backend")
            response = analyze(analyze_bytes(b"back"), metadata=key(), timeout=30)
            assert analysis_pb2.AnalyzeResponse.FromString(response).report.duration_s == 4


def test_gateway_refuses_to_start_without_keys(tmp_path: Path) -> None:
    settings = GatewaySettings(backends=(f"{SERVICE}=127.0.0.1:1",))
    with pytest.raises(ValueError, match="no API keys configured"):
        Gateway(settings, KeyRing())
    Gateway(GatewaySettings(allow_unauthenticated=True), KeyRing())  # explicitly open: fine

    # As a process: a clear message and exit status 2, before binding anything.
    environment = {"PATH": "/usr/bin:/bin", "VOIDLINE_GATEWAY_PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--metrics-port=-1"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no API keys configured" in result.stderr

    bad = tmp_path / "keys.json"
    bad.write_text('{"keys": [{"id": "a", "sha256": "xyz", "scopes": ["*"]}]}')
    with pytest.raises(ValueError, match="64 hex digits"):
        KeyRing.load(bad)


def test_rate_limiter_bursts_then_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(default_per_minute=60, clock=lambda: now[0])  # burst 10, 1 per second
    assert [limiter.acquire("k") for _ in range(10)] == [0.0] * 10
    assert limiter.acquire("k") == pytest.approx(1.0)  # empty: the next token in a second
    assert limiter.acquire("other") == 0.0  # buckets are per key
    now[0] += 0.5
    assert limiter.acquire("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("k") == 0.0
    # A key's own limit: 6 per minute is a burst of one.
    assert limiter.acquire("slow", per_minute=6) == 0.0
    assert limiter.acquire("slow", per_minute=6) == pytest.approx(10.0)
