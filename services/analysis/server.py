"""Wires the analysis servicer into the shared server runtime."""

from __future__ import annotations

import grpc
from prometheus_client import CollectorRegistry

from services.analysis.servicer import AnalysisMetrics, AnalysisServicer
from services.analysis.settings import AnalysisSettings
from services.common.server import ServiceRuntime
from voidline.v1 import analysis_pb2, analysis_pb2_grpc

SERVICE_NAME: str = analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"].full_name


def build_runtime(
    settings: AnalysisSettings, registry: CollectorRegistry | None = None
) -> ServiceRuntime:
    """A ServiceRuntime serving voidline.v1.AnalysisService, its domain metrics on `registry`
    (a fresh registry when None, so several runtimes can share one test process)."""
    registry = registry if registry is not None else CollectorRegistry()
    servicer = AnalysisServicer(settings, AnalysisMetrics(registry))

    def register(server: grpc.aio.Server) -> None:
        analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(servicer, server)

    return ServiceRuntime(
        settings,
        name="analysis",
        service_names=[SERVICE_NAME],
        register=register,
        registry=registry,
    )
