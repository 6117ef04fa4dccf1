"""The FeedbackService servicer: validation against the job log, durable storage, the learner.

No learning code here. SubmitFeedback checks the item (rating, parameter names: the store;
job ids: the mastering job log, NOT_FOUND when unknown), stores it (the call returns after
the SQLite commit), feeds the job's features to the drift monitor and, when a full batch is
pending, starts one learner update in the background (`voidline.feedback.loop`). Model
status, versions, promotion and rollback are thin calls on the registry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.model_metrics import ModelTelemetry
from voidline.errors import FailedPreconditionError, InvalidInputError, NotFoundError
from voidline.feedback.loop import FeedbackLoop, UpdateOutcome
from voidline.feedback.registry import ModelRegistry, VersionInfo
from voidline.feedback.store import FeedbackStore, NewFeedback
from voidline.mastering.joblog import JobLog, JobRecord
from voidline.v1 import feedback_pb2, feedback_pb2_grpc

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class FeedbackMetrics:
    """Domain metrics (the grpc_server_* series come from the shared runtime)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.items = Counter(
            "voidline_feedback_items_total",
            "Feedback items received, by outcome (stored, duplicate, rejected).",
            ["outcome"],
            registry=registry,
        )
        self.ratings = Counter(
            "voidline_feedback_ratings_total",
            "Stored ratings by value (1-5).",
            ["rating"],
            registry=registry,
        )
        self.rating = Histogram(
            "voidline_feedback_rating",
            "Distribution of stored ratings.",
            buckets=(1, 2, 3, 4, 5),
            registry=registry,
        )
        self.pending = Gauge(
            "voidline_feedback_pending_items",
            "Stored feedback the learner has not used yet.",
            registry=registry,
        )
        self.updates = Counter(
            "voidline_model_updates_total",
            "Learner updates, by outcome (promoted, rejected, failed).",
            ["outcome"],
            registry=registry,
        )
        self.promotions = Counter(
            "voidline_model_promotions_total",
            "Model versions made current, by trigger (learner, operator, rollback).",
            ["trigger"],
            registry=registry,
        )
        self.validation = Gauge(
            "voidline_model_validation",
            "Validation figures of the last learner update (synthetic set, shift, feedback).",
            ["metric"],
            registry=registry,
        )


def _version_to_proto(info: VersionInfo) -> feedback_pb2.ModelVersion:
    return feedback_pb2.ModelVersion(
        version=info.version,
        state=info.state,
        created=info.created,
        parent=info.parent,
        validation={k: float(v) for k, v in info.validation.items()},
        sha256=info.sha256,
        sha256_int8=info.sha256_int8,
        reason=info.reason,
        promoted_at=info.promoted_at or 0.0,
    )


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):  # type: ignore[misc]
    """voidline.v1.FeedbackService on grpc.aio. See services/feedback/README.md."""

    def __init__(
        self,
        store: FeedbackStore,
        jobs: JobLog,
        registry: ModelRegistry,
        loop: FeedbackLoop,
        metrics: FeedbackMetrics,
        telemetry: ModelTelemetry,
        auto_update: bool,
        retrain_on_drift: bool,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._registry = registry
        self._loop = loop
        self._metrics = metrics
        self._telemetry = telemetry
        self._auto_update = auto_update
        self._retrain_on_drift = retrain_on_drift
        self._update_task: asyncio.Task[UpdateOutcome] | None = None
        self._last_reason = ""

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(function, *args)

    # -- feedback -------------------------------------------------------------------------

    async def SubmitFeedback(  # noqa: N802 (the RPC name)
        self, request: feedback_pb2.SubmitFeedbackRequest, context: Context
    ) -> feedback_pb2.SubmitFeedbackResponse:
        item, record = await self._checked(request.feedback)
        try:
            result = await self._run(self._store.submit, item)
        except InvalidInputError:
            self._metrics.items.labels("rejected").inc()
            raise
        await self._after_stored([(item, record)], duplicates=[result.duplicate])
        return feedback_pb2.SubmitFeedbackResponse(
            feedback_id=result.feedback_id,
            duplicate=result.duplicate,
            pending_in_buffer=await self._run(self._store.pending_count),
            batch_size=self._loop.batch_size,
        )

    async def SubmitFeedbackBatch(  # noqa: N802 (the RPC name)
        self,
        request_iterator: AsyncIterator[feedback_pb2.SubmitFeedbackBatchRequest],
        context: Context,
    ) -> feedback_pb2.SubmitFeedbackBatchResponse:
        checked: list[tuple[NewFeedback, JobRecord]] = []
        async for request in request_iterator:
            checked.append(await self._checked(request.feedback, position=len(checked)))
        if not checked:
            raise InvalidInputError("the stream ended without feedback; send at least one item")
        try:
            results = await self._run(self._store.submit_many, [item for item, _ in checked])
        except InvalidInputError:
            self._metrics.items.labels("rejected").inc(len(checked))
            raise
        await self._after_stored(checked, duplicates=[r.duplicate for r in results])
        return feedback_pb2.SubmitFeedbackBatchResponse(
            stored=sum(1 for r in results if not r.duplicate),
            duplicates=sum(1 for r in results if r.duplicate),
            feedback_ids=[r.feedback_id for r in results],
        )

    async def _checked(
        self, request: feedback_pb2.Feedback, position: int | None = None
    ) -> tuple[NewFeedback, JobRecord]:
        where = "" if position is None else f"feedback item {position}: "
        try:
            if not request.job_id:
                raise InvalidInputError("job_id is empty; give the job_id a Master call returned")
            if not 1 <= request.rating <= 5:
                raise InvalidInputError(f"rating must be 1 to 5, got {request.rating}")
            record = await self._job(request.job_id)
            preferred = other = None
            if request.HasField("preference"):
                preferred = request.preference.preferred_job_id
                other = request.preference.other_job_id
                for job_id in (preferred, other):
                    await self._job(job_id)
            item = NewFeedback(
                job_id=request.job_id,
                rating=request.rating,
                idempotency_key=request.idempotency_key or f"generated-{uuid.uuid4().hex}",
                preferred_job_id=preferred,
                other_job_id=other,
                corrected=dict(request.corrected_parameters) or None,
                comment=request.comment,
                model_version=record.model_version or "",
            )
            item.check()
        except (InvalidInputError, NotFoundError, FailedPreconditionError) as error:
            self._metrics.items.labels("rejected").inc()
            raise type(error)(where + str(error)) from error
        return item, record

    async def _job(self, job_id: str) -> JobRecord:
        record = await self._run(self._jobs.get, job_id)
        if record.status != "succeeded":
            raise FailedPreconditionError(
                f"job {job_id} is {record.status}: only finished masters can be rated"
            )
        return record

    async def _after_stored(
        self, stored: list[tuple[NewFeedback, JobRecord]], duplicates: list[bool]
    ) -> None:
        drifted = False
        for (item, record), duplicate in zip(stored, duplicates, strict=True):
            if duplicate:
                self._metrics.items.labels("duplicate").inc()
                continue
            self._metrics.items.labels("stored").inc()
            self._metrics.ratings.labels(str(item.rating)).inc()
            self._metrics.rating.observe(item.rating)
            if record.features:
                report = self._telemetry.observe(record.features)
                drifted = drifted or bool(report and report.drifted)
        pending = await self._run(self._store.pending_count)
        self._metrics.pending.set(pending)
        if self._auto_update and pending >= self._loop.batch_size:
            self._start_update(allow_partial=False)
        elif self._retrain_on_drift and drifted and pending:
            self._start_update(allow_partial=True)

    # -- learning -------------------------------------------------------------------------

    def _start_update(self, allow_partial: bool) -> None:
        """One background update at a time; a full batch arriving meanwhile waits for it."""
        if self._update_task is not None and not self._update_task.done():
            return
        self._update_task = asyncio.ensure_future(self._update(allow_partial))

    async def _update(self, allow_partial: bool) -> UpdateOutcome:
        try:
            outcome = await self._run(self._loop.run_update, allow_partial)
        except Exception:
            logger.exception("learner update failed")
            self._metrics.updates.labels("failed").inc()
            raise
        self._record(outcome)
        # Items that arrived during the update may already make the next batch.
        if self._auto_update and await self._run(self._loop.batch_ready):
            self._update_task = asyncio.ensure_future(self._update(False))
        return outcome

    def _record(self, outcome: UpdateOutcome) -> None:
        if outcome.outcome == "nothing":
            return
        self._metrics.updates.labels(outcome.outcome).inc()
        if outcome.outcome == "promoted":
            self._metrics.promotions.labels("learner").inc()
            self._use_current()
        for name, value in outcome.metrics.items():
            self._metrics.validation.labels(name).set(value)
        self._metrics.pending.set(self._store.pending_count())
        self._last_reason = outcome.reason
        logger.info(
            "learner update",
            extra={
                "outcome": outcome.outcome,
                "candidate_version": outcome.candidate_version,
                "current_version": outcome.current_version,
                "items": outcome.items,
                "reason": outcome.reason,
            },
        )

    def _use_current(self) -> None:
        version = self._registry.current_version()
        self._telemetry.use_version(version, self._registry.path_of(version))

    async def wait_for_update(self) -> UpdateOutcome | None:
        """The background update in progress, awaited (tests and shutdown)."""
        while self._update_task is not None and not self._update_task.done():
            await asyncio.shield(self._update_task)
        return None if self._update_task is None else self._update_task.result()

    async def Retrain(  # noqa: N802 (the RPC name)
        self, request: feedback_pb2.RetrainRequest, context: Context
    ) -> feedback_pb2.RetrainResponse:
        await self.wait_for_update()
        outcome = await self._run(self._loop.run_update, request.allow_partial_batch)
        self._record(outcome)
        return feedback_pb2.RetrainResponse(
            outcome=outcome.outcome,
            candidate_version=outcome.candidate_version,
            reason=outcome.reason,
            items=outcome.items,
            validation=outcome.metrics,
            current_version=outcome.current_version,
        )

    # -- the registry ---------------------------------------------------------------------

    async def GetModelStatus(  # noqa: N802 (the RPC name)
        self, request: feedback_pb2.GetModelStatusRequest, context: Context
    ) -> feedback_pb2.GetModelStatusResponse:
        def collect() -> feedback_pb2.GetModelStatusResponse:
            updates = self._store.updates()
            report = self._telemetry.report()
            status = feedback_pb2.GetModelStatusResponse(
                current_version=self._registry.current_version(),
                feedback_count=self._store.count(),
                pending_in_buffer=self._store.pending_count(),
                updates=len(updates),
                promotions=sum(1 for u in updates if u.state == "promoted"),
                rejections=sum(1 for u in updates if u.state == "rejected"),
                versions=[_version_to_proto(v) for v in self._registry.versions()],
                rating_counts=self._store.rating_counts(),
                drift_window=self._telemetry.window_samples,
                drift_alert=bool(report and report.drifted),
                last_update_reason=updates[0].reason if updates else "",
            )
            if report is not None:
                status.drift.extend(
                    feedback_pb2.DriftGroup(group=g, psi=v, alert=report.alerts.get(g, False))
                    for g, v in report.psi_by_group.items()
                )
            return status

        return await self._run(collect)

    async def ListModelVersions(  # noqa: N802 (the RPC name)
        self, request: feedback_pb2.ListModelVersionsRequest, context: Context
    ) -> feedback_pb2.ListModelVersionsResponse:
        versions = await self._run(self._registry.versions)
        return feedback_pb2.ListModelVersionsResponse(
            versions=[_version_to_proto(v) for v in versions]
        )

    async def PromoteModel(  # noqa: N802 (the RPC name)
        self, request: feedback_pb2.PromoteModelRequest, context: Context
    ) -> feedback_pb2.PromoteModelResponse:
        if not request.version:
            raise InvalidInputError("version is empty; `voidline models status` lists them")
        info = await self._run(lambda: self._registry.promote(request.version, force=request.force))
        self._metrics.promotions.labels("operator").inc()
        self._use_current()
        return feedback_pb2.PromoteModelResponse(version=_version_to_proto(info))

    async def RollbackModel(  # noqa: N802 (the RPC name)
        self, request: feedback_pb2.RollbackModelRequest, context: Context
    ) -> feedback_pb2.RollbackModelResponse:
        info = await self._run(self._registry.rollback)
        self._metrics.promotions.labels("rollback").inc()
        self._use_current()
        return feedback_pb2.RollbackModelResponse(version=_version_to_proto(info))
