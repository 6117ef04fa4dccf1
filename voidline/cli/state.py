"""The CLI's state directory and how clients find the gateway and the API key.

`voidline up` writes three files into the state directory (``--home``, ``$VOIDLINE_HOME`` or
``~/.voidline``):

- ``api_key``: the key it created, mode 0600, for clients on this machine;
- ``gateway_keys.json``: the same key hashed (SHA-256), which is what the gateway reads;
- ``state.json``: the processes it started, removed again when it stops.

Every lookup takes the environment as an argument so the resolution order can be tested without
touching ``os.environ``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HOME_ENV = "VOIDLINE_HOME"
API_KEY_ENV = "VOIDLINE_API_KEY"
GATEWAY_ENV = "VOIDLINE_GATEWAY"
DEFAULT_GATEWAY = "localhost:50051"
API_KEY_PREFIX = "vl_"

API_KEY_FILE = "api_key"
GATEWAY_KEYS_FILE = "gateway_keys.json"
STATE_FILE = "state.json"
LOGS_DIR = "logs"

# The one local key may do everything; the rate limit only guards against runaway scripts.
LOCAL_KEY_ID = "local"
LOCAL_KEY_CALLS_PER_MINUTE = 6000


def resolve_home(flag: str | None, env: Mapping[str, str]) -> Path:
    """The state directory: ``--home``, then ``$VOIDLINE_HOME``, then ``~/.voidline``."""
    if flag:
        return Path(flag).expanduser()
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser()
    return Path.home() / ".voidline"


def resolve_api_key(flag: str | None, env: Mapping[str, str], home: Path) -> str | None:
    """The key a client sends: ``--api-key``, then ``$VOIDLINE_API_KEY``, then the key file.

    None when there is none anywhere; the gateway then answers UNAUTHENTICATED, which says more
    than a local guess would.
    """
    if flag:
        return flag
    if env.get(API_KEY_ENV):
        return env[API_KEY_ENV]
    return read_api_key_file(home)


def resolve_gateway(flag: str | None, env: Mapping[str, str], home: Path) -> str:
    """The gateway address: ``--gateway``, ``$VOIDLINE_GATEWAY``, the running `voidline up`,
    else ``localhost:50051``."""
    if flag:
        return flag
    if env.get(GATEWAY_ENV):
        return env[GATEWAY_ENV]
    state = read_state(home)
    if state is not None:
        for service in state.services:
            if service.name == "gateway":
                return service.address
    return DEFAULT_GATEWAY


@dataclass(frozen=True)
class Connection:
    """Where a command calls and with which key."""

    gateway: str
    api_key: str | None


def resolve_connection(
    gateway: str | None, api_key: str | None, home: str | None, env: Mapping[str, str]
) -> Connection:
    """The gateway and API key from a command's flags, the environment and `voidline up`."""
    home_dir = resolve_home(home, env)
    return Connection(
        resolve_gateway(gateway, env, home_dir), resolve_api_key(api_key, env, home_dir)
    )


def new_api_key() -> str:
    """A fresh random key; the prefix makes a leaked key easy to recognise in a scan."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def read_api_key_file(home: Path) -> str | None:
    try:
        key = (home / API_KEY_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return key or None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file left over from a crash
    os.replace(tmp, path)


def write_api_key_file(home: Path, key: str) -> Path:
    path = home / API_KEY_FILE
    _write_private(path, key + "\n")
    return path


def remove_api_key_file(home: Path) -> None:
    (home / API_KEY_FILE).unlink(missing_ok=True)


def write_gateway_keys(home: Path, key: str) -> Path:
    """The gateway's key file: only the SHA-256 of the key, never the key itself."""
    entry = {
        "id": LOCAL_KEY_ID,
        "sha256": hashlib.sha256(key.encode("utf-8")).hexdigest(),
        "scopes": ["*"],
        "calls_per_minute": LOCAL_KEY_CALLS_PER_MINUTE,
    }
    path = home / GATEWAY_KEYS_FILE
    _write_private(path, json.dumps({"keys": [entry]}, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class ServiceRecord:
    """One process `voidline up` started."""

    name: str
    address: str
    metrics_url: str
    pid: int
    started: float  # Unix time


@dataclass(frozen=True)
class UpState:
    """What state.json holds while `voidline up` runs."""

    up_pid: int
    services: tuple[ServiceRecord, ...]


def write_state(home: Path, state: UpState) -> Path:
    data: dict[str, Any] = {
        "up_pid": state.up_pid,
        "services": [asdict(s) for s in state.services],
    }
    path = home / STATE_FILE
    _write_private(path, json.dumps(data, indent=2) + "\n")
    return path


def read_state(home: Path) -> UpState | None:
    """The state file, or None when there is none or it cannot be understood."""
    try:
        data = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
        services = tuple(
            ServiceRecord(
                name=str(s["name"]),
                address=str(s["address"]),
                metrics_url=str(s["metrics_url"]),
                pid=int(s["pid"]),
                started=float(s["started"]),
            )
            for s in data["services"]
        )
        return UpState(up_pid=int(data["up_pid"]), services=services)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_state(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True
