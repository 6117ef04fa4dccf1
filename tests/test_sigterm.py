"""A real server process drains on SIGTERM: the stream in flight completes, the exit code is 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parent.parent


def test_sigterm_lets_the_stream_in_flight_finish() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.common.selftest",
            "--port=0",
            "--metrics-port=-1",
            "--drain-pause-s=0.1",
            "--grace-s=60",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        # The one "serving" line tells where it listens.
        lines: list[str] = []
        address = None
        for line in process.stderr:
            lines.append(line)
            entry = json.loads(line)
            if entry["message"] == "serving":
                address = entry["address"]
                break
        assert address is not None, "".join(lines)
        # Keep reading the logs so the process never blocks on a full pipe.
        threading.Thread(target=lines.extend, args=(process.stderr,), daemon=True).start()

        with grpc.insecure_channel(address) as plain_channel:
            channel: Any = plain_channel  # grpc-stubs want serializers; this method is bytes
            ticks = channel.unary_stream("/voidline.selftest.Ticker/Tick")(b"5 0.1", timeout=60)
            assert next(ticks) == b"tick 0"
            process.send_signal(signal.SIGTERM)
            assert list(ticks) == [b"tick 1", b"tick 2", b"tick 3", b"tick 4"]
            assert ticks.code() == grpc.StatusCode.OK
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
