"""`python -m services.stems [--port N] [--model-dir DIR] ...`: run the stems service.

Flags and VOIDLINE_STEMS_* environment variables are listed by `--help`. Stand-alone
defaults: gRPC on 127.0.0.1:50054, /metrics on 127.0.0.1:9104, models from
$VOIDLINE_MODEL_DIR or ~/.voidline/models. SIGTERM drains and exits 0.
"""

from __future__ import annotations

import os

# Never reach a model hub: weights come only from the local model folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from services.common.config import load_settings
from services.common.server import main_entry, run_service
from services.stems.server import StemsRuntime
from services.stems.settings import (
    STANDALONE_METRICS_PORT,
    STANDALONE_PORT,
    StemsServiceSettings,
)
from voidline import memory

ENV_PREFIX = "VOIDLINE_STEMS_"


def main() -> None:
    memory.configure()  # no huge-page stalls; freed arrays kept on request (voidline.memory)
    settings = load_settings(
        StemsServiceSettings, ENV_PREFIX, port=STANDALONE_PORT, metrics_port=STANDALONE_METRICS_PORT
    )
    service = StemsRuntime(settings)
    main_entry(lambda: run_service(service.runtime, on_ready=service.ready))


if __name__ == "__main__":
    main()
