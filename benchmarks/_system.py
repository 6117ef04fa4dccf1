"""A `voidline up` for benchmarks: the gateway and every service as separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from _music import ROOT


class VoidlineUp:
    """A `voidline up` in a scratch home, with optional extra environment (VOIDLINE_MODEL_DIR)."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**os.environ, "VOIDLINE_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        self.env.pop("VOIDLINE_API_KEY", None)
        self.env.update(extra_env or {})
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "voidline"), "up", "--port", "0"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends early only if the process exits
            if "gateway at" in line:
                return
        raise RuntimeError(f"voidline up exited {self.process.wait()}; see {home / 'logs'}")

    def _state(self) -> dict[str, object]:
        state: dict[str, object] = json.loads((self.home / "state.json").read_text())
        return state

    def pid(self, service: str) -> int:
        services = self._state()["services"]
        assert isinstance(services, list)
        return int(next(s["pid"] for s in services if s["name"] == service))

    def address(self, service: str = "gateway") -> str:
        services = self._state()["services"]
        assert isinstance(services, list)
        return str(next(s["address"] for s in services if s["name"] == service))

    def api_key(self) -> str:
        return (self.home / "api_key").read_text().strip()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
