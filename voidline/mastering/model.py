"""The parameter network (torch) and the differentiable EQ response its training loss uses.

Only training code imports this module; the service runs the exported ONNX graph with
onnxruntime (`voidline.mastering.inference`), so torch is never a runtime dependency.

The network, as the issue specifies it::

    384 features ─▶ standardise ─▶ Dense 512 ReLU ─▶ Dropout 0.3 ─▶ Dense 256 ReLU
        ─▶ self-attention block ─▶ Dense 128 ReLU ─▶ Dense 64 ReLU ─▶ Dense 32 sigmoid

Standardisation uses the training split's mean and standard deviation, stored as buffers so
the exported graph takes raw analysis features. Some features get scale 0, so the network
ignores them:

* `FORMAT_AND_DEFECT_FEATURES`: the file's format (duration, sample rate, channels) and
  defects the chain does not act on (DC offset, clipping counts). They say nothing about the
  tone, dynamics or image the parameters correct, and the synthetic training set barely
  varies them, so what the network would learn there is noise. Real recordings sit far
  outside that range (game-music tracks read 260 standard deviations off on DC offset and
  600-700 on clip rate and duration), which moved their predicted EQ by up to 2 dB.
* any other feature constant in the training data (std below MIN_FEATURE_STD): nothing to
  learn from, and its weights would keep their random initial values.

The self-attention block reads the 256-vector as 16 tokens of 16 values, runs 4-head
self-attention over them (Vaswani et al. 2017, "Attention Is All You Need") and adds the
result back before a LayerNorm (the post-norm residual block of that paper), so it can route
information between groups of hidden units.
The 32 sigmoid outputs lie in [0, 1]; `voidline.mastering.parameters.to_physical` maps them to
the chain's physical parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from voidline.analysis.features import FEATURE_NAMES
from voidline.dsp.eq import BAND_CENTRES_HZ, BAND_Q, HIGH_SHELF_HZ, LOW_SHELF_HZ
from voidline.errors import FailedPreconditionError, InvalidInputError
from voidline.mastering.parameters import BAND_NAMES, BY_NAME, EQ_BAND_NAMES, N_PARAMETERS

N_FEATURES = len(FEATURE_NAMES)
HIDDEN_SIZES = (512, 256, 128, 64)
DROPOUT = 0.3
ATTENTION_TOKENS = 16  # the 256-vector as 16 tokens x 16 values
ATTENTION_HEADS = 4
MIN_FEATURE_STD = 1e-3  # below this a feature counts as constant in the training data
FORMAT_AND_DEFECT_FEATURES = frozenset(
    {
        "context_duration",
        "context_sample_rate",
        "context_channels",
        "context_clip_events",
        "dynamics_dc_offset",
        "dynamics_clip_rate",
        "dynamics_clipped_per_mille",
    }
)
STANDARD_SCORE_LIMIT = 8.0  # clip standardised features: far-out inputs stay bounded

ARCHITECTURE = (
    f"{N_FEATURES} features (standardised) -> Dense {HIDDEN_SIZES[0]} ReLU -> Dropout {DROPOUT}"
    f" -> Dense {HIDDEN_SIZES[1]} ReLU -> self-attention ({ATTENTION_TOKENS} tokens x "
    f"{HIDDEN_SIZES[1] // ATTENTION_TOKENS}, {ATTENTION_HEADS} heads, residual + LayerNorm)"
    f" -> Dense {HIDDEN_SIZES[2]} ReLU -> Dense {HIDDEN_SIZES[3]} ReLU"
    f" -> Dense {N_PARAMETERS} sigmoid"
)


class TokenSelfAttention(nn.Module):
    """Self-attention over a vector cut into tokens: reshape, attend, add, normalise, flatten."""

    def __init__(self, width: int, tokens: int, heads: int) -> None:
        super().__init__()
        if width % tokens or (width // tokens) % heads:
            raise InvalidInputError(
                f"width {width} must split into {tokens} tokens whose size divides by {heads} heads"
            )
        self.tokens = tokens
        self.token_size = width // tokens
        self.attention = nn.MultiheadAttention(self.token_size, heads, batch_first=True)
        self.norm = nn.LayerNorm(self.token_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # -1 rather than the batch size: the exported graph then needs no shape arithmetic.
        tokens = hidden.reshape(-1, self.tokens, self.token_size)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        normed: torch.Tensor = self.norm(tokens + attended)
        return normed.reshape(-1, self.tokens * self.token_size)


class ParameterNetwork(nn.Module):
    """Raw analysis features (batch, 384) to the 32 chain parameters in [0, 1] (batch, 32)."""

    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    feature_scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(N_FEATURES))
        self.register_buffer("feature_std", torch.ones(N_FEATURES))
        self.register_buffer("feature_scale", torch.ones(N_FEATURES))  # 1 / std; 0: ignored
        self.dense1 = nn.Linear(N_FEATURES, HIDDEN_SIZES[0])
        self.dropout = nn.Dropout(DROPOUT)
        self.dense2 = nn.Linear(HIDDEN_SIZES[0], HIDDEN_SIZES[1])
        self.attention = TokenSelfAttention(HIDDEN_SIZES[1], ATTENTION_TOKENS, ATTENTION_HEADS)
        self.dense3 = nn.Linear(HIDDEN_SIZES[1], HIDDEN_SIZES[2])
        self.dense4 = nn.Linear(HIDDEN_SIZES[2], HIDDEN_SIZES[3])
        self.output = nn.Linear(HIDDEN_SIZES[3], N_PARAMETERS)

    def set_standardisation(self, features: NDArray[np.float32]) -> None:
        """Store the training features' mean and floored standard deviation; the format and
        defect features and those constant in the training data get scale 0 (ignored)."""
        values = np.asarray(features, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != N_FEATURES or values.shape[0] < 1:
            raise InvalidInputError(
                f"standardisation needs features of shape (n, {N_FEATURES}), got {values.shape}"
            )
        mean = values.mean(axis=0)
        spread = values.std(axis=0)
        std = np.maximum(spread, MIN_FEATURE_STD)
        ignored = (spread < MIN_FEATURE_STD) | np.isin(
            FEATURE_NAMES, list(FORMAT_AND_DEFECT_FEATURES)
        )
        scale = np.where(ignored, 0.0, 1.0 / std)
        self.feature_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        self.feature_std.copy_(torch.from_numpy(std.astype(np.float32)))
        self.feature_scale.copy_(torch.from_numpy(scale.astype(np.float32)))

    @property
    def ignored_features(self) -> list[str]:
        """Names of the features the network ignores (scale 0)."""
        return [name for name, s in zip(FEATURE_NAMES, self.feature_scale, strict=True) if s == 0]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.feature_mean) * self.feature_scale
        z = torch.clamp(z, -STANDARD_SCORE_LIMIT, STANDARD_SCORE_LIMIT)
        hidden = self.dropout(torch.relu(self.dense1(z)))
        hidden = torch.relu(self.dense2(hidden))
        hidden = self.attention(hidden)
        hidden = torch.relu(self.dense3(hidden))
        hidden = torch.relu(self.dense4(hidden))
        return torch.sigmoid(self.output(hidden))


# --- the EQ's magnitude response, differentiable ------------------------------------------

RESPONSE_FS_HZ = 44_100
RESPONSE_POINTS = 64


def response_frequencies_hz(points: int = RESPONSE_POINTS) -> NDArray[np.float64]:
    """Log-spaced frequencies from 20 Hz to 20 kHz where the EQ response is compared."""
    return np.geomspace(20.0, 20_000.0, points)


def _power(
    c0: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor, cos_w: torch.Tensor, cos_2w: torch.Tensor
) -> torch.Tensor:
    """|c0 + c1 z^-1 + c2 z^-2|^2 on the unit circle z = e^{jw} (coefficients broadcast)."""
    return c0 * c0 + c1 * c1 + c2 * c2 + 2.0 * (c0 * c1 + c1 * c2) * cos_w + 2.0 * c0 * c2 * cos_2w


def _column(values: Sequence[float]) -> torch.Tensor:
    """Per-section constants as a float64 (1, sections, 1) tensor: broadcasts over batch, freq."""
    return torch.tensor(list(values), dtype=torch.float64).reshape(1, -1, 1)


class EqResponse(nn.Module):
    """Magnitude response in dB of the chain's EQ for a batch of model outputs.

    The same filters as `voidline.dsp.eq.Equalizer` (RBJ cookbook peaking bands with
    Q = sqrt(2) at BAND_CENTRES_HZ, slope-1 shelves at 80 Hz and 10 kHz), written with torch
    operations so a loss on the response has gradients with respect to the gains. Each
    section's power response is |B(e^jw)|^2 / |A(e^jw)|^2, so the a0 normalisation cancels;
    all ten bands (and both shelves) are evaluated at once as a (batch, sections, freqs)
    tensor, because a loop of small ops per section costs more than the network's own step.
    Computed in float64: at 20 Hz, b0 + b1 + b2 is a difference of O(1) numbers of size
    ~w0^2 ~ 1e-5, which float32 resolves only to about 0.05 dB.
    """

    cos_w: torch.Tensor
    cos_2w: torch.Tensor
    band_low: torch.Tensor
    band_span: torch.Tensor
    band_alpha: torch.Tensor
    band_b1: torch.Tensor
    shelf_low: torch.Tensor
    shelf_span: torch.Tensor
    shelf_sign: torch.Tensor
    shelf_cos: torch.Tensor
    shelf_alpha: torch.Tensor

    def __init__(
        self, freqs_hz: NDArray[np.float64] | None = None, fs: int = RESPONSE_FS_HZ
    ) -> None:
        super().__init__()
        freqs = response_frequencies_hz() if freqs_hz is None else np.asarray(freqs_hz)
        if freqs.ndim != 1 or not (np.all(freqs > 0.0) and np.all(freqs < fs / 2.0)):
            raise InvalidInputError(f"response frequencies must lie within 0-{fs / 2:g} Hz")
        self.fs = fs
        self.freqs_hz = freqs
        w = 2.0 * np.pi * freqs / fs
        self.register_buffer("cos_w", torch.from_numpy(np.cos(w)).reshape(1, 1, -1))
        self.register_buffer("cos_2w", torch.from_numpy(np.cos(2.0 * w)).reshape(1, 1, -1))

        bands = [BY_NAME[name] for name in EQ_BAND_NAMES]
        self.band_indices = [spec.index for spec in bands]
        band_w0 = [2.0 * math.pi * centre / fs for centre in BAND_CENTRES_HZ]
        self.register_buffer("band_low", _column([spec.low for spec in bands]))
        self.register_buffer("band_span", _column([spec.high - spec.low for spec in bands]))
        self.register_buffer("band_alpha", _column([math.sin(w0) / (2 * BAND_Q) for w0 in band_w0]))
        self.register_buffer("band_b1", _column([-2.0 * math.cos(w0) for w0 in band_w0]))

        shelves = [BY_NAME["low_shelf_db"], BY_NAME["high_shelf_db"]]
        self.shelf_indices = [spec.index for spec in shelves]
        shelf_w0 = [2.0 * math.pi * f0 / fs for f0 in (LOW_SHELF_HZ, HIGH_SHELF_HZ)]
        # The cookbook's high shelf is its low shelf with cos(w0) and the z^-1 terms negated.
        signs = (1.0, -1.0)
        self.register_buffer("shelf_low", _column([spec.low for spec in shelves]))
        self.register_buffer("shelf_span", _column([spec.high - spec.low for spec in shelves]))
        self.register_buffer("shelf_sign", _column(signs))
        self.register_buffer(
            "shelf_cos", _column([s * math.cos(w0) for s, w0 in zip(signs, shelf_w0, strict=True)])
        )
        # Shelf slope S = 1 makes the cookbook's alpha sin(w0) / 2 * sqrt(2), whatever the gain.
        self.register_buffer(
            "shelf_alpha", _column([math.sin(w0) / 2.0 * math.sqrt(2.0) for w0 in shelf_w0])
        )

    def _peaking_db(self, unit: torch.Tensor) -> torch.Tensor:
        gain_db = self.band_low + unit[:, self.band_indices, None] * self.band_span
        A = torch.pow(10.0, gain_db / 40.0)
        alpha, b1 = self.band_alpha, self.band_b1
        numerator = _power(1.0 + alpha * A, b1, 1.0 - alpha * A, self.cos_w, self.cos_2w)
        denominator = _power(1.0 + alpha / A, b1, 1.0 - alpha / A, self.cos_w, self.cos_2w)
        return 10.0 * torch.log10(numerator / denominator)

    def _shelf_db(self, unit: torch.Tensor) -> torch.Tensor:
        gain_db = self.shelf_low + unit[:, self.shelf_indices, None] * self.shelf_span
        A = torch.pow(10.0, gain_db / 40.0)
        c, sign = self.shelf_cos, self.shelf_sign
        root = 2.0 * torch.sqrt(A) * self.shelf_alpha
        numerator = _power(
            A * ((A + 1.0) - (A - 1.0) * c + root),
            sign * 2.0 * A * ((A - 1.0) - (A + 1.0) * c),
            A * ((A + 1.0) - (A - 1.0) * c - root),
            self.cos_w,
            self.cos_2w,
        )
        denominator = _power(
            (A + 1.0) + (A - 1.0) * c + root,
            sign * -2.0 * ((A - 1.0) + (A + 1.0) * c),
            (A + 1.0) + (A - 1.0) * c - root,
            self.cos_w,
            self.cos_2w,
        )
        return 10.0 * torch.log10(numerator / denominator)

    def forward(self, unit_outputs: torch.Tensor) -> torch.Tensor:
        """(batch, 32) outputs in [0, 1] -> (batch, n_freqs) EQ response in dB, float64."""
        unit = unit_outputs.to(torch.float64)
        sections = torch.cat([self._shelf_db(unit), self._peaking_db(unit)], dim=1)
        return sections.sum(dim=1)


# --- the compressor's static curves, differentiable ----------------------------------------

# Input levels (dBFS at the chain's working level) where the compressor curves are compared:
# the range the expander thresholds are drawn from (-34..-3 dBFS) with room on both sides.
CURVE_LEVELS_DB: NDArray[np.float64] = np.arange(-45.0, 0.0 + 0.75, 1.5)


class CompressorCurve(nn.Module):
    """Gain reduction in dB of the four compressor bands, at CURVE_LEVELS_DB, for model outputs.

    The gain computer of `voidline.dsp.compressor` (Giannoulis et al. 2012, eq. 4, soft knee):
    no reduction below T - W/2, (x - T)(1 - 1/R) above T + W/2, and the quadratic joint
    (1 - 1/R)(x - T + W/2)^2 / (2W) inside the knee. A loss on these curves scores what the
    compressor does rather than its settings: a band at ratio 1 reduces nothing whatever its
    threshold, so the threshold of an uncompressed band is left free instead of being pulled
    towards the label's placeholder (0 dB), and a threshold error costs in proportion to the
    gain it moves. Output (batch, 4 bands, levels), float64.
    """

    levels: torch.Tensor
    threshold_low: torch.Tensor
    threshold_span: torch.Tensor
    ratio_low: torch.Tensor
    ratio_log_span: torch.Tensor

    def __init__(self, levels_db: NDArray[np.float64] | None = None) -> None:
        super().__init__()
        levels = CURVE_LEVELS_DB if levels_db is None else np.asarray(levels_db, np.float64)
        self.register_buffer("levels", torch.from_numpy(levels.copy()).reshape(1, 1, -1))
        thresholds = [BY_NAME[f"comp_{band}_threshold_db"] for band in BAND_NAMES]
        ratios = [BY_NAME[f"comp_{band}_ratio"] for band in BAND_NAMES]
        knee = BY_NAME["comp_knee_db"]
        if not (
            all(s.scale == "linear" for s in thresholds)
            and all(s.scale == "log" for s in ratios)
            and knee.scale == "linear"
        ):
            raise InvalidInputError("compressor curve: thresholds and knee linear, ratios log")
        self.threshold_indices = [spec.index for spec in thresholds]
        self.ratio_indices = [spec.index for spec in ratios]
        self.knee_index = knee.index
        self.knee_low, self.knee_span = knee.low, knee.high - knee.low
        self.register_buffer("threshold_low", _column([s.low for s in thresholds]))
        self.register_buffer("threshold_span", _column([s.high - s.low for s in thresholds]))
        self.register_buffer("ratio_low", _column([s.low for s in ratios]))
        self.register_buffer("ratio_log_span", _column([math.log(s.high / s.low) for s in ratios]))

    def forward(self, unit_outputs: torch.Tensor) -> torch.Tensor:
        """(batch, 32) outputs in [0, 1] -> (batch, 4, levels) gain reduction, dB >= 0."""
        unit = unit_outputs.to(torch.float64)
        threshold = self.threshold_low + unit[:, self.threshold_indices, None] * self.threshold_span
        ratio = self.ratio_low * torch.exp(unit[:, self.ratio_indices, None] * self.ratio_log_span)
        knee = (self.knee_low + unit[:, self.knee_index] * self.knee_span).reshape(-1, 1, 1)
        over = self.levels - threshold
        slope = 1.0 - 1.0 / ratio
        # Both branches are evaluated; the floor keeps the unused one finite at a zero knee.
        inside = slope * (over + knee / 2.0) ** 2 / (2.0 * torch.clamp(knee, min=1e-6))
        reduction = torch.where(2.0 * over > knee, slope * over, inside)
        return torch.where(2.0 * over <= -knee, torch.zeros_like(reduction), reduction)


# --- weights back from an exported model ---------------------------------------------------

# Largest difference allowed between the rebuilt network and onnxruntime on the fp32 file.
REBUILD_TOLERANCE = 1e-4
REBUILD_PROBES = 64


def network_from_onnx(path: Path) -> ParameterNetwork:
    """The torch network an fp32 `parameter_model.onnx` was exported from, to fine-tune it.

    The ONNX file is the one artefact a model version keeps (sha256-checked by its card), so
    the feedback learner rebuilds the torch weights from it instead of keeping a second copy:
    every parameter and buffer is an initializer of the same name, except the attention's
    input projection, which the exporter stores transposed under a generated name, and
    `feature_std`, which the forward pass does not use (rebuilt as 1 / scale). The result is
    checked against onnxruntime on random features around the training mean; a mismatch
    raises FailedPreconditionError rather than fine-tuning the wrong weights.
    """
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    initializers = {item.name: numpy_helper.to_array(item) for item in graph.initializer}
    network = ParameterNetwork()
    state = network.state_dict()
    rebuilt: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        array = initializers.get(name)
        if array is not None and array.shape == tuple(tensor.shape):
            rebuilt[name] = torch.from_numpy(np.array(array, dtype=np.float32))
    projection = "attention.attention.in_proj_weight"
    rows, columns = state[projection].shape
    transposed = [a for a in initializers.values() if a.shape == (columns, rows)]
    if len(transposed) == 1:
        rebuilt[projection] = torch.from_numpy(np.array(transposed[0].T, dtype=np.float32))
    scale = rebuilt.get("feature_scale")
    if scale is not None:
        rebuilt["feature_std"] = torch.where(
            scale > 0, 1.0 / torch.where(scale > 0, scale, 1.0), 1.0
        )
    missing = sorted(set(state) - set(rebuilt))
    if missing:
        raise FailedPreconditionError(
            f"{path} is not an export of this ParameterNetwork (no weights for {missing})"
        )
    network.load_state_dict(rebuilt)
    network.eval()
    probes = (
        network.feature_mean
        + torch.randn(REBUILD_PROBES, N_FEATURES, generator=torch.Generator().manual_seed(0))
        * network.feature_std
    )
    with torch.no_grad():
        expected = network(probes).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: probes.numpy()})[0]
    error = float(np.abs(actual - expected).max())
    if error > REBUILD_TOLERANCE:
        raise FailedPreconditionError(
            f"the weights rebuilt from {path} differ from its ONNX outputs by {error:.3g}"
        )
    return network
