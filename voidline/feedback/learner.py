"""Online learning of the mastering parameter model from listeners' feedback.

Every `batch_size` (32) feedback items the learner fine-tunes a copy of the current model
(rebuilt from its fp32 ONNX file, `voidline.mastering.model.network_from_onnx`) with Adam at
learning rate 1e-4 for a fixed number of steps on three kinds of signal:

- **Ratings: reward-weighted regression** (Peters and Schaal, "Reinforcement learning by
  reward-weighted regression for operational space control", ICML 2007). A rating r becomes
  the weight w = (r - 3) / 2 in [-1, 1]. A good rating (w > 0) pulls the prediction for that
  job's features toward the parameters the job used, by w x squared distance. A bad one
  (w < 0) pushes it away from them: toward the starting model's prediction mirrored away
  from the used parameters, by at most `push_margin`, so a run of bad ratings cannot drive
  outputs without limit, and outputs the job did not change stay where they are.
- **A/B preferences: a Bradley-Terry loss** (Bradley and Terry, Biometrika 39, 1952). Each
  job's score is minus the squared distance between the model's prediction for its features
  and the parameters it used; P(preferred beats other) = sigmoid(score difference), and the
  loss is its negative log-likelihood.
- **Corrected parameters: supervised targets.** The squared error on the parameters the
  listener corrected (the others are masked out).

The candidate is then validated before anyone may promote it: on the held-out synthetic
validation set (generated examples with known best parameters, never trained on) its error
may not exceed the current model's by more than `tolerance` (10 %, relative), its
predictions may not move by more than `max_mean_shift` on average, and on recent feedback
its loss may not exceed the current model's by more than `recent_tolerance` (25 %).
Listeners' taste may legitimately move the model away from the generator's "best"
parameters a little at a time; a batch that would wreck the model (a poisoned batch) moves
it a lot at once, fails these checks and is kept as rejected, with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from voidline.errors import InvalidInputError
from voidline.mastering.model import EqResponse, ParameterNetwork
from voidline.mastering.parameters import BY_NAME, N_PARAMETERS, PARAMETER_NAMES

FloatArray = NDArray[np.float32]
# Bradley-Terry scores are minus mean squared distances (~1e-3): scaled so a clear preference
# reaches a useful logit.
PREFERENCE_SCALE = 100.0


@dataclass(frozen=True)
class LearnerConfig:
    """How one update is computed and judged."""

    learning_rate: float = 1e-4
    batch_size: int = 32
    steps: int = 40
    push_margin: float = 0.1  # in the model's [0, 1] output units
    tolerance: float = 0.10  # relative regression allowed on the synthetic validation set
    recent_tolerance: float = 0.25  # relative regression allowed on recent feedback
    max_mean_shift: float = 0.05  # mean |change| of the validation predictions, [0, 1] units
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.learning_rate <= 1e-2 and self.batch_size >= 1 and self.steps >= 1):
            raise InvalidInputError("learning_rate must be in (0, 0.01], batch_size and steps >= 1")
        if not (self.push_margin > 0 and self.max_mean_shift > 0):
            raise InvalidInputError("push_margin and max_mean_shift must be positive")
        if self.tolerance < 0 or self.recent_tolerance < 0:
            raise InvalidInputError("tolerances must not be negative")


@dataclass(frozen=True)
class RatedJob:
    """A rated job: its features, the parameters it ran with ([0, 1]) and the rating."""

    features: FloatArray
    applied: FloatArray
    rating: int

    @property
    def weight(self) -> float:
        return (self.rating - 3) / 2.0


@dataclass(frozen=True)
class Preference:
    """An A/B choice: the preferred job's features and parameters, then the other's."""

    preferred_features: FloatArray
    preferred_applied: FloatArray
    other_features: FloatArray
    other_applied: FloatArray


@dataclass(frozen=True)
class Correction:
    """Parameters a listener set by hand for a job ([0, 1]; `mask` marks which)."""

    features: FloatArray
    target: FloatArray
    mask: NDArray[np.bool_]


def correction_from_physical(features: FloatArray, corrected: dict[str, float]) -> Correction:
    """A Correction from physical values by parameter name (any subset of the 32)."""
    target = np.zeros(N_PARAMETERS, dtype=np.float32)
    mask = np.zeros(N_PARAMETERS, dtype=bool)
    for name, value in corrected.items():
        if name not in BY_NAME:
            raise InvalidInputError(f"unknown parameter {name!r}")
        index = PARAMETER_NAMES.index(name)
        target[index] = BY_NAME[name].to_unit(value)
        mask[index] = True
    return Correction(np.asarray(features, np.float32), target, mask)


@dataclass
class FeedbackBatch:
    """What one update learns from (any of the three lists may be empty)."""

    rated: list[RatedJob] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rated) + len(self.preferences) + len(self.corrections)

    def extend(self, other: FeedbackBatch) -> None:
        self.rated += other.rated
        self.preferences += other.preferences
        self.corrections += other.corrections


@dataclass(frozen=True)
class ValidationSet:
    """Held-out generated examples: features and the best parameters in [0, 1]."""

    features: FloatArray
    labels: FloatArray

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or self.labels.shape != (len(self.features), N_PARAMETERS):
            raise InvalidInputError("a validation set needs (n, 384) features and (n, 32) labels")


@dataclass(frozen=True)
class UpdateResult:
    """A candidate network and what validation found."""

    candidate: ParameterNetwork
    accepted: bool
    reason: str
    metrics: dict[str, float]


def _tensor(rows: Sequence[FloatArray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(rows).astype(np.float32))


def feedback_loss(
    network: ParameterNetwork,
    batch: FeedbackBatch,
    push_margin: float,
    reference: ParameterNetwork,
) -> torch.Tensor:
    """The learning objective on a batch (0 for an empty batch); see the module docstring.

    `reference` is the model the update started from: a bad rating says the parameters that
    were used are worse than something else, not which one, so its target is the reference's
    prediction mirrored away from the used parameters (by at most `push_margin`). Outputs
    where the job used what the model predicted are then left alone.
    """
    terms: list[torch.Tensor] = []
    if batch.rated:
        features = _tensor([item.features for item in batch.rated])
        predicted = network(features)
        applied = _tensor([item.applied for item in batch.rated])
        with torch.no_grad():
            start = reference(features)
        weights = torch.tensor([item.weight for item in batch.rated], dtype=torch.float32)
        away = start - torch.clamp(applied - start, -push_margin, push_margin)
        target = torch.where(weights[:, None] >= 0, applied, away)
        distance = ((predicted - target) ** 2).mean(dim=1)
        terms.append((weights.abs() * distance).mean())
    if batch.preferences:
        preferred = network(_tensor([p.preferred_features for p in batch.preferences]))
        other = network(_tensor([p.other_features for p in batch.preferences]))
        preferred_used = _tensor([p.preferred_applied for p in batch.preferences])
        other_used = _tensor([p.other_applied for p in batch.preferences])
        preferred_score = -((preferred - preferred_used) ** 2).mean(dim=1)
        other_score = -((other - other_used) ** 2).mean(dim=1)
        # -log sigmoid(x) = softplus(-x); squared distances are small, so scale them up.
        margin = (preferred_score - other_score) * PREFERENCE_SCALE
        terms.append(torch.nn.functional.softplus(-margin).mean())
    if batch.corrections:
        predicted = network(_tensor([c.features for c in batch.corrections]))
        target = _tensor([c.target for c in batch.corrections])
        mask = torch.from_numpy(np.stack([c.mask for c in batch.corrections]).astype(np.float32))
        terms.append((((predicted - target) ** 2) * mask).sum() / mask.sum().clamp(min=1.0))
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def validation_metrics(
    network: ParameterNetwork, validation: ValidationSet, response: EqResponse
) -> dict[str, float]:
    """Mean squared error of the [0, 1] outputs and RMS EQ-response error in dB."""
    with torch.no_grad():
        predicted = network(torch.from_numpy(validation.features))
        labels = torch.from_numpy(validation.labels)
        unit_mse = float(((predicted - labels) ** 2).mean())
        response_error = response(predicted.double()) - response(labels.double())
        eq_rms = float(torch.sqrt((response_error**2).mean()))
    return {"unit_mse": unit_mse, "eq_response_rms_db": eq_rms}


def compute_update(
    base: ParameterNetwork,
    batch: FeedbackBatch,
    validation: ValidationSet,
    recent: FeedbackBatch,
    config: LearnerConfig,
) -> UpdateResult:
    """Fine-tune a copy of `base` on `batch`, then judge it (the base is left untouched)."""
    if len(batch) == 0:
        raise InvalidInputError("an update needs at least one feedback item")
    torch.manual_seed(config.seed)
    candidate = copy.deepcopy(base)
    candidate.train()
    candidate.dropout.p = 0.0  # the targets are few and noisy: no extra noise on top
    optimizer = torch.optim.Adam(candidate.parameters(), lr=config.learning_rate)
    for _ in range(config.steps):
        optimizer.zero_grad()
        loss = feedback_loss(candidate, batch, config.push_margin, base)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(candidate.parameters(), 1.0)
        optimizer.step()
    candidate.eval()
    base.eval()
    return judge(base, candidate, batch, validation, recent, config)


def judge(
    base: ParameterNetwork,
    candidate: ParameterNetwork,
    batch: FeedbackBatch,
    validation: ValidationSet,
    recent: FeedbackBatch,
    config: LearnerConfig,
) -> UpdateResult:
    """The validation gate: synthetic set, prediction shift and recent feedback."""
    response = EqResponse()
    before = validation_metrics(base, validation, response)
    after = validation_metrics(candidate, validation, response)
    with torch.no_grad():
        features = torch.from_numpy(validation.features)
        shift = float((candidate(features) - base(features)).abs().mean())
        batch_before = float(feedback_loss(base, batch, config.push_margin, base))
        batch_after = float(feedback_loss(candidate, batch, config.push_margin, base))
        recent_before = float(feedback_loss(base, recent, config.push_margin, base))
        recent_after = float(feedback_loss(candidate, recent, config.push_margin, base))
    metrics = {
        "validation_unit_mse": after["unit_mse"],
        "validation_unit_mse_before": before["unit_mse"],
        "validation_eq_rms_db": after["eq_response_rms_db"],
        "validation_eq_rms_db_before": before["eq_response_rms_db"],
        "validation_mean_shift": shift,
        "batch_loss": batch_after,
        "batch_loss_before": batch_before,
        "recent_loss": recent_after,
        "recent_loss_before": recent_before,
        "items": float(len(batch)),
    }
    limit = 1.0 + config.tolerance
    reasons = []
    if after["unit_mse"] > before["unit_mse"] * limit:
        reasons.append(
            f"validation error rose from {before['unit_mse']:.5f} to {after['unit_mse']:.5f} "
            f"(more than {config.tolerance:.0%})"
        )
    if after["eq_response_rms_db"] > before["eq_response_rms_db"] * limit:
        reasons.append(
            f"validation EQ error rose from {before['eq_response_rms_db']:.3f} to "
            f"{after['eq_response_rms_db']:.3f} dB (more than {config.tolerance:.0%})"
        )
    if shift > config.max_mean_shift:
        reasons.append(
            f"predictions moved by {shift:.3f} on average (limit {config.max_mean_shift:g})"
        )
    if len(recent) and recent_after > recent_before * (1.0 + config.recent_tolerance) + 1e-9:
        reasons.append(f"recent feedback fits worse ({recent_before:.5f} -> {recent_after:.5f})")
    return UpdateResult(candidate, not reasons, "; ".join(reasons), metrics)
