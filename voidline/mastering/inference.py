"""Run the parameter model with onnxruntime: what the mastering service uses (no torch here).

A model folder holds what `voidline train` writes:

    parameter_model.onnx        fp32 graph, raw features (batch, 384) -> parameters (batch, 32)
    parameter_model.int8.onnx   the same after onnxruntime dynamic int8 quantisation
    model_card.json             version, sha256 of both files, data, metrics, reproduce command
    MODEL_CARD.md               the card for people

`ParameterModel.load` checks the chosen file's sha256 against the card before it builds a
session, so a service never serves weights other than the ones its card describes, and every
result can carry the model's version and sha256. int8 is the default: its file is about a
quarter of the fp32 one and its [0, 1] outputs stay within a few hundredths of fp32's (the
card records the measured difference). Speed hardly differs: on one thread both take about
0.1 ms per call, most of it in the attention block's small reshapes, not in the matmuls.

onnxruntime's `InferenceSession.run` is thread-safe, so one loaded model serves all worker
threads; each session uses one intra-op thread because a 384 -> 32 network is far too small
to gain from more, and the service runs requests in parallel instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import onnxruntime
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.features import FEATURE_NAMES
from voidline.errors import FailedPreconditionError, InvalidInputError
from voidline.hashing import sha256_file
from voidline.mastering.parameters import N_PARAMETERS, PARAMETER_NAMES, to_physical

Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
FP32_FILE = "parameter_model.onnx"
INT8_FILE = "parameter_model.int8.onnx"
CARD_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "MODEL_CARD.md"
MODEL_FILES: dict[Precision, str] = {"fp32": FP32_FILE, "int8": INT8_FILE}
INPUT_NAME = "features"
OUTPUT_NAME = "parameters"
CARD_FORMAT = "voidline-parameter-model/1"
N_FEATURES = len(FEATURE_NAMES)


def default_model_dir() -> Path:
    """The model shipped with the package: `voidline/mastering/models/default`."""
    return Path(__file__).resolve().parent / "models" / "default"


def read_card(folder: Path) -> dict[str, Any]:
    """The folder's model_card.json; FailedPreconditionError when missing or unreadable."""
    path = folder / CARD_FILE
    if not path.is_file():
        raise FailedPreconditionError(
            f"no parameter model in {folder}: {CARD_FILE} is missing; train one with "
            f"`voidline train --out {folder}` or point the service at a model folder"
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FailedPreconditionError(
            f"{path} is not a readable model card ({error}); retrain with `voidline train`"
        ) from error
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise FailedPreconditionError(
            f"{path} is not a {CARD_FORMAT} model card; retrain with `voidline train`"
        )
    return cast(dict[str, Any], card)


def _check_layout(card: dict[str, Any], card_path: Path) -> None:
    """The card's feature and parameter names must be the ones this code computes and uses."""
    features = card.get("inputs", {}).get("feature_names")
    parameters = card.get("outputs", {}).get("parameter_names")
    if features != list(FEATURE_NAMES):
        raise FailedPreconditionError(
            f"{card_path}: the model was trained on a different feature layout than this "
            f"version of voidline computes ({N_FEATURES} features); retrain it"
        )
    if parameters != list(PARAMETER_NAMES):
        raise FailedPreconditionError(
            f"{card_path}: the model predicts different chain parameters than this version of "
            f"voidline uses ({N_PARAMETERS} parameters); retrain it"
        )


def as_feature_batch(features: ArrayLike) -> NDArray[np.float32]:
    """Features (384,) or (n, 384) as a finite float32 (n, 384) array, else InvalidInputError."""
    try:
        values = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"features must be numbers: {error}") from error
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != N_FEATURES or values.shape[0] < 1:
        raise InvalidInputError(
            f"features must have shape ({N_FEATURES},) or (n, {N_FEATURES}) with n >= 1 "
            f"(the analysis feature vector), got shape {np.shape(features)}"
        )
    if not np.isfinite(values).all():
        raise InvalidInputError("features must be finite (no NaN or infinity)")
    float32_max = float(np.finfo(np.float32).max)
    if np.abs(values).max() > float32_max:
        raise InvalidInputError("features must fit in float32")
    return np.ascontiguousarray(values, dtype=np.float32)


@dataclass(frozen=True)
class ModelFile:
    """One precision's ONNX file and the sha256 the card promises for it."""

    path: Path
    sha256: str


def _model_file(folder: Path, card: dict[str, Any], precision: Precision) -> ModelFile:
    entry = card.get("files", {}).get(precision)
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise FailedPreconditionError(
            f"{folder / CARD_FILE} lists no {precision} model file; retrain with `voidline train`"
        )
    path = folder / MODEL_FILES[precision]
    if not path.is_file():
        raise FailedPreconditionError(
            f"{path} is missing; restore the model folder or retrain with `voidline train`"
        )
    return ModelFile(path, entry["sha256"])


class ParameterModel:
    """A verified parameter model in an onnxruntime session; predicts the 32 parameters."""

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        card: dict[str, Any],
        precision: Precision,
        sha256: str,
    ) -> None:
        self._session = session
        self._card = card
        self._precision = precision
        self._sha256 = sha256

    @classmethod
    def load(cls, folder: Path, precision: Precision = "int8") -> ParameterModel:
        """Load `folder`'s model of the given precision after checking its sha256.

        FailedPreconditionError when the folder, card or file is missing, the file's sha256
        differs from the card's, the layout differs from this code's, or onnxruntime cannot
        load the file; InvalidInputError for an unknown precision.
        """
        if precision not in PRECISIONS:
            raise InvalidInputError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        folder = Path(folder)
        if not folder.is_dir():
            raise FailedPreconditionError(
                f"model folder {folder} does not exist; train a model with "
                f"`voidline train --out {folder}` or configure an existing folder"
            )
        card = read_card(folder)
        _check_layout(card, folder / CARD_FILE)
        model_file = _model_file(folder, card, precision)
        actual = sha256_file(model_file.path)
        if actual != model_file.sha256:
            raise FailedPreconditionError(
                f"{model_file.path} has sha256 {actual}, but its model card says "
                f"{model_file.sha256}: the file was changed or corrupted; restore it or retrain"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the service logs its own lines
        try:
            session = onnxruntime.InferenceSession(
                str(model_file.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise FailedPreconditionError(
                f"onnxruntime cannot load {model_file.path}: {error}"
            ) from error
        inputs = [(i.name, i.shape) for i in session.get_inputs()]
        outputs = [(o.name, o.shape) for o in session.get_outputs()]
        if (
            len(inputs) != 1
            or inputs[0][0] != INPUT_NAME
            or inputs[0][1][-1] != N_FEATURES
            or len(outputs) != 1
            or outputs[0][0] != OUTPUT_NAME
            or outputs[0][1][-1] != N_PARAMETERS
        ):
            raise FailedPreconditionError(
                f"{model_file.path} has inputs {inputs} and outputs {outputs}; expected "
                f"{INPUT_NAME} (batch, {N_FEATURES}) -> (batch, {N_PARAMETERS}); retrain it"
            )
        return cls(session, card, precision, actual)

    @property
    def version(self) -> str:
        """The model's version string from its card, e.g. `pm-s1-3f2a9c0d`."""
        return str(self._card["version"])

    @property
    def sha256(self) -> str:
        """sha256 of the ONNX file this model runs (verified against the card on load)."""
        return self._sha256

    @property
    def precision(self) -> Precision:
        return self._precision

    @property
    def card(self) -> dict[str, Any]:
        """The parsed model card (a copy is not made: do not modify it)."""
        return self._card

    def predict(self, features: ArrayLike) -> NDArray[np.float32]:
        """Features (384,) or (n, 384) -> the model outputs in [0, 1], shape (n, 32)."""
        batch = as_feature_batch(features)
        (outputs,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        return np.clip(np.asarray(outputs, dtype=np.float32), 0.0, 1.0)

    def predict_parameters(self, features: ArrayLike) -> dict[str, float]:
        """One feature vector -> the 32 chain parameters in physical units, by name."""
        batch = as_feature_batch(features)
        if batch.shape[0] != 1:
            raise InvalidInputError(
                f"predict_parameters takes one feature vector, got {batch.shape[0]}; "
                "use predict for a batch"
            )
        return to_physical(self.predict(batch)[0])
