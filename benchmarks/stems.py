"""Stem separation through the service (via the gateway) against a direct `apply_model` call.

    .venv/bin/python benchmarks/stems.py [--seconds 60] [--long-seconds 600] [--repeats 2]

Model: no pretrained weights can be fetched here, so the benchmark builds its own: an HTDemucs
with the constructor's default architecture (48 channels, depth 4, 5 transformer layers,
26.9 M parameters) and htdemucs' 7.8 s segment, randomly initialised (seeded) and saved in
demucs' repository format as the bag `htdemucs` in a scratch model folder. Speed and memory do
not depend on the weights' values; the released htdemucs is somewhat larger and slower, so the
service's fixed costs weigh a little less there than here. The long input uses a small
HTDemucs of the same depth and STFT (tests/support/tiny_demucs.py): the point there is memory,
and a full-size model would take about 20 minutes per 10-minute run on this machine.

Material: --seconds from the middle of a nexuiz-music track (benchmarks/_music.py), else a
generated multitrack song (voidline.stems.multitrack), as a 16-bit stereo 44.1 kHz WAV; the
long input repeats it.

Contenders, in the same run on the same WAV:
- direct: a fresh process loads the model with `demucs.pretrained.get_model(name, repo=...)`,
  reads the WAV, separates its first 10 s once untimed (as the service gets a warm-up call),
  then times `apply_model(model, mix, shifts=0, split=True, overlap=0.25)` with one torch
  thread (the service's setting). Its peak memory is the process's VmHWM.
- service via gateway: `voidline up` with VOIDLINE_MODEL_DIR at the scratch folder; a gRPC
  client streams the WAV as 16-bit PCM in 100 ms messages through the gateway and receives
  float stems. Time: first message to summary; first stem: first message to the first stem
  block, as the client sees it. Memory: the stems process's VmHWM (a fresh `voidline up` per
  input length, one untimed warm-up call that loads the model).
Overhead = service time / direct time - 1 (goal: at most 5 %). Medians of --repeats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import soundfile as sf
from _music import ROOT, load_track, machine, middle_excerpt, music_archive, peak_rss_mb
from _system import VoidlineUp

FS = 44_100
TRACK = "northern-lights"
FULL_MODEL = "htdemucs"
SMALL_MODEL = "small"
CHUNK_S = 0.1
SOURCES = ["drums", "bass", "other", "vocals"]


# --- models and material ----------------------------------------------------------------------


def install_models(model_dir: Path) -> str:
    """The full-architecture bag and the small one; returns a line describing the full one."""
    import torch
    from demucs.htdemucs import HTDemucs

    sys.path.insert(0, str(ROOT))
    from tests.support.tiny_demucs import install_tiny_bag, save_in_repo

    torch.manual_seed(0)
    full = HTDemucs(sources=SOURCES, segment=Fraction(39, 5))
    signature = "bench0000"
    save_in_repo(full, model_dir / "demucs", signature)
    (model_dir / "demucs" / f"{FULL_MODEL}.yaml").write_text(f"models: [{signature}]\n")
    install_tiny_bag(model_dir, SMALL_MODEL)
    params = sum(p.numel() for p in full.parameters()) / 1e6
    return f"HTDemucs default architecture, {params:.1f} M parameters, random weights"


def write_material(workdir: Path, seconds: float, long_seconds: float) -> tuple[Path, Path, str]:
    archive = music_archive()
    if archive is not None:
        audio, fs = load_track(archive, TRACK)
        clip = middle_excerpt(audio, fs, seconds)
        described = f"{seconds:g} s from the middle of `{TRACK}` (nexuiz-music)"
    else:
        from voidline.stems.multitrack import generate_multitrack

        clip = generate_multitrack(seed=1, seconds=seconds, samplerate=FS).mix.astype(np.float64)
        described = f"a generated multitrack song, {seconds:g} s"
    short, long = workdir / "short.wav", workdir / "long.wav"
    sf.write(short, clip, FS, subtype="PCM_16")
    repeats = int(np.ceil(long_seconds / seconds))
    sf.write(long, np.tile(clip, (repeats, 1))[: int(long_seconds * FS)], FS, subtype="PCM_16")
    return short, long, described


# --- the direct call, in a fresh process ------------------------------------------------------


def direct_job(source: Path, model_dir: Path, name: str) -> dict[str, float]:
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    torch.set_num_threads(1)
    model = get_model(name, repo=model_dir / "demucs")
    audio, _ = sf.read(source, dtype="float32", always_2d=True)
    mix = torch.from_numpy(np.ascontiguousarray(audio.T))[None]
    with torch.no_grad():  # warm-up, as the service gets one: the first forward is slower
        apply_model(model, mix[..., : 10 * FS], shifts=0, split=True, overlap=0.25)
    started = time.perf_counter()
    with torch.no_grad():
        stems = apply_model(model, mix, shifts=0, split=True, overlap=0.25)
    elapsed = time.perf_counter() - started
    assert stems.shape[-1] == audio.shape[0]
    return {"job_s": elapsed, "peak_rss_mb": peak_rss_mb()}


def run_direct(source: Path, model_dir: Path, name: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--direct", str(source), str(model_dir), name]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"direct run failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


# --- the service path ---------------------------------------------------------------------------


def _requests(source: Path, model: str, backend: Any) -> Iterator[Any]:
    from voidline.v1 import audio_pb2, stems_pb2

    audio, fs = sf.read(source, dtype="int16", always_2d=True)
    yield stems_pb2.SeparateRequest(
        config=stems_pb2.SeparateConfig(
            format=audio_pb2.AudioFormat(
                encoding=audio_pb2.SAMPLE_ENCODING_PCM_S16LE,
                sample_rate_hz=fs,
                channel_count=audio.shape[1],
            ),
            model=model,
            backend=backend,
            overlap=0.25,
        )
    )
    step = int(CHUNK_S * fs)
    for i in range(0, audio.shape[0], step):
        data = np.ascontiguousarray(audio[i : i + step], dtype="<i2").tobytes()
        yield stems_pb2.SeparateRequest(audio=audio_pb2.AudioChunk(data=data))


def service_job(up: VoidlineUp, source: Path, model: str, backend: str) -> dict[str, float]:
    from voidline.v1 import stems_pb2, stems_pb2_grpc

    backend_value = {
        "demucs": stems_pb2.SEPARATION_BACKEND_DEMUCS,
        "dsp": stems_pb2.SEPARATION_BACKEND_DSP,
    }[backend]
    metadata = [("x-api-key", up.api_key())]
    frames = 0
    first_stem_s = 0.0
    with grpc.insecure_channel(up.address()) as channel:
        stub = stems_pb2_grpc.StemsServiceStub(channel)
        started = time.perf_counter()
        requests = _requests(source, model if backend == "demucs" else "", backend_value)
        for response in stub.Separate(requests, metadata=metadata, timeout=7200):
            if response.WhichOneof("response") == "audio":
                if not first_stem_s:
                    first_stem_s = time.perf_counter() - started
                frames += response.audio.frame_count
        elapsed = time.perf_counter() - started
    assert frames == sf.info(source).frames * 4, "every stem must come back whole"
    return {"job_s": elapsed, "first_stem_s": first_stem_s}


def run_service(
    workdir: Path, model_dir: Path, source: Path, model: str, backend: str, repeats: int
) -> dict[str, float]:
    """A fresh `voidline up`, one warm-up call, then the timed calls; medians and VmHWM."""
    up = VoidlineUp(
        workdir / f"home-{source.stem}-{backend}", {"VOIDLINE_MODEL_DIR": str(model_dir)}
    )
    try:
        warm = workdir / "warm.wav"
        audio, fs = sf.read(source, dtype="int16", always_2d=True)
        sf.write(warm, audio[: 10 * fs], fs, subtype="PCM_16")
        service_job(up, warm, model, backend)
        runs = [service_job(up, source, model, backend) for _ in range(repeats)]
        return {
            "job_s": statistics.median(r["job_s"] for r in runs),
            "first_stem_s": statistics.median(r["first_stem_s"] for r in runs),
            "peak_rss_mb": peak_rss_mb(up.pid("stems")),
            "gateway_rss_mb": peak_rss_mb(up.pid("gateway")),
        }
    finally:
        up.stop()


# --- the table ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-seconds", type=float, default=600.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--direct", nargs=3, metavar=("WAV", "DIR", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:  # a worker: one direct call, one JSON line
        source, model_dir, name = args.direct
        print(json.dumps(direct_job(Path(source), Path(model_dir), name)))
        return

    rows: list[tuple[str, str, float, dict[str, float], dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_dir = workdir / "models"
        full_description = install_models(model_dir)
        short, long, material = write_material(workdir, args.seconds, args.long_seconds)
        cases = [
            ("htdemucs architecture", FULL_MODEL, short, args.seconds),
            ("small HTDemucs", SMALL_MODEL, long, args.long_seconds),
        ]
        for label, model, source, seconds in cases:
            print(f"running {label} on {seconds:g} s ...", file=sys.stderr)
            direct_runs = [run_direct(source, model_dir, model) for _ in range(args.repeats)]
            direct = {
                "job_s": statistics.median(r["job_s"] for r in direct_runs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in direct_runs),
            }
            service = run_service(workdir, model_dir, source, model, "demucs", args.repeats)
            rows.append((label, model, seconds, direct, service))
        dsp = run_service(workdir, model_dir, short, "", "dsp", args.repeats)

    print(f"## Stem separation: service vs direct apply_model — {dt.date.today().isoformat()}\n")
    print(f"Machine: {machine()}. Input: {material}, 16-bit stereo 44.1 kHz WAV (the long input")
    print(f"repeats it to {args.long_seconds:g} s). Full-size model: {full_description}.")
    print(f"One torch thread everywhere; medians of {args.repeats} runs.\n")
    print(
        "| model | input s | direct apply_model s | service via gateway s | overhead "
        "| first stem s | direct peak RSS MB | service peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, _, seconds, direct, service in rows:
        overhead = service["job_s"] / direct["job_s"] - 1
        print(
            f"| {label} | {seconds:g} | {direct['job_s']:.1f} | {service['job_s']:.1f} | "
            f"{overhead:+.1%} | {service['first_stem_s']:.1f} | {direct['peak_rss_mb']:.0f} | "
            f"{service['peak_rss_mb']:.0f} |"
        )
    print(
        f"| dsp backend | {args.seconds:g} | - | {dsp['job_s']:.1f} | - | "
        f"{dsp['first_stem_s']:.1f} | - | {dsp['peak_rss_mb']:.0f} |"
    )
    print()
    for label, _, _, direct, service in rows:
        overhead = service["job_s"] / direct["job_s"] - 1
        verdict = "met" if overhead <= 0.05 else "NOT met"
        print(f"- {label}: overhead {overhead:+.1%} (goal at most +5 %: {verdict}).")


if __name__ == "__main__":
    main()
