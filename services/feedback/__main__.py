"""`python -m services.feedback [--port N] [--jobs-db FILE] [--registry-dir DIR] ...`: run the
feedback service.

Flags and VOIDLINE_FEEDBACK_* environment variables are listed by `--help`. Stand-alone
defaults: gRPC on 127.0.0.1:50055, /metrics on 127.0.0.1:9105, feedback under
~/.voidline/feedback, the mastering job log at ~/.voidline/mastering/jobs.sqlite3, the
registry at ~/.voidline/registry. SIGTERM drains and exits 0.
"""

from __future__ import annotations

from services.common.config import load_settings
from services.common.server import main_entry, run_service
from services.feedback.server import FeedbackRuntime
from services.feedback.settings import (
    STANDALONE_METRICS_PORT,
    STANDALONE_PORT,
    FeedbackServiceSettings,
)

ENV_PREFIX = "VOIDLINE_FEEDBACK_"


def main() -> None:
    settings = load_settings(
        FeedbackServiceSettings,
        ENV_PREFIX,
        port=STANDALONE_PORT,
        metrics_port=STANDALONE_METRICS_PORT,
    )
    service = FeedbackRuntime(settings)
    main_entry(lambda: run_service(service.runtime, on_ready=service.ready))


if __name__ == "__main__":
    main()
