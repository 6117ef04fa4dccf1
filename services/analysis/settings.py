"""Settings of the analysis service: the shared server settings plus its own limits.

Every field can be set by flag (`--max-chunk-bytes`) or environment variable
(`VOIDLINE_ANALYSIS_MAX_CHUNK_BYTES`); services/analysis/README.md has the table.

`port` and `metrics_port` keep the shared default 0 (the OS picks) in the dataclass, because
`voidline up` and the tests assign ports themselves; `python -m services.analysis` passes the
stand-alone defaults `STANDALONE_PORT` and `STANDALONE_METRICS_PORT` to `load_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import ServerSettings

STANDALONE_PORT = 50052
STANDALONE_METRICS_PORT = 9102

MIB = 1024 * 1024


@dataclass(frozen=True)
class AnalysisSettings(ServerSettings):
    """Settings of the analysis service (voidline.v1.AnalysisService)."""

    # About 100 ms per message is what clients should send (19 KB of 48 kHz stereo s16).
    max_chunk_bytes: int = field(
        default=4 * MIB,
        metadata={"help": "largest audio payload of one StreamAnalyze message, bytes"},
    )
    max_file_bytes: int = field(
        default=64 * MIB,
        metadata={"help": "largest whole file: Analyze data or a stream's container bytes"},
    )
    max_stream_seconds: float = field(
        default=6 * 3600.0,
        metadata={"help": "longest audio one call may analyse, seconds"},
    )
    max_concurrent_streams: int = field(
        default=16,
        metadata={"help": "StreamAnalyze calls in flight at once; more are refused"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_chunk_bytes", "max_file_bytes", "max_concurrent_streams"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.max_stream_seconds > 0:
            raise ValueError(f"max_stream_seconds must be positive, got {self.max_stream_seconds}")
        # Analyze carries the whole file in one message, so it must fit under the gRPC limit
        # (the 1 MiB margin is room for the config and protobuf framing).
        if self.max_file_bytes > self.max_receive_message_bytes - MIB:
            raise ValueError(
                f"max_file_bytes ({self.max_file_bytes}) must be at least 1 MiB below "
                f"max_receive_message_bytes ({self.max_receive_message_bytes})"
            )
