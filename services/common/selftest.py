"""A tiny service for checking the runtime from outside: `python -m services.common.selftest`.

It serves `voidline.selftest.Ticker/Tick`, a server stream of raw bytes: the request is
b"COUNT INTERVAL_S" and the response is COUNT messages b"tick I", INTERVAL_S seconds apart.
Used by the SIGTERM test (a stream in flight must finish before the process exits 0) and
handy for trying a deployment's health checks and /metrics without loading any model.
Settings as every service (`--help`), env prefix VOIDLINE_SELFTEST_.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import grpc.aio

from services.common.config import ServerSettings, load_settings
from services.common.server import ServiceRuntime, main_entry, run_service
from voidline.errors import InvalidInputError

SERVICE_NAME = "voidline.selftest.Ticker"
MAX_TICKS = 10_000


async def tick(
    request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    """Stream COUNT ticks, INTERVAL_S apart."""
    try:
        count_text, interval_text = request.decode("ascii").split()
        count, interval_s = int(count_text), float(interval_text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError('request must be b"COUNT INTERVAL_S", e.g. b"5 0.1"') from exc
    if not 0 <= count <= MAX_TICKS or not 0 <= interval_s <= 60:
        raise InvalidInputError(f"COUNT must be 0 to {MAX_TICKS} and INTERVAL_S 0 to 60")
    for i in range(count):
        if i:
            await asyncio.sleep(interval_s)
        yield f"tick {i}".encode("ascii")


def register(server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(
        SERVICE_NAME, {"Tick": grpc.unary_stream_rpc_method_handler(tick)}
    )
    server.add_generic_rpc_handlers((handler,))


async def main() -> int:
    settings = load_settings(ServerSettings, "VOIDLINE_SELFTEST_")
    runtime = ServiceRuntime(
        settings, name="selftest", service_names=[SERVICE_NAME], register=register
    )
    return await run_service(runtime)


if __name__ == "__main__":
    main_entry(main)
