"""Forwarding calls to backends without decoding them.

`ProxyHandler` is a generic RPC handler: for a method of a configured `voidline.v1` service it
returns a handler of the method's kind (unary or streaming each way, learnt from the generated
modules' descriptors) whose (de)serializers are None, i.e. the identity on bytes. The call is
admitted (API key, scope, rate), then replayed on the backend's channel with the caller's
metadata and remaining deadline; messages are relayed one by one in both directions, the
caller's half-close reaches the backend (the backend call consumes the caller's request
iterator), and the backend's status, details and trailing metadata come back unchanged.

Cancellation runs both ways: a caller that cancels ends the handler's task, which cancels
the backend call; a backend that ends the call ends the caller's call with the same status.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

import grpc
import grpc.aio
from grpc._cython import cygrpc  # type: ignore[attr-defined]  # untyped Core bindings

from gateway.auth import API_KEY_METADATA, AUTHORIZATION_METADATA, service_scope
from services.common import logs

PUBLIC_PACKAGE = "voidline.v1"

# Never forwarded: the caller's credentials, headers grpc sets per hop, and the request id,
# which the gateway replaces with its own (taken from the caller's when that one is valid).
_DROPPED_METADATA = frozenset(
    {API_KEY_METADATA, AUTHORIZATION_METADATA, "user-agent", logs.REQUEST_ID_METADATA_KEY}
)

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Admit: TypeAlias = "Callable[[str, Context], Awaitable[None]]"


@dataclass(frozen=True)
class MethodKind:
    """Whether a method streams its requests and its responses."""

    request_streaming: bool
    response_streaming: bool


def public_methods(package: str = PUBLIC_PACKAGE) -> dict[str, dict[str, MethodKind]]:
    """Every service of the generated `package` modules: full name -> method name -> kind.

    Walks the `*_pb2` modules (voidline.v1.analysis_pb2, ...) and their
    `DESCRIPTOR.services_by_name`, so a new .proto is routed without code changes.
    """
    services: dict[str, dict[str, MethodKind]] = {}
    root = importlib.import_module(package)
    for module_info in pkgutil.iter_modules(root.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{package}.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            services[service.full_name] = {
                m.name: MethodKind(m.client_streaming, m.server_streaming) for m in service.methods
            }
    return services


@dataclass(frozen=True)
class Backend:
    """Where one service's calls go."""

    service: str  # full name, e.g. voidline.v1.AnalysisService
    address: str  # host:port
    channel: grpc.aio.Channel

    @property
    def label(self) -> str:
        """Short name for messages and metrics: 'analysis'."""
        return service_scope(self.service)


def outgoing_metadata(metadata: Any) -> tuple[tuple[str, str | bytes], ...]:
    """The caller's metadata as the backend should see it, plus the call's request id."""
    forwarded = tuple(
        (key, value)
        for key, value in metadata or ()
        if key not in _DROPPED_METADATA and not key.startswith((":", "grpc-"))
    )
    rid = logs.request_id.get() or logs.new_request_id()
    return (*forwarded, (logs.REQUEST_ID_METADATA_KEY, rid))


def _pairs(metadata: Any) -> tuple[tuple[str, str | bytes], ...]:
    """Plain (key, value) pairs from any of grpc's metadata types."""
    return tuple((key, value) for key, value in metadata or ())


def _timeout(context: Context) -> float | None:
    """The caller's time remaining (None without a deadline): the backend gets no more."""
    remaining = context.time_remaining()
    return None if remaining is None else max(0.0, remaining)


async def _relay_error(error: grpc.aio.AioRpcError, backend: Backend, context: Context) -> NoReturn:
    """End the caller's call with the backend's status, details and trailing metadata."""
    details = error.details() or ""
    if error.code() is grpc.StatusCode.UNAVAILABLE and not error.initial_metadata():
        # No response headers at all: the backend was never reached (down, refusing,
        # draining). A backend that answers UNAVAILABLE itself has sent headers first.
        details = f"{backend.label} backend {backend.address} is unavailable ({details})"
    await context.abort(error.code(), details, trailing_metadata=_pairs(error.trailing_metadata()))
    raise AssertionError("abort returned")  # pragma: no cover (abort always raises)


class ProxyHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Routes `/voidline.v1.<Service>/<Method>` to the service's backend.

    Methods of services with no backend configured answer UNIMPLEMENTED saying so; anything
    else (health, reflection) is left to the server's other handlers.
    """

    def __init__(
        self,
        backends: Mapping[str, Backend],
        methods: Mapping[str, Mapping[str, MethodKind]],
        admit: Admit,
    ) -> None:
        self._admit = admit
        self._handlers: dict[str, Handler] = {}
        for service, service_methods in methods.items():
            backend = backends.get(service)
            for name, kind in service_methods.items():
                path = f"/{service}/{name}"
                if backend is None:
                    self._handlers[path] = _not_configured(service, kind)
                else:
                    self._handlers[path] = self._forwarder(path, kind, backend)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        return self._handlers.get(handler_call_details.method)

    def _forwarder(self, path: str, kind: MethodKind, backend: Backend) -> Handler:
        admit = self._admit
        channel = backend.channel

        if not kind.response_streaming:
            if kind.request_streaming:
                call_factory: Callable[..., Any] = channel.stream_unary(path, None, None)
            else:
                call_factory = channel.unary_unary(path, None, None)

            async def unary_response(request: Any, context: Context) -> bytes:
                await admit(backend.service, context)
                call = call_factory(
                    request,
                    timeout=_timeout(context),
                    metadata=outgoing_metadata(context.invocation_metadata()),
                )
                try:
                    response: bytes = await call
                except grpc.aio.AioRpcError as error:
                    await _relay_error(error, backend, context)
                except asyncio.CancelledError:
                    call.cancel()  # the caller went away: so does the backend call
                    raise
                context.set_trailing_metadata(_pairs(await call.trailing_metadata()))
                return response

            handler_factory = (
                grpc.stream_unary_rpc_method_handler
                if kind.request_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            return handler_factory(unary_response)

        if kind.request_streaming:
            stream_factory: Callable[..., Any] = channel.stream_stream(path, None, None)
        else:
            stream_factory = channel.unary_stream(path, None, None)

        async def streaming_response(request: Any, context: Context) -> AsyncIterator[bytes]:
            await admit(backend.service, context)
            options = {
                "timeout": _timeout(context),
                "metadata": outgoing_metadata(context.invocation_metadata()),
            }
            pump: asyncio.Future[None] | None = None
            if kind.request_streaming:
                # Our own pump rather than handing grpc the caller's request iterator: when
                # the backend ends the call early (a bad config while the caller still sends)
                # the pump is stopped *before* the caller's call is ended, so no read is in
                # flight on a finished call (which grpc reports as INTERNAL instead of the
                # backend's status).
                call = stream_factory(**options)
                pump = asyncio.ensure_future(_pump(request, call))
            else:
                call = stream_factory(request, **options)
            try:
                async for response in call:
                    yield response
            except grpc.aio.AioRpcError as error:
                await _stop(pump)
                await _relay_error(error, backend, context)
            finally:
                await _stop(pump)
                if not call.done():
                    call.cancel()  # the caller went away (or we failed): stop the backend
            context.set_trailing_metadata(_pairs(await call.trailing_metadata()))

        handler_factory = (
            grpc.stream_stream_rpc_method_handler
            if kind.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return handler_factory(streaming_response)


async def _pump(requests: AsyncIterator[bytes], call: Any) -> None:
    """Forward the caller's messages to the backend call, then half-close it.

    A backend may end the call while the caller is still sending (a bad config). grpc.aio's
    `call.write()` then races the backend's trailers, and when the failed send wins it
    replaces the status the backend sent with INTERNAL "Internal error from Core"
    (grpc/grpc#36066; fix pending in grpc/grpc#43486). The gateway must relay the backend's
    status, so after the first message (sent with the public API, before the backend can
    have judged anything) messages go through the call's Core object, and a failed send just
    means "the call has ended": the status Core received stays the call's status.
    """
    first = True
    try:
        async for message in requests:
            if first:
                await call.write(message)
                first = False
            elif call.done() or not await _send_keeping_status(call, message):
                return
        await call.done_writing()
    except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
        return  # the backend call has ended; the reader relays its status


async def _send_keeping_status(call: Any, message: bytes) -> bool:
    """Send one serialized message; False when Core refuses it because the call has ended."""
    try:
        await call._cython_call.send_serialized_message(message)
    except cygrpc.InternalError:
        return False
    return True


async def _stop(pump: asyncio.Future[None] | None) -> None:
    """Cancel the pump and wait until it has stopped reading."""
    if pump is None or pump.done():
        return
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump


def _not_configured(service: str, kind: MethodKind) -> Handler:
    async def abort(request: Any, context: Context) -> None:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, f"this gateway has no backend for {service}"
        )

    if kind.request_streaming and kind.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if kind.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if kind.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)
