"""Settings of the feedback service: the shared server settings plus its own.

Every field can be set by flag (`--jobs-db`) or environment variable
(`VOIDLINE_FEEDBACK_JOBS_DB`); services/feedback/README.md has the table. The defaults work
on one machine next to a mastering service with its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import ServerSettings

STANDALONE_PORT = 50055
STANDALONE_METRICS_PORT = 9105
HOME = Path.home() / ".voidline"


@dataclass(frozen=True)
class FeedbackServiceSettings(ServerSettings):
    """Settings of the feedback service (voidline.v1.FeedbackService)."""

    data_dir: str = field(
        default=str(HOME / "feedback"), metadata={"help": "folder of feedback.sqlite3"}
    )
    jobs_db: str = field(
        default=str(HOME / "mastering" / "jobs.sqlite3"),
        metadata={"help": "the mastering service's job log (read: features, parameters)"},
    )
    registry_dir: str = field(
        default=str(HOME / "registry"),
        metadata={"help": "model registry (seeded from the packaged model when empty)"},
    )
    batch_size: int = field(default=32, metadata={"help": "feedback items per learner update"})
    learning_rate: float = field(default=1e-4, metadata={"help": "Adam learning rate"})
    steps: int = field(default=40, metadata={"help": "gradient steps per update"})
    tolerance: float = field(
        default=0.10, metadata={"help": "relative regression allowed on the validation set"}
    )
    recent_tolerance: float = field(
        default=0.25, metadata={"help": "relative regression allowed on recent feedback"}
    )
    max_mean_shift: float = field(
        default=0.05, metadata={"help": "largest mean change of the predictions per update"}
    )
    auto_update: bool = field(
        default=True, metadata={"help": "compute an update whenever a full batch is pending"}
    )
    drift_window: int = field(default=500, metadata={"help": "feature vectors in the window"})
    drift_min_samples: int = field(
        default=200, metadata={"help": "vectors needed before drift is reported"}
    )
    drift_psi_threshold: float = field(default=0.25, metadata={"help": "PSI alert level"})
    drift_ks_threshold: float = field(default=0.2, metadata={"help": "KS alert level"})
    retrain_on_drift: bool = field(
        default=False,
        metadata={"help": "when drift alerts, learn from pending feedback even if < a batch"},
    )
    torch_threads: int = field(default=1, metadata={"help": "torch threads for the learner"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1 or self.steps < 1 or self.torch_threads < 1:
            raise ValueError("batch_size, steps and torch_threads must be at least 1")
        if self.drift_window < self.drift_min_samples or self.drift_min_samples < 1:
            raise ValueError("drift_window must be >= drift_min_samples >= 1")
