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
import importlib
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

import grpc
import grpc.aio

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
            call = stream_factory(
                request,
                timeout=_timeout(context),
                metadata=outgoing_metadata(context.invocation_metadata()),
            )
            try:
                async for response in call:
                    yield response
            except grpc.aio.AioRpcError as error:
                await _relay_error(error, backend, context)
            finally:
                if not call.done():
                    call.cancel()  # the caller went away (or we failed): stop the backend
            context.set_trailing_metadata(_pairs(await call.trailing_metadata()))

        handler_factory = (
            grpc.stream_stream_rpc_method_handler
            if kind.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return handler_factory(streaming_response)


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
