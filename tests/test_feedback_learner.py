"""The online learner on the packaged model: weights rebuilt from ONNX, the three losses, the
validation gate (honest batches pass, a poisoned one is rejected), export of a new version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from voidline.errors import InvalidInputError
from voidline.feedback.learner import (
    FeedbackBatch,
    LearnerConfig,
    Preference,
    RatedJob,
    compute_update,
    correction_from_physical,
    feedback_loss,
)
from voidline.feedback.loop import export_version, load_validation_set
from voidline.mastering.inference import ParameterModel, default_model_dir
from voidline.mastering.model import ParameterNetwork, network_from_onnx
from voidline.mastering.parameters import PARAMETER_NAMES

HIGH_SHELF = PARAMETER_NAMES.index("high_shelf_db")
VALIDATION = load_validation_set()


@pytest.fixture(scope="module")
def base() -> ParameterNetwork:
    return network_from_onnx(default_model_dir() / "parameter_model.onnx")


def predict(network: ParameterNetwork, features: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = network(torch.from_numpy(features)).numpy()
    return out


def loss_value(*args: Any) -> torch.Tensor:
    with torch.no_grad():
        return feedback_loss(*args)


def brighter_batch(network: ParameterNetwork, seed: int, size: int = 32) -> FeedbackBatch:
    rng = np.random.default_rng(seed)
    features = VALIDATION.features[rng.integers(0, len(VALIDATION.features), size)]
    predicted = predict(network, features)
    batch = FeedbackBatch()
    for row, prediction in zip(features, predicted, strict=True):
        change = rng.uniform(-0.2, 0.2)
        applied = prediction.copy()
        applied[HIGH_SHELF] = np.clip(applied[HIGH_SHELF] + change, 0, 1)
        batch.rated.append(RatedJob(row, applied, int(np.clip(round(3 + 10 * change), 1, 5))))
    return batch


def test_rebuilt_network_matches_the_onnx_model(base: ParameterNetwork) -> None:
    onnx_model = ParameterModel.load(default_model_dir(), "fp32")
    expected = onnx_model.predict(VALIDATION.features)
    np.testing.assert_allclose(predict(base, VALIDATION.features), expected, atol=1e-5)


def test_rebuilding_refuses_a_file_that_is_not_this_network(tmp_path: Path) -> None:
    (tmp_path / "x.onnx").write_bytes(b"not a model")
    with pytest.raises(Exception):  # noqa: B017 (onnx raises its own decode errors)
        network_from_onnx(tmp_path / "x.onnx")


def test_losses_point_the_way_the_feedback_does(base: ParameterNetwork) -> None:
    features = VALIDATION.features[0]
    start = predict(base, features[None])[0]
    brighter = start.copy()
    brighter[HIGH_SHELF] += 0.1
    liked = FeedbackBatch(rated=[RatedJob(features, brighter, 5)])
    disliked = FeedbackBatch(rated=[RatedJob(features, brighter, 1)])
    neutral = FeedbackBatch(rated=[RatedJob(features, brighter, 3)])
    margin = 0.1
    assert float(loss_value(base, liked, margin, base)) > 0  # pull toward brighter
    assert float(loss_value(base, neutral, margin, base)) == 0  # a 3 says nothing
    # A dislike's target mirrors only the changed output: the others are already there.
    outputs = torch.from_numpy(start[None]).requires_grad_(True)

    class Fixed(torch.nn.Module):
        def forward(self, _: torch.Tensor) -> torch.Tensor:
            return outputs

    loss = feedback_loss(Fixed(), disliked, margin, base)  # type: ignore[arg-type]
    loss.backward()  # type: ignore[no-untyped-call]
    assert outputs.grad is not None
    gradient = outputs.grad.numpy()[0]
    assert gradient[HIGH_SHELF] > 0  # lowering the high shelf lowers the loss
    assert np.abs(np.delete(gradient, HIGH_SHELF)).max() == 0
    preference = FeedbackBatch(preferences=[Preference(features, brighter, features, start)])
    assert float(loss_value(base, preference, margin, base)) > 0
    correction = correction_from_physical(features, {"high_shelf_db": 3.0})
    assert correction.mask.sum() == 1 and correction.mask[HIGH_SHELF]
    with pytest.raises(InvalidInputError):
        correction_from_physical(features, {"volume": 1.0})


def test_an_honest_batch_passes_and_moves_the_high_shelf_up(base: ParameterNetwork) -> None:
    batch = brighter_batch(base, seed=1)
    result = compute_update(base, batch, VALIDATION, FeedbackBatch(), LearnerConfig())
    assert result.accepted, result.reason
    before = predict(base, VALIDATION.features)[:, HIGH_SHELF].mean()
    after = predict(result.candidate, VALIDATION.features)[:, HIGH_SHELF].mean()
    assert after > before + 0.02
    assert result.metrics["validation_mean_shift"] < 0.05
    assert result.metrics["batch_loss"] < result.metrics["batch_loss_before"]


def test_a_poisoned_batch_fails_the_gate(base: ParameterNetwork) -> None:
    recent = brighter_batch(base, seed=2)
    extreme = np.ones(len(PARAMETER_NAMES), dtype=np.float32)
    poison = FeedbackBatch(rated=[RatedJob(row, extreme, 5) for row in VALIDATION.features[:32]])
    result = compute_update(base, poison, VALIDATION, recent, LearnerConfig())
    assert not result.accepted
    assert "validation error rose" in result.reason and "recent feedback" in result.reason


def test_export_writes_a_loadable_version_with_its_parent(
    base: ParameterNetwork, tmp_path: Path
) -> None:
    result = compute_update(
        base, brighter_batch(base, seed=3), VALIDATION, FeedbackBatch(), LearnerConfig()
    )
    card = export_version(result.candidate, default_model_dir(), tmp_path, result.metrics, 32)
    parent = ParameterModel.load(default_model_dir(), "fp32").version
    assert card["parent"] == parent and card["version"].startswith("pm-fb-")
    assert card["fine_tuning"][-1]["feedback_items"] == 32
    for precision in ("fp32", "int8"):
        model = ParameterModel.load(tmp_path, precision)
        assert model.version == card["version"]
    np.testing.assert_allclose(
        ParameterModel.load(tmp_path, "fp32").predict(VALIDATION.features),
        predict(result.candidate, VALIDATION.features),
        atol=1e-5,
    )
    assert (tmp_path / "MODEL_CARD.md").read_text().count("Fine-tuning") == 1


def test_config_is_checked() -> None:
    with pytest.raises(InvalidInputError):
        LearnerConfig(learning_rate=0)
    with pytest.raises(InvalidInputError):
        LearnerConfig(tolerance=-1)
    with pytest.raises(InvalidInputError):
        compute_update(
            network_from_onnx(default_model_dir() / "parameter_model.onnx"),
            FeedbackBatch(),
            VALIDATION,
            FeedbackBatch(),
            LearnerConfig(),
        )
