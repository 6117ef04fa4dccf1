"""The feedback loop: stored feedback and the job log in, a validated model version out.

`FeedbackLoop.run_update` takes the oldest pending feedback (a batch of 32), joins each item
with its mastering job (features and the parameters the chain ran with, from the job log),
rebuilds the current model's torch weights from its ONNX file, lets the learner
(`voidline.feedback.learner`) compute and judge a candidate, exports the candidate to ONNX
fp32 and int8 with a model card that names its parent, and adds it to the registry: as a
candidate that is promoted at once when it passed the validation gate, else as rejected with
the reason. The feedback items are marked as consumed by that update either way, so a
poisoned batch is looked at once and never again.

One update runs at a time (a lock); the feedback service calls `run_update` from a worker
thread whenever a full batch is pending, and `voidline retrain` calls it on demand.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from voidline.errors import NotFoundError
from voidline.feedback.learner import (
    Correction,
    FeedbackBatch,
    LearnerConfig,
    Preference,
    RatedJob,
    ValidationSet,
    compute_update,
    correction_from_physical,
)
from voidline.feedback.registry import ModelRegistry
from voidline.feedback.store import FeedbackStore, StoredFeedback
from voidline.mastering.joblog import JobRecord
from voidline.mastering.model import ParameterNetwork, network_from_onnx
from voidline.mastering.parameters import to_unit

VALIDATION_FILE = Path(__file__).resolve().parent / "data" / "validation-synthetic.npz"
REFERENCE_FILE = "reference_distributions.json"


class JobSource(Protocol):
    """Where the jobs are looked up (the mastering service's job log)."""

    def get(self, job_id: str) -> JobRecord: ...


def load_validation_set(path: Path = VALIDATION_FILE) -> ValidationSet:
    """The held-out synthetic validation set shipped with the package.

    128 examples made by the training generator with a seed no training run uses
    (`python -m voidline.mastering.dataset --examples 128 --seed 7001 --seconds 6`).
    """
    from voidline.mastering.dataset import TrainingSet

    data = TrainingSet.load(path)
    return ValidationSet(data.features, data.labels)


@dataclass(frozen=True)
class LoopConfig:
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    recent_items: int = 256  # consumed feedback the gate checks the candidate against


@dataclass(frozen=True)
class UpdateOutcome:
    """What one update did: promoted, rejected, failed or nothing (no pending feedback)."""

    outcome: str
    items: int
    current_version: str
    candidate_version: str = ""
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def _usable(record: JobRecord) -> bool:
    return (
        record.status == "succeeded"
        and record.features is not None
        and record.applied is not None
        and len(record.features) > 0
    )


class FeedbackLoop:
    """Runs learner updates from a feedback store into a model registry."""

    def __init__(
        self,
        store: FeedbackStore,
        jobs: JobSource,
        registry: ModelRegistry,
        validation: ValidationSet,
        config: LoopConfig | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.registry = registry
        self.validation = validation
        self.config = config or LoopConfig()
        self._lock = threading.Lock()

    @property
    def batch_size(self) -> int:
        return self.config.learner.batch_size

    def batch_ready(self) -> bool:
        return self.store.pending_count() >= self.batch_size

    def run_update(self, allow_partial_batch: bool = False) -> UpdateOutcome:
        """One learner update from the oldest pending feedback (see the module docstring)."""
        with self._lock:
            pending = self.store.pending(limit=self.batch_size)
            current = self.registry.current_version()
            if not pending or (len(pending) < self.batch_size and not allow_partial_batch):
                return UpdateOutcome("nothing", len(pending), current)
            ids = [item.feedback_id for item in pending]
            batch = self._join(pending)
            if len(batch) == 0:
                reason = "none of the items' jobs has features and parameters in the job log"
                self.store.record_update(current, "", "failed", reason, {}, ids)
                return UpdateOutcome("failed", len(pending), current, reason=reason)
            recent = self._join(self.store.recent(self.config.recent_items), exclude=set(ids))
            return self._update(current, batch, recent, ids)

    def _update(
        self, current: str, batch: FeedbackBatch, recent: FeedbackBatch, ids: list[int]
    ) -> UpdateOutcome:
        base_dir = self.registry.path_of(current)
        base = network_from_onnx(base_dir / "parameter_model.onnx")
        result = compute_update(base, batch, self.validation, recent, self.config.learner)
        state = "candidate" if result.accepted else "rejected"
        with tempfile.TemporaryDirectory(prefix="voidline-update-") as scratch:
            staging = Path(scratch) / "model"
            export_version(result.candidate, base_dir, staging, result.metrics, len(batch))
            added = self.registry.add_version(
                staging,
                parent=current,
                validation=result.metrics,
                state=state,
                reason=result.reason,
            )
        outcome = "rejected"
        if result.accepted:
            self.registry.promote(added.version)
            outcome = "promoted"
        self.store.record_update(
            current, added.version, outcome, result.reason, result.metrics, ids
        )
        return UpdateOutcome(
            outcome,
            len(batch),
            self.registry.current_version(),
            added.version,
            result.reason,
            result.metrics,
        )

    def _join(
        self, items: Sequence[StoredFeedback], exclude: set[int] | None = None
    ) -> FeedbackBatch:
        """Feedback items with their jobs' features and parameters (unknown jobs skipped)."""
        batch = FeedbackBatch()
        for item in items:
            if exclude and item.feedback_id in exclude:
                continue
            record = self._job(item.job_id)
            if record is None:
                continue
            features = np.asarray(record.features, dtype=np.float32)
            assert record.applied is not None
            batch.rated.append(RatedJob(features, to_unit(record.applied), item.rating))
            if item.corrected:
                correction: Correction = correction_from_physical(features, dict(item.corrected))
                batch.corrections.append(correction)
            if item.preferred_job_id and item.other_job_id:
                preferred = self._job(item.preferred_job_id)
                other = self._job(item.other_job_id)
                if preferred is not None and other is not None:
                    assert preferred.applied is not None and other.applied is not None
                    batch.preferences.append(
                        Preference(
                            np.asarray(preferred.features, dtype=np.float32),
                            to_unit(preferred.applied),
                            np.asarray(other.features, dtype=np.float32),
                            to_unit(other.applied),
                        )
                    )
        return batch

    def _job(self, job_id: str) -> JobRecord | None:
        try:
            record = self.jobs.get(job_id)
        except NotFoundError:
            return None
        return record if _usable(record) else None


def export_version(
    network: ParameterNetwork,
    base_dir: Path,
    out_dir: Path,
    metrics: dict[str, float],
    items: int,
) -> dict[str, Any]:
    """ONNX fp32 + int8 of a fine-tuned network, with a card that names its parent.

    The card is the parent's (architecture, feature layout, the generator-trained ancestor's
    training record) with a new version, the new files' sha256, export checks and a
    `fine_tuning` history entry appended; the drift reference is carried over.
    """
    from voidline.hashing import sha256_file
    from voidline.mastering.inference import (
        CARD_FILE,
        CARD_MARKDOWN_FILE,
        FP32_FILE,
        INT8_FILE,
    )
    from voidline.mastering.train import (
        export_onnx,
        onnx_outputs,
        quantize_int8,
        render_card_markdown,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path = out_dir / FP32_FILE, out_dir / INT8_FILE
    export_onnx(network, fp32_path)
    quantize_int8(fp32_path, int8_path)
    parent_card: dict[str, Any] = json.loads((base_dir / CARD_FILE).read_text(encoding="utf-8"))
    card = copy.deepcopy(parent_card)
    fp32_sha, int8_sha = sha256_file(fp32_path), sha256_file(int8_path)
    card["version"] = f"pm-fb-{fp32_sha[:8]}"
    card["files"]["fp32"].update(sha256=fp32_sha, bytes=fp32_path.stat().st_size)
    card["files"]["int8"].update(sha256=int8_sha, bytes=int8_path.stat().st_size)
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(64, network.feature_mean.shape[0], generator=generator)
    probes = network.feature_mean + noise * network.feature_std
    with torch.no_grad():
        reference = network(probes).numpy()
    fp32_error = np.abs(onnx_outputs(fp32_path, probes.numpy()) - reference)
    int8_error = np.abs(onnx_outputs(int8_path, probes.numpy()) - reference)
    card["checks"] = {
        **card.get("checks", {}),
        "fp32_onnx_vs_torch_max_abs": float(fp32_error.max()),
        "int8_vs_torch_max_abs": float(int8_error.max()),
        "int8_vs_torch_mean_abs": float(int8_error.mean()),
    }
    card["parent"] = parent_card["version"]
    card["fine_tuning"] = [
        *parent_card.get("fine_tuning", []),
        {
            "parent": parent_card["version"],
            "created": time.time(),
            "feedback_items": items,
            "method": "voidline.feedback.learner (reward-weighted regression, Bradley-Terry, "
            "corrections), Adam",
            "validation": {k: float(v) for k, v in metrics.items()},
        },
    ]
    card["reproduce"] = (
        f"fine-tuned from {parent_card['version']} on listener feedback by the feedback "
        "service; not reproducible from a command (it depends on the feedback store)"
    )
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    history = "\n".join(
        f"- from `{step['parent']}` on {step['feedback_items']} feedback items "
        f"(validation error {step['validation'].get('validation_unit_mse', float('nan')):.5f})"
        for step in card["fine_tuning"]
    )
    markdown = render_card_markdown(card) + f"\n## Fine-tuning on listener feedback\n\n{history}\n"
    (out_dir / CARD_MARKDOWN_FILE).write_text(markdown, encoding="utf-8")
    if (base_dir / REFERENCE_FILE).is_file():
        shutil.copy2(base_dir / REFERENCE_FILE, out_dir / REFERENCE_FILE)
    return card
