"""`python -m services.analysis [--port N] [--metrics-port M] ...`: run the analysis service.

Flags and VOIDLINE_ANALYSIS_* environment variables are listed by `--help`. Stand-alone
defaults: gRPC on 127.0.0.1:50052, /metrics on 127.0.0.1:9102. SIGTERM drains and exits 0.
"""

from __future__ import annotations

from services.analysis.server import build_runtime
from services.analysis.settings import STANDALONE_METRICS_PORT, STANDALONE_PORT, AnalysisSettings
from services.common.config import load_settings
from services.common.server import main_entry, run_service
from voidline import memory

ENV_PREFIX = "VOIDLINE_ANALYSIS_"


def main() -> None:
    memory.configure()  # no huge-page stalls; freed arrays kept on request (voidline.memory)
    settings = load_settings(
        AnalysisSettings,
        ENV_PREFIX,
        port=STANDALONE_PORT,
        metrics_port=STANDALONE_METRICS_PORT,
    )
    runtime = build_runtime(settings)
    main_entry(lambda: run_service(runtime))


if __name__ == "__main__":
    main()
