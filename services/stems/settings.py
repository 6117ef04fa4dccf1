"""Settings of the stems service: the shared server settings plus its own.

Every field can be set by flag (`--model-dir`) or environment variable
(`VOIDLINE_STEMS_MODEL_DIR`); services/stems/README.md has the table. The model folder also
follows `VOIDLINE_MODEL_DIR`, the variable every Voidline tool reads for local weights.
Without any weights installed the service still separates, with the DSP backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import ServerSettings
from voidline.stems.model_folder import default_model_dir

STANDALONE_PORT = 50054
STANDALONE_METRICS_PORT = 9104
MIB = 1024 * 1024


@dataclass(frozen=True)
class StemsServiceSettings(ServerSettings):
    """Settings of the stems service (voidline.v1.StemsService)."""

    model_dir: str = field(
        default_factory=lambda: str(default_model_dir()),
        metadata={"help": "model folder: demucs/ (bags and .th weights) and whisper/<name>"},
    )
    default_separation_model: str = field(
        default="htdemucs", metadata={"help": "demucs model when a request names none"}
    )
    default_transcription_model: str = field(
        default="",
        metadata={"help": "whisper model when a request names none; empty: the first installed"},
    )
    torch_threads: int = field(
        default=1,
        metadata={"help": "torch intra-op threads (one was faster than two on 2 cores)"},
    )
    whisper_cpu_threads: int = field(
        default=2, metadata={"help": "CTranslate2 threads per transcription"}
    )
    max_chunk_bytes: int = field(
        default=4 * MIB, metadata={"help": "largest audio payload of one message, bytes"}
    )
    max_input_bytes: int = field(
        default=512 * MIB, metadata={"help": "largest container file one call may send, bytes"}
    )
    max_input_seconds: float = field(
        default=1800.0, metadata={"help": "longest input one call may send, seconds"}
    )
    max_concurrent_jobs: int = field(
        default=4, metadata={"help": "Separate/Transcribe calls in flight; more are refused"}
    )
    processing_slots: int = field(
        default=1,
        metadata={"help": "calls computing at once (CPU-bound); others wait segment by segment"},
    )
    output_chunk_bytes: int = field(
        default=256 * 1024, metadata={"help": "bytes of stem audio per response message"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in (
            "torch_threads",
            "whisper_cpu_threads",
            "max_chunk_bytes",
            "max_input_bytes",
            "max_concurrent_jobs",
            "processing_slots",
            "output_chunk_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.max_input_seconds > 0:
            raise ValueError("max_input_seconds must be positive")
        if self.output_chunk_bytes > self.max_send_message_bytes - MIB:
            raise ValueError("output_chunk_bytes must be at least 1 MiB below the send limit")
