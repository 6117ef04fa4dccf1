"""End to end: a real `voidline up` (gateway, analysis, mastering and stems as separate
processes), then the `voidline status`, `analyze`, `master`, `stems`, `transcribe` and `models`
commands against it, as a user would run them. The stems service gets tiny Demucs and Whisper
models the test builds (no download)."""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
import soundfile as sf

from tests.support.tiny_demucs import install_tiny_bag
from tests.support.tiny_whisper import build_tiny_whisper
from voidline.cli import state
from voidline.cli.up import READY_MESSAGE, free_port

# BS.1770-5: a 1 kHz stereo sine at -23 dBFS peak per channel reads -22.993 LUFS.
EXPECTED_LUFS = -22.993
SAMPLE_RATE = 48_000
TONE_SECONDS = 20.0
START_TIMEOUT_S = 90.0
SERVICES = {"gateway", "analysis", "mastering", "stems", "feedback"}

# (file name, soundfile format, subtype, tolerance in LU): lossy codecs shift the level a little.
FORMATS = [
    ("tone16.wav", "WAV", "PCM_16", 0.1),
    ("tone24.wav", "WAV", "PCM_24", 0.1),
    ("tone.flac", "FLAC", "PCM_24", 0.1),
    ("tone.ogg", "OGG", "VORBIS", 0.5),
    ("tone.mp3", "MP3", "MPEG_LAYER_III", 0.5),
]

JSON_KEYS = {
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "max_momentary_lufs",
    "max_short_term_lufs",
    "plr_db",
    "stereo_correlation",
    "stereo_width",
    "dc_offset",
    "clipping_events",
    "clipping_event_count",
    "voidline_score",
    "sub_scores",
    "features",
    "duration_s",
    "sample_rate",
    "channels",
    "report",
}


def cli_command() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "voidline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "voidline.cli.main"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any VOIDLINE_* setting that could leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIDLINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_tone(path: Path, fmt: str, subtype: str, seconds: float = TONE_SECONDS) -> None:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000.0 * t)
    sf.write(str(path), np.stack([tone, tone], axis=1), SAMPLE_RATE, format=fmt, subtype=subtype)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode("utf-8")


@dataclass
class UpProcess:
    """A running `voidline up` whose output is collected by reader threads."""

    process: subprocess.Popen[str]
    home: Path
    port: int
    stdout_lines: queue.Queue[str]
    stderr_text: list[str]

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = self.stdout_lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith(READY_MESSAGE):
                return
        self.stop()
        raise AssertionError(
            f"voidline up did not get ready; stdout: {seen}; stderr: {''.join(self.stderr_text)}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def _drain(stream: IO[str], sink: Callable[[str], None]) -> None:
    """Read a pipe to its end so the child never blocks on a full pipe."""
    for line in stream:
        sink(line)


def start_up(home: Path, env: dict[str, str]) -> UpProcess:
    port = free_port()
    process = subprocess.Popen(
        [*cli_command(), "up", "--port", str(port), "--home", str(home)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stderr_text: list[str] = []
    assert process.stdout is not None and process.stderr is not None
    threading.Thread(target=_drain, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stderr, stderr_text.append), daemon=True).start()
    up = UpProcess(process, home, port, lines, stderr_text)
    up.wait_ready()
    return up


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tones")
    for name, fmt, subtype, _ in FORMATS:
        write_tone(folder / name, fmt, subtype)
    write_tone(folder / "short.wav", "WAV", "PCM_16", seconds=2.0)
    return {path.name: path for path in folder.iterdir()}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny Demucs (installed as "htdemucs", the default name) and Whisper models."""
    folder = tmp_path_factory.mktemp("models")
    install_tiny_bag(folder, "htdemucs")
    build_tiny_whisper(folder / "whisper" / "tiny-test")
    return folder


@pytest.fixture(scope="module")
def up_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[UpProcess]:
    """`voidline up` with no VOIDLINE_API_KEY: it makes a key of its own."""
    up = start_up(tmp_path_factory.mktemp("home"), clean_env(VOIDLINE_MODEL_DIR=str(model_dir)))
    yield up
    up.stop()


def analyze(up: UpProcess, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # No --gateway and no key: both come from the state dir `voidline up` wrote.
    return run_cli("analyze", str(path), "--home", str(up.home), *extra)


def test_up_creates_a_private_key_and_state(up_server: UpProcess) -> None:
    home = up_server.home
    key = state.read_api_key_file(home)
    assert key is not None and key.startswith(state.API_KEY_PREFIX)
    assert stat.S_IMODE((home / state.API_KEY_FILE).stat().st_mode) == 0o600
    assert key not in (home / state.GATEWAY_KEYS_FILE).read_text()
    up_state = state.read_state(home)
    assert up_state is not None
    assert {s.name for s in up_state.services} == SERVICES
    assert (home / state.LOGS_DIR / "analysis.log").exists()
    assert (home / state.LOGS_DIR / "gateway.log").exists()


def test_status_shows_every_service_serving(up_server: UpProcess) -> None:
    result = run_cli("status", "--json", "--home", str(up_server.home))
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)
    assert {s["name"] for s in services} == SERVICES
    for s in services:
        assert s["health"] == "SERVING"
        assert state.pid_alive(s["pid"])
        assert "# TYPE" in fetch(s["metrics_url"])
    gateway = next(s for s in services if s["name"] == "gateway")
    assert gateway["address"] == up_server.gateway


@pytest.mark.parametrize(("name", "tolerance"), [(f[0], f[3]) for f in FORMATS])
def test_analyze_json(
    up_server: UpProcess, tones: dict[str, Path], name: str, tolerance: float
) -> None:
    result = analyze(up_server, tones[name], "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data.keys() >= JSON_KEYS
    assert data["integrated_lufs"] == pytest.approx(EXPECTED_LUFS, abs=tolerance)
    assert len(data["features"]) == 384
    assert (data["sample_rate"], data["channels"]) == (SAMPLE_RATE, 2)
    assert data["duration_s"] == pytest.approx(TONE_SECONDS, abs=0.2)
    assert data["stereo_correlation"] == pytest.approx(1.0, abs=0.01)
    assert len(data["dc_offset"]) == 2
    assert data["report"]["loudness"]["integrated_lufs"] == data["integrated_lufs"]


def test_analyze_prints_a_readable_report(up_server: UpProcess, tones: dict[str, Path]) -> None:
    result = analyze(up_server, tones["short.wav"], "--chunk-ms", "250")
    assert result.returncode == 0, result.stderr
    assert "LUFS" in result.stdout
    assert "Voidline score" in result.stdout


MASTER_JSON_KEYS = {
    "job_id",
    "target_lufs",
    "ceiling_dbtp",
    "input",
    "output",
    "parameters",
    "model",
    "ab_gain_db",
    "processing_s",
}


def write_mix(path: Path, seconds: float = 8.0) -> None:
    """A beat, a bass line and noise hats: something with tone and dynamics to master."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    beat = np.exp(-(t % 0.5) * 12.0)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * beat
    hats = 0.03 * rng.standard_normal((t.size, 2)) * np.exp(-(t % 0.25) * 30)[:, None]
    sf.write(path, 0.5 * (bass[:, None] + hats), SAMPLE_RATE, subtype="PCM_16")


def test_master_json_writes_the_master(up_server: UpProcess, tmp_path: Path) -> None:
    source, output = tmp_path / "mix.wav", tmp_path / "mix-master.flac"
    write_mix(source)
    result = run_cli(
        "master", str(source), str(output), "--home", str(up_server.home),
        "--target", "podcast", "--style", "warm", "--intensity", "0.7", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data.keys() >= MASTER_JSON_KEYS
    assert (data["target_lufs"], data["ceiling_dbtp"]) == (-16.0, -1.0)
    for side in ("input", "output"):
        assert data[side].keys() >= {"integrated_lufs", "true_peak_dbtp", "loudness_range_lu"}
    assert data["output"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.1)
    assert data["output"]["true_peak_dbtp"] <= -1.0 + 1e-3
    assert len(data["parameters"]) == 32 and len(data["model"]["sha256"]) == 64
    info = sf.info(output)
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_24", SAMPLE_RATE)
    text = run_cli("master", str(source), str(tmp_path / "m.wav"), "--home", str(up_server.home))
    assert text.returncode == 0, text.stderr
    assert "A/B gain" in text.stdout and "LUFS" in text.stdout

    # The same file and settings again: served from the cache, unless --no-cache.
    home = ("--home", str(up_server.home))
    again = run_cli("master", str(source), str(tmp_path / "m2.wav"), *home, "--json")
    fresh = run_cli("master", str(source), str(tmp_path / "m3.wav"), *home, "--json", "--no-cache")
    assert again.returncode == 0 and fresh.returncode == 0, again.stderr + fresh.stderr
    assert json.loads(again.stdout)["cached"] and not json.loads(fresh.stdout)["cached"]
    assert (tmp_path / "m2.wav").read_bytes() == (tmp_path / "m.wav").read_bytes()


def test_stems_writes_one_file_per_stem(up_server: UpProcess, tmp_path: Path) -> None:
    source = tmp_path / "mix.wav"
    write_mix(source, seconds=5.0)
    home = ("--home", str(up_server.home))
    result = run_cli("stems", str(source), str(tmp_path / "all"), *home, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["backend"], data["model"]) == ("demucs", "htdemucs")  # the tiny stand-in
    assert sorted(data["stems"]) == ["bass", "drums", "other", "vocals"]
    for path in data["stems"].values():
        info = sf.info(path)
        assert (info.frames, info.samplerate, info.channels) == (5 * SAMPLE_RATE, SAMPLE_RATE, 2)
    assert not list((tmp_path / "all").glob(".*part"))  # no temporary files left

    picked = run_cli(
        "stems", str(source), str(tmp_path / "dsp"), *home,
        "--backend", "dsp", "--stems", "vocals,drums", "--format", "f32",
    )  # fmt: skip
    assert picked.returncode == 0, picked.stderr
    assert "(dsp)" in picked.stdout and "sum check" in picked.stdout
    assert sorted(p.name for p in (tmp_path / "dsp").iterdir()) == ["drums.wav", "vocals.wav"]

    wrong = run_cli("stems", str(source), str(tmp_path / "x"), *home, "--stems", "guitar")
    assert wrong.returncode == 1 and "no stem guitar" in wrong.stderr


def test_transcribe_prints_timed_segments(up_server: UpProcess, tmp_path: Path) -> None:
    source = tmp_path / "mix.wav"
    write_mix(source, seconds=3.0)
    home = ("--home", str(up_server.home))
    result = run_cli("transcribe", str(source), *home, "--language", "en", "--beam-size", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("language    en") and "model tiny-test" in result.stdout
    as_json = run_cli(
        "transcribe", str(source), *home, "--json", "--words", "--vocals-first", "--beam-size", "1"
    )
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["model"] == "tiny-test" and data["vocals_backend"] == "demucs:htdemucs"
    assert data["duration_s"] == pytest.approx(3.0)
    for segment in data["segments"]:
        assert 0 <= segment["start_s"] <= segment["end_s"] <= 3.0
    missing = run_cli("transcribe", str(source), *home, "--model", "large-v3")
    assert missing.returncode == 1 and "tiny-test" in missing.stderr


def test_models_lists_and_verifies_what_is_installed(model_dir: Path, tmp_path: Path) -> None:
    env = clean_env(VOIDLINE_MODEL_DIR=str(model_dir))
    listed = run_cli("models", "--json", "--verify", env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(m["name"], m["verified"]) for m in data["demucs"]] == [("htdemucs", True)]
    assert [(m["name"], m["usable"]) for m in data["whisper"]] == [("tiny-test", True)]
    text = run_cli("models", "--model-dir", str(tmp_path), env=clean_env())
    assert text.returncode == 0 and "none installed" in text.stdout
    assert "<signature>-<checksum>.th" in text.stdout and "tokenizer.json" in text.stdout

    damaged = tmp_path / "damaged"
    install_tiny_bag(damaged, "htdemucs")
    weight = next((damaged / "demucs").glob("*.th"))
    weight.write_bytes(weight.read_bytes()[:-1] + b"x")
    checked = run_cli("models", "--verify", "--model-dir", str(damaged), env=clean_env())
    assert checked.returncode == 1 and "checksum mismatch" in checked.stdout


def test_feedback_status_and_retrain(up_server: UpProcess, tmp_path: Path) -> None:
    source = tmp_path / "mix.wav"
    write_mix(source, seconds=4.0)
    home = ("--home", str(up_server.home))
    mastered = run_cli("master", str(source), str(tmp_path / "m.wav"), *home, "--json")
    assert mastered.returncode == 0, mastered.stderr
    job_id = json.loads(mastered.stdout)["job_id"]
    other = json.loads(
        run_cli("master", str(source), str(tmp_path / "w.wav"), *home, "--style", "warm",
                "--json", "--no-cache").stdout
    )["job_id"]  # fmt: skip

    rated = run_cli("feedback", job_id, "--rating", "4", "--over", other, *home, "--json")
    assert rated.returncode == 0, rated.stderr
    assert json.loads(rated.stdout)["pending_in_buffer"] >= 1
    again = run_cli("feedback", job_id, "--rating", "2", "--key", "k-1", *home)
    same = run_cli("feedback", job_id, "--rating", "2", "--key", "k-1", *home)
    assert again.returncode == 0 and "stored" in again.stdout
    assert same.returncode == 0 and "already stored" in same.stdout
    unknown = run_cli("feedback", "0" * 32, "--rating", "4", *home)
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    bad = run_cli("feedback", job_id, "--rating", "9", *home)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr

    status = run_cli("models", "status", "--json", *home)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data.keys() >= {"current_version", "feedback_count", "pending_in_buffer", "updates",
                           "versions"}  # fmt: skip
    assert data["feedback_count"] == 2 and data["pending_in_buffer"] == 2
    (seed,) = data["versions"]
    assert seed["state"] == "current" and len(seed["sha256"]) == 64
    assert seed.keys() >= {"version", "state", "created", "validation", "sha256"}

    retrained = run_cli("retrain", "--json", *home)
    assert retrained.returncode == 0, retrained.stderr
    outcome = json.loads(retrained.stdout)
    assert outcome["outcome"] in ("promoted", "rejected") and outcome["items"] >= 2
    after = json.loads(run_cli("models", "status", "--json", *home).stdout)
    assert after["updates"] == 1 and after["pending_in_buffer"] == 0
    assert len(after["versions"]) == 2


def test_master_bad_flags_fail_clearly(up_server: UpProcess, tmp_path: Path) -> None:
    source = tmp_path / "mix.wav"
    write_mix(source, seconds=2.0)
    home = ("--home", str(up_server.home))
    remote = run_cli("master", str(source), str(tmp_path / "o.wav"), *home, "--target", "loud")
    assert remote.returncode == 1 and "unknown target" in remote.stderr
    assert not (tmp_path / "o.wav").exists()
    local = run_cli("master", str(source), str(tmp_path / "o.wav"), *home, "--style", "vintage")
    assert local.returncode == 2 and "unknown --style" in local.stderr


def test_wrong_api_key_is_unauthenticated(up_server: UpProcess, tones: dict[str, Path]) -> None:
    result = analyze(up_server, tones["short.wav"], "--api-key", "vl_wrong")
    assert result.returncode == 1
    assert "UNAUTHENTICATED" in result.stderr


def test_missing_file_is_a_local_error(up_server: UpProcess, tmp_path: Path) -> None:
    result = analyze(up_server, tmp_path / "nothing.wav")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_metrics_count_the_analysis_calls(up_server: UpProcess, tones: dict[str, Path]) -> None:
    assert analyze(up_server, tones["short.wav"], "--json").returncode == 0
    up_state = state.read_state(up_server.home)
    assert up_state is not None
    for service in up_state.services:
        if service.name not in ("gateway", "analysis"):
            continue  # other services do not serve AnalysisService
        handled = [
            line
            for line in fetch(service.metrics_url).splitlines()
            if line.startswith("grpc_server_handled_total{")
            and 'grpc_service="voidline.v1.AnalysisService"' in line
            and 'grpc_code="OK"' in line
        ]
        assert handled, f"{service.name} has no handled AnalysisService calls"
        assert float(handled[0].rsplit(" ", 1)[1]) >= 1


def test_env_key_is_used_and_sigterm_stops_everything(
    tmp_path: Path, tones: dict[str, Path]
) -> None:
    key = "vl_from_the_environment"
    up = start_up(tmp_path / "home", clean_env(VOIDLINE_API_KEY=key))
    try:
        assert state.read_api_key_file(up.home) is None  # the env key is never written down
        up_state = state.read_state(up.home)
        assert up_state is not None
        pids = [s.pid for s in up_state.services]
        ok = run_cli(
            "analyze",
            str(tones["short.wav"]),
            "--gateway",
            up.gateway,
            "--json",
            env=clean_env(VOIDLINE_API_KEY=key),
        )
        assert ok.returncode == 0, ok.stderr
        # No key anywhere (an empty home, no env): the gateway refuses the call.
        refused = run_cli(
            "analyze",
            str(tones["short.wav"]),
            "--gateway",
            up.gateway,
            env=clean_env(VOIDLINE_HOME=str(tmp_path / "empty")),
        )
        assert refused.returncode == 1
        assert "UNAUTHENTICATED" in refused.stderr
    finally:
        code = up.stop(signal.SIGTERM)
    assert code == 0, "".join(up.stderr_text)
    assert not any(state.pid_alive(pid) for pid in pids)
    assert state.read_state(up.home) is None


def test_a_dying_service_stops_up_with_an_error(tmp_path: Path) -> None:
    up = start_up(tmp_path / "home", clean_env())
    up_state = state.read_state(up.home)
    assert up_state is not None
    pids = {s.name: s.pid for s in up_state.services}
    os.kill(pids["analysis"], signal.SIGKILL)
    try:
        code = up.process.wait(timeout=30)
    finally:
        up.stop()
    assert code == 1
    stderr = "".join(up.stderr_text)
    assert "analysis" in stderr and "SIGKILL" in stderr
    assert not state.pid_alive(pids["gateway"])
    assert state.read_state(up.home) is None


def test_ctrl_c_stops_up_cleanly(up_server: UpProcess) -> None:
    # Runs last: it ends the module's shared `voidline up`.
    up_state = state.read_state(up_server.home)
    assert up_state is not None
    assert up_server.stop(signal.SIGINT) == 0, "".join(up_server.stderr_text)
    assert not any(state.pid_alive(s.pid) for s in up_state.services)
    assert state.read_state(up_server.home) is None
