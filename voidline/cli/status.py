"""`voidline status`: each service's address, metrics URL and live grpc.health.v1 answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from voidline.cli import state
from voidline.cli.grpc_client import SERVING, check_health

HEALTH_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    metrics_url: str | None
    health: str
    pid: int | None  # set for processes `voidline up` started

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "address": self.address,
            "metrics_url": self.metrics_url,
            "health": self.health,
        }
        if self.pid is not None:
            data["pid"] = self.pid
        return data


def collect(
    home: Path,
    gateway_flag: str | None,
    env: Mapping[str, str],
    timeout_s: float = HEALTH_TIMEOUT_S,
) -> list[ServiceStatus]:
    """The services `voidline up` recorded, or just the gateway when nothing is recorded."""
    up = state.read_state(home)
    targets: list[tuple[str, str, str | None, int | None]]
    if up is None:
        targets = [("gateway", state.resolve_gateway(gateway_flag, env, home), None, None)]
    else:
        targets = [(s.name, s.address, s.metrics_url, s.pid) for s in up.services]
    # Ask every service at once so a few unreachable ones cost one timeout, not several.
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        healths = list(pool.map(lambda t: check_health(t[1], timeout_s), targets))
    return [
        ServiceStatus(name=name, address=address, metrics_url=metrics, health=health, pid=pid)
        for (name, address, metrics, pid), health in zip(targets, healths, strict=True)
    ]


def render_table(services: list[ServiceStatus]) -> str:
    header = ("SERVICE", "ADDRESS", "HEALTH", "PID", "METRICS")
    rows = [
        (
            s.name,
            s.address,
            s.health,
            str(s.pid) if s.pid is not None else "-",
            s.metrics_url or "-",
        )
        for s in services
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in [header, *rows]
    )


def status(
    home: Path, gateway_flag: str | None, as_json: bool, env: Mapping[str, str], stdout: TextIO
) -> int:
    """Print the status; exit 0 when every service is SERVING, 1 otherwise (handy in scripts)."""
    services = collect(home, gateway_flag, env)
    if as_json:
        stdout.write(json.dumps([s.to_json() for s in services], indent=2) + "\n")
    else:
        stdout.write(render_table(services))
        up = state.read_state(home)
        if up is not None and not state.pid_alive(up.up_pid):
            stdout.write(
                f"note: the `voidline up` that started these (pid {up.up_pid}) is not running; "
                f"{home / state.STATE_FILE} is left over from it\n"
            )
    return 0 if all(s.health == SERVING for s in services) else 1
