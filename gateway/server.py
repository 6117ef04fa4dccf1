"""Assembles the gateway: the shared runtime, the proxy, the gatekeeper and the health monitor.

    gateway = Gateway(settings, keys=load_keys(settings, os.environ))
    exit_code = await serve(gateway)

`Gateway.runtime` is an ordinary `ServiceRuntime` (interceptors, health, reflection,
/metrics, graceful drain); its health entries are the forwarded services, each SERVING while
its backend is, and "" while all are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import grpc
import grpc.aio
import prometheus_client

from gateway.auth import Gatekeeper, KeyRing
from gateway.health import BackendHealthMonitor
from gateway.proxy import Backend, ProxyHandler, public_methods
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings, parse_backend
from services.common.server import ServiceRuntime, run_service

_log = logging.getLogger(__name__)

API_KEY_ENV = "VOIDLINE_API_KEY"

# Backends that restart should be reachable again within about a second, not after grpc's
# default reconnect backoff (up to two minutes). grpc also uses the minimum backoff as the
# timeout of one connection attempt (default 20 s): one second fails a call to an unreachable
# backend quickly while leaving a local or in-cluster handshake plenty of time.
_CHANNEL_BACKOFF_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def load_keys(settings: GatewaySettings, environ: Mapping[str, str]) -> KeyRing:
    """The keys file (if any) plus $VOIDLINE_API_KEY (if set), which gets every scope."""
    keys = KeyRing.load(settings.keys_file) if settings.keys_file else KeyRing()
    plain = environ.get(API_KEY_ENV, "").strip()
    return keys.with_plain_key(plain) if plain else keys


def routes(settings: GatewaySettings, known: Mapping[str, object]) -> dict[str, str]:
    """Service full name -> backend address, checked against the services of voidline.v1."""
    table = dict(parse_backend(entry) for entry in settings.backends)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(
            f"unknown service {', '.join(unknown)} in --backend: "
            f"known services are {', '.join(sorted(known))}"
        )
    return table


class Gateway:
    """The gateway's parts, wired on one `ServiceRuntime`.

    Raises ValueError at construction for a configuration it cannot serve: an unknown service
    in `--backend`, or no API key at all without `--allow-unauthenticated`.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        keys: KeyRing,
        registry: prometheus_client.CollectorRegistry | None = None,
    ) -> None:
        if len(keys) == 0 and not settings.allow_unauthenticated:
            raise ValueError(
                "no API keys configured: pass --keys-file (or set "
                f"VOIDLINE_GATEWAY_KEYS_FILE or {API_KEY_ENV}), or start with "
                "--allow-unauthenticated to let every caller in"
            )
        self.settings = settings
        self._methods = public_methods()
        self._routes = routes(settings, self._methods)
        self.runtime = ServiceRuntime(
            settings,
            name="gateway",
            service_names=sorted(self._routes),
            register=self._register,
            registry=registry,
        )
        registry = self.runtime.registry
        self._backend_up = prometheus_client.Gauge(
            "voidline_gateway_backend_up",
            "1 while the backend of a service answers its health check SERVING, else 0.",
            ["service"],
            registry=registry,
        )
        auth_failures = prometheus_client.Counter(
            "voidline_gateway_auth_failures_total",
            "Calls refused for their API key (reason: missing, unknown, scope).",
            ["reason"],
            registry=registry,
        )
        rate_limited = prometheus_client.Counter(
            "voidline_gateway_rate_limited_total",
            "Calls refused because their API key was over its rate limit.",
            registry=registry,
        )
        self._gatekeeper = Gatekeeper(
            keys if len(keys) else None,
            RateLimiter(settings.rate_limit_per_minute),
            auth_failures,
            rate_limited,
        )
        self._backends: dict[str, Backend] = {}
        self._monitor_task: asyncio.Task[None] | None = None

    def _register(self, server: grpc.aio.Server) -> None:
        # Called by runtime.start() on the event loop, where aio channels must be made.
        s = self.settings
        options = [
            ("grpc.max_receive_message_length", s.max_receive_message_bytes),
            ("grpc.max_send_message_length", s.max_send_message_bytes),
            *_CHANNEL_BACKOFF_OPTIONS,
        ]
        self._backends = {
            service: Backend(service, address, grpc.aio.insecure_channel(address, options=options))
            for service, address in self._routes.items()
        }
        for service in self._routes:
            _log.info("routing %s to %s", service, self._routes[service])
        proxy = ProxyHandler(self._backends, self._methods, self._gatekeeper.admit)
        server.add_generic_rpc_handlers((proxy,))

    async def on_ready(self) -> None:
        """Poll the backends once (so health starts true) and keep polling in the background."""
        monitor = BackendHealthMonitor(
            list(self._backends.values()),
            self.runtime.set_service_health,
            self._backend_up,
            self.settings.health_interval_s,
            self.settings.health_timeout_s,
        )
        await monitor.poll_once()
        self._monitor_task = asyncio.create_task(monitor.run(), name="backend-health")

    async def close(self) -> None:
        """Stop polling and close the backend channels (after runtime.stop())."""
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor_task
            self._monitor_task = None
        for backend in self._backends.values():
            await backend.channel.close(None)


async def serve(gateway: Gateway) -> int:
    """Run the gateway until SIGTERM/SIGINT, drain, and return the exit code."""
    try:
        return await run_service(gateway.runtime, on_ready=gateway.on_ready)
    finally:
        await gateway.close()
