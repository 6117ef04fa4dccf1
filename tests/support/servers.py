"""Real servers for tests: a `ServiceRuntime` on its own event loop in a daemon thread.

Tests talk to it with ordinary synchronous `grpc.insecure_channel` clients:

    settings = ServerSettings(drain_pause_s=0.05, grace_s=5)
    runtime = ServiceRuntime(settings, name="t", service_names=[...], register=add_servicers)
    with BackgroundRuntime(runtime) as bg:
        with grpc.insecure_channel(bg.address) as channel:
            ...
        bg.call(bg.runtime.set_serving(False))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from services.common.server import ServiceRuntime

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for "backend down" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BackgroundRuntime:
    """Runs a `ServiceRuntime` on an asyncio loop in a daemon thread.

    `__enter__` returns once the server is started and, unless `serving=False`, its health is
    SERVING (after awaiting `on_ready`, if given). `__exit__` drains it with `stop()`, then
    awaits `on_stop` (e.g. closing the gateway's backend channels).
    """

    def __init__(
        self,
        runtime: ServiceRuntime,
        *,
        serving: bool = True,
        on_ready: Callable[[], Awaitable[None]] | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.runtime = runtime
        self._serving = serving
        self._on_ready = on_ready
        self._on_stop = on_stop
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"runtime-{runtime.name}", daemon=True
        )

    @property
    def port(self) -> int:
        return self.runtime.port

    @property
    def address(self) -> str:
        """ "127.0.0.1:PORT" (the runtime's host and bound port)."""
        return self.runtime.address

    @property
    def metrics_url(self) -> str:
        """ "http://127.0.0.1:P/metrics"; raises if the runtime's metrics server is disabled."""
        url = self.runtime.metrics_url
        if url is None:
            raise RuntimeError("this runtime has no metrics server (metrics_port=-1)")
        return url

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the runtime's loop without waiting (e.g. `runtime.stop()`)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `coro` on the runtime's loop and return its result."""
        return self.submit(coro).result(self._timeout_s if timeout_s is None else timeout_s)

    def __enter__(self) -> BackgroundRuntime:
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.stop()  # whatever did start (server, metrics) is stopped again
            raise
        return self

    async def _start(self) -> None:
        await self.runtime.start()
        if self._on_ready is not None:
            await self._on_ready()
        if self._serving:
            await self.runtime.set_serving(True)

    def stop(self) -> None:
        """Drain the runtime (idempotent) and end the loop thread."""
        if self._thread.is_alive():
            try:
                self.call(self._stop(), timeout_s=self._timeout_s + self.runtime.settings.grace_s)
            finally:
                self._shutdown_loop()

    async def _stop(self) -> None:
        await self.runtime.stop()
        if self._on_stop is not None:
            await self._on_stop()

    def _shutdown_loop(self) -> None:
        async def cancel_leftovers() -> None:
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()

        if self._thread.is_alive():
            try:
                self.call(cancel_leftovers(), timeout_s=5)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def gateway_channel(backends: Sequence[str], api_key: str) -> Iterator[grpc.Channel]:
    """A real gateway on loopback in front of `backends` ("SERVICE=HOST:PORT" entries) that
    accepts `api_key`; yields a channel to it. The gateway drains on exit."""
    from gateway.auth import KeyRing
    from gateway.server import Gateway
    from gateway.settings import GatewaySettings

    gateway = Gateway(
        GatewaySettings(
            backends=tuple(backends), health_interval_s=0.05, drain_pause_s=0.0, grace_s=2.0
        ),
        KeyRing().with_plain_key(api_key),
    )
    with (
        BackgroundRuntime(
            gateway.runtime, on_ready=gateway.on_ready, on_stop=gateway.close
        ) as front,
        grpc.insecure_channel(front.address) as channel,
    ):
        yield channel
