"""Wires the feedback servicer into the shared server runtime.

`ready` seeds the model registry from the packaged model when it is empty, checks the
current version's files against its card, and loads the validation set; health turns
SERVING after that. The feedback database and the job log are SQLite files (WAL).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from services.common.model_metrics import ModelTelemetry
from services.common.server import ServiceRuntime
from services.feedback.servicer import FeedbackMetrics, FeedbackServicer
from services.feedback.settings import FeedbackServiceSettings
from voidline.feedback.drift import DriftThresholds
from voidline.feedback.learner import LearnerConfig
from voidline.feedback.loop import FeedbackLoop, LoopConfig, load_validation_set
from voidline.feedback.registry import ModelRegistry
from voidline.feedback.store import FeedbackStore
from voidline.mastering.inference import default_model_dir
from voidline.mastering.joblog import JobLog
from voidline.v1 import feedback_pb2, feedback_pb2_grpc

SERVICE_NAME: str = feedback_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name
FEEDBACK_DB = "feedback.sqlite3"


class FeedbackRuntime:
    """The runtime plus what `ready` and the tests need to reach."""

    def __init__(
        self, settings: FeedbackServiceSettings, registry: CollectorRegistry | None = None
    ) -> None:
        import torch

        torch.set_num_threads(settings.torch_threads)
        registry = registry if registry is not None else CollectorRegistry()
        data = Path(settings.data_dir).expanduser()
        data.mkdir(parents=True, exist_ok=True)
        jobs_db = Path(settings.jobs_db).expanduser()
        jobs_db.parent.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.store = FeedbackStore(data / FEEDBACK_DB)
        self.jobs = JobLog(jobs_db)
        self.registry = ModelRegistry(Path(settings.registry_dir).expanduser())
        self.telemetry = ModelTelemetry(
            registry,
            DriftThresholds(
                psi=settings.drift_psi_threshold,
                ks=settings.drift_ks_threshold,
                min_samples=settings.drift_min_samples,
            ),
            settings.drift_window,
        )
        self.learner_config = LearnerConfig(
            learning_rate=settings.learning_rate,
            batch_size=settings.batch_size,
            steps=settings.steps,
            tolerance=settings.tolerance,
            recent_tolerance=settings.recent_tolerance,
            max_mean_shift=settings.max_mean_shift,
        )
        self.metrics = FeedbackMetrics(registry)
        self.loop = FeedbackLoop(
            self.store,
            self.jobs,
            self.registry,
            load_validation_set(),
            LoopConfig(learner=self.learner_config),
        )
        self.servicer = FeedbackServicer(
            self.store,
            self.jobs,
            self.registry,
            self.loop,
            self.metrics,
            self.telemetry,
            auto_update=settings.auto_update,
            retrain_on_drift=settings.retrain_on_drift,
        )
        servicer = self.servicer

        def register(server: grpc.aio.Server) -> None:
            feedback_pb2_grpc.add_FeedbackServiceServicer_to_server(servicer, server)

        self.runtime = ServiceRuntime(
            settings,
            name="feedback",
            service_names=[SERVICE_NAME],
            register=register,
            registry=registry,
        )

    async def ready(self) -> None:
        """Seed the registry (first start), verify the current version, publish it."""
        current = await asyncio.to_thread(self.registry.ensure_seeded, default_model_dir())
        await asyncio.to_thread(
            self.telemetry.use_version, current.version, self.registry.current_path()
        )
        self.metrics.pending.set(await asyncio.to_thread(self.store.pending_count))

    async def close(self) -> None:
        """Let a running learner update finish, then close the database."""
        await self.servicer.wait_for_update()
        self.store.close()
