"""The parameter models the mastering service serves, and the switch to a new version.

Without a registry the service serves one folder (the packaged model or `--model-dir`). With
`--registry-dir` it serves the registry's current version (voidline.feedback.registry) and
follows it: at most once a second a call reads the registry's CURRENT pointer (one small
file), and when it names another version the new models load and replace the old ones
under a lock. A job holds the `ParameterModel` object it started with, so calls in flight
finish on the old version and calls after the switch report the new one. A version that
fails to load is logged and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from services.common.model_metrics import ModelTelemetry
from services.mastering.servicer import MasteringMetrics
from voidline.feedback.registry import ModelRegistry
from voidline.mastering.inference import ParameterModel

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0


class ServedModels:
    """The model per precision (loaded on first use), following a registry if given."""

    def __init__(
        self,
        folder: Path,
        metrics: MasteringMetrics,
        telemetry: ModelTelemetry,
        registry: ModelRegistry | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._metrics = metrics
        self._telemetry = telemetry
        self._registry = registry
        self._poll_interval_s = poll_interval_s
        self._lock = threading.Lock()
        self._models: dict[str, ParameterModel] = {}
        self._next_poll = 0.0
        self.version = ""
        self.folder = registry.current_path() if registry is not None else folder

    def __call__(self, precision: str) -> ParameterModel:
        self._follow_registry()
        with self._lock:
            model = self._models.get(precision)
            folder = self.folder
        if model is not None:
            return model
        loaded = ParameterModel.load(folder, precision)  # type: ignore[arg-type]
        with self._lock:
            if folder != self.folder:  # switched while loading: serve what it loaded anyway
                return loaded
            model = self._models.setdefault(precision, loaded)
            self._publish(model)
            return model

    def _follow_registry(self) -> None:
        if self._registry is None or time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + self._poll_interval_s
        version = self._registry.current_version()
        with self._lock:
            if not self._models or version == self.version:
                return
            precisions = list(self._models)
        try:
            folder = self._registry.path_of(version)
            loaded = {
                p: ParameterModel.load(folder, p)  # type: ignore[arg-type]
                for p in precisions
            }
        except Exception:  # keep serving the old version; the next poll tries again
            logger.exception("version %s did not load; still serving %s", version, self.version)
            return
        with self._lock:
            self.folder = folder
            self._models = loaded
            self._metrics.model_info.clear()
            for model in loaded.values():
                self._publish(model)
        logger.info("switched model version", extra={"model_version": version})

    def _publish(self, model: ParameterModel) -> None:
        """Gauges for a model now served (called with the lock held)."""
        self._metrics.model_info.labels(model.version, model.precision, model.sha256).set(1)
        if model.version != self.version:
            self.version = model.version
            self._telemetry.use_version(model.version, self.folder)
