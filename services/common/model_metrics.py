"""The model and drift series every service that serves or learns the parameter model exports.

`voidline_model_info{version}` says which model version the process uses;
`voidline_feature_drift_*` say how far the recent input features have moved from that
version's training features (voidline.feedback.drift): every group's and key feature's
series exists from the start, NaN until the window holds `min_samples` vectors (a NaN
compares false, so no alert fires on an empty window). The mastering service feeds it every
job's input features, the feedback service the features of every job rated.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from prometheus_client import CollectorRegistry, Gauge

from voidline.feedback.drift import (
    FEATURE_GROUPS,
    DriftMonitor,
    DriftReport,
    DriftThresholds,
    ReferenceDistribution,
)
from voidline.feedback.reference import reference_for


class ModelTelemetry:
    """Model version and drift gauges, with the drift monitor behind them (thread-safe)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        thresholds: DriftThresholds,
        window: int,
    ) -> None:
        self._thresholds = thresholds
        self._window = window
        self._lock = threading.Lock()
        self._version = ""
        self._monitor: DriftMonitor | None = None
        self.model_info = Gauge(
            "voidline_model_info",
            "1 for the parameter model version this process uses.",
            ["version"],
            registry=registry,
        )
        self.psi = Gauge(
            "voidline_feature_drift_psi",
            "Population stability index of the recent input features against the model "
            "version's training features, per feature group (above 0.25: a major shift).",
            ["group", "model_version"],
            registry=registry,
        )
        self.ks = Gauge(
            "voidline_feature_drift_ks",
            "Two-sample Kolmogorov-Smirnov statistic of a key feature, recent window against "
            "the model version's training sample.",
            ["feature", "model_version"],
            registry=registry,
        )
        self.alert = Gauge(
            "voidline_feature_drift_alert",
            "1 while a drift threshold (PSI per group or KS per key feature) is crossed.",
            ["model_version"],
            registry=registry,
        )
        self.samples = Gauge(
            "voidline_feature_drift_window_samples",
            "Feature vectors in the drift window (no drift figures below the minimum).",
            registry=registry,
        )

    @property
    def version(self) -> str:
        return self._version

    @property
    def window_samples(self) -> int:
        with self._lock:
            monitor = self._monitor
        return 0 if monitor is None else monitor.samples

    def use_version(self, version: str, version_dir: Path) -> None:
        """Switch to a model version: its info series and its reference.

        The window is emptied only when the reference changes: a version fine-tuned on
        feedback keeps its parent's training reference, and emptying the window at every
        learner update would keep it from ever filling. A kept window's figures are
        published again under the new version at once.
        """
        with self._lock:
            if version == self._version:
                return
        reference = reference_for(version_dir)
        with self._lock:
            self.model_info.clear()
            self.model_info.labels(version).set(1)
            self.psi.clear()
            self.ks.clear()
            self.alert.clear()
            self.alert.labels(version).set(0)
            self._version = version
            if self._monitor is None or not same_reference(self._monitor.reference, reference):
                self._monitor = DriftMonitor(reference, self._thresholds, self._window)
            monitor = self._monitor
            self.samples.set(monitor.samples)
            # Every series exists from the start; NaN until the window holds enough vectors.
            for group in FEATURE_GROUPS:
                self.psi.labels(group, version).set(math.nan)
            for feature in monitor.reference.key_features:
                self.ks.labels(feature, version).set(math.nan)
        self._publish(monitor.report(), version)

    def observe(self, features: ArrayLike) -> DriftReport | None:
        """Add one job's features and refresh the drift gauges; the report, if any yet."""
        with self._lock:
            monitor, version = self._monitor, self._version
        if monitor is None:
            return None
        self.samples.set(monitor.observe(features))
        report = monitor.report()
        self._publish(report, version)
        return report

    def _publish(self, report: DriftReport | None, version: str) -> None:
        if report is None:
            return
        with self._lock:
            if version != self._version:  # the version changed meanwhile: stale numbers
                return
            for group, value in report.psi_by_group.items():
                self.psi.labels(group, version).set(value)
            for feature, value in report.ks_by_feature.items():
                self.ks.labels(feature, version).set(value)
            self.alert.labels(version).set(1 if report.drifted else 0)

    def report(self) -> DriftReport | None:
        with self._lock:
            monitor = self._monitor
        return None if monitor is None else monitor.report()


def same_reference(first: ReferenceDistribution, second: ReferenceDistribution) -> bool:
    """Whether two references bin and sample the same way (one copied from the other)."""
    return first is second or (
        first.n_samples == second.n_samples
        and first.key_features == second.key_features
        and np.array_equal(first.edges, second.edges)
        and np.array_equal(first.expected, second.expected)
    )
