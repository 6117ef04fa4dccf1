"""The shared server runtime (services/common) against real grpc.aio servers on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import logs
from services.common.config import ServerSettings, load_settings
from services.common.server import ServiceRuntime
from tests.support.metrics import scrape, series
from tests.support.servers import BackgroundRuntime
from voidline.errors import InvalidInputError

SERVICE = "voidline.test.Echo"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
LEAKY_TEXT = "secret detail 42"


class EchoService:
    """Bytes in, bytes out, one method per RPC kind plus failure modes."""

    def __init__(self) -> None:
        self.release_hold = asyncio.Event()

    async def unary(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if request == b"abort":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad request: abort")
        if request == b"invalid":
            raise InvalidInputError("fix your input")
        if request == b"boom":
            raise RuntimeError(LEAKY_TEXT)
        return request

    async def server_stream(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        for i in range(request[0]):  # first byte = number of responses
            yield bytes([i])

    async def server_stream_write(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        for i in range(request[0]):
            await context.write(bytes([i]))

    async def client_stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        return b"".join([r async for r in requests])

    async def bidi(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            if request == b"boom":
                raise RuntimeError(LEAKY_TEXT)
            yield request

    async def hold(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        """One message, then wait until the test releases it, then the last message."""
        yield b"first"
        await self.release_hold.wait()
        yield b"last"

    def register(self, server: grpc.aio.Server) -> None:
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "ServerStreamWrite": grpc.unary_stream_rpc_method_handler(self.server_stream_write),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            "Hold": grpc.unary_stream_rpc_method_handler(self.hold),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def make_runtime(service: EchoService, **settings: Any) -> ServiceRuntime:
    return ServiceRuntime(
        ServerSettings(**{"drain_pause_s": 0.0, **settings}),
        name="echo",
        service_names=[SERVICE],
        register=service.register,
    )


@pytest.fixture()
def echo() -> Iterator[tuple[EchoService, BackgroundRuntime, grpc.Channel]]:
    service = EchoService()
    with (
        BackgroundRuntime(make_runtime(service)) as bg,
        grpc.insecure_channel(bg.address) as channel,
    ):
        yield service, bg, channel


def health_status(channel: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    return int(response.status)


def test_health_is_not_serving_until_ready() -> None:
    with (
        BackgroundRuntime(make_runtime(EchoService()), serving=False) as bg,
        grpc.insecure_channel(bg.address) as channel,
    ):
        assert health_status(channel) == NOT_SERVING
        assert health_status(channel, SERVICE) == NOT_SERVING
        bg.call(bg.runtime.set_serving(True))
        assert health_status(channel) == SERVING
        assert health_status(channel, SERVICE) == SERVING


def test_one_service_down_folds_into_overall_health() -> None:
    with (
        BackgroundRuntime(make_runtime(EchoService())) as bg,
        grpc.insecure_channel(bg.address) as channel,
    ):
        bg.call(bg.runtime.set_service_health(SERVICE, False))
        assert (health_status(channel), health_status(channel, SERVICE)) == (
            NOT_SERVING,
            NOT_SERVING,
        )
        bg.call(bg.runtime.set_service_health(SERVICE, True))
        assert (health_status(channel), health_status(channel, SERVICE)) == (SERVING, SERVING)


def test_error_mapping_and_generic_internal_message(echo: Any) -> None:
    _, _, channel = echo
    unary = channel.unary_unary(f"/{SERVICE}/Unary")
    with pytest.raises(grpc.RpcError) as invalid:
        unary(b"invalid", timeout=10)
    assert (invalid.value.code(), invalid.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "fix your input",
    )

    with pytest.raises(grpc.RpcError) as boom:
        unary(b"boom", timeout=10, metadata=[("x-request-id", "rid-boom")])
    assert boom.value.code() == grpc.StatusCode.INTERNAL
    assert boom.value.details() == "internal error (request id rid-boom)"
    assert LEAKY_TEXT not in str(boom.value.details())

    # Raised half-way through an async generator: one message arrives, then INTERNAL.
    received: list[bytes] = []
    with pytest.raises(grpc.RpcError) as midstream:
        for message in channel.stream_stream(f"/{SERVICE}/Bidi")(iter([b"ok", b"boom"])):
            received.append(message)
    assert received == [b"ok"]
    assert midstream.value.code() == grpc.StatusCode.INTERNAL
    assert LEAKY_TEXT not in str(midstream.value.details())


def test_request_id_is_echoed_or_generated(echo: Any) -> None:
    _, _, channel = echo
    unary = channel.unary_unary(f"/{SERVICE}/Unary")
    _, call = unary.with_call(b"x", timeout=10, metadata=[("x-request-id", "abc-123")])
    assert dict(call.initial_metadata())["x-request-id"] == "abc-123"

    _, call = unary.with_call(b"x", timeout=10)
    generated = dict(call.initial_metadata())["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0

    # An id that is not a plain token (spaces, quotes) is replaced before it reaches the logs.
    _, call = unary.with_call(b"x", timeout=10, metadata=[("x-request-id", 'a "b" c')])
    assert dict(call.initial_metadata())["x-request-id"] != 'a "b" c'

    # Streams echo it too.
    stream = channel.unary_stream(f"/{SERVICE}/ServerStream")(
        b"\x01", timeout=10, metadata=[("x-request-id", "stream-id")]
    )
    assert dict(stream.initial_metadata())["x-request-id"] == "stream-id"
    assert list(stream) == [b"\x00"]


def test_metrics_for_all_rpc_kinds(echo: Any) -> None:
    service, bg, channel = echo
    unary = channel.unary_unary(f"/{SERVICE}/Unary")
    assert unary(b"a", timeout=10) == b"a"
    assert unary(b"b", timeout=10) == b"b"
    for failing in (b"abort", b"invalid", b"boom"):
        with pytest.raises(grpc.RpcError):
            unary(failing, timeout=10)
    assert list(channel.unary_stream(f"/{SERVICE}/ServerStream")(b"\x03", timeout=10)) == [
        b"\x00",
        b"\x01",
        b"\x02",
    ]
    writes = channel.unary_stream(f"/{SERVICE}/ServerStreamWrite")(b"\x02", timeout=10)
    assert list(writes) == [b"\x00", b"\x01"]
    client_stream = channel.stream_unary(f"/{SERVICE}/ClientStream")
    assert client_stream(iter([b"1", b"2", b"3", b"4"]), timeout=10) == b"1234"
    bidi = channel.stream_stream(f"/{SERVICE}/Bidi")
    assert list(bidi(iter([b"a", b"b", b"c"]), timeout=10)) == [b"a", b"b", b"c"]
    with pytest.raises(grpc.RpcError):
        list(bidi(iter([b"x", b"boom"]), timeout=10))
    # A call the client cancels while the server is in the middle of it.
    held = channel.unary_stream(f"/{SERVICE}/Hold")(b"", timeout=30)
    assert next(held) == b"first"
    held.cancel()

    def expect(
        kind: str, method: str, started: int, received: int, sent: int, **codes: int
    ) -> None:
        labels = {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}
        samples = scrape(bg.metrics_url)
        assert series(samples, "grpc_server_started_total", **labels) == started
        assert series(samples, "grpc_server_msg_received_total", **labels) == received
        assert series(samples, "grpc_server_msg_sent_total", **labels) == sent
        for code, count in codes.items():
            assert series(samples, "grpc_server_handled_total", grpc_code=code, **labels) == count
        assert series(samples, "grpc_server_handling_seconds_count", **labels) == sum(
            codes.values()
        )

    expect("unary", "Unary", 5, 5, 2, OK=2, INVALID_ARGUMENT=2, INTERNAL=1)
    expect("server_stream", "ServerStream", 1, 1, 3, OK=1)
    expect("server_stream", "ServerStreamWrite", 1, 1, 2, OK=1)
    expect("client_stream", "ClientStream", 1, 4, 1, OK=1)
    expect("bidi_stream", "Bidi", 2, 5, 4, OK=1, INTERNAL=1)

    # The cancellation reaches the server asynchronously: wait for it to be recorded.
    hold_labels = {"grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": "Hold"}
    for _ in range(500):
        samples = scrape(bg.metrics_url)
        if series(samples, "grpc_server_handled_total", grpc_code="CANCELLED", **hold_labels):
            break
        threading.Event().wait(0.02)
    assert series(samples, "grpc_server_handled_total", grpc_code="CANCELLED", **hold_labels) == 1
    assert series(samples, "grpc_server_msg_sent_total", **hold_labels) == 1
    service.release_hold.set()  # nothing waits on it any more; keeps the loop tidy


def test_graceful_drain() -> None:
    service = EchoService()
    with (
        BackgroundRuntime(make_runtime(service, drain_pause_s=0.2, grace_s=60)) as bg,
        grpc.insecure_channel(bg.address) as plain_channel,
    ):
        channel: Any = plain_channel  # grpc-stubs wants serializers; these methods are bytes
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=60
        )
        assert next(watch).status == SERVING
        held = channel.unary_stream(f"/{SERVICE}/Hold")(b"", timeout=60)
        assert next(held) == b"first"

        stopping = bg.submit(bg.runtime.stop())

        # Health turns NOT_SERVING as soon as the drain begins.
        assert next(watch).status == NOT_SERVING
        watch.cancel()

        # After the pause, new calls are refused while the stream is still in flight.
        unary = channel.unary_unary(f"/{SERVICE}/Unary")
        refused: grpc.RpcError | None = None
        for _ in range(1000):
            try:
                unary(b"new", timeout=10)
            except grpc.RpcError as exc:
                # A call caught at the very instant the server stops accepting can end
                # CANCELLED; every call after that must be refused with UNAVAILABLE.
                if exc.code() != grpc.StatusCode.CANCELLED:
                    refused = exc
                    break
            threading.Event().wait(0.01)
        assert refused is not None and refused.code() == grpc.StatusCode.UNAVAILABLE
        assert not stopping.done()

        # The in-flight stream finishes normally, and then the server is stopped.
        bg.loop.call_soon_threadsafe(service.release_hold.set)
        assert list(held) == [b"last"]
        assert held.code() == grpc.StatusCode.OK
        stopping.result(timeout=30)


@dataclasses.dataclass(frozen=True)
class ExampleSettings(ServerSettings):
    """Settings of an example service."""

    model_dir: str = "models"
    workers: int = 2
    ratio: float = 0.5
    fast: bool = False
    tags: tuple[str, ...] = ()


def test_load_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = "VOIDLINE_TEST_"
    # Field defaults.
    assert load_settings(ExampleSettings, prefix, []) == ExampleSettings()
    # Caller defaults beat field defaults.
    assert load_settings(ExampleSettings, prefix, [], workers=3).workers == 3
    # Env beats caller defaults.
    monkeypatch.setenv("VOIDLINE_TEST_WORKERS", "4")
    monkeypatch.setenv("VOIDLINE_TEST_TAGS", "a, b")
    monkeypatch.setenv("VOIDLINE_TEST_FAST", "yes")
    loaded = load_settings(ExampleSettings, prefix, [], workers=3)
    assert (loaded.workers, loaded.tags, loaded.fast) == (4, ("a", "b"), True)
    # Flags beat env; a bare bool flag means true; tuple flags repeat.
    monkeypatch.setenv("VOIDLINE_TEST_FAST", "no")
    loaded = load_settings(
        ExampleSettings,
        prefix,
        ["--workers", "5", "--fast", "--tags", "x", "--tags=y,z", "--ratio", "0.25", "--port=7"],
        workers=3,
    )
    assert (loaded.workers, loaded.fast, loaded.tags, loaded.ratio, loaded.port) == (
        5,
        True,
        ("x", "y", "z"),
        0.25,
        7,
    )
    assert load_settings(ExampleSettings, prefix, ["--fast=false"]).fast is False


def test_load_settings_rejects_bad_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = "VOIDLINE_TEST_"
    with pytest.raises(SystemExit) as bad_flag:
        load_settings(ExampleSettings, prefix, ["--workers", "many"])
    assert bad_flag.value.code == 2
    assert "--workers" in capsys.readouterr().err

    monkeypatch.setenv("VOIDLINE_TEST_RATIO", "half")
    with pytest.raises(SystemExit):
        load_settings(ExampleSettings, prefix, [])
    assert "env VOIDLINE_TEST_RATIO" in capsys.readouterr().err
    monkeypatch.delenv("VOIDLINE_TEST_RATIO")

    with pytest.raises(SystemExit):
        load_settings(ExampleSettings, prefix, ["--port", "70000"])
    assert "port must be 0 to 65535" in capsys.readouterr().err

    with pytest.raises(SystemExit) as shown_help:
        load_settings(ExampleSettings, prefix, ["--help"])
    assert shown_help.value.code == 0
    help_text = capsys.readouterr().out
    for field in dataclasses.fields(ExampleSettings):
        assert "--" + field.name.replace("_", "-") in help_text
        assert prefix + field.name.upper() in help_text


def test_json_log_lines_carry_the_request_id() -> None:
    formatter = logs.JsonFormatter("echo")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.model_version = "v3"
    token = logs.request_id.set("rid-7")
    try:
        line = json.loads(formatter.format(record))
    finally:
        logs.request_id.reset(token)
    assert line["service"] == "echo"
    assert line["level"] == "WARNING"
    assert line["message"] == "hello you"
    assert line["request_id"] == "rid-7"
    assert line["model_version"] == "v3"
