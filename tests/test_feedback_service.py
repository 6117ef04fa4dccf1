"""FeedbackService end to end: real servers on loopback behind the gateway, a real SQLite job
log and feedback database, the packaged model seeding a real registry, the real learner.

The listeners are simulated: jobs are written to the job log as the mastering service writes
them (features of held-out generated tracks, the parameters the current model predicts with
a random high-shelf change), and the population rates brighter masters higher.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from services.feedback.server import FeedbackRuntime
from services.feedback.settings import FeedbackServiceSettings
from tests.support.metrics import scrape, series
from tests.support.servers import BackgroundRuntime, free_port, gateway_channel
from voidline.analysis.features import FEATURE_NAMES
from voidline.feedback.loop import load_validation_set
from voidline.feedback.registry import ModelRegistry
from voidline.feedback.store import FeedbackStore
from voidline.mastering.inference import ParameterModel
from voidline.mastering.joblog import JobLog, new_job_id
from voidline.mastering.parameters import PARAMETER_NAMES, to_physical
from voidline.v1 import feedback_pb2, feedback_pb2_grpc

API_KEY = "vl_test_feedback_" + "f" * 32
METADATA = [("x-api-key", API_KEY)]
HIGH_SHELF = PARAMETER_NAMES.index("high_shelf_db")
SPECTRAL = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith("spectral_")]
VALIDATION = load_validation_set()


class Listeners:
    """Writes jobs like the mastering service does and rates them like a population would."""

    def __init__(self, jobs: JobLog, registry: ModelRegistry, seed: int = 0) -> None:
        self.jobs = jobs
        self.registry = registry
        self.rng = np.random.default_rng(seed)

    def job(
        self, applied_unit: np.ndarray | None = None, spectral_shift: float = 0.0
    ) -> tuple[str, float]:
        """A finished master of a held-out track; (job id, its high-shelf change)."""
        model = ParameterModel.load(self.registry.current_path(), "fp32")
        features = VALIDATION.features[self.rng.integers(0, len(VALIDATION.features))].copy()
        features[SPECTRAL] += spectral_shift
        predicted = model.predict(features)[0]
        change = 0.0
        if applied_unit is None:
            change = float(self.rng.uniform(-0.2, 0.2))
            applied_unit = predicted.copy()
            applied_unit[HIGH_SHELF] = np.clip(applied_unit[HIGH_SHELF] + change, 0.0, 1.0)
        job_id = new_job_id()
        self.jobs.start(job_id, "master", "0" * 64, {"target_name": "streaming"})
        self.jobs.succeed(
            job_id,
            [float(v) for v in features],
            to_physical(predicted),
            to_physical(applied_unit),
            model.version,
            model.sha256,
            {},
        )
        return job_id, change

    def rating(self, change: float) -> int:
        """Brighter is better for this population (with a little disagreement)."""
        return int(np.clip(round(3 + change * 10 + self.rng.normal(0, 0.3)), 1, 5))


def request(job_id: str, rating: int, **fields: Any) -> feedback_pb2.SubmitFeedbackRequest:
    return feedback_pb2.SubmitFeedbackRequest(
        feedback=feedback_pb2.Feedback(
            job_id=job_id, rating=rating, idempotency_key=uuid.uuid4().hex, **fields
        )
    )


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("feedback")
    settings = FeedbackServiceSettings(
        data_dir=str(root / "feedback"),
        jobs_db=str(root / "mastering" / "jobs.sqlite3"),
        registry_dir=str(root / "registry"),
        drift_window=64,
        drift_min_samples=48,
        drain_pause_s=0.0,
        grace_s=5.0,
    )
    runtime = FeedbackRuntime(settings)
    with (
        BackgroundRuntime(runtime.runtime, on_ready=runtime.ready, on_stop=runtime.close) as bg,
        gateway_channel([f"voidline.v1.FeedbackService={bg.address}"], API_KEY) as channel,
    ):
        yield {
            "stub": feedback_pb2_grpc.FeedbackServiceStub(channel),
            "runtime": runtime,
            "background": bg,
            "listeners": Listeners(runtime.jobs, runtime.registry),
        }


def submit(system: dict[str, Any], message: feedback_pb2.SubmitFeedbackRequest) -> Any:
    return system["stub"].SubmitFeedback(message, metadata=METADATA, timeout=30)


def wait_for_learner(system: dict[str, Any]) -> None:
    background: BackgroundRuntime = system["background"]
    background.call(system["runtime"].servicer.wait_for_update())


def status(system: dict[str, Any]) -> Any:
    return system["stub"].GetModelStatus(
        feedback_pb2.GetModelStatusRequest(), metadata=METADATA, timeout=30
    )


def test_feedback_is_stored_once_per_idempotency_key(system: dict[str, Any]) -> None:
    job_id, _ = system["listeners"].job()
    message = request(job_id, 4, comment="crisp")
    first = submit(system, message)
    again = submit(system, message)
    assert not first.duplicate and again.duplicate
    assert again.feedback_id == first.feedback_id and first.batch_size == 32
    stored = system["runtime"].store.get(first.feedback_id)
    assert (stored.job_id, stored.rating, stored.comment) == (job_id, 4, "crisp")
    assert (
        stored.model_version
        == ParameterModel.load(system["runtime"].registry.current_path(), "fp32").version
    )


def test_bad_feedback_gets_clear_errors(system: dict[str, Any]) -> None:
    job_id, _ = system["listeners"].job()
    cases = [
        (request("f" * 32, 4), grpc.StatusCode.NOT_FOUND, "f" * 32),
        (request(job_id, 0), grpc.StatusCode.INVALID_ARGUMENT, "rating must be 1 to 5"),
        (request(job_id, 6), grpc.StatusCode.INVALID_ARGUMENT, "rating must be 1 to 5"),
        (
            request(job_id, 3, corrected_parameters={"loudness_boost": 1.0}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "loudness_boost",
        ),
        (
            request(
                job_id,
                3,
                preference=feedback_pb2.AbPreference(
                    preferred_job_id=job_id, other_job_id="e" * 32
                ),
            ),
            grpc.StatusCode.NOT_FOUND,
            "e" * 32,
        ),
    ]
    count = system["runtime"].store.count()
    for message, code, text in cases:
        with pytest.raises(grpc.RpcError) as error:
            submit(system, message)
        assert error.value.code() == code, error.value.details()
        assert text in (error.value.details() or "")
    assert system["runtime"].store.count() == count  # nothing stored
    assert not submit(system, request(job_id, 5)).duplicate  # still serving


def test_a_batch_is_stored_all_or_nothing(system: dict[str, Any]) -> None:
    listeners, store = system["listeners"], system["runtime"].store
    jobs = [listeners.job()[0] for _ in range(2)]
    repeated = request(jobs[0], 4)
    batch = [repeated, request(jobs[1], 2), repeated]
    stub = system["stub"]
    messages = [feedback_pb2.SubmitFeedbackBatchRequest(feedback=m.feedback) for m in batch]
    result = stub.SubmitFeedbackBatch(iter(messages), metadata=METADATA, timeout=30)
    assert (result.stored, result.duplicates) == (2, 1)
    assert result.feedback_ids[0] == result.feedback_ids[2]
    count = store.count()
    broken = [request(jobs[0], 5), request(jobs[1], 7)]
    with pytest.raises(grpc.RpcError) as error:
        stub.SubmitFeedbackBatch(
            iter(feedback_pb2.SubmitFeedbackBatchRequest(feedback=m.feedback) for m in broken),
            metadata=METADATA,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "feedback item 1: rating must be 1 to 5" in (error.value.details() or "")
    assert store.count() == count


def test_a_population_that_likes_brighter_masters_moves_the_high_shelf_up(
    system: dict[str, Any],
) -> None:
    runtime = system["runtime"]
    listeners: Listeners = system["listeners"]
    start = ParameterModel.load(runtime.registry.current_path(), "fp32")
    before = float(start.predict(VALIDATION.features)[:, HIGH_SHELF].mean())
    for _ in range(7):  # 7 batches of 32: a few hundred ratings
        for _ in range(32 - runtime.store.pending_count()):
            job_id, change = listeners.job()
            submit(system, request(job_id, listeners.rating(change)))
        wait_for_learner(system)
    after_model = ParameterModel.load(runtime.registry.current_path(), "fp32")
    after = float(after_model.predict(VALIDATION.features)[:, HIGH_SHELF].mean())
    assert after > before + 0.05, (before, after)

    versions = (
        system["stub"]
        .ListModelVersions(feedback_pb2.ListModelVersionsRequest(), metadata=METADATA)
        .versions
    )
    learned = [v for v in versions if v.parent]
    promoted = [v for v in learned if v.state in ("current", "previous", "retired")]
    assert len(promoted) >= 3
    for version in promoted:  # every promoted step passed the validation gate
        metrics = version.validation
        assert metrics["validation_unit_mse"] <= metrics["validation_unit_mse_before"] * 1.1
        assert metrics["validation_mean_shift"] <= 0.05
    current = status(system)
    assert current.current_version == after_model.version
    assert current.updates >= 7 and current.promotions == len(promoted)
    assert current.feedback_count >= 7 * 32


def test_a_poisoned_batch_is_rejected_and_the_model_stays(system: dict[str, Any]) -> None:
    runtime = system["runtime"]
    listeners: Listeners = system["listeners"]
    wait_for_learner(system)
    current = runtime.registry.current_version()
    extreme = np.ones(len(PARAMETER_NAMES), dtype=np.float32)  # every knob at its maximum
    for _ in range(32 - runtime.store.pending_count()):
        job_id, _ = listeners.job(applied_unit=extreme)
        submit(system, request(job_id, 5))
    wait_for_learner(system)
    assert runtime.registry.current_version() == current
    rejected = runtime.registry.versions()[0]
    assert rejected.state == "rejected" and rejected.parent == current
    assert "validation error rose" in rejected.reason or "moved" in rejected.reason
    assert status(system).last_update_reason == rejected.reason
    samples = scrape(system["background"].metrics_url)
    assert series(samples, "voidline_model_updates_total", outcome="rejected") >= 1
    assert series(samples, "voidline_model_info", version=current) == 1


def test_promote_and_rollback_switch_the_current_version(system: dict[str, Any]) -> None:
    stub, runtime = system["stub"], system["runtime"]
    wait_for_learner(system)
    current = runtime.registry.current_version()
    rolled = stub.RollbackModel(feedback_pb2.RollbackModelRequest(), metadata=METADATA).version
    assert rolled.state == "current" and rolled.version != current
    assert runtime.registry.current_version() == rolled.version
    promoted = stub.PromoteModel(
        feedback_pb2.PromoteModelRequest(version=current), metadata=METADATA
    ).version
    assert promoted.version == current and runtime.registry.current_version() == current
    with pytest.raises(grpc.RpcError) as error:
        stub.PromoteModel(feedback_pb2.PromoteModelRequest(version="pm-none"), metadata=METADATA)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_drift_gauges_rise_for_a_shifted_feature_group(system: dict[str, Any]) -> None:
    runtime = system["runtime"]
    wait_for_learner(system)
    version = runtime.registry.current_version()
    runtime.telemetry.use_version("drift-test", runtime.registry.current_path())
    rng = np.random.default_rng(5)
    for _ in range(64):
        features = VALIDATION.features[rng.integers(0, len(VALIDATION.features))].copy()
        runtime.telemetry.observe(features)
    unshifted = scrape(system["background"].metrics_url)
    for _ in range(64):
        features = VALIDATION.features[rng.integers(0, len(VALIDATION.features))].copy()
        features[SPECTRAL] += 6.0
        runtime.telemetry.observe(features)
    shifted = scrape(system["background"].metrics_url)
    labels = {"group": "spectral", "model_version": "drift-test"}
    assert series(unshifted, "voidline_feature_drift_psi", **labels) < 0.25
    assert series(shifted, "voidline_feature_drift_psi", **labels) > 0.25
    assert series(shifted, "voidline_feature_drift_alert", model_version="drift-test") == 1
    runtime.telemetry.use_version(version, runtime.registry.current_path())


def test_drift_triggers_retraining_when_configured(tmp_path: Path) -> None:
    settings = FeedbackServiceSettings(
        data_dir=str(tmp_path / "feedback"),
        jobs_db=str(tmp_path / "jobs.sqlite3"),
        registry_dir=str(tmp_path / "registry"),
        auto_update=False,
        retrain_on_drift=True,
        drift_window=12,
        drift_min_samples=12,
        drain_pause_s=0.0,
        grace_s=5.0,
    )
    runtime = FeedbackRuntime(settings)
    with (
        BackgroundRuntime(
            runtime.runtime, on_ready=runtime.ready, on_stop=runtime.close
        ) as background,
        grpc.insecure_channel(background.address) as channel,
    ):
        stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
        listeners = Listeners(runtime.jobs, runtime.registry, seed=3)
        for _ in range(12):  # audio unlike the training data: the spectral group moves
            job_id, change = listeners.job(spectral_shift=6.0)
            stub.SubmitFeedback(request(job_id, listeners.rating(change)), timeout=30)
        background.call(runtime.servicer.wait_for_update())
        status = stub.GetModelStatus(feedback_pb2.GetModelStatusRequest(), timeout=30)
    assert status.drift_alert
    assert status.updates == 1 and status.pending_in_buffer == 0  # learned from 12 < 32


def test_acknowledged_feedback_survives_sigkill(tmp_path: Path) -> None:
    """A real feedback process is killed with SIGKILL while a client submits; a new process on
    the same files holds every acknowledged item exactly once."""
    jobs = JobLog(tmp_path / "jobs.sqlite3")
    registry = ModelRegistry(tmp_path / "registry")
    listeners = Listeners(jobs, registry)
    from voidline.mastering.inference import default_model_dir

    registry.ensure_seeded(default_model_dir())
    job_ids = [listeners.job()[0] for _ in range(8)]
    port = free_port()
    command = [
        sys.executable, "-m", "services.feedback", f"--port={port}", "--metrics-port=-1",
        f"--data-dir={tmp_path / 'feedback'}", f"--jobs-db={tmp_path / 'jobs.sqlite3'}",
        f"--registry-dir={tmp_path / 'registry'}", "--auto-update=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    acknowledged: list[str] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
            stop = threading.Event()

            def kill_soon() -> None:
                while len(acknowledged) < 40 and not stop.is_set():
                    time.sleep(0.005)
                os.kill(process.pid, signal.SIGKILL)

            killer = threading.Thread(target=kill_soon)
            killer.start()
            try:
                for index in range(10_000):
                    key = f"sigkill-{index}"
                    item = feedback_pb2.Feedback(
                        job_id=job_ids[index % len(job_ids)],
                        rating=1 + index % 5,
                        idempotency_key=key,
                    )
                    stub.SubmitFeedback(
                        feedback_pb2.SubmitFeedbackRequest(feedback=item), timeout=10
                    )
                    acknowledged.append(key)
            except grpc.RpcError:
                pass  # the server died under the call
            finally:
                stop.set()
                killer.join()
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and len(acknowledged) >= 40
    with FeedbackStore(tmp_path / "feedback" / "feedback.sqlite3") as store:
        keys = [item.idempotency_key for item in store.recent(limit=100_000)]
    assert set(acknowledged) <= set(keys)  # nothing acknowledged was lost
    assert len(keys) == len(set(keys))  # nothing twice
    assert len(keys) <= len(acknowledged) + 1  # at most the one in flight
