"""Settings of the gateway: the shared server settings plus routing, keys, limits and health.

Every field can be set by flag or by an environment variable with the prefix
`VOIDLINE_GATEWAY_` (gateway/README.md has the table). `port` and `metrics_port` keep the
shared default 0 (the OS picks) in the dataclass, because `voidline up` and the tests assign
ports; `python -m gateway` passes the stand-alone defaults below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.common.config import ServerSettings

ENV_PREFIX = "VOIDLINE_GATEWAY_"
STANDALONE_PORT = 50051
STANDALONE_METRICS_PORT = 9101

# SERVICE=HOST:PORT, the host possibly a bracketed IPv6 address.
_BACKEND = re.compile(
    r"(?P<service>[A-Za-z_][\w.]*)=(?P<address>(\[[0-9A-Fa-f:.]+\]|[^\s:=]+):\d{1,5})"
)


def parse_backend(entry: str) -> tuple[str, str]:
    """'voidline.v1.AnalysisService=127.0.0.1:50052' -> (service, address)."""
    match = _BACKEND.fullmatch(entry.strip())
    if match is None:
        raise ValueError(
            f"backend {entry!r} is not SERVICE=HOST:PORT "
            "(e.g. voidline.v1.AnalysisService=127.0.0.1:50052)"
        )
    return match["service"], match["address"]


@dataclass(frozen=True)
class GatewaySettings(ServerSettings):
    """Settings of the gateway, the one public endpoint of Voidline."""

    backends: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "where a service's calls go, SERVICE=HOST:PORT (repeat the flag); "
            "SERVICE is a full name such as voidline.v1.AnalysisService",
            "flags": ("--backend",),
        },
    )
    keys_file: str = field(
        default="",
        metadata={"help": 'JSON API keys file: {"keys": [{"id", "sha256", "scopes", ...}]}'},
    )
    allow_unauthenticated: bool = field(
        default=False,
        metadata={"help": "start without any API key configured and let every call in"},
    )
    rate_limit_per_minute: float = field(
        default=600.0,
        metadata={"help": "calls per minute per key, for keys that do not set their own"},
    )
    health_interval_s: float = field(
        default=1.0, metadata={"help": "seconds between polls of each backend's health"}
    )
    health_timeout_s: float = field(
        default=1.0, metadata={"help": "deadline of one backend health check, seconds"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        services = [parse_backend(entry)[0] for entry in self.backends]
        duplicates = sorted({s for s in services if services.count(s) > 1})
        if duplicates:
            raise ValueError(f"more than one backend for {', '.join(duplicates)}")
        if not self.rate_limit_per_minute > 0:
            raise ValueError(
                f"rate_limit_per_minute must be positive, got {self.rate_limit_per_minute}"
            )
        if not self.health_interval_s > 0 or not self.health_timeout_s > 0:
            raise ValueError("health_interval_s and health_timeout_s must be positive")
