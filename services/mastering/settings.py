"""Settings of the mastering service: the shared server settings plus its own.

Every field can be set by flag (`--data-dir`) or environment variable
(`VOIDLINE_MASTERING_DATA_DIR`); services/mastering/README.md has the table. The defaults
work on one machine with nothing else installed: the packaged default model, the analysis
meters in process, and a data folder under ~/.voidline/mastering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import ServerSettings

STANDALONE_PORT = 50053
STANDALONE_METRICS_PORT = 9103
MIB = 1024 * 1024
PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True)
class MasteringServiceSettings(ServerSettings):
    """Settings of the mastering service (voidline.v1.MasteringService)."""

    model_dir: str = field(
        default="",
        metadata={"help": "parameter model folder (ONNX + model card); empty: the packaged one"},
    )
    default_precision: str = field(
        default="int8", metadata={"help": "model precision when a request leaves it unset"}
    )
    analysis_address: str = field(
        default="",
        metadata={
            "help": "HOST:PORT of the analysis service for the before/after reports; "
            "empty: run the meters in this process"
        },
    )
    analysis_timeout_s: float = field(
        default=120.0, metadata={"help": "deadline of one call to the analysis service, s"}
    )
    data_dir: str = field(
        default=str(Path.home() / ".voidline" / "mastering"),
        metadata={"help": "folder of the job log (jobs.sqlite3), cache and references"},
    )
    cache_max_bytes: int = field(
        default=512 * MIB, metadata={"help": "result cache size budget, bytes; 0 disables it"}
    )
    max_chunk_bytes: int = field(
        default=4 * MIB, metadata={"help": "largest audio payload of one message, bytes"}
    )
    max_input_bytes: int = field(
        default=256 * MIB, metadata={"help": "largest input one call may send, bytes"}
    )
    max_input_seconds: float = field(
        default=1200.0, metadata={"help": "longest input one call may master, seconds"}
    )
    max_reference_bytes: int = field(
        default=16 * MIB, metadata={"help": "largest reference file sent inside a config"}
    )
    max_concurrent_jobs: int = field(
        default=8, metadata={"help": "Master/Preview calls in flight at once; more are refused"}
    )
    processing_slots: int = field(
        default=1,
        metadata={"help": "jobs processed at once (CPU-bound); the others wait their turn"},
    )
    output_chunk_bytes: int = field(
        default=256 * 1024, metadata={"help": "bytes of the master per response message"}
    )
    registry_dir: str = field(
        default="",
        metadata={
            "help": "serve the model registry's current version and follow promotions "
            "(the feedback service's registry); empty: serve model_dir only"
        },
    )
    drift_window: int = field(default=500, metadata={"help": "jobs in the drift window"})
    drift_min_samples: int = field(
        default=200, metadata={"help": "jobs needed before drift is reported"}
    )
    drift_psi_threshold: float = field(default=0.25, metadata={"help": "PSI alert level"})
    drift_ks_threshold: float = field(default=0.2, metadata={"help": "KS alert level"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.default_precision not in PRECISIONS:
            raise ValueError(
                f"default_precision must be one of {', '.join(PRECISIONS)}, "
                f"got {self.default_precision!r}"
            )
        for name in (
            "max_chunk_bytes",
            "max_input_bytes",
            "max_reference_bytes",
            "max_concurrent_jobs",
            "processing_slots",
            "output_chunk_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.cache_max_bytes < 0:
            raise ValueError(f"cache_max_bytes must be 0 or more, got {self.cache_max_bytes}")
        if not (self.max_input_seconds > 0 and self.analysis_timeout_s > 0):
            raise ValueError("max_input_seconds and analysis_timeout_s must be positive")
        if self.max_reference_bytes > self.max_receive_message_bytes - MIB:
            raise ValueError(
                f"max_reference_bytes ({self.max_reference_bytes}) must be at least 1 MiB below "
                f"max_receive_message_bytes ({self.max_receive_message_bytes})"
            )
        if self.drift_window < self.drift_min_samples or self.drift_min_samples < 1:
            raise ValueError("drift_window must be >= drift_min_samples >= 1")
        if self.output_chunk_bytes > self.max_send_message_bytes - MIB:
            raise ValueError("output_chunk_bytes must be at least 1 MiB below the send limit")
