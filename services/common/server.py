"""The gRPC server runtime every Voidline process shares: build, serve, drain.

`ServiceRuntime` owns one grpc.aio server with the standard interceptors, health checking
(grpc.health.v1) and reflection, plus a Prometheus /metrics HTTP server on its own port.
`run_service` drives it for a process: start, get ready, SERVING, wait for SIGTERM/SIGINT,
drain, exit 0.

Health tells the truth: every entry starts NOT_SERVING and turns SERVING only when the
process says it is ready; on shutdown it turns NOT_SERVING first, then after a short pause
(so load balancers stop sending new calls) the server stops accepting calls and gives the
ones in flight `grace_s` seconds to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import grpc
import grpc.aio
import prometheus_client
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from services.common.config import ServerSettings
from services.common.interceptors import ErrorInterceptor, MetricsInterceptor, RequestIdInterceptor
from services.common.logs import configure_logging

_log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME = "grpc.health.v1.Health"


class ServiceRuntime:
    """One gRPC server with health, reflection, interceptors and a /metrics endpoint.

    `register(server)` adds the service's servicers; `service_names` are the full names of
    the services it serves (e.g. "voidline.v1.AnalysisService"), used for the health entries
    and reflection. Each runtime has its own metrics registry unless one is given, so several
    can run in one process (tests).
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        name: str,
        service_names: Sequence[str],
        register: Callable[[grpc.aio.Server], None],
        registry: prometheus_client.CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.service_names = tuple(service_names)
        self._register = register
        self._registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self._server: grpc.aio.Server | None = None
        self._health: Any = None  # grpc_health's aio HealthServicer (untyped)
        self._port = 0
        self._metrics_http: Any = None  # wsgiref server from prometheus_client
        self._metrics_thread: threading.Thread | None = None
        self._metrics_port = -1
        self._stopping = False
        # Health = process ready AND (per service) its dependencies up; see _publish_health.
        self._ready = False
        self._service_up = dict.fromkeys(self.service_names, True)

    @property
    def registry(self) -> prometheus_client.CollectorRegistry:
        return self._registry

    @property
    def port(self) -> int:
        """The bound gRPC port (the real one when settings.port is 0)."""
        return self._port

    @property
    def address(self) -> str:
        """ "host:port" of the gRPC server."""
        return f"{self.settings.host}:{self._port}"

    @property
    def metrics_port(self) -> int:
        """The bound /metrics port, or -1 when the metrics server is disabled."""
        return self._metrics_port

    @property
    def metrics_url(self) -> str | None:
        """http://host:port/metrics, or None when the metrics server is disabled."""
        if self._metrics_port < 0:
            return None
        return f"http://{self.settings.metrics_host}:{self._metrics_port}/metrics"

    @property
    def server(self) -> grpc.aio.Server:
        """The underlying grpc.aio server (after start())."""
        if self._server is None:
            raise RuntimeError("the runtime is not started")
        return self._server

    async def start(self) -> None:
        """Build and start the gRPC server (health NOT_SERVING) and the /metrics server."""
        if self._server is not None:
            raise RuntimeError("the runtime is already started")
        s = self.settings
        server = grpc.aio.server(
            interceptors=[
                RequestIdInterceptor(),
                MetricsInterceptor(self._registry),
                ErrorInterceptor(),
            ],
            options=[
                ("grpc.max_receive_message_length", s.max_receive_message_bytes),
                ("grpc.max_send_message_length", s.max_send_message_bytes),
                # Two processes must never share a port silently.
                ("grpc.so_reuseport", 0),
            ],
        )
        self._register(server)

        self._health = health_aio.HealthServicer()
        await self._publish_health()  # NOT_SERVING until set_serving(True)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*self.service_names, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
        )

        target = f"{s.host}:{s.port}"
        try:
            port = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"{self.name}: cannot bind gRPC server to {target}: {exc}") from exc
        if port == 0:
            raise OSError(f"{self.name}: cannot bind gRPC server to {target}")
        self._port = port
        await server.start()
        self._server = server

        if s.metrics_port >= 0:
            try:
                httpd, thread = prometheus_client.start_http_server(
                    s.metrics_port, addr=s.metrics_host, registry=self._registry
                )
            except OSError as exc:
                await server.stop(0)
                raise OSError(
                    f"{self.name}: cannot bind /metrics to {s.metrics_host}:{s.metrics_port}: {exc}"
                ) from exc
            self._metrics_http, self._metrics_thread = httpd, thread
            self._metrics_port = int(httpd.server_port)

    async def set_serving(self, serving: bool) -> None:
        """Health SERVING / NOT_SERVING for "" and every service: the process is (not) ready.

        Ignored once draining: health stays NOT_SERVING until the process exits.
        """
        self._ready = serving
        await self._publish_health()

    async def set_service_health(self, service: str, up: bool) -> None:
        """Mark one service's dependencies up or down (the gateway mirrors its backends here).

        A service reads SERVING only while the process is ready and it is up; "" only while
        the process is ready and every service is up.
        """
        if service not in self._service_up:
            raise KeyError(f"{service!r} is not one of this runtime's services")
        self._service_up[service] = up
        await self._publish_health()

    async def _publish_health(self) -> None:
        if self._health is None:
            return  # not started yet: start() publishes the state recorded so far
        for service, up in self._service_up.items():
            await self._health.set(service, _status(self._ready and up))
        await self._health.set("", _status(self._ready and all(self._service_up.values())))

    async def stop(self) -> None:
        """Drain: health NOT_SERVING, pause, refuse new calls, let in-flight ones finish
        (up to grace_s), then stop the /metrics server. Safe to call twice."""
        if self._stopping or self._server is None:
            return
        self._stopping = True
        s = self.settings
        _log.info("draining", extra={"grace_s": s.grace_s, "drain_pause_s": s.drain_pause_s})
        await self._health.enter_graceful_shutdown()
        if s.drain_pause_s > 0:
            await asyncio.sleep(s.drain_pause_s)
        await self._server.stop(s.grace_s)
        # shutdown() waits for the HTTP server's poll loop (up to 0.5 s): not on the event loop.
        await asyncio.to_thread(self._stop_metrics)
        _log.info("stopped")

    def _stop_metrics(self) -> None:
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
            self._metrics_http = None
        if self._metrics_thread is not None:
            self._metrics_thread.join(timeout=5)
            self._metrics_thread = None

    async def wait_for_termination(self) -> None:
        """Return when the gRPC server has stopped."""
        await self.server.wait_for_termination()


def _status(serving: bool) -> int:
    if serving:
        return int(health_pb2.HealthCheckResponse.SERVING)
    return int(health_pb2.HealthCheckResponse.NOT_SERVING)


async def run_service(
    runtime: ServiceRuntime, on_ready: Callable[[], Awaitable[None]] | None = None
) -> int:
    """Run `runtime` as the main thing of a process; returns the exit code.

    Configures JSON logging, starts the server (health NOT_SERVING), awaits `on_ready` (load
    models, reach dependencies), turns SERVING and logs one "serving" line with the address
    and metrics URL, then waits for SIGTERM or SIGINT and drains. A failing `on_ready` stops
    the server and returns 1.
    """
    configure_logging(runtime.name, runtime.settings.log_level)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop_requested)
    try:
        try:
            await runtime.start()
        except OSError as exc:
            _log.error("%s", exc)
            return 1
        if on_ready is not None:
            ready = asyncio.ensure_future(on_ready())
            stop_wait = asyncio.ensure_future(stop_requested.wait())
            await asyncio.wait({ready, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if not ready.done():
                ready.cancel()  # asked to stop while still getting ready
                with contextlib.suppress(asyncio.CancelledError):
                    await ready
            elif ready.exception() is not None:
                _log.error("not ready: %s", ready.exception(), exc_info=ready.exception())
                await runtime.stop()
                return 1
        if not stop_requested.is_set():
            await runtime.set_serving(True)
            _log.info(
                "serving",
                extra={"address": runtime.address, "metrics_url": runtime.metrics_url},
            )
            await stop_requested.wait()
        await runtime.stop()
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _on_signal(signum: int, stop_requested: asyncio.Event) -> None:
    _log.info("received %s", signal.Signals(signum).name)
    stop_requested.set()


def main_entry(coro_factory: Callable[[], Awaitable[int]]) -> NoReturn:
    """Run `coro_factory()` on a fresh event loop and exit the process with its result."""

    async def main() -> int:
        return await coro_factory()

    sys.exit(asyncio.run(main()))
