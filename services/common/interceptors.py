"""Server interceptors every Voidline process installs, outermost first:

1. `RequestIdInterceptor`: takes `x-request-id` from the caller (or makes one), puts it in the
   `request_id` context variable for the logs and echoes it in the initial metadata.
2. `MetricsInterceptor`: the go-grpc-prometheus series for all four RPC kinds.
3. `ErrorInterceptor`: turns `voidline.errors` exceptions into status codes and anything else
   into INTERNAL with a generic message (the traceback goes to the log only).

How grpc.aio runs a handler decides how it can be wrapped. `intercept_service` returns an
`RpcMethodHandler`; its behaviour is one of
- a coroutine function `(request or request_iterator, context) -> response`, for unary
  responses, or for streaming responses written with `await context.write(...)`;
- an async generator function `(request or request_iterator, context)` yielding responses.
The wrappers here keep that shape (grpc.aio inspects it), so a streaming handler that raises
half-way through its generator is still caught. Handlers must be `async`: the synchronous
thread-pool mode of grpc.aio is not supported. Streamed requests may be consumed by iterating
`request_iterator` or by `await context.read()`; both are counted.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeAlias

import grpc
import grpc.aio
import prometheus_client

from services.common import logs
from voidline import errors

_log = logging.getLogger(__name__)

# A handler behaviour: (request or request iterator, context) -> response / async iterator.
Behaviour = Callable[[Any, Any], Any]
# The stubs declare RpcMethodHandler generic; grpc itself does not subscript it.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"

# Domain exception -> status code, checked in order (most specific first is not needed:
# the classes are siblings).
ERROR_CODES: Final[tuple[tuple[type[errors.VoidlineError], grpc.StatusCode], ...]] = (
    (errors.InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.LimitExceededError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
)

# Handling-time buckets: prometheus' defaults (as go-grpc-prometheus) plus longer ones, because
# a stream of a whole album lasts minutes.
HANDLING_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
)  # fmt: skip


def split_method(full_method: str) -> tuple[str, str]:
    """'/voidline.v1.AnalysisService/Analyze' -> ('voidline.v1.AnalysisService', 'Analyze')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def rpc_type(handler: Handler) -> str:
    """The go-grpc-prometheus `grpc_type` label of a handler."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def replace_behaviour(handler: Handler, wrap: Callable[[Behaviour], Behaviour]) -> Handler:
    """A handler of the same kind and serializers whose behaviour is `wrap(old behaviour)`."""
    de, ser = handler.request_deserializer, handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), de, ser)
    if handler.request_streaming:
        assert handler.stream_unary is not None
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), de, ser)
    if handler.response_streaming:
        assert handler.unary_stream is not None
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), de, ser)
    assert handler.unary_unary is not None
    return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), de, ser)


def _metadata_value(metadata: Any, key: str) -> str | None:
    for item in metadata or ():
        k, v = item
        if k == key:
            return v if isinstance(v, str) else None
    return None


class RequestIdInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Sets `logs.request_id` for the call and echoes it in the initial metadata.

    The initial metadata is sent as the call starts, so handlers behind this interceptor must
    not send their own initial metadata (use trailing metadata instead).
    """

    async def intercept_service(  # type: ignore[override]  # None = unknown method
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        incoming = _metadata_value(
            handler_call_details.invocation_metadata, logs.REQUEST_ID_METADATA_KEY
        )

        async def begin(context: grpc.aio.ServicerContext[Any, Any]) -> None:
            # Each RPC runs in its own asyncio task, so the variable is scoped to this call.
            rid = logs.accept_request_id(incoming)
            logs.request_id.set(rid)
            await context.send_initial_metadata(((logs.REQUEST_ID_METADATA_KEY, rid),))

        def wrap(behaviour: Behaviour) -> Behaviour:
            if inspect.isasyncgenfunction(behaviour):

                async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                    await begin(context)
                    async for response in behaviour(request, context):
                        yield response

                return stream

            async def call(request: Any, context: Any) -> Any:
                await begin(context)
                return await behaviour(request, context)

            return call

        return replace_behaviour(handler, wrap)


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Ends a call whose handler raised with a status a person can act on.

    `voidline.errors` exceptions map to their status code with their message; any other
    exception becomes INTERNAL "internal error (request id ...)", its traceback logged.
    An abort the handler made itself (`context.abort`) passes through untouched.
    """

    async def intercept_service(  # type: ignore[override]  # None = unknown method
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def wrap(behaviour: Behaviour) -> Behaviour:
            if inspect.isasyncgenfunction(behaviour):

                async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                    try:
                        async for response in behaviour(request, context):
                            yield response
                    except grpc.aio.AbortError:
                        raise
                    except Exception as exc:
                        await _abort_for(exc, context, method)

                return stream

            async def call(request: Any, context: Any) -> Any:
                try:
                    return await behaviour(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await _abort_for(exc, context, method)

            return call

        return replace_behaviour(handler, wrap)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and caller-facing message for an exception a handler raised."""
    for cls, code in ERROR_CODES:
        if isinstance(exc, cls):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error (request id {logs.request_id.get()})"


async def _abort_for(
    exc: Exception, context: grpc.aio.ServicerContext[Any, Any], method: str
) -> None:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        _log.error("unhandled exception in %s", method, exc_info=exc, extra={"method": method})
    else:
        _log.info(
            "%s ended with %s: %s",
            method,
            code.name,
            message,
            extra={"method": method, "grpc_code": code.name},
        )
    await context.abort(code, message)


class _Monitor:
    """The metric children of one call, and whether its outcome is already recorded."""

    def __init__(self, metrics: MetricsInterceptor, labels: tuple[str, str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self._start = time.perf_counter()
        self._done = False
        self.received = metrics.received.labels(*labels)
        self.sent = metrics.sent.labels(*labels)
        metrics.started.labels(*labels).inc()

    def handled(self, code: grpc.StatusCode) -> None:
        if self._done:
            return
        self._done = True
        self._metrics.handled.labels(*self._labels, code.name).inc()
        self._metrics.handling.labels(*self._labels).observe(time.perf_counter() - self._start)

    def handled_after(self, exc: BaseException | None, context: Any) -> None:
        """Record the outcome from how the behaviour ended."""
        self.handled(_final_code(exc, context))


def _final_code(exc: BaseException | None, context: Any) -> grpc.StatusCode:
    """The status a call ends with, as far as the server can tell when its handler returns."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        # grpc.aio cancels the handler's task when the caller cancels or the deadline passes.
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code  # set by abort() or set_code()
    if exc is not None and not isinstance(exc, grpc.aio.AbortError):
        return grpc.StatusCode.UNKNOWN  # what grpc.aio sends for an unhandled exception
    return grpc.StatusCode.OK


class _CountingContext:
    """Passes everything to the real context, counting `read()` and `write()` messages."""

    def __init__(self, context: Any, monitor: _Monitor) -> None:
        self._context = context
        self._monitor = monitor

    async def read(self) -> Any:
        message = await self._context.read()
        if message is not grpc.aio.EOF:  # type: ignore[attr-defined]
            self._monitor.received.inc()
        return message

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._monitor.sent.inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


async def _counted(requests: AsyncIterator[Any], monitor: _Monitor) -> AsyncIterator[Any]:
    async for request in requests:
        monitor.received.inc()
        yield request


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """go-grpc-prometheus server metrics, registered in `registry`.

    Series (labels grpc_type, grpc_service, grpc_method): grpc_server_started_total,
    grpc_server_handled_total (+ grpc_code), grpc_server_msg_received_total,
    grpc_server_msg_sent_total and the grpc_server_handling_seconds histogram. As in
    go-grpc-prometheus, a unary response counts as sent only when the call ends OK.
    """

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self.started = prometheus_client.Counter(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            labels,
            registry=registry,
        )
        self.handled = prometheus_client.Counter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self.received = prometheus_client.Counter(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            labels,
            registry=registry,
        )
        self.sent = prometheus_client.Counter(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            labels,
            registry=registry,
        )
        self.handling = prometheus_client.Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            labels,
            buckets=HANDLING_BUCKETS,
            registry=registry,
        )

    async def intercept_service(  # type: ignore[override]  # None = unknown method
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: UNIMPLEMENTED, not counted (as go-grpc-prometheus)
        service, method = split_method(handler_call_details.method)
        labels = (rpc_type(handler), service, method)
        request_streaming = handler.request_streaming

        def wrap(behaviour: Behaviour) -> Behaviour:
            if inspect.isasyncgenfunction(behaviour):

                async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                    monitor, request, counting = self._begin(labels, request, context)
                    if not request_streaming:
                        monitor.received.inc()
                    exc: BaseException | None = None
                    try:
                        async for response in behaviour(request, counting):
                            monitor.sent.inc()
                            yield response
                    except BaseException as raised:
                        exc = raised
                        raise
                    finally:
                        monitor.handled_after(exc, context)

                return stream

            response_streaming = handler.response_streaming

            async def call(request: Any, context: Any) -> Any:
                monitor, request, counting = self._begin(labels, request, context)
                if not request_streaming:
                    monitor.received.inc()
                exc: BaseException | None = None
                try:
                    response = await behaviour(request, counting)
                    if not response_streaming and _final_code(None, context) is grpc.StatusCode.OK:
                        monitor.sent.inc()
                    return response
                except BaseException as raised:
                    exc = raised
                    raise
                finally:
                    monitor.handled_after(exc, context)

            return call

        return replace_behaviour(handler, wrap)

    def _begin(
        self, labels: tuple[str, str, str], request: Any, context: Any
    ) -> tuple[_Monitor, Any, _CountingContext]:
        monitor = _Monitor(self, labels)
        if labels[0] in ("client_stream", "bidi_stream"):
            request = _counted(request, monitor)
        return monitor, request, _CountingContext(context, monitor)
