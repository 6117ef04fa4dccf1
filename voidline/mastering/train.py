"""Train the parameter model, export it to ONNX, quantise it to int8 and write its model card.

    build_dataset ─▶ train (AdamW, seeded) ─▶ best epoch ─▶ ONNX fp32 ─▶ int8 ─▶ model card

Loss. The parameter loss is the mean squared error of the 32 outputs in [0, 1]. The EQ adds a
spectral term: the magnitude response of the predicted EQ (the ten octave peaking bands and
the two shelves, `EqResponse`) at 64 log-spaced frequencies from 20 Hz to 20 kHz, compared in
dB with the response of the label's EQ. The EQ's parameters overlap: one-octave bands with
Q = sqrt(2) reach well into their neighbours, and the shelves at 80 Hz and 10 kHz cover the
same ground as the 63/125 Hz and 8/16 kHz bands, so different settings give nearly the same
curve. The parameter loss alone penalises a prediction that sounds right but spreads the
gain differently; the response loss scores what the ear hears. Its error is divided by the
band range (9 dB) so both terms are O(1), and `eq_response_loss_weight` balances them.
The compressor adds a term of the same kind: the static gain reduction of each band
(`CompressorCurve`: threshold, ratio and the shared knee) at input levels from -45 to 0 dBFS,
compared in dB with the label's and divided by CURVE_SCALE_DB, weighted by
`compressor_curve_loss_weight`. The label of a band the degradation left alone says "ratio
1, threshold 0 dB", and that threshold is a placeholder: the parameter loss alone pulls every
predicted threshold towards it, so a band that should be compressed gets a threshold too
high and one that should not gets a ratio above 1. The curve sees only the reduction.
Rendering audio through the whole chain for every step would cost orders of magnitude more;
both curves are exact for their stage's static behaviour.

Determinism. Weights are initialised after `torch.manual_seed(seed)`; the split and every
epoch's shuffle come from seeded `torch.Generator`s; training runs on one torch thread with
`torch.use_deterministic_algorithms(True)`, so the same seed, data and software give the same
bytes in both ONNX files (a test checks it). Other CPUs or builds may round differently.

Metrics are computed on the validation split in physical units (EQ response error in dB RMS,
threshold error in dB, ratio error, time constants in octaves, ...), next to those of the
constant baseline that always predicts the training labels' mean.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import logging
import math
import os
import platform
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import onnx
import onnxruntime
import torch
from numpy.typing import NDArray

from voidline.analysis.features import FEATURE_LAYOUT_VERSION, FEATURE_NAMES
from voidline.errors import InvalidInputError
from voidline.hashing import sha256_file
from voidline.mastering.inference import (
    CARD_FILE,
    CARD_FORMAT,
    CARD_MARKDOWN_FILE,
    FP32_FILE,
    INPUT_NAME,
    INT8_FILE,
    OUTPUT_NAME,
)
from voidline.mastering.model import (
    ARCHITECTURE,
    N_FEATURES,
    RESPONSE_POINTS,
    CompressorCurve,
    EqResponse,
    ParameterNetwork,
)
from voidline.mastering.parameters import (
    BAND_NAMES,
    EQ_BAND_NAMES,
    EQ_RANGE_DB,
    N_PARAMETERS,
    PARAMETER_NAMES,
    PARAMETERS,
)

FloatArray = NDArray[np.float64]
# The int8 model's outputs stay within this of the fp32 model's on [0, 1] (tests check it).
INT8_TOLERANCE = 0.05
# onnxruntime fp32 and torch compute the same graph; they differ only in rounding.
FP32_TOLERANCE = 1e-5


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained model (workers only decide how fast data is made)."""

    seed: int = 1
    n_examples: int = 12000
    seconds: float = 6.0
    fs: int = 44_100
    epochs: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    val_fraction: float = 0.2
    eq_response_loss_weight: float = 1.0
    compressor_curve_loss_weight: float = 1.0
    patience: int = 40  # epochs without a better validation loss before stopping
    workers: int = 1

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
            (self.n_examples >= 2, f"n_examples must be >= 2, got {self.n_examples}"),
            (0.5 <= self.seconds <= 600.0, f"seconds must lie in 0.5-600, got {self.seconds}"),
            (8_000 <= self.fs <= 384_000, f"fs must lie in 8000-384000 Hz, got {self.fs}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (0.0 < self.lr < 1.0, f"lr must lie in (0, 1), got {self.lr}"),
            (self.weight_decay >= 0.0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (
                0.0 < self.val_fraction < 1.0,
                f"val_fraction must lie in (0, 1), got {self.val_fraction}",
            ),
            (
                self.eq_response_loss_weight >= 0.0,
                f"eq_response_loss_weight must be >= 0, got {self.eq_response_loss_weight}",
            ),
            (
                self.compressor_curve_loss_weight >= 0.0,
                "compressor_curve_loss_weight must be >= 0, got "
                f"{self.compressor_curve_loss_weight}",
            ),
            (self.patience >= 1, f"patience must be >= 1, got {self.patience}"),
            (self.workers >= 1, f"workers must be >= 1, got {self.workers}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(message)

    @classmethod
    def tiny(cls, seed: int = 1) -> TrainConfig:
        """Seconds-long: a handful of short examples and epochs (tests, smoke runs)."""
        return cls(seed=seed, n_examples=12, seconds=2.0, epochs=4, patience=4)

    def card_fields(self) -> dict[str, Any]:
        """The fields that decide the weights (not `workers`), for the model card."""
        fields = dataclasses.asdict(self)
        del fields["workers"]
        return fields


class LabelledFeatures(Protocol):
    """Training data: `voidline.mastering.dataset.TrainingSet` or anything shaped like it."""

    @property
    def features(self) -> NDArray[np.float32]: ...

    @property
    def labels(self) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    train_loss: float
    validation_loss: float
    best_epoch: int


@dataclass
class TrainedModel:
    """The network at its best validation epoch, and how it and the baseline score."""

    network: ParameterNetwork
    config: TrainConfig
    train_indices: NDArray[np.int64]
    validation_indices: NDArray[np.int64]
    epochs_run: int
    best_epoch: int
    best_validation_loss: float
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    validation_features: NDArray[np.float32]

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        """Torch's outputs in [0, 1] for raw features (n, 384): the reference for the exports."""
        self.network.eval()
        with torch.no_grad():
            outputs = self.network(torch.from_numpy(np.asarray(features, dtype=np.float32)))
        return np.asarray(outputs.numpy(), dtype=np.float32)


# --- determinism ---------------------------------------------------------------------------


@contextlib.contextmanager
def deterministic_torch(seed: int) -> Iterator[None]:
    """Seed torch, use one thread and deterministic kernels; restore the settings after."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


# --- metrics -------------------------------------------------------------------------------

_LOW = np.array([p.low for p in PARAMETERS])
_HIGH = np.array([p.high for p in PARAMETERS])
_IS_LOG = np.array([p.scale == "log" for p in PARAMETERS])
# A log-scale output's [0, 1] error times this is its error in octaves.
_OCTAVES_PER_UNIT = np.array(
    [math.log2(p.high / p.low) if p.scale == "log" else 0.0 for p in PARAMETERS]
)

ErrorKind = Literal["abs", "octaves"]
# Gain-reduction differences are divided by this in the loss: about the most an expander
# label asks a band to take back (4-10 dB on its loudest 1 %), so the term is O(1).
CURVE_SCALE_DB = 12.0

# Per-group validation metrics: a name with its unit, the parameters, and how errors count.
# Log-scale parameters (ratios aside, which engineers read as numbers) count in octaves.
METRIC_GROUPS: tuple[tuple[str, tuple[str, ...], ErrorKind], ...] = (
    ("eq_gain_mae_db", (*EQ_BAND_NAMES, "low_shelf_db", "high_shelf_db"), "abs"),
    ("comp_threshold_mae_db", tuple(f"comp_{b}_threshold_db" for b in BAND_NAMES), "abs"),
    ("comp_ratio_mae", tuple(f"comp_{b}_ratio" for b in BAND_NAMES), "abs"),
    ("comp_time_mae_octaves", ("comp_attack_ms", "comp_release_ms"), "octaves"),
    ("comp_knee_mae_db", ("comp_knee_db",), "abs"),
    ("width_mae", tuple(f"width_{b}" for b in BAND_NAMES), "abs"),
    ("mono_bass_mae_hz", ("mono_bass_hz",), "abs"),
    ("exciter_amount_mae", ("exciter_amount",), "abs"),
    ("exciter_drive_mae_db", ("exciter_drive_db",), "abs"),
    ("exciter_freq_mae_octaves", ("exciter_freq_hz",), "octaves"),
    ("limiter_release_mae_octaves", ("limiter_release_ms",), "octaves"),
)


def unit_to_physical(unit: NDArray[np.floating]) -> FloatArray:
    """(n, 32) outputs in [0, 1] to physical values, as `ParameterSpec.to_physical` does."""
    u = np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0)
    values: FloatArray = _LOW + u * (_HIGH - _LOW)
    values[:, _IS_LOG] = _LOW[_IS_LOG] * (_HIGH[_IS_LOG] / _LOW[_IS_LOG]) ** u[:, _IS_LOG]
    return values


def eq_response_db(unit: NDArray[np.floating], response: EqResponse) -> FloatArray:
    """The EQ magnitude response (n, points) in dB for (n, 32) outputs."""
    with torch.no_grad():
        return np.asarray(response(torch.from_numpy(np.asarray(unit, np.float64))).numpy())


def parameter_metrics(
    predicted: NDArray[np.floating], labels: NDArray[np.floating], response: EqResponse
) -> dict[str, Any]:
    """Errors of predicted against label outputs (both (n, 32) in [0, 1]), physical units."""
    predicted = np.asarray(predicted, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    response_error = eq_response_db(predicted, response) - eq_response_db(labels, response)
    curve = CompressorCurve()
    with torch.no_grad():
        curve_error = (curve(torch.from_numpy(predicted)) - curve(torch.from_numpy(labels))).numpy()
    physical_pred, physical_true = unit_to_physical(predicted), unit_to_physical(labels)
    abs_error = np.abs(physical_pred - physical_true)
    octave_error = np.abs(predicted - labels) * _OCTAVES_PER_UNIT
    metrics: dict[str, Any] = {
        "unit_mse": float(np.mean((predicted - labels) ** 2)),
        "eq_response_rms_db": float(np.sqrt(np.mean(response_error**2))),
        "eq_response_max_db": float(np.max(np.abs(response_error))),
        "comp_curve_rms_db": float(np.sqrt(np.mean(curve_error**2))),
    }
    for name, members, kind in METRIC_GROUPS:
        columns = [PARAMETER_NAMES.index(member) for member in members]
        errors = abs_error if kind == "abs" else octave_error
        metrics[name] = float(np.mean(errors[:, columns]))
    metrics["per_parameter_mae"] = {
        name: float(value)
        for name, value in zip(PARAMETER_NAMES, abs_error.mean(axis=0), strict=True)
    }
    return metrics


# --- training ------------------------------------------------------------------------------


def _checked_arrays(data: LabelledFeatures) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    features = np.asarray(data.features, dtype=np.float32)
    labels = np.asarray(data.labels, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != N_FEATURES:
        raise InvalidInputError(f"features must have shape (n, {N_FEATURES}), got {features.shape}")
    if labels.shape != (features.shape[0], N_PARAMETERS):
        raise InvalidInputError(
            f"labels must have shape ({features.shape[0]}, {N_PARAMETERS}), got {labels.shape}"
        )
    if features.shape[0] < 2:
        raise InvalidInputError("training needs at least 2 examples (1 to train, 1 to validate)")
    if not (np.isfinite(features).all() and np.isfinite(labels).all()):
        raise InvalidInputError("features and labels must be finite")
    if labels.min() < 0.0 or labels.max() > 1.0:
        raise InvalidInputError("labels must be model outputs in [0, 1] (see parameters.to_unit)")
    return features, labels


def split_indices(
    n: int, val_fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Seeded train/validation split: (train indices, validation indices), both sorted."""
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(order[n_val:]).astype(np.int64), np.sort(order[:n_val]).astype(np.int64)


def train(
    data: LabelledFeatures,
    config: TrainConfig,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainedModel:
    """Train the network on `data` with `config`; keep the epoch with the best validation loss.

    The validation split (config.val_fraction of the examples, seeded) is never trained on; it
    chooses the epoch (early stopping after `patience` epochs without improvement) and gives
    the reported metrics. Feature standardisation uses the training split only.
    """
    features, labels = _checked_arrays(data)
    train_idx, val_idx = split_indices(features.shape[0], config.val_fraction, config.seed)
    response = EqResponse()
    curve = CompressorCurve()
    with deterministic_torch(config.seed):
        network = ParameterNetwork()
        network.set_standardisation(features[train_idx])
        x_train = torch.from_numpy(features[train_idx])
        y_train = torch.from_numpy(labels[train_idx])
        x_val = torch.from_numpy(features[val_idx])
        y_val = torch.from_numpy(labels[val_idx])
        with torch.no_grad():  # the labels' curves never change: compute them once
            r_train, c_train = response(y_train), curve(y_train)
            r_val, c_val = response(y_val), curve(y_val)

        def loss_of(
            predicted: torch.Tensor,
            target: torch.Tensor,
            target_response: torch.Tensor,
            target_curve: torch.Tensor,
        ) -> torch.Tensor:
            loss = torch.mean((predicted - target) ** 2)
            if config.eq_response_loss_weight > 0.0:
                error = (response(predicted) - target_response) / EQ_RANGE_DB
                loss = loss + config.eq_response_loss_weight * torch.mean(error**2).float()
            if config.compressor_curve_loss_weight > 0.0:
                error = (curve(predicted) - target_curve) / CURVE_SCALE_DB
                loss = loss + config.compressor_curve_loss_weight * torch.mean(error**2).float()
            return loss

        optimizer = torch.optim.AdamW(
            network.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        shuffle = torch.Generator().manual_seed(config.seed + 1)
        best_loss = math.inf
        best_state = copy.deepcopy(network.state_dict())
        best_epoch = 0
        epochs_run = 0
        for epoch in range(1, config.epochs + 1):
            epochs_run = epoch
            network.train()
            order = torch.randperm(len(train_idx), generator=shuffle)
            total, count = 0.0, 0
            for start in range(0, len(train_idx), config.batch_size):
                batch = order[start : start + config.batch_size]
                loss = loss_of(
                    network(x_train[batch]), y_train[batch], r_train[batch], c_train[batch]
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += float(loss.detach()) * len(batch)
                count += len(batch)
            network.eval()
            with torch.no_grad():
                val_loss = float(loss_of(network(x_val), y_val, r_val, c_val))
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(network.state_dict())
            if on_epoch is not None:
                on_epoch(EpochReport(epoch, total / count, val_loss, best_epoch))
            if epoch - best_epoch >= config.patience:
                break
        network.load_state_dict(best_state)
        network.eval()
        with torch.no_grad():
            predicted_val = network(x_val).numpy()
    baseline = np.broadcast_to(labels[train_idx].mean(axis=0), labels[val_idx].shape)
    return TrainedModel(
        network=network,
        config=config,
        train_indices=train_idx,
        validation_indices=val_idx,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        best_validation_loss=best_loss,
        metrics=parameter_metrics(predicted_val, labels[val_idx], response),
        baseline_metrics=parameter_metrics(baseline, labels[val_idx], response),
        validation_features=features[val_idx],
    )


# --- export --------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings (missing torchvision ops, deprecations) and chatter."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(network: ParameterNetwork, path: Path) -> None:
    """Write the network as one self-contained ONNX file with a dynamic batch axis.

    The dynamo exporter (torch's default) is traced with a batch of 2 so the batch axis does
    not specialise to 1; `external_data=False` keeps the weights inside the .onnx file.
    """
    network.eval()
    example = torch.stack([network.feature_mean, network.feature_mean + network.feature_std])
    batch = torch.export.Dim("batch", min=1)
    with _quiet_exporter(), torch.no_grad():
        torch.onnx.export(
            network,
            (example,),
            str(path),
            dynamo=True,
            external_data=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"features": {0: batch}},
        )
    onnx.checker.check_model(str(path))
    external = [p.name for p in path.parent.iterdir() if p.name.startswith(path.name + ".")]
    if external:
        raise RuntimeError(f"the ONNX export wrote external data {external}; expected one file")


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """onnxruntime dynamic quantisation: int8 weights, activations quantised per call.

    The dynamo exporter's graph needs `quant_pre_process` (shape inference and graph
    optimisation) first, or quantize_dynamic leaves most MatMuls in float.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=int8_path.parent) as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        with _quiet_exporter():
            quant_pre_process(str(fp32_path), str(prepared))
            quantize_dynamic(str(prepared), str(int8_path), weight_type=QuantType.QInt8)


def onnx_outputs(path: Path, features: NDArray[np.float32]) -> NDArray[np.float32]:
    """Run an ONNX file with onnxruntime on one thread (what the service does)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    (outputs,) = session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(features, np.float32)})
    return np.asarray(outputs, dtype=np.float32)


# --- the model card ------------------------------------------------------------------------


def _is_identifier(key: str) -> bool:
    """Seeds and indices name examples; their spread says nothing about the data."""
    last = key.rsplit(".", 1)[-1]
    return last == "index" or last.endswith("seed")


def _flatten(prefix: str, value: Any, into: dict[str, list[Any]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif _is_identifier(prefix):
        return
    elif isinstance(value, bool | str) or value is None:
        into.setdefault(prefix, []).append(value)
    elif isinstance(value, int | float | np.integer | np.floating):
        into.setdefault(prefix, []).append(float(value))


def summarise_recipes(recipes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the examples' recipes hold, field by field (nested keys joined with dots).

    Numbers as min/mean/max, anything else as counts of its 20 commonest values; a field
    that only some examples have also gives how many have it. Seeds and indices are left out.
    """
    columns: dict[str, list[Any]] = {}
    for recipe in recipes:
        _flatten("", recipe, columns)
    summary: dict[str, Any] = {}
    for key in sorted(columns):
        values = columns[key]
        entry: dict[str, Any]
        if all(isinstance(v, float) for v in values):
            numbers = np.array(values, dtype=np.float64)
            entry = {
                "min": _rounded(float(numbers.min())),
                "mean": _rounded(float(numbers.mean())),
                "max": _rounded(float(numbers.max())),
            }
        else:
            counts: dict[str, int] = {}
            for v in values:
                counts[str(v)] = counts.get(str(v), 0) + 1
            entry = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20])
        if len(values) < len(recipes):
            entry = {"examples": len(values), **entry}
        summary[key] = entry
    return {"examples": len(recipes), "fields": summary}


def _describe_field(entry: Mapping[str, Any]) -> str:
    """One recipe field's summary as table text."""
    parts = [
        f"{key} {value:g}" if isinstance(value, float) else f"{key}: {value}"
        for key, value in entry.items()
    ]
    return ", ".join(parts)


def _versions() -> dict[str, str]:
    import onnxscript

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _rounded(value: Any) -> Any:
    """Metrics rounded to 6 significant digits: readable cards, no false precision."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {key: _rounded(inner) for key, inner in value.items()}
    return value


def build_card(
    trained: TrainedModel,
    data_description: Mapping[str, Any],
    reproduce: str,
    fp32_path: Path,
    int8_path: Path,
) -> dict[str, Any]:
    """The model card for exported files: identity, data, config, metrics, checks, versions."""
    fp32_sha = sha256_file(fp32_path)
    int8_sha = sha256_file(int8_path)
    reference = trained.predict(trained.validation_features)
    fp32_error = np.abs(onnx_outputs(fp32_path, trained.validation_features) - reference)
    int8_error = np.abs(onnx_outputs(int8_path, trained.validation_features) - reference)
    if fp32_error.max() > FP32_TOLERANCE:
        raise RuntimeError(
            f"the fp32 ONNX model differs from torch by {fp32_error.max():.3g} (> "
            f"{FP32_TOLERANCE:g}): the export is wrong"
        )
    return {
        "format": CARD_FORMAT,
        "version": f"pm-s{trained.config.seed}-{fp32_sha[:8]}",
        "seed": trained.config.seed,
        "architecture": ARCHITECTURE,
        "inputs": {
            "name": INPUT_NAME,
            "shape": ["batch", N_FEATURES],
            "feature_layout_version": FEATURE_LAYOUT_VERSION,
            "feature_names": list(FEATURE_NAMES),
            "ignored_features": trained.network.ignored_features,
        },
        "outputs": {
            "name": OUTPUT_NAME,
            "shape": ["batch", N_PARAMETERS],
            "range": [0.0, 1.0],
            "mapping": "voidline.mastering.parameters.to_physical",
            "parameter_names": list(PARAMETER_NAMES),
        },
        "files": {
            "fp32": {
                "path": fp32_path.name,
                "sha256": fp32_sha,
                "bytes": fp32_path.stat().st_size,
            },
            "int8": {
                "path": int8_path.name,
                "sha256": int8_sha,
                "bytes": int8_path.stat().st_size,
                "quantisation": "onnxruntime quantize_dynamic, QInt8 weights, per tensor",
            },
        },
        "data": dict(data_description),
        "config": trained.config.card_fields(),
        "training": {
            "optimizer": "AdamW",
            "parameter_loss": "mean squared error of the [0, 1] outputs",
            "eq_response_loss": (
                f"mean squared error of the EQ magnitude response in dB at {RESPONSE_POINTS} "
                f"log-spaced frequencies 20 Hz-20 kHz, divided by {EQ_RANGE_DB:g} dB squared"
            ),
            "train_examples": len(trained.train_indices),
            "validation_examples": len(trained.validation_indices),
            "epochs_run": trained.epochs_run,
            "best_epoch": trained.best_epoch,
            "best_validation_loss": _rounded(trained.best_validation_loss),
        },
        "metrics": {
            "split": "validation",
            "model": _rounded(trained.metrics),
            "constant_mean_baseline": _rounded(trained.baseline_metrics),
        },
        "checks": {
            "fp32_onnx_vs_torch_max_abs": _rounded(float(fp32_error.max())),
            "int8_vs_torch_max_abs": _rounded(float(int8_error.max())),
            "int8_vs_torch_mean_abs": _rounded(float(int8_error.mean())),
            "int8_tolerance": INT8_TOLERANCE,
        },
        "versions": _versions(),
        "reproduce": reproduce,
    }


SUMMARY_METRICS = (
    ("eq_response_rms_db", "EQ response error, RMS over 20 Hz-20 kHz", "dB"),
    ("eq_gain_mae_db", "EQ band and shelf gains, mean abs error", "dB"),
    ("comp_curve_rms_db", "compressor gain reduction, RMS over -45-0 dBFS", "dB"),
    ("comp_threshold_mae_db", "compressor thresholds", "dB"),
    ("comp_ratio_mae", "compressor ratios", ":1"),
    ("comp_time_mae_octaves", "attack and release", "octaves"),
    ("comp_knee_mae_db", "knee", "dB"),
    ("width_mae", "band widths", "x"),
    ("mono_bass_mae_hz", "mono-bass crossover", "Hz"),
    ("exciter_amount_mae", "exciter amount", "0-1"),
    ("exciter_drive_mae_db", "exciter drive", "dB"),
    ("exciter_freq_mae_octaves", "exciter frequency", "octaves"),
    ("limiter_release_mae_octaves", "limiter release", "octaves"),
    ("unit_mse", "all outputs, mean squared error on [0, 1]", "-"),
)


def _recipe_table(recipes: Mapping[str, Any] | None) -> list[str]:
    if not recipes or not recipes.get("fields"):
        return []
    return [
        f"What the {recipes['examples']} examples' recipes hold (seeds and indices left out):",
        "",
        "| field | values |",
        "|---|---|",
        *(f"| `{key}` | {_describe_field(entry)} |" for key, entry in recipes["fields"].items()),
        "",
    ]


def render_card_markdown(card: Mapping[str, Any]) -> str:
    """MODEL_CARD.md: the JSON card for people."""
    model, baseline = card["metrics"]["model"], card["metrics"]["constant_mean_baseline"]
    training, checks, files = card["training"], card["checks"], card["files"]
    lines = [
        f"# Parameter model `{card['version']}`",
        "",
        "Predicts the 32 mastering-chain parameters (see `docs/mastering-parameters.md`) from",
        f"the {N_FEATURES} analysis features (layout {card['inputs']['feature_layout_version']},"
        " see `docs/features.md`). Generated by `voidline train` from `model_card.json`;",
        "do not edit by hand.",
        "",
        f"Architecture: {card['architecture']}.",
        "",
        "Features the network ignores (scale 0: the format and defect features, and any "
        "constant in the training data): "
        + (", ".join(f"`{name}`" for name in card["inputs"]["ignored_features"]) or "none")
        + ".",
        "",
        "## Files",
        "",
        "| precision | file | bytes | sha256 |",
        "|---|---|---:|---|",
    ]
    for precision in ("fp32", "int8"):
        entry = files[precision]
        lines.append(
            f"| {precision} | `{entry['path']}` | {entry['bytes']} | `{entry['sha256']}` |"
        )
    lines += [
        "",
        f"int8 outputs differ from torch's by at most {checks['int8_vs_torch_max_abs']:g} "
        f"(mean {checks['int8_vs_torch_mean_abs']:g}) on the validation split; fp32 by "
        f"{checks['fp32_onnx_vs_torch_max_abs']:g}.",
        "",
        "## Data",
        "",
        *(
            f"- {key}: {_describe_field(value) if isinstance(value, Mapping) else value}"
            for key, value in card["data"].items()
            if key != "recipes"
        ),
        "",
        *_recipe_table(card["data"].get("recipes")),
        "## Training",
        "",
        f"Seed {card['seed']}; {training['train_examples']} training and "
        f"{training['validation_examples']} validation examples; {training['epochs_run']} "
        f"epochs run, best validation loss {training['best_validation_loss']:g} at epoch "
        f"{training['best_epoch']}. Loss: {training['parameter_loss']} plus "
        f"{card['config']['eq_response_loss_weight']:g} x the {training['eq_response_loss']}.",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in card["config"].items()),
        "",
        "## Validation metrics",
        "",
        "| metric | unit | model | constant-mean baseline |",
        "|---|---|---:|---:|",
        *(
            f"| {label} | {unit} | {model[key]:.4g} | {baseline[key]:.4g} |"
            for key, label, unit in SUMMARY_METRICS
        ),
        "",
        "Mean absolute error per parameter, physical units:",
        "",
        "| parameter | model | baseline |",
        "|---|---:|---:|",
        *(
            f"| `{name}` | {model['per_parameter_mae'][name]:.4g} | "
            f"{baseline['per_parameter_mae'][name]:.4g} |"
            for name in PARAMETER_NAMES
        ),
        "",
        "## Reproduce",
        "",
        "```sh",
        card["reproduce"],
        "```",
        "",
        "The same command, seed and software versions give the same ONNX bytes on the same",
        "kind of CPU: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def export_artefacts(
    trained: TrainedModel,
    out_dir: Path,
    data_description: Mapping[str, Any],
    reproduce: str,
) -> dict[str, Any]:
    """Write both ONNX files, model_card.json and MODEL_CARD.md into out_dir; return the card.

    Everything is written in a scratch folder inside out_dir first and moved into place with
    the card last, so a reader never finds a card that describes files not yet written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        fp32_path, int8_path = staging / FP32_FILE, staging / INT8_FILE
        export_onnx(trained.network, fp32_path)
        quantize_int8(fp32_path, int8_path)
        card = build_card(trained, data_description, reproduce, fp32_path, int8_path)
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        (staging / CARD_MARKDOWN_FILE).write_text(render_card_markdown(card), encoding="utf-8")
        for name in (FP32_FILE, INT8_FILE, CARD_MARKDOWN_FILE, CARD_FILE):
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


# --- the whole pipeline --------------------------------------------------------------------


def reproduce_command(config: TrainConfig, out_dir: Path, dataset: Path | None = None) -> str:
    """The `voidline train` command line that rebuilds this model."""
    parts = ["voidline", "train", "--out", _display_path(out_dir), "--seed", str(config.seed)]
    defaults = TrainConfig()
    flags = (
        ("--examples", "n_examples"),
        ("--seconds", "seconds"),
        ("--epochs", "epochs"),
        ("--patience", "patience"),
        ("--eq-response-weight", "eq_response_loss_weight"),
        ("--compressor-curve-weight", "compressor_curve_loss_weight"),
    )
    for flag, field in flags:
        value = getattr(config, field)
        if value != getattr(defaults, field):
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if dataset is not None:
        parts += ["--dataset", _display_path(dataset)]
    return " ".join(parts)


def is_built_by(recipes: Sequence[Mapping[str, Any]], config: TrainConfig) -> bool:
    """Whether a saved set's recipes are exactly `build_dataset`'s for this config.

    Such a file is only a cache of the data the config describes (example i depends on the
    seed and i alone), so the model card names the config, not the file.
    """
    return len(recipes) == config.n_examples and all(
        recipe.get("index") == i
        and recipe.get("dataset_seed") == config.seed
        and recipe.get("generator", {}).get("seconds") == config.seconds
        and recipe.get("generator", {}).get("fs") == config.fs
        for i, recipe in enumerate(recipes)
    )


def _display_path(path: Path) -> str:
    """The path relative to the working directory when it lies inside it (portable cards)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def train_and_export(
    config: TrainConfig,
    out_dir: Path,
    dataset: Path | None = None,
    on_examples: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> dict[str, Any]:
    """Build (or load) the training set, train, export and write the model card.

    With `dataset`, the training set is read from that .npz file when it exists and
    otherwise built and saved there, so later runs skip the expensive rendering and analysis.
    A file that `build_dataset` made for this same config is a cache: the card describes the
    config and its reproduce command builds the data. Any other file becomes part of the
    recipe (the card names it by sha256 and the command by path).
    """
    # Imported here: the dataset builder renders and analyses audio, which only this needs.
    from voidline.mastering.dataset import (
        TrainingSet,
        build_dataset,
    )

    built = {
        "source": "voidline.mastering.dataset.build_dataset",
        "n_examples": config.n_examples,
        "seed": config.seed,
        "seconds": config.seconds,
        "fs": config.fs,
    }
    foreign_file: Path | None = None  # a set this config does not describe: part of the recipe
    if dataset is not None and Path(dataset).is_file():
        data = TrainingSet.load(dataset)
        cache = {"file": Path(dataset).name, "sha256": sha256_file(Path(dataset))}
        if is_built_by(data.recipes, config):
            source: dict[str, Any] = {**built, "read_from_cache": cache}
        else:
            source = {"source": "file", **cache}
            foreign_file = Path(dataset)
    else:
        data = build_dataset(
            config.n_examples,
            config.seed,
            seconds=config.seconds,
            fs=config.fs,
            workers=config.workers,
            progress=on_examples,
        )
        if dataset is not None:
            Path(dataset).parent.mkdir(parents=True, exist_ok=True)
            data.save(dataset)
        source = built
    description = {**source, "recipes": summarise_recipes(data.recipes)}
    trained = train(data, config, on_epoch)
    return export_artefacts(
        trained, out_dir, description, reproduce_command(config, out_dir, foreign_file)
    )
