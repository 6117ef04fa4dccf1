"""`python -m gateway [--port N] [--metrics-port M] [--backend SERVICE=HOST:PORT ...]
[--keys-file PATH]`: run the gateway.

Flags and VOIDLINE_GATEWAY_* environment variables are listed by `--help` (and in
gateway/README.md). Stand-alone defaults: gRPC on 127.0.0.1:50051, /metrics on
127.0.0.1:9101. SIGTERM drains and exits 0; a configuration it cannot serve exits 2.
"""

from __future__ import annotations

import os
import sys

from gateway.auth import KeyFileError
from gateway.server import Gateway, load_keys, serve
from gateway.settings import (
    ENV_PREFIX,
    STANDALONE_METRICS_PORT,
    STANDALONE_PORT,
    GatewaySettings,
)
from services.common.config import load_settings
from services.common.server import main_entry


def main() -> None:
    settings = load_settings(
        GatewaySettings, ENV_PREFIX, port=STANDALONE_PORT, metrics_port=STANDALONE_METRICS_PORT
    )
    try:
        gateway = Gateway(settings, load_keys(settings, os.environ))
    except (KeyFileError, ValueError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        sys.exit(2)
    main_entry(lambda: serve(gateway))


if __name__ == "__main__":
    main()
