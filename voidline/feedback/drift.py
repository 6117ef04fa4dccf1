"""Drift of the mastering model's input features: live traffic against the training data.

Each model version stores `ReferenceDistribution` of the 384 features it was trained on
(`reference_distributions.json` in its folder). A service that sees live traffic feeds every
job's feature vector to a `DriftMonitor`, which keeps a sliding window of the most recent
vectors and compares it with the reference:

* **PSI per feature group** (population stability index; Siddiqi 2006, "Credit Risk
  Scorecards", ch. 8; Yurdakul 2018, "Statistical properties of population stability
  index"). Per feature, with the expected fraction e_i of the training data and the actual
  fraction a_i of the window in bin i::

      PSI = sum_i (a_i - e_i) * ln(a_i / e_i)      (both floored at eps, default 1e-4)

  The bins are the training deciles, so e_i is about 1/10. The usual reading: below 0.1
  stable, 0.1-0.25 a moderate shift, above 0.25 a major shift. A group's PSI is the mean of
  its features' PSI (the maximum is reported too): a shift of one feature in 64 does not
  move its group, a shift of the whole group does.
* **Two-sample Kolmogorov-Smirnov statistic** D = sup_x |F_ref(x) - F_window(x)| (Smirnov
  1939) on `KEY_FEATURES`, against a stored sample of their training values. These
  are the features the chain's decisions hang on, so a shift of one of them alone alerts.

Reading the numbers. Sampling noise alone gives PSI about (bins - 1) / window + (bins - 1) /
n_train per feature (PSI is about chi-square / n for small shifts): about 0.02 at a window of
500 and 0.05 at 200 with deciles, but about 0.2 at 50, close to the 0.25 threshold; hence
`DriftThresholds.min_samples` = 200. The KS statistic's 5 % critical value is
1.36 * sqrt((n + m) / (n m)) for n live and m reference values: 0.07 at n = 500 and 0.10 at
n = 200 with m = 2000, so the 0.2 threshold is far from noise there (it is the 5 % level at
n = 50).

Binning. Edges are training quantiles taken as data values (`inverted_cdf`) and bins are
right-closed, (e_{i-1}, e_i], so a value sitting on an edge falls in the bin below it and a
point mass at the training minimum keeps its own bin. Repeated quantiles (discrete
features, point masses) collapse into one edge. When the top quantiles equal the training
maximum (a flag that is 1 for 90 % of tracks), that edge is replaced by the largest value
below the maximum, so the point mass at the maximum gets its own bin instead of an empty one
above it. The expected fractions are counted on the training data with these exact bins, so
they need not be 1/10 each. Values are compared at float32 precision, the precision the model
reads and the training set stores: otherwise a float64 0.91875 (44.1 kHz / 48 kHz) would land
above the float32 edge 0.9187499880... and move a whole point mass to the next bin.

Constant features. A feature whose training standard deviation is below CONSTANT_STD (the
network's MIN_FEATURE_STD in `voidline.mastering.model`: the network gives those features
weight 0) is marked constant and left out of its group's PSI and of the KS statistics: any
live variation of it would read as an enormous PSI (up to ln(1 / eps) = 9.2 when its point
mass moves) that says nothing about what the model uses. The synthetic training set keeps 11
features constant (sample rate, channels, duration, the stereo and LRA-stable flags, the
clipping counts, ...). Callers may also exclude features by name (`exclude`), e.g. the format
and defect features the network ignores. Both lists are in every `DriftReport`.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from voidline.analysis.features import FEATURE_NAMES, FEATURE_SPECS
from voidline.errors import FailedPreconditionError, InvalidInputError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

REFERENCE_FORMAT = "voidline-drift-reference/1"
REFERENCE_FILE = "reference_distributions.json"  # stored next to each model version
N_FEATURES = len(FEATURE_NAMES)
CONSTANT_STD = 1e-3  # = voidline.mastering.model.MIN_FEATURE_STD (not imported: that is torch)
PSI_EPS = 1e-4
_CHUNK_ROWS = 8192  # rows compared at once: bounds the (rows, features) temporaries


def _feature_groups() -> dict[str, tuple[int, ...]]:
    groups: dict[str, list[int]] = {}
    for index, spec in enumerate(FEATURE_SPECS):
        groups.setdefault(spec.group, []).append(index)
    return {group: tuple(indices) for group, indices in groups.items()}


FEATURE_GROUPS: dict[str, tuple[int, ...]] = _feature_groups()

# What the chain's decisions hang on: loudness (make-up gain to the target), loudness range
# and peak-to-loudness ratio (how hard the compressor and limiter work), spectral tilt and the
# low and high band energies (EQ), and width and correlation (the stereo stage).
KEY_FEATURES: tuple[str, ...] = (
    "dynamics_integrated",
    "dynamics_lra",
    "dynamics_plr",
    "harmonic_tilt",
    "context_energy_bass",
    "context_energy_air",
    "stereo_width",
    "stereo_correlation",
)

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_GROUP_INDEX = {group: np.array(indices) for group, indices in FEATURE_GROUPS.items()}
# alerts are keyed by group names and feature names; feature names are "<group>_<name>", so
# the two never collide.
assert not set(FEATURE_GROUPS) & set(FEATURE_NAMES)


def _float32_grid(values: ArrayLike) -> FloatArray:
    """float64 array holding float32 values: the precision the model reads its features at."""
    try:
        as_float = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"features must be numbers: {error}") from error
    with np.errstate(over="ignore"):  # beyond float32's range: inf, refused as non-finite
        return as_float.astype(np.float32).astype(np.float64)


def _bin_counts(values: FloatArray, edges: FloatArray) -> NDArray[np.int64]:
    """Counts per right-closed bin, shape (features, edges + 1), of values (rows, features).

    `edges` is (features, max edges), ascending per row and padded with +inf. One pass per
    edge column counts the values above that edge for all features at once; bin b holds
    above(e_{b-1}) - above(e_b), with above(-inf) = rows and above(+inf) = 0, so padded bins
    stay empty. (One comparison per edge column is 5x faster than a (rows, features, edges)
    comparison cube or a searchsorted per feature.)
    """
    n_features, n_edges = edges.shape
    above = np.zeros((n_edges + 2, n_features), dtype=np.int64)
    above[0] = values.shape[0]
    for start in range(0, values.shape[0], _CHUNK_ROWS):
        block = values[start : start + _CHUNK_ROWS]
        for j in range(n_edges):
            above[j + 1] += np.count_nonzero(block > edges[:, j], axis=0)
    counts: NDArray[np.int64] = np.ascontiguousarray((above[:-1] - above[1:]).T)
    return counts


def _psi_rows(expected: FloatArray, actual: FloatArray, eps: float) -> FloatArray:
    """PSI of each row pair: sum((a - e) * ln(a / e)) over the last axis, both floored at eps."""
    e = np.maximum(expected, eps)
    a = np.maximum(actual, eps)
    result: FloatArray = np.sum((a - e) * np.log(a / e), axis=-1)
    return result


def psi(expected: ArrayLike, actual: ArrayLike, eps: float = PSI_EPS) -> float:
    """Population stability index of two binned distributions (Siddiqi 2006; Yurdakul 2018).

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i), after flooring both fractions at `eps` so an
    empty bin contributes a large but finite term. Inputs are fractions or counts per bin
    (each is divided by its sum). It is symmetric in its arguments and 0 for identical
    distributions. Usual reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.ndim != 1 or e.shape != a.shape or e.size < 1:
        raise InvalidInputError(
            f"psi needs two 1-D arrays of the same length, got {e.shape} and {a.shape}"
        )
    if not (eps > 0.0 and math.isfinite(eps)):
        raise InvalidInputError(f"eps must be a positive finite number, got {eps}")
    for label, values in (("expected", e), ("actual", a)):
        if not np.all(np.isfinite(values)) or np.any(values < 0.0) or values.sum() <= 0.0:
            raise InvalidInputError(f"{label} must be finite, non-negative and not all zero")
    return float(_psi_rows(e / e.sum(), a / a.sum(), eps))


def ks_statistic(reference: ArrayLike, sample: ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D = sup_x |F_ref(x) - F_sample(x)|.

    Both empirical CDFs are right-continuous step functions, so the supremum is reached at one
    of the pooled observations; the same value as `scipy.stats.ks_2samp(...).statistic`.
    """
    r = np.sort(np.asarray(reference, dtype=np.float64).ravel())
    s = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    if r.size < 1 or s.size < 1:
        raise InvalidInputError("the KS statistic needs at least one value in each sample")
    return _ks_sorted(r, s)


def _ks_sorted(reference: FloatArray, sample: FloatArray) -> float:
    pooled = np.concatenate([reference, sample])
    cdf_ref = np.searchsorted(reference, pooled, side="right") / reference.size
    cdf_sample = np.searchsorted(sample, pooled, side="right") / sample.size
    return float(np.max(np.abs(cdf_ref - cdf_sample)))


def _check_names(names: Collection[str], what: str) -> None:
    unknown = [name for name in names if name not in _INDEX]
    if unknown:
        raise InvalidInputError(f"{what}: unknown feature names {unknown[:5]}")


@dataclass(frozen=True, eq=False)
class ReferenceDistribution:
    """The training features' distributions that live traffic is compared with.

    `edges` (384, bins - 1): each feature's ascending bin edges, padded with +inf;
    `expected` (384, bins): the training fraction per right-closed bin, 0 in padded bins;
    `key_samples` (len(key_features), m): a sorted sample of each key feature's training
    values for the KS statistic. Build one with `from_features`; store it with `to_json`.
    """

    n_samples: int
    bins: int
    edges: FloatArray
    expected: FloatArray
    constant_features: tuple[str, ...]
    excluded_features: tuple[str, ...]
    key_features: tuple[str, ...]
    key_samples: FloatArray
    model_version: str = ""
    # derived in __post_init__: features in the group PSI, and the key features' columns
    active: BoolArray = field(init=False, repr=False)
    key_index: NDArray[np.intp] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.bins < 2:
            raise InvalidInputError(
                f"a reference needs n_samples >= 1 and bins >= 2, got {self.n_samples}, {self.bins}"
            )
        # C-order copies: sums over a row then run in the same order whichever way the arrays
        # were made, so a reference read back from JSON gives bit-identical reports
        edges = np.array(self.edges, dtype=np.float64, order="C")
        expected = np.array(self.expected, dtype=np.float64, order="C")
        key_samples = np.array(self.key_samples, dtype=np.float64, order="C")
        if edges.shape != (N_FEATURES, self.bins - 1) or expected.shape != (
            N_FEATURES,
            self.bins,
        ):
            raise InvalidInputError(
                f"edges must be ({N_FEATURES}, {self.bins - 1}) and expected "
                f"({N_FEATURES}, {self.bins}), got {edges.shape} and {expected.shape}"
            )
        with np.errstate(invalid="ignore"):  # padding: inf - inf = nan, which compares False
            steps = np.diff(edges, axis=1)
        if np.any(np.isnan(edges) | (edges == -np.inf)) or np.any(steps <= 0.0):
            raise InvalidInputError("bin edges must be strictly ascending per feature")
        if (
            not np.all(np.isfinite(expected))
            or np.any(expected < 0.0)
            or not np.allclose(expected.sum(axis=1), 1.0, atol=1e-9)
        ):
            raise InvalidInputError("expected fractions must be non-negative and sum to 1")
        _check_names(self.constant_features, "constant_features")
        _check_names(self.excluded_features, "excluded_features")
        _check_names(self.key_features, "key_features")
        if key_samples.ndim != 2 or key_samples.shape[0] != len(self.key_features):
            raise InvalidInputError(
                f"key_samples must hold one row per key feature ({len(self.key_features)}), "
                f"got shape {key_samples.shape}"
            )
        if len(self.key_features) and (
            key_samples.shape[1] < 1
            or not np.all(np.isfinite(key_samples))
            or np.any(np.diff(key_samples, axis=1) < 0.0)
        ):
            raise InvalidInputError("key_samples must be finite, sorted and non-empty")
        active = np.ones(N_FEATURES, dtype=bool)
        active[[_INDEX[n] for n in (*self.constant_features, *self.excluded_features)]] = False
        key_index = np.array([_INDEX[n] for n in self.key_features], dtype=np.intp)
        for name, value in (
            ("edges", edges),
            ("expected", expected),
            ("key_samples", key_samples),
            ("active", active),
            ("key_index", key_index),
        ):
            value.setflags(write=False)  # the dataclass is frozen; so are its arrays
            object.__setattr__(self, name, value)

    @classmethod
    def from_features(
        cls,
        features: ArrayLike,
        bins: int = 10,
        key_sample: int = 2000,
        seed: int = 0,
        *,
        key_features: Sequence[str] = KEY_FEATURES,
        exclude: Collection[str] = (),
        model_version: str = "",
    ) -> ReferenceDistribution:
        """Reference from a model's training features, shape (n, 384).

        Edges at the training quantiles 1/bins ... (bins-1)/bins (deciles by default; see the
        module docstring for ties and point masses); a random sample (seeded) of up to
        `key_sample` training rows, sorted per key feature, for the KS statistic.
        """
        values = _float32_grid(features)
        if values.ndim != 2 or values.shape[1] != N_FEATURES:
            raise InvalidInputError(
                f"training features must have shape (n, {N_FEATURES}), got {values.shape}"
            )
        n = values.shape[0]
        if bins < 2 or n < bins:
            raise InvalidInputError(f"need bins >= 2 and at least {bins} rows, got {n} rows")
        if key_sample < 1:
            raise InvalidInputError(f"key_sample must be at least 1, got {key_sample}")
        if not np.all(np.isfinite(values)):
            raise InvalidInputError("training features must be finite (no NaN or inf)")
        _check_names(key_features, "key_features")
        _check_names(exclude, "exclude")

        levels = np.arange(1, bins) / bins
        quantiles = np.quantile(values, levels, axis=0, method="inverted_cdf")  # (bins-1, F)
        maxima = values.max(axis=0)
        edges = np.full((N_FEATURES, bins - 1), np.inf)
        for f in range(N_FEATURES):
            unique = np.unique(quantiles[:, f])
            if unique[-1] >= maxima[f]:
                # An edge at the maximum leaves the bin above it empty: cut just below the
                # point mass at the maximum instead (nothing to cut when all values are equal).
                below = values[:, f][values[:, f] < maxima[f]]
                unique = unique[:-1]
                if below.size:
                    unique = np.unique(np.append(unique, below.max()))
            edges[f, : unique.size] = unique
        expected = _bin_counts(values, edges) / n

        std = values.std(axis=0)
        constant = tuple(
            name for name, s in zip(FEATURE_NAMES, std, strict=True) if s < CONSTANT_STD
        )
        skip = frozenset(exclude)
        excluded = tuple(name for name in FEATURE_NAMES if name in skip)

        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n, size=key_sample, replace=False)) if n > key_sample else None
        key_index = np.array([_INDEX[name] for name in key_features], dtype=np.intp)
        sample = values[:, key_index] if rows is None else values[np.ix_(rows, key_index)]
        return cls(
            n_samples=n,
            bins=bins,
            edges=edges,
            expected=expected,
            constant_features=constant,
            excluded_features=excluded,
            key_features=tuple(key_features),
            key_samples=np.sort(sample.T, axis=1),
            model_version=model_version,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (floats round-trip exactly through `json`); see `from_json`."""
        n_edges = np.isfinite(self.edges).sum(axis=1)
        constant, excluded = set(self.constant_features), set(self.excluded_features)
        return {
            "format": REFERENCE_FORMAT,
            "model_version": self.model_version,
            "n_samples": self.n_samples,
            "bins": self.bins,
            "constant_std": CONSTANT_STD,
            "features": [
                {
                    "name": spec.name,
                    "group": spec.group,
                    "constant": spec.name in constant,
                    "excluded": spec.name in excluded,
                    "edges": self.edges[f, : n_edges[f]].tolist(),
                    "expected": self.expected[f, : n_edges[f] + 1].tolist(),
                }
                for f, spec in enumerate(FEATURE_SPECS)
            ],
            "key_features": [
                {"name": name, "sample": row.tolist()}
                for name, row in zip(self.key_features, self.key_samples, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReferenceDistribution:
        """Read what `to_json` wrote; a file for another feature layout is refused."""
        if not isinstance(data, Mapping) or data.get("format") != REFERENCE_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InvalidInputError(f"not a {REFERENCE_FORMAT} reference (format {found!r})")
        try:
            bins = int(data["bins"])
            features = list(data["features"])
            names = [str(entry["name"]) for entry in features]
            if names != list(FEATURE_NAMES):
                raise FailedPreconditionError(
                    "the reference distributions were stored for another feature layout than "
                    f"this version of voidline computes ({N_FEATURES} features); rebuild them"
                )
            edges = np.full((N_FEATURES, bins - 1), np.inf)
            expected = np.zeros((N_FEATURES, bins))
            for f, entry in enumerate(features):
                row_edges = [float(v) for v in entry["edges"]]
                row_expected = [float(v) for v in entry["expected"]]
                if len(row_edges) > bins - 1 or len(row_expected) != len(row_edges) + 1:
                    raise InvalidInputError(f"feature {names[f]}: edges and expected disagree")
                edges[f, : len(row_edges)] = row_edges
                expected[f, : len(row_expected)] = row_expected
            keys = list(data["key_features"])
            key_names = tuple(str(entry["name"]) for entry in keys)
            key_rows = [[float(v) for v in entry["sample"]] for entry in keys]
            if len({len(row) for row in key_rows}) > 1:
                raise InvalidInputError("key feature samples must all have the same length")
            return cls(
                n_samples=int(data["n_samples"]),
                bins=bins,
                edges=edges,
                expected=expected,
                constant_features=tuple(
                    n for n, e in zip(names, features, strict=True) if e["constant"] is True
                ),
                excluded_features=tuple(
                    n for n, e in zip(names, features, strict=True) if e["excluded"] is True
                ),
                key_features=key_names,
                key_samples=np.array(key_rows, dtype=np.float64) if key_rows else np.zeros((0, 0)),
                model_version=str(data.get("model_version", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(f"malformed reference distributions: {error!r}") from error


@dataclass(frozen=True)
class DriftThresholds:
    """When a number raises its alert: group PSI above `psi`, a key feature's KS statistic
    above `ks`; no report at all before `min_samples` vectors are in the window.

    min_samples is 200, not 50: with deciles, sampling noise alone puts a group's PSI at
    about 0.2 (up to 0.34 measured on held-out training vectors) at 50 samples, over the
    0.25 threshold about as often as not; at 200 it is about 0.05 (at most 0.08).
    """

    psi: float = 0.25
    ks: float = 0.2
    min_samples: int = 200

    def __post_init__(self) -> None:
        if not (self.psi > 0.0 and math.isfinite(self.psi)):
            raise InvalidInputError(f"the PSI threshold must be positive, got {self.psi}")
        if not (0.0 < self.ks <= 1.0):
            raise InvalidInputError(f"the KS threshold must lie in (0, 1], got {self.ks}")
        if self.min_samples < 1:
            raise InvalidInputError(f"min_samples must be at least 1, got {self.min_samples}")


@dataclass(frozen=True)
class DriftReport:
    """One comparison of a window of live feature vectors with a model's reference.

    `psi_by_group` / `max_psi_by_group`: mean / maximum PSI over the group's features that are
    neither constant nor excluded (a group with none is absent); `psi_by_feature`: those
    features' PSI; `ks_by_feature`: KS statistic per key feature (constant or excluded key
    features are absent); `alerts`: per group and per key feature, whether its number is above
    its threshold; `drifted`: any alert.
    """

    model_version: str
    samples: int
    psi_by_group: dict[str, float]
    max_psi_by_group: dict[str, float]
    psi_by_feature: dict[str, float]
    ks_by_feature: dict[str, float]
    alerts: dict[str, bool]
    drifted: bool
    constant_features: tuple[str, ...]
    excluded_features: tuple[str, ...]
    thresholds: DriftThresholds


def drift_report(
    reference: ReferenceDistribution,
    features: ArrayLike,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare live feature vectors (n, 384) with `reference` (no min_samples gate here)."""
    limits = thresholds or DriftThresholds()
    window = _float32_grid(features)
    if window.ndim != 2 or window.shape[1] != N_FEATURES or window.shape[0] < 1:
        raise InvalidInputError(f"features must have shape (n, {N_FEATURES}), got {window.shape}")
    if not np.all(np.isfinite(window)):
        raise InvalidInputError("features must be finite (no NaN or inf)")
    n = window.shape[0]

    actual = _bin_counts(window, reference.edges) / n
    per_feature = _psi_rows(reference.expected, actual, PSI_EPS)
    active = reference.active
    psi_by_group: dict[str, float] = {}
    max_psi_by_group: dict[str, float] = {}
    for group, indices in _GROUP_INDEX.items():
        used = per_feature[indices][active[indices]]
        if used.size:
            psi_by_group[group] = float(used.mean())
            max_psi_by_group[group] = float(used.max())
    psi_by_feature = {
        FEATURE_NAMES[f]: float(per_feature[f]) for f in np.flatnonzero(active).tolist()
    }

    ks_by_feature: dict[str, float] = {}
    ordered = np.sort(window[:, reference.key_index], axis=0)
    for k, name in enumerate(reference.key_features):
        if active[reference.key_index[k]]:
            ks_by_feature[name] = _ks_sorted(reference.key_samples[k], ordered[:, k])

    alerts = {group: value > limits.psi for group, value in psi_by_group.items()}
    alerts.update({name: value > limits.ks for name, value in ks_by_feature.items()})
    return DriftReport(
        model_version=reference.model_version,
        samples=n,
        psi_by_group=psi_by_group,
        max_psi_by_group=max_psi_by_group,
        psi_by_feature=psi_by_feature,
        ks_by_feature=ks_by_feature,
        alerts=alerts,
        drifted=any(alerts.values()),
        constant_features=reference.constant_features,
        excluded_features=reference.excluded_features,
        thresholds=limits,
    )


class DriftMonitor:
    """A sliding window of the latest live feature vectors, compared on demand (thread-safe).

    `observe` from every request thread, `report` from the metrics exporter, `reset` when the
    served model version changes (the window is emptied: its vectors were judged against the
    old reference's training data, and the new version may have been trained on them).
    """

    def __init__(
        self,
        reference: ReferenceDistribution,
        thresholds: DriftThresholds | None = None,
        window: int = 500,
    ) -> None:
        limits = thresholds or DriftThresholds()
        if window < limits.min_samples:
            raise InvalidInputError(
                f"the window ({window}) must hold at least min_samples ({limits.min_samples})"
            )
        self._lock = threading.Lock()
        self._reference = reference
        self._thresholds = limits
        self._window: deque[FloatArray] = deque(maxlen=window)

    @property
    def reference(self) -> ReferenceDistribution:
        return self._reference

    @property
    def thresholds(self) -> DriftThresholds:
        return self._thresholds

    @property
    def window(self) -> int:
        """The most vectors kept."""
        maxlen = self._window.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def samples(self) -> int:
        """How many vectors the window holds now."""
        with self._lock:
            return len(self._window)

    def observe(self, features: ArrayLike) -> int:
        """Add one job's 384 features (oldest dropped when full); returns the window's size."""
        # a copy (the caller may reuse its buffer), checked at the precision it is compared at,
        # so one bad vector is refused here instead of failing every later report
        vector = _float32_grid(features)
        if vector.shape != (N_FEATURES,):
            raise InvalidInputError(
                f"a feature vector must hold {N_FEATURES} values, got shape {vector.shape}"
            )
        if not np.all(np.isfinite(vector)):
            raise InvalidInputError(
                "a feature vector must be finite within float32 range (no NaN or inf)"
            )
        with self._lock:
            self._window.append(vector)
            return len(self._window)

    def report(self) -> DriftReport | None:
        """Compare the window with the reference; None until min_samples vectors are in it."""
        with self._lock:  # snapshot only; the comparison runs outside the lock
            reference, thresholds = self._reference, self._thresholds
            if len(self._window) < thresholds.min_samples:
                return None
            rows = list(self._window)
        return drift_report(reference, np.stack(rows), thresholds)

    def reset(
        self,
        reference: ReferenceDistribution | None = None,
        thresholds: DriftThresholds | None = None,
    ) -> None:
        """Empty the window; switch to a new model version's reference (and thresholds)."""
        with self._lock:
            if thresholds is not None:
                if self.window < thresholds.min_samples:
                    raise InvalidInputError(
                        f"min_samples ({thresholds.min_samples}) exceeds the window ({self.window})"
                    )
                self._thresholds = thresholds
            if reference is not None:
                self._reference = reference
            self._window.clear()
