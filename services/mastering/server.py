"""Wires the mastering servicer into the shared server runtime.

Health stays NOT_SERVING until the parameter model of the default precision has loaded and
checked its sha256 (`ready`); a model that cannot load keeps the process from serving.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from services.common.model_metrics import ModelTelemetry
from services.common.server import ServiceRuntime
from services.mastering.analysis_client import RemoteAnalyzer
from services.mastering.models import ServedModels
from services.mastering.servicer import MasteringMetrics, MasteringServicer
from services.mastering.settings import MasteringServiceSettings
from voidline.feedback.drift import DriftThresholds
from voidline.feedback.registry import ModelRegistry as FeedbackModelRegistry
from voidline.mastering.cache import ResultCache
from voidline.mastering.engine import Analyzer, InProcessAnalyzer, MasteringEngine
from voidline.mastering.inference import default_model_dir
from voidline.mastering.joblog import JobLog
from voidline.mastering.reference_store import ReferenceStore
from voidline.v1 import mastering_pb2, mastering_pb2_grpc

SERVICE_NAME: str = mastering_pb2.DESCRIPTOR.services_by_name["MasteringService"].full_name
JOB_LOG_FILE = "jobs.sqlite3"


class MasteringRuntime:
    """The runtime plus what `ready` and the tests need to reach."""

    def __init__(
        self, settings: MasteringServiceSettings, registry: CollectorRegistry | None = None
    ) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        data = Path(settings.data_dir).expanduser()
        metrics = MasteringMetrics(registry)
        self.settings = settings
        self.telemetry = ModelTelemetry(
            registry,
            DriftThresholds(
                psi=settings.drift_psi_threshold,
                ks=settings.drift_ks_threshold,
                min_samples=settings.drift_min_samples,
            ),
            settings.drift_window,
        )
        self.model_registry = (
            FeedbackModelRegistry(Path(settings.registry_dir).expanduser())
            if settings.registry_dir
            else None
        )
        self.seed_dir = Path(settings.model_dir) if settings.model_dir else default_model_dir()
        if self.model_registry is not None:  # the feedback service may not have started yet
            self.model_registry.ensure_seeded(self.seed_dir)
        self.models = ServedModels(self.seed_dir, metrics, self.telemetry, self.model_registry)
        self.job_log = JobLog(data / JOB_LOG_FILE)
        analyzer: Analyzer = (
            RemoteAnalyzer(settings.analysis_address, settings.analysis_timeout_s)
            if settings.analysis_address
            else InProcessAnalyzer()
        )
        self.engine = MasteringEngine(analyzer, self.models, self.job_log)
        servicer = MasteringServicer(
            settings,
            self.engine,
            self.models,
            self.job_log,
            ResultCache(data / "cache", settings.cache_max_bytes),
            ReferenceStore(data / "references"),
            metrics,
            self.telemetry,
        )

        def register(server: grpc.aio.Server) -> None:
            mastering_pb2_grpc.add_MasteringServiceServicer_to_server(servicer, server)

        self.runtime = ServiceRuntime(
            settings,
            name="mastering",
            service_names=[SERVICE_NAME],
            register=register,
            registry=registry,
        )

    async def ready(self) -> None:
        """Load the default precision's model (raises FailedPreconditionError if it cannot)."""
        await asyncio.to_thread(self.models, self.settings.default_precision)
