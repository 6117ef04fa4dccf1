"""The gateway's health mirrors its backends'.

Every `interval_s` the monitor asks each backend's grpc.health.v1 `Check` about the service it
serves (with a short deadline) and reports up/down; the gateway turns that into its own
health entry for the service, and its overall "" entry is SERVING only while every backend is
(see `ServiceRuntime.set_service_health`). The `voidline_gateway_backend_up{service}` gauge
follows the same answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
import grpc.aio
import prometheus_client
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.proxy import Backend

_log = logging.getLogger(__name__)

Report = Callable[[str, bool], Awaitable[None]]


class BackendHealthMonitor:
    """Polls every backend's health and reports each answer to `report(service, up)`."""

    def __init__(
        self,
        backends: Sequence[Backend],
        report: Report,
        backend_up: prometheus_client.Gauge,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self._backends = tuple(backends)
        self._report = report
        self._backend_up = backend_up
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._last: dict[str, bool] = {}

    async def check(self, backend: Backend) -> bool:
        """True if the backend answers SERVING for its service within the timeout."""
        stub = health_pb2_grpc.HealthStub(backend.channel)
        request = health_pb2.HealthCheckRequest(service=backend.service)
        try:
            response = await stub.Check(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as error:
            reason = f"{error.code().name}: {error.details()}"
            up = False
        else:
            up = response.status == health_pb2.HealthCheckResponse.SERVING
            reason = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        if self._last.get(backend.service) != up:
            _log.log(
                logging.INFO if up else logging.WARNING,
                "%s backend %s is %s (%s)",
                backend.label,
                backend.address,
                "up" if up else "down",
                reason,
                extra={"backend": backend.service, "address": backend.address},
            )
        self._last[backend.service] = up
        return up

    async def poll_once(self) -> None:
        """Check every backend (concurrently) and report the results."""
        results = await asyncio.gather(*(self.check(b) for b in self._backends))
        for backend, up in zip(self._backends, results, strict=True):
            self._backend_up.labels(backend.service).set(1 if up else 0)
            await self._report(backend.service, up)

    async def run(self) -> None:
        """Poll forever (until cancelled)."""
        while True:
            await self.poll_once()
            await asyncio.sleep(self._interval_s)
