"""Analysis speed and memory against libebur128, pyloudnorm and ffmpeg, in one run.

    .venv/bin/python benchmarks/analysis.py [--repeats 5] [--seconds 180] [--no-gateway]

Signals: a 3-minute synthetic stereo 48 kHz programme (made here, deterministic) and one real
recording from Debian's `nexuiz-music` package (fetched with `apt-get download` into
benchmarks/.cache on first use; skipped when that fails). Every contender runs in its own worker
process, so its peak RSS is its own; times are medians over --repeats runs, measured around the
analysis only (decoding and start-up excluded, except for ffmpeg, which is timed as a process).

Contenders:
- voidline full: StreamingAnalyzer, everything in the analysis report (loudness, LRA, true
  peak, dynamics, stereo, clipping, spectrum, 384 features, score), pushed in 100 ms chunks.
- voidline I+LRA+TP: the loudness and true-peak meters only (the work libebur128 does).
- libebur128 (pyebur128): integrated + LRA + true peak, the whole signal in one call.
- pyloudnorm: integrated + LRA.
- ffmpeg ebur128 filter with true peak (when Debian's ffmpeg is installed), process wall time.
- voidline via gateway: StreamAnalyze through a real gateway and analysis service over
  loopback gRPC in 100 ms chunks of 16-bit PCM, first message to final report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
from _music import machine, music_archive, peak_rss_mb
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
REAL_TRACK = "sound/cdtracks/brainsukker.ogg"
CHUNK_S = 0.1


# --- signals ----------------------------------------------------------------------------------


def synthetic_programme(seconds: float, fs: int = 48000) -> NDArray[np.float32]:
    """A deterministic music-like stereo signal: chords, a bass line, noise hats, dynamics."""
    rng = np.random.default_rng(2026)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    beat = (t * 2.0) % 1.0  # 120 bpm
    envelope = np.exp(-6.0 * beat)
    chords = sum(
        np.sin(2 * np.pi * f * t + p) for f, p in ((220.0, 0.0), (277.2, 1.0), (329.6, 2.0))
    )
    bass = np.sin(2 * np.pi * 55.0 * t) * (0.6 + 0.4 * envelope)
    hats = rng.standard_normal(n) * np.exp(-40.0 * ((t * 4.0) % 1.0))
    sections = 0.5 + 0.5 * np.sin(2 * np.pi * t / 40.0) ** 2  # slow loudness changes
    left = sections * (0.12 * chords + 0.3 * bass + 0.05 * hats)
    right = sections * (0.10 * chords + 0.3 * bass + 0.07 * np.roll(hats, 37))
    return np.stack([left, right], axis=1).astype(np.float32)


def real_recording() -> Path | None:
    """A track from Debian's nexuiz-music (GPL-2+ game music), cached; None if unavailable."""
    target = CACHE / Path(REAL_TRACK).name
    if target.exists():
        return target
    archive = music_archive()
    if archive is None:
        print("real recording unavailable; benchmarking the synthetic signal only")
        return None
    with zipfile.ZipFile(archive) as bundle:
        target.write_bytes(bundle.read(REAL_TRACK))
    return target


# --- workers (each runs in its own process) ---------------------------------------------------


def chunks(x: NDArray[np.floating], fs: int) -> Iterator[NDArray[np.floating]]:
    step = round(CHUNK_S * fs)
    for start in range(0, x.shape[0], step):
        yield x[start : start + step]


def run_voidline_full(x: NDArray[np.float32], fs: int) -> Callable[[], object]:
    from voidline.analysis.analyzer import StreamingAnalyzer
    from voidline.audio.format import AudioFormat

    def run() -> object:
        analyzer = StreamingAnalyzer(AudioFormat(fs, x.shape[1]))
        for chunk in chunks(x, fs):
            analyzer.push(chunk)
        return analyzer.finish().loudness.integrated_lufs

    return run


def run_voidline_loudness(x: NDArray[np.float32], fs: int) -> Callable[[], object]:
    from voidline.analysis.loudness import LoudnessMeter
    from voidline.analysis.truepeak import TruePeakMeter
    from voidline.audio.format import AudioFormat

    def run() -> object:
        loudness = LoudnessMeter(AudioFormat(fs, x.shape[1]))
        peaks = TruePeakMeter(fs, x.shape[1])
        for chunk in chunks(x, fs):
            frames = chunk.astype(np.float64)
            loudness.push(frames)
            peaks.push(frames)
        peaks.flush()
        return loudness.integrated()[0], loudness.loudness_range()[0], max(peaks.true_peak_dbtp())

    return run


def run_libebur128(x: NDArray[np.float32], fs: int) -> Callable[[], object]:
    import pyebur128

    mode = (
        pyebur128.MeasurementMode.MODE_I
        | pyebur128.MeasurementMode.MODE_LRA
        | pyebur128.MeasurementMode.MODE_TRUE_PEAK
    )
    flat = np.ascontiguousarray(x).ravel()

    def run() -> object:
        state = pyebur128.R128State(x.shape[1], fs, mode)
        state.add_frames(flat, x.shape[0])
        peaks = [pyebur128.get_true_peak(state, c) for c in range(x.shape[1])]
        return pyebur128.get_loudness_global(state), pyebur128.get_loudness_range(state), peaks

    return run


def run_pyloudnorm(x: NDArray[np.float32], fs: int) -> Callable[[], object]:
    import pyloudnorm

    data = x.astype(np.float64)

    def run() -> object:
        meter = pyloudnorm.Meter(fs)
        return meter.integrated_loudness(data), meter.loudness_range(data)

    return run


def run_ffmpeg(x: NDArray[np.float32], fs: int, wav: Path) -> Callable[[], object]:
    def run() -> object:
        command = ["ffmpeg", "-nostats", "-hide_banner", "-i", str(wav)]
        command += ["-filter_complex", "ebur128=peak=true", "-f", "null", "-"]
        return subprocess.run(command, check=True, capture_output=True).returncode

    return run


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used so far (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_gateway(x: NDArray[np.float32], fs: int, record: dict[str, float]) -> Callable[[], object]:
    """Start a real analysis service and gateway, stream through the gateway."""
    import atexit

    import grpc

    from voidline.v1 import analysis_pb2, analysis_pb2_grpc, audio_pb2

    key = "vl_benchmark_key"
    analysis_port, gateway_port = free_port(), free_port()
    env = {**os.environ, "VOIDLINE_API_KEY": key}
    python = sys.executable
    analysis = subprocess.Popen(
        [python, "-m", "services.analysis", "--port", str(analysis_port), "--metrics-port", "-1"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    gateway = subprocess.Popen(
        [
            python,
            "-m",
            "gateway",
            "--port",
            str(gateway_port),
            "--metrics-port",
            "-1",
            "--backend",
            f"voidline.v1.AnalysisService=127.0.0.1:{analysis_port}",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        for process in (gateway, analysis):
            process.terminate()
            process.wait(timeout=30)

    atexit.register(stop)
    channel = grpc.insecure_channel(
        f"127.0.0.1:{gateway_port}", options=[("grpc.max_receive_message_length", 64 << 20)]
    )
    grpc.channel_ready_future(channel).result(timeout=60)
    stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    step = round(CHUNK_S * fs)
    payloads = [pcm[s : s + step].tobytes() for s in range(0, pcm.shape[0], step)]
    config = analysis_pb2.AnalysisConfig(
        format=audio_pb2.AudioFormat(
            encoding=audio_pb2.SAMPLE_ENCODING_PCM_S16LE,
            sample_rate_hz=fs,
            channel_count=x.shape[1],
        )
    )

    def requests() -> Iterator[analysis_pb2.StreamAnalyzeRequest]:
        yield analysis_pb2.StreamAnalyzeRequest(config=config)
        for payload in payloads:
            yield analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=payload))

    def run() -> object:
        for _ in range(600):  # the gateway folds backend health in: wait until it serves
            try:
                before = [cpu_seconds(p) for p in (analysis.pid, gateway.pid, "self")]
                final = None
                for response in stub.StreamAnalyze(requests(), metadata=[("x-api-key", key)]):
                    if response.is_final:
                        final = response.report.loudness.integrated_lufs
                after = [cpu_seconds(p) for p in (analysis.pid, gateway.pid, "self")]
                for name, start, end in zip(
                    ("service", "gateway", "client"), before, after, strict=True
                ):
                    record[f"{name}_cpu_s"] = end - start  # the last timed run's
                record["service_peak_rss_mb"] = peak_rss_mb(analysis.pid)
                return final
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.1)
        raise RuntimeError("the gateway never became available")

    return run


WORKERS = {
    "voidline full": "Voidline, everything in the report, in-process, 100 ms chunks",
    "voidline I+LRA+TP": "Voidline loudness + true-peak meters, in-process, 100 ms chunks",
    "libebur128": "pyebur128 (libebur128) integrated + LRA + true peak, one call",
    "pyloudnorm": "pyloudnorm integrated + LRA",
    "ffmpeg": "ffmpeg ebur128=peak=true, process wall time",
    "voidline via gateway": "Voidline, everything, gRPC through the gateway, 100 ms s16 chunks",
}


def worker(name: str, signal: Path, repeats: int) -> None:
    """Run one contender once untimed, then `repeats` times timed; print one JSON line."""
    x = np.load(signal)
    fs = int(signal.stem.rsplit("_", 1)[-1])
    record: dict[str, float] = {}
    if name == "voidline full":
        run = run_voidline_full(x, fs)
    elif name == "voidline I+LRA+TP":
        run = run_voidline_loudness(x, fs)
    elif name == "libebur128":
        run = run_libebur128(x, fs)
    elif name == "pyloudnorm":
        run = run_pyloudnorm(x, fs)
    elif name == "ffmpeg":
        run = run_ffmpeg(x, fs, signal.with_suffix(".wav"))
    else:
        run = run_gateway(x, fs, record)
    run()  # warm-up, untimed: numba kernels compile or load, the gateway path connects
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    print(
        json.dumps({"times": times, "peak_rss_mb": peak_rss_mb(), "result": repr(result), **record})
    )


# --- true-peak accuracy ------------------------------------------------------------------------


def reference_true_peak_db(x: NDArray[np.float64]) -> float:
    """32x oversampled true peak with a 64-tap-per-phase interpolator: the yardstick."""
    from voidline.analysis.truepeak import interpolation_phases

    phases = interpolation_phases(32, 64, 8.0)
    best = float(np.abs(x).max())
    for channel in x.T:
        padded = np.concatenate([np.zeros(31), channel, np.zeros(31)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 64)
        for start in range(0, windows.shape[0], 1 << 16):
            best = max(best, float(np.abs(windows[start : start + (1 << 16)] @ phases.T).max()))
    return 20 * math.log10(best)


def ffmpeg_true_peak_db(wav: Path) -> float | None:
    if shutil.which("ffmpeg") is None:
        return None
    command = ["ffmpeg", "-nostats", "-hide_banner", "-i", str(wav)]
    command += ["-filter_complex", "ebur128=peak=true", "-f", "null", "-"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    summary = out[out.rindex("True peak:") :]
    return float(summary.split("Peak:")[1].split()[0])


def true_peak_accuracy(workdir: Path) -> None:
    """Broadband noise: how far below a 32x reference each meter reads (0 is perfect)."""
    import pyebur128

    from voidline.analysis.truepeak import TruePeakMeter

    fs = 48000
    x = np.random.default_rng(42).standard_normal((fs * 10, 2)) * 0.25
    wav = workdir / "noise.wav"
    sf.write(wav, x.astype(np.float32), fs, subtype="FLOAT")
    x = x.astype(np.float32).astype(np.float64)
    reference = reference_true_peak_db(x)
    readings: dict[str, float | None] = {}
    for label, precise in (
        ("voidline standard (4x, 32 taps/phase)", False),
        ("voidline high precision (16x, 48 taps/phase)", True),
    ):
        meter = TruePeakMeter(fs, 2, high_precision=precise)
        meter.push(x)
        meter.flush()
        readings[label] = max(meter.true_peak_dbtp())
    state = pyebur128.R128State(2, fs, pyebur128.MeasurementMode.MODE_TRUE_PEAK)
    state.add_frames(np.ascontiguousarray(x).ravel(), x.shape[0])
    peak = max(pyebur128.get_true_peak(state, c) for c in range(2))
    readings["libebur128 (4x, 49-tap filter)"] = 20 * np.log10(peak)
    readings["ffmpeg ebur128 (prints 0.1 dB steps)"] = ffmpeg_true_peak_db(wav)
    print("### True peak on broadband noise (10 s, stereo, 48 kHz)\n")
    print(f"32x reference: {reference:.3f} dBTP\n")
    print("| meter | dBTP | error vs 32x |")
    print("|---|---|---|")
    for label, value in readings.items():
        if value is not None:
            print(f"| {label} | {value:.3f} | {value - reference:+.3f} dB |")
    print()


# --- driver -----------------------------------------------------------------------------------


def prepare(name: str, x: NDArray[np.float32], fs: int, workdir: Path) -> Path:
    path = workdir / f"{name}_{fs}.npy"
    np.save(path, x)
    sf.write(path.with_suffix(".wav"), x, fs, subtype="FLOAT")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--signal", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.signal, args.repeats)
        return

    names = [n for n in WORKERS if not (n == "ffmpeg" and shutil.which("ffmpeg") is None)]
    if args.no_gateway:
        names.remove("voidline via gateway")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        signals = [
            ("synthetic", prepare("synthetic", synthetic_programme(args.seconds), 48000, workdir))
        ]
        track = real_recording()
        if track is not None:
            data, fs = sf.read(track, dtype="float32", always_2d=True)
            signals.append((f"real: {track.name}", prepare("real", data, fs, workdir)))

        print(f"# Analysis benchmark, {dt.date.today().isoformat()}, {machine()}")
        print(
            f"# medians of {args.repeats} runs; real-time factor = audio seconds / wall seconds\n"
        )
        for label, path in signals:
            x = np.load(path, mmap_mode="r")
            fs = int(path.stem.rsplit("_", 1)[-1])
            duration = x.shape[0] / fs
            print(f"### {label} ({duration:.1f} s, {x.shape[1]} ch, {fs} Hz)\n")
            print("| contender | median s | real-time factor | vs libebur128 | peak RSS MB |")
            print("|---|---|---|---|---|")
            rows = {}
            for name in names:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        name,
                        "--signal",
                        str(path),
                        "--repeats",
                        str(args.repeats),
                    ],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                if out.returncode != 0:
                    print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} | | | |")
                    continue
                rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
            anchor = (
                statistics.median(rows["libebur128"]["times"]) if "libebur128" in rows else None
            )
            for name, row in rows.items():
                median = statistics.median(row["times"])
                ratio = f"{anchor / median:.2f}x" if anchor else "n/a"
                rss = f"{row['peak_rss_mb']:.0f}"
                if "service_peak_rss_mb" in row:
                    rss += f" (service {row['service_peak_rss_mb']:.0f})"
                print(f"| {name} | {median:.3f} | {duration / median:.0f}x | {ratio} | {rss} |")
            if "voidline full" in rows and "voidline via gateway" in rows:
                inproc = statistics.median(rows["voidline full"]["times"])
                remote = statistics.median(rows["voidline via gateway"]["times"])
                row = rows["voidline via gateway"]
                print(
                    f"\nGateway path vs in-process: {remote / inproc:.2f}x the time "
                    f"({(remote / inproc - 1) * 100:+.0f} %). CPU seconds in the last gateway-path "
                    f"run: service {row['service_cpu_s']:.2f}, gateway {row['gateway_cpu_s']:.2f}, "
                    f"client {row['client_cpu_s']:.2f} (in-process analysis: {inproc:.2f} wall)."
                )
            print()
        true_peak_accuracy(workdir)
        for name, text in WORKERS.items():
            print(f"- {name}: {text}")


if __name__ == "__main__":
    main()
