"""`python -m services.mastering [--port N] [--analysis-address HOST:PORT] ...`: run the
mastering service.

Flags and VOIDLINE_MASTERING_* environment variables are listed by `--help`. Stand-alone
defaults: gRPC on 127.0.0.1:50053, /metrics on 127.0.0.1:9103, the analysis meters in
process, data under ~/.voidline/mastering. SIGTERM drains and exits 0.
"""

from __future__ import annotations

from services.common.config import load_settings
from services.common.server import main_entry, run_service
from services.mastering.server import MasteringRuntime
from services.mastering.settings import (
    STANDALONE_METRICS_PORT,
    STANDALONE_PORT,
    MasteringServiceSettings,
)
from voidline import memory

ENV_PREFIX = "VOIDLINE_MASTERING_"


def main() -> None:
    memory.configure()  # no huge-page stalls; freed arrays kept on request (voidline.memory)
    settings = load_settings(
        MasteringServiceSettings,
        ENV_PREFIX,
        port=STANDALONE_PORT,
        metrics_port=STANDALONE_METRICS_PORT,
    )
    service = MasteringRuntime(settings)
    main_entry(lambda: run_service(service.runtime, on_ready=service.ready))


if __name__ == "__main__":
    main()
