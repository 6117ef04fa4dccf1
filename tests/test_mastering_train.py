"""Training, export, model card and onnxruntime inference of the parameter model, end to end.

A small learnable data set is made here: features driven by a few hidden factors (as real
analysis features are strongly correlated) and labels that are a smooth function of the same
factors, so a trained model must beat the constant-mean baseline clearly.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from voidline.analysis.features import FEATURE_NAMES
from voidline.cli.main import main
from voidline.errors import FailedPreconditionError, InvalidInputError
from voidline.hashing import sha256_file
from voidline.mastering.dataset import TrainingSet
from voidline.mastering.inference import (
    CARD_FILE,
    CARD_MARKDOWN_FILE,
    FP32_FILE,
    INT8_FILE,
    ParameterModel,
    default_model_dir,
)
from voidline.mastering.model import CURVE_LEVELS_DB, N_FEATURES, EqResponse
from voidline.mastering.parameters import BY_NAME, N_PARAMETERS, PARAMETER_NAMES, to_physical
from voidline.mastering.train import (
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    TrainConfig,
    TrainedModel,
    export_artefacts,
    parameter_metrics,
    reproduce_command,
    summarise_recipes,
    train,
)

N_EXAMPLES = 200
CONFIG = TrainConfig(seed=5, n_examples=N_EXAMPLES, epochs=12, patience=12)


@dataclass(frozen=True)
class ArraySet:
    """Training data made in the test (the shape of dataset.TrainingSet)."""

    features: np.ndarray
    labels: np.ndarray
    recipes: list[dict[str, Any]] = field(default_factory=list)


def learnable_set(n: int = N_EXAMPLES, seed: int = 0) -> ArraySet:
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, 6))
    mixing = rng.standard_normal((6, N_FEATURES)) / np.sqrt(6.0)
    standard = factors @ mixing + 0.1 * rng.standard_normal((n, N_FEATURES))
    offset = rng.uniform(-80.0, 20.0, N_FEATURES)
    scale = rng.uniform(0.5, 40.0, N_FEATURES)
    labels = 1.0 / (1.0 + np.exp(-(factors @ rng.standard_normal((6, N_PARAMETERS)))))
    recipes = [{"style": ["band", "club"][i % 2], "tempo_bpm": 90.0 + i} for i in range(n)]
    return ArraySet(
        (offset + scale * standard).astype(np.float32), labels.astype(np.float32), recipes
    )


DESCRIPTION = {"source": "tests/test_mastering_train.py learnable_set"}


@pytest.fixture(scope="module")
def data() -> ArraySet:
    return learnable_set()


@pytest.fixture(scope="module")
def trained(data: ArraySet) -> TrainedModel:
    return train(data, CONFIG)


@pytest.fixture(scope="module")
def model_dir(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    export_artefacts(trained, out, DESCRIPTION, "pytest tests/test_mastering_train.py")
    return out


def test_trained_model_beats_the_constant_baseline(trained: TrainedModel) -> None:
    model, baseline = trained.metrics, trained.baseline_metrics
    assert model["unit_mse"] < 0.5 * baseline["unit_mse"]
    assert model["eq_response_rms_db"] < 0.6 * baseline["eq_response_rms_db"]
    assert model["width_mae"] < baseline["width_mae"]
    assert len(trained.validation_indices) == round(0.2 * N_EXAMPLES)
    assert set(trained.train_indices).isdisjoint(trained.validation_indices)
    assert 1 <= trained.best_epoch <= trained.epochs_run <= CONFIG.epochs


def test_metrics_are_in_physical_units() -> None:
    response = EqResponse()
    labels = np.full((3, N_PARAMETERS), 0.5)
    assert parameter_metrics(labels, labels, response)["eq_response_rms_db"] == 0.0
    shifted = labels.copy()
    shifted[:, BY_NAME["eq_1khz_db"].index] += 0.1  # +1.8 dB on one band (range 18 dB)
    shifted[:, BY_NAME["comp_attack_ms"].index] += 0.1  # 1-60 ms on a log scale
    shifted[:, BY_NAME["width_low"].index] += 0.25  # widths span 0-2
    metrics = parameter_metrics(shifted, labels, response)
    assert metrics["per_parameter_mae"]["eq_1khz_db"] == pytest.approx(1.8)
    assert metrics["eq_gain_mae_db"] == pytest.approx(1.8 / 12)  # one of 12 EQ gains
    assert metrics["comp_time_mae_octaves"] == pytest.approx(0.1 * np.log2(60.0) / 2)
    assert metrics["width_mae"] == pytest.approx(0.5 / 4)
    # A single +1.8 dB octave band: the response error peaks at 1.8 dB, at 1 kHz.
    assert metrics["eq_response_max_db"] == pytest.approx(1.8, abs=0.05)
    assert metrics["comp_curve_rms_db"] == 0.0  # no compressor parameter moved
    compressing = labels.copy()
    compressing[:, BY_NAME["comp_low_threshold_db"].index] = 0.0  # -36 dBFS
    compressing[:, BY_NAME["comp_low_ratio"].index] = 1.0 / 3.0  # 8^(1/3) = 2:1
    compressing[:, BY_NAME["comp_knee_db"].index] = 0.0  # hard knee
    neutral = compressing.copy()
    neutral[:, BY_NAME["comp_low_ratio"].index] = 0.0  # ratio 1: no reduction
    # 2:1 from -36 dBFS halves the excess: (x + 36) / 2 dB at each of the curve's levels.
    levels = CURVE_LEVELS_DB
    expected = np.sqrt(np.mean(np.maximum(levels + 36.0, 0.0) ** 2 / 4.0) / 4.0)
    curve_rms = parameter_metrics(compressing, neutral, response)["comp_curve_rms_db"]
    assert curve_rms == pytest.approx(expected)


def test_artefacts_and_model_card(model_dir: Path, trained: TrainedModel) -> None:
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == sorted([FP32_FILE, INT8_FILE, CARD_FILE, CARD_MARKDOWN_FILE])
    card = json.loads((model_dir / CARD_FILE).read_text())
    for precision, name in (("fp32", FP32_FILE), ("int8", INT8_FILE)):
        assert card["files"][precision]["sha256"] == sha256_file(model_dir / name)
    assert card["version"] == f"pm-s5-{card['files']['fp32']['sha256'][:8]}"
    assert card["seed"] == 5 and card["config"]["batch_size"] == 32
    assert card["config"]["lr"] == 1e-3 and card["config"]["val_fraction"] == 0.2
    assert card["inputs"]["feature_names"] == list(FEATURE_NAMES)
    assert card["outputs"]["parameter_names"] == list(PARAMETER_NAMES)
    assert card["training"]["validation_examples"] == len(trained.validation_indices)
    assert (
        card["metrics"]["model"]["unit_mse"] < card["metrics"]["constant_mean_baseline"]["unit_mse"]
    )
    assert card["checks"]["fp32_onnx_vs_torch_max_abs"] <= FP32_TOLERANCE
    assert card["checks"]["int8_vs_torch_max_abs"] < INT8_TOLERANCE
    assert set(card["versions"]) >= {"torch", "onnx", "onnxruntime"}
    assert card["data"] == DESCRIPTION
    markdown = (model_dir / CARD_MARKDOWN_FILE).read_text()
    assert card["version"] in markdown and card["files"]["int8"]["sha256"] in markdown
    assert card["reproduce"] in markdown


def test_onnxruntime_gives_torchs_numbers(model_dir: Path, trained: TrainedModel) -> None:
    features = trained.validation_features
    reference = trained.predict(features)
    fp32 = ParameterModel.load(model_dir, "fp32")
    int8 = ParameterModel.load(model_dir)
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    assert fp32.version == int8.version
    assert fp32.sha256 == sha256_file(model_dir / FP32_FILE)
    assert int8.sha256 == sha256_file(model_dir / INT8_FILE)
    np.testing.assert_allclose(fp32.predict(features), reference, atol=FP32_TOLERANCE)
    assert np.abs(int8.predict(features) - reference).max() < INT8_TOLERANCE
    # One vector or a batch; predict_parameters maps to physical units.
    assert fp32.predict(features[0]).shape == (1, N_PARAMETERS)
    parameters = int8.predict_parameters(features[0])
    assert list(parameters) == list(PARAMETER_NAMES)
    assert parameters == to_physical(int8.predict(features[0])[0])


def test_same_seed_gives_the_same_onnx_bytes(
    data: ArraySet, model_dir: Path, tmp_path: Path
) -> None:
    again = train(data, CONFIG)
    export_artefacts(again, tmp_path, DESCRIPTION, "pytest tests/test_mastering_train.py")
    for name in (FP32_FILE, INT8_FILE, CARD_FILE):
        assert sha256_file(tmp_path / name) == sha256_file(model_dir / name), name
    other = train(data, replace(CONFIG, seed=6, epochs=2))
    assert not torch.equal(other.network.dense1.weight, again.network.dense1.weight)


def test_loading_fails_clearly_without_a_valid_model(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FailedPreconditionError, match="does not exist"):
        ParameterModel.load(tmp_path / "nowhere")
    with pytest.raises(FailedPreconditionError, match="voidline train"):
        ParameterModel.load(tmp_path)  # a folder without a card
    with pytest.raises(InvalidInputError, match="precision"):
        ParameterModel.load(model_dir, "fp16")  # type: ignore[arg-type]

    tampered = tmp_path / "tampered"
    shutil.copytree(model_dir, tampered)
    blob = bytearray((tampered / INT8_FILE).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tampered / INT8_FILE).write_bytes(bytes(blob))
    with pytest.raises(FailedPreconditionError, match="sha256"):
        ParameterModel.load(tampered, "int8")
    assert ParameterModel.load(tampered, "fp32").precision == "fp32"  # untouched file

    (tampered / FP32_FILE).unlink()
    with pytest.raises(FailedPreconditionError, match="missing"):
        ParameterModel.load(tampered, "fp32")

    relabelled = tmp_path / "relabelled"
    shutil.copytree(model_dir, relabelled)
    card = json.loads((relabelled / CARD_FILE).read_text())
    card["inputs"]["feature_names"] = card["inputs"]["feature_names"][::-1]
    (relabelled / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(FailedPreconditionError, match="feature layout"):
        ParameterModel.load(relabelled)
    (relabelled / CARD_FILE).write_text("{not json")
    with pytest.raises(FailedPreconditionError, match="model card"):
        ParameterModel.load(relabelled)


def test_prediction_input_is_validated(model_dir: Path) -> None:
    model = ParameterModel.load(model_dir)
    with pytest.raises(InvalidInputError, match="384"):
        model.predict(np.zeros(383))
    with pytest.raises(InvalidInputError, match="384"):
        model.predict(np.zeros((0, N_FEATURES)))
    bad = np.zeros(N_FEATURES)
    bad[3] = np.nan
    with pytest.raises(InvalidInputError, match="finite"):
        model.predict(bad)
    with pytest.raises(InvalidInputError, match="one feature vector"):
        model.predict_parameters(np.zeros((2, N_FEATURES)))


def test_training_rejects_bad_data_and_config() -> None:
    good = learnable_set(10)
    with pytest.raises(InvalidInputError, match="features"):
        train(replace(good, features=good.features[:, :100]), CONFIG)
    with pytest.raises(InvalidInputError, match="labels"):
        train(replace(good, labels=good.labels * 2.0), CONFIG)
    with pytest.raises(InvalidInputError, match="at least 2"):
        train(replace(good, features=good.features[:1], labels=good.labels[:1]), CONFIG)
    with pytest.raises(InvalidInputError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)
    with pytest.raises(InvalidInputError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(InvalidInputError, match="compressor_curve_loss_weight"):
        TrainConfig(compressor_curve_loss_weight=-1.0)


def test_card_helpers() -> None:
    command = reproduce_command(
        TrainConfig(seed=1, n_examples=500), Path("voidline/mastering/models/default")
    )
    assert (
        command == "voidline train --out voidline/mastering/models/default --seed 1 --examples 500"
    )
    tiny = reproduce_command(TrainConfig.tiny(2), Path("/tmp/m"), Path("/tmp/d.npz"))
    assert "--seed 2" in tiny and "--dataset /tmp/d.npz" in tiny
    summary = summarise_recipes(
        [{"style": "band", "mix": {"tempo_bpm": 100}}, {"style": "club", "mix": {"tempo_bpm": 120}}]
    )
    assert summary["examples"] == 2
    assert summary["fields"]["style"] == {"band": 1, "club": 1}
    assert summary["fields"]["mix.tempo_bpm"] == {"min": 100.0, "mean": 110.0, "max": 120.0}


def test_default_model_dir_is_inside_the_package() -> None:
    assert default_model_dir() == Path(__file__).resolve().parent.parent / (
        "voidline/mastering/models/default"
    )


def test_voidline_train_tiny_builds_trains_and_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI end to end on real generated music: build, save the set, train, export."""
    out, dataset = tmp_path / "model", tmp_path / "set.npz"
    code = main(["train", "--tiny", "--seed", "1", "--out", str(out), "--dataset", str(dataset)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    card = json.loads((out / CARD_FILE).read_text())
    assert card["version"] in captured.out and "baseline" in captured.out
    assert "epoch 1:" in captured.err and "data: 12/12 examples" in captured.err
    tiny = TrainConfig.tiny()
    assert card["data"]["source"] == "voidline.mastering.dataset.build_dataset"
    assert card["data"]["recipes"]["examples"] == tiny.n_examples
    assert card["reproduce"].startswith("voidline train --out ")
    assert "--seed 1" in card["reproduce"] and "--examples 12" in card["reproduce"]
    assert "--dataset" not in card["reproduce"]  # the saved set is only a cache of the recipe
    saved = TrainingSet.load(dataset)
    assert saved.features.shape == (tiny.n_examples, N_FEATURES)
    model = ParameterModel.load(out)
    assert model.predict(saved.features).shape == (tiny.n_examples, N_PARAMETERS)

    # Again from the cached set: nothing is rendered, and the model is the same to the byte.
    again = tmp_path / "again"
    code = main(["train", "--tiny", "--seed", "1", "--out", str(again), "--dataset", str(dataset)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "data:" not in captured.err
    card_again = json.loads((again / CARD_FILE).read_text())
    assert card_again["files"] == card["files"] and "--dataset" not in card_again["reproduce"]
    assert card_again["data"]["read_from_cache"]["sha256"] == sha256_file(dataset)

    # A set made for another recipe is part of this model's recipe: the card names it.
    other = tmp_path / "other"
    code = main(["train", "--tiny", "--seed", "2", "--out", str(other), "--dataset", str(dataset)])
    assert code == 0, capsys.readouterr().err
    card_other = json.loads((other / CARD_FILE).read_text())
    assert card_other["data"]["source"] == "file"
    assert f"--dataset {dataset}" in card_other["reproduce"]


def test_voidline_train_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--tiny", "--epochs", "0"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err
