"""`voidline up`: run the gateway and every implemented service on this machine, in the foreground.

Each service is its own process (``python -m services.<name>``), exactly as it would run in a
container, on a free localhost port with its /metrics on another. The gateway is told where each
backend is with ``--backend SERVICE=ADDRESS`` and which key to accept with ``--keys-file``.
`up` waits for every process to answer SERVING on grpc.health.v1, prints how to use it, then
watches the children until Ctrl-C / SIGTERM (clean stop, exit 0) or until one dies (the rest are
stopped, exit 1).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from voidline.cli import state
from voidline.cli.grpc_client import SERVING, check_health

HOST = "127.0.0.1"
DEFAULT_PORT = 50051
START_TIMEOUT_S = 60.0
# Children drain for up to drain_pause_s + grace_s (0.5 + 10 s by default) before they exit.
STOP_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.2
LOG_TAIL_LINES = 15

# The first line of the summary `up` prints once everything is SERVING.
READY_MESSAGE = "voidline is up"


@dataclass(frozen=True)
class BackendSpec:
    """A service behind the gateway: how to start it and which gRPC services it serves."""

    name: str
    module: str
    grpc_services: tuple[str, ...]
    # Extra flags, given the home folder and the addresses of the backends started before it.
    flags: Callable[[Path, Mapping[str, str]], list[str]] = lambda home, addresses: []


def _mastering_flags(home: Path, addresses: Mapping[str, str]) -> list[str]:
    # Before/after reports come from the analysis process; jobs and cache live under home;
    # the model is the registry's current version, which the feedback service updates.
    return [
        f"--analysis-address={addresses['analysis']}",
        f"--data-dir={home / 'mastering'}",
        f"--registry-dir={home / 'registry'}",
    ]


def _feedback_flags(home: Path, addresses: Mapping[str, str]) -> list[str]:
    # Reads the mastering job log, learns into the registry the mastering service follows.
    return [
        f"--data-dir={home / 'feedback'}",
        f"--jobs-db={home / 'mastering' / 'jobs.sqlite3'}",
        f"--registry-dir={home / 'registry'}",
    ]


# The services implemented today, in start order; the gateway routes each gRPC service name
# to its process.
BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec("analysis", "services.analysis", ("voidline.v1.AnalysisService",)),
    BackendSpec(
        "mastering", "services.mastering", ("voidline.v1.MasteringService",), _mastering_flags
    ),
    # Weights come from $VOIDLINE_MODEL_DIR (else ~/.voidline/models); without them: dsp.
    BackendSpec("stems", "services.stems", ("voidline.v1.StemsService",)),
    BackendSpec("feedback", "services.feedback", ("voidline.v1.FeedbackService",), _feedback_flags),
)


@dataclass
class Child:
    """A process `up` started."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    metrics_url: str
    log_path: Path
    started: float

    def record(self) -> state.ServiceRecord:
        return state.ServiceRecord(
            name=self.name,
            address=self.address,
            metrics_url=self.metrics_url,
            pid=self.process.pid,
            started=self.started,
        )


class UpError(Exception):
    """`up` cannot go on; the message says why (and shows a child's last log lines)."""


def free_port(host: str = HOST) -> int:
    """A port the OS says is free now (another process could still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a child's log, indented, for an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "    (no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join("    " + line for line in tail) if tail else "    (log is empty)"


# prctl(2) option: the signal a process gets when its parent dies (Linux only).
_PR_SET_PDEATHSIG = 1


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook that makes a child get SIGTERM if `up` itself dies (even by SIGKILL),
    so no service is left running without the `up` that owns it. None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, in the parent, not after fork

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def describe_exit(code: int) -> str:
    """``exited with code 1`` or ``was killed by SIGKILL`` (Popen gives -N for signal N)."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def spawn(name: str, module: str, args: list[str], logs_dir: Path, port: int) -> Child:
    """Start ``python -m module args`` with stdout and stderr going to ``logs/NAME.log``."""
    metrics_port = free_port()
    log_path = logs_dir / f"{name}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "-m",
        module,
        "--host",
        HOST,
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        *args,
    ]
    with open(log_path, "wb") as log:
        # A session of its own: Ctrl-C in the terminal reaches only `up`, which then stops the
        # children in order instead of every process getting SIGINT at once.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(),
        )
    return Child(
        name=name,
        process=process,
        address=f"{HOST}:{port}",
        metrics_url=f"http://{HOST}:{metrics_port}/metrics",
        log_path=log_path,
        started=time.time(),
    )


def child_failed(child: Child, what: str) -> UpError:
    """The error for a child that failed, with the end of its log (where its traceback is)."""
    return UpError(
        f"{child.name} (pid {child.process.pid}) {what}; "
        f"last lines of {child.log_path}:\n{log_tail(child.log_path)}"
    )


def wait_until_serving(children: list[Child], timeout_s: float, stop: threading.Event) -> None:
    """Return once every child answers SERVING; raise UpError if one exits or is too slow."""
    deadline = time.monotonic() + timeout_s
    waiting = list(children)
    while waiting:
        for child in list(waiting):
            code = child.process.poll()
            if code is not None:
                raise child_failed(child, f"{describe_exit(code)} while starting")
            if check_health(child.address, timeout_s=0.5) == SERVING:
                waiting.remove(child)
        if not waiting or stop.is_set():
            return
        if time.monotonic() > deadline:
            child = waiting[0]
            raise child_failed(child, f"did not report SERVING within {timeout_s:.0f} s")
        stop.wait(POLL_INTERVAL_S)


def stop_child(child: Child, timeout_s: float, stderr: TextIO) -> None:
    """SIGTERM (the services drain and exit 0), then SIGKILL if it takes too long."""
    if child.process.poll() is not None:
        return
    child.process.send_signal(signal.SIGTERM)
    try:
        child.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stderr.write(f"{child.name} (pid {child.process.pid}) ignored SIGTERM; killing it\n")
        child.process.kill()
        child.process.wait()


def stop_all(children: list[Child], timeout_s: float, stderr: TextIO) -> None:
    """Stop the gateway first so in-flight calls drain while their backends still run."""
    for child in sorted(children, key=lambda c: c.name != "gateway"):
        stop_child(child, timeout_s, stderr)


def _summary(children: list[Child], home: Path, key_note: str, default_home: bool) -> str:
    gateway = next(c for c in children if c.name == "gateway")
    width = max(len(c.name) for c in children)
    lines = [f"{READY_MESSAGE}: gateway at {gateway.address}", ""]
    for c in children:
        lines.append(f"  {c.name.ljust(width)}  {c.address:<21}  metrics {c.metrics_url}")
    flags = f" --gateway {gateway.address}" + ("" if default_home else f" --home {home}")
    example = f"voidline analyze song.wav{flags}"
    master_example = f"voidline master song.wav song-master.wav --target streaming{flags}"
    lines += [
        "",
        f"API key: {key_note}",
        f"Logs:    {home / state.LOGS_DIR}/<service>.log",
        "",
        "Try:",
        f"  {example}",
        f"  {master_example}",
        "  voidline status" + ("" if default_home else f" --home {home}"),
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines) + "\n"


def prepare_api_key(home: Path, env: Mapping[str, str]) -> tuple[Path, str]:
    """Write the gateway's keys file for ``$VOIDLINE_API_KEY`` or a new key.

    Returns the keys file and a line telling the user which key to use. A new key is also
    saved in ``home/api_key`` for clients; the environment's key is never written down.
    """
    key = env.get(state.API_KEY_ENV)
    if key:
        # A key file from an earlier run would now be refused: remove it so no client uses it.
        state.remove_api_key_file(home)
        note = f"the one in ${state.API_KEY_ENV}"
    else:
        key = state.new_api_key()
        note = f"{key}  (saved in {state.write_api_key_file(home, key)}, where clients find it)"
    return state.write_gateway_keys(home, key), note


def up(
    *,
    port: int,
    home: Path,
    env: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    start_timeout_s: float = START_TIMEOUT_S,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> int:
    """Run everything until a signal (exit 0) or a child's death or failed start (exit 1)."""
    previous = state.read_state(home)
    if previous is not None and state.pid_alive(previous.up_pid):
        stderr.write(
            f"error: voidline up is already running with this home (pid {previous.up_pid}); "
            f"stop it first or use another --home\n"
        )
        return 1
    if port == 0:
        port = free_port()
    elif not port_is_free(port):
        stderr.write(f"error: port {port} on {HOST} is in use; choose another with --port\n")
        return 1

    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    logs_dir = home / state.LOGS_DIR
    logs_dir.mkdir(exist_ok=True)

    keys_file, key_note = prepare_api_key(home, env)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old_handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: list[Child] = []
    try:
        backend_flags: list[str] = []
        addresses: dict[str, str] = {}
        for spec in BACKENDS:
            flags = spec.flags(home, addresses)
            child = spawn(spec.name, spec.module, flags, logs_dir, free_port())
            children.append(child)
            addresses[spec.name] = child.address
            backend_flags += [f"--backend={svc}={child.address}" for svc in spec.grpc_services]
        children.append(
            spawn(
                "gateway", "gateway", [*backend_flags, f"--keys-file={keys_file}"], logs_dir, port
            )
        )
        stdout.write(f"starting {', '.join(c.name for c in children)} (logs in {logs_dir})\n")
        stdout.flush()
        wait_until_serving(children, start_timeout_s, stop)
        if stop.is_set():
            stdout.write("stopping before everything was up\n")
            return 0

        state.write_state(
            home, state.UpState(up_pid=os.getpid(), services=tuple(c.record() for c in children))
        )
        default_home = home == state.resolve_home(None, env)
        stdout.write(_summary(children, home, key_note, default_home))
        stdout.flush()

        while not stop.wait(POLL_INTERVAL_S):
            for child in children:
                code = child.process.poll()
                if code is not None:
                    raise child_failed(child, f"unexpectedly {describe_exit(code)}")
        stdout.write("stopping...\n")
        stdout.flush()
        return 0
    except UpError as e:
        stderr.write(f"error: {e}\nstopping the other services\n")
        return 1
    finally:
        stop_all(children, stop_timeout_s, stderr)
        state.remove_state(home)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
