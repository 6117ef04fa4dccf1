"""Mastering speed and memory: a 3-minute stereo 44.1 kHz WAV to a mastered 24-bit WAV.

    .venv/bin/python benchmarks/mastering_speed.py [--repeats 3] [--seconds 180] [--track NAME]
        [--no-matchering] [--no-gateway]

Material: --seconds from the middle of a real recording of Debian's `nexuiz-music` (GPL-2+
game music, fetched into the gitignored benchmarks/.cache, never committed), written as a
16-bit WAV: the file a user would upload. Without the package, a generated track
(`voidline.mastering.synth`) stands in. The reference for the two reference-mode contenders is
another track of the package (or another generated track), also a 16-bit WAV.

Every run is a fresh process that reads the input WAV and writes the master as a 24-bit WAV
twice, as two jobs; nothing is cached between the jobs (Voidline builds a new engine, and
neither tool keeps results). Three times per run:
- cold job: the process's first job, from reading the input file to the master written
  (once its libraries are imported; for Voidline it includes loading numba's cached machine
  code at each kernel's first call, for both tools the first use of fresh memory);
- warm job: the second job in the same process, what a long-running service such as the
  mastering service spends per request;
- process: from launch to exit of a one-job run as the parent sees it (interpreter start-up,
  imports and one cold job: the `voidline master` one-off).
Peak memory is the process's VmHWM at the end. Medians of --repeats runs; each contender
gets one untimed warm-up run first (file-system caches, numba's on-disk cache).

Contenders:
- voidline: `MasteringEngine` in process, its memory set up as the mastering service sets it
  at start (`voidline.memory.configure`: numpy's huge-page advice off): analysis of the input
  (384 features), the int8 parameter model, the whole chain (EQ, 4-band compressor, width,
  exciter, true-peak limiter with loudness targeting), 24-bit TPDF-dithered encoding, and the
  analysis of the delivered file for the report. Target `streaming` (-14 LUFS, -1 dBTP).
- voidline, kept memory: the same with the opt-in VOIDLINE_KEEP_FREED_MEMORY=1 (glibc keeps
  freed large blocks for the next job).
- voidline ref: the same as voidline with the reference track (reference mode, amount 1);
  measuring the reference is part of the job.
- matchering: matchering 2.0.6 with the same reference, `pcm24` output (GPL-3.0: its own venv,
  benchmarks/.cache/gpl-venv, run as a subprocess, never imported by this project), as it
  runs by default. The speed goal is stated against this row.
- matchering, same setup / matchering, kept memory: the same with the memory set-up of the
  voidline / voidline, kept memory rows, through numpy's and glibc's own environment switches
  (NUMPY_MADVISE_HUGEPAGE=0; GLIBC_TUNABLES), so that each pair compares the tools alone.
- voidline via gateway: the `voidline master IN OUT --format wav24 --no-cache` command against
  a running `voidline up` (gateway, analysis and mastering as separate processes on loopback;
  the before/after analysis goes to the analysis service over gRPC). Job and process time are
  both the command's wall time; the memory column is the mastering service's VmHWM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import soundfile as sf
from _music import (
    ROOT,
    gpl_python,
    load_track,
    machine,
    middle_excerpt,
    music_archive,
    peak_rss_mb,
)
from _system import VoidlineUp

from voidline import memory

FS = 44_100
DEFAULT_TRACK = "northern-lights"  # 281 s: a 3-minute stretch from its middle
REFERENCE_TRACK = "digital-pursuit"
GENERATED_SEEDS = (11, 12)  # input and reference when the package is unavailable

# Runs inside the GPL venv's interpreter: `jobs` jobs, then their timings and VmHWM as JSON.
MATCHERING_JOB = """
import json, sys, time
import matchering
times = []
for _ in range(int(sys.argv[4])):
    started = time.perf_counter()
    matchering.process(target=sys.argv[1], reference=sys.argv[2],
                       results=[matchering.pcm24(sys.argv[3])])
    times.append(time.perf_counter() - started)
status = open("/proc/self/status").read().splitlines()
hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(json.dumps({"job_s": times, "peak_rss_mb": hwm / 1024}))
"""
JOBS_PER_RUN = 2  # cold, then warm
# voidline.memory's settings, for processes that do not make them themselves.
SAME_SETUP = {memory.NUMPY_HUGEPAGE_ENV: "0"}
KEPT_MEMORY = {
    **SAME_SETUP,
    "GLIBC_TUNABLES": (
        f"glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold={memory.KEEP_UP_TO_BYTES}"
    ),
}
SWITCHES = (memory.NUMPY_HUGEPAGE_ENV, memory.KEEP_FREED_MEMORY_ENV, "GLIBC_TUNABLES")
ENVIRONMENTS = {  # a contender's own switches, on top of an environment without any
    "voidline, kept memory": {memory.KEEP_FREED_MEMORY_ENV: "1"},
    "matchering, same setup": SAME_SETUP,
    "matchering, kept memory": KEPT_MEMORY,
}

DESCRIPTIONS = {
    "voidline": "MasteringEngine in process, int8 model, target streaming, WAV24 out",
    "voidline, kept memory": "the same with VOIDLINE_KEEP_FREED_MEMORY=1",
    "voidline ref": "reference mode (amount 1), measuring the reference included",
    "matchering": "matchering 2.0.6, same reference, pcm24 out (GPL venv, subprocess)",
    "matchering, same setup": "the same with NUMPY_MADVISE_HUGEPAGE=0 (voidline's set-up)",
    "matchering, kept memory": "the same with glibc set as VOIDLINE_KEEP_FREED_MEMORY=1 sets it",
    "voidline via gateway": "`voidline master --no-cache` through `voidline up` on loopback",
}


# --- the job, as one process runs it ----------------------------------------------------------


def voidline_jobs(
    source: Path, output: Path, reference: Path | None, jobs: int
) -> dict[str, float | list[float]]:
    """`jobs` jobs of `voidline_job` in this process: their seconds and the VmHWM after."""
    times = [voidline_job(source, output, reference) for _ in range(jobs)]
    return {"job_s": times, "peak_rss_mb": peak_rss_mb()}


def voidline_job(source: Path, output: Path, reference: Path | None) -> float:
    """Master source into output (24-bit WAV) in this process; the job's seconds."""
    import hashlib

    from voidline.audio.encode import OutputFormat
    from voidline.mastering.engine import (
        InProcessAnalyzer,
        MasteringEngine,
        MasteringSettings,
        ReferenceInput,
    )
    from voidline.mastering.inference import ParameterModel, default_model_dir
    from voidline.mastering.reference import ReferenceProfile
    from voidline.mastering.targets import resolve_target

    started = time.perf_counter()
    data = source.read_bytes()
    audio, fs = sf.read(source, dtype="float64", always_2d=True)
    model = ParameterModel.load(default_model_dir(), "int8")
    engine = MasteringEngine(InProcessAnalyzer(), lambda precision: model)
    reference_input = None
    if reference is not None:
        ref_audio, ref_fs = sf.read(reference, dtype="float64", always_2d=True)
        profile = ReferenceProfile.measure(ref_audio, int(ref_fs), role="reference")
        reference_input = ReferenceInput("benchmark", profile, amount=1.0)
    settings = MasteringSettings(
        target=resolve_target("streaming"),
        output_format=OutputFormat.WAV24,
        reference=reference_input,
    )
    result = engine.master(audio, int(fs), settings, hashlib.sha256(data).hexdigest())
    output.write_bytes(result.encoded)
    return time.perf_counter() - started


# --- running the contenders -------------------------------------------------------------------


def timed_process(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; its last stdout line as JSON (if any) plus the process wall time."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {done.returncode}: {done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    record: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    record["process_s"] = elapsed
    return record


def contender_command(
    name: str, source: Path, reference: Path, output: Path, jobs: int
) -> list[str] | None:
    """The command that runs `jobs` jobs of a contender (None: matchering is unavailable)."""
    python = sys.executable
    if name.startswith("matchering"):
        gpl = gpl_python()
        if gpl is None:
            return None
        return [str(gpl), "-c", MATCHERING_JOB, str(source), str(reference), str(output), str(jobs)]
    if name == "voidline via gateway":
        return [
            str(Path(python).parent / "voidline"),
            *("master", str(source), str(output), "--format", "wav24", "--no-cache", "--json"),
        ]
    command = [python, str(Path(__file__).resolve()), "--job", str(source), str(output)]
    command += ["--jobs", str(jobs)]
    if name == "voidline ref":
        command += ["--job-reference", str(reference)]
    return command


def run_contender(
    name: str, source: Path, reference: Path, workdir: Path, repeats: int, up: VoidlineUp | None
) -> dict[str, Any]:
    """One warm-up and `repeats` timed runs of a contender; medians and the largest VmHWM.

    Each timed run is a two-job process (cold and warm job times) and a one-job process (its
    launch-to-exit time). Through the gateway every command is one job of an already running
    service, so its cold and warm columns are the command's wall time.
    """
    output = workdir / f"{name.replace(' ', '_')}.wav"
    # Every row starts from the same environment without the memory switches, then gets its own.
    base = {k: v for k, v in (up.env if up else os.environ).items() if k not in SWITCHES}
    env = {**base, **ENVIRONMENTS.get(name, {})}
    two_jobs = contender_command(name, source, reference, output, JOBS_PER_RUN)
    one_job = contender_command(name, source, reference, output, 1)
    if two_jobs is None or one_job is None:
        return {}
    timed_process(two_jobs, env)  # warm-up
    if name == "voidline via gateway":
        assert up is not None
        runs = [timed_process(one_job, env) for _ in range(repeats)]
        cold = warm = process = [run["process_s"] for run in runs]
        rss = peak_rss_mb(up.pid("mastering"))
    else:
        runs = [timed_process(two_jobs, env) for _ in range(repeats)]
        cold = [run["job_s"][0] for run in runs]
        warm = [run["job_s"][-1] for run in runs]
        process = [timed_process(one_job, env)["process_s"] for _ in range(repeats)]
        rss = max(run["peak_rss_mb"] for run in runs)
    info = sf.info(output)
    return {
        "cold_s": statistics.median(cold),
        "warm_s": statistics.median(warm),
        "process_s": statistics.median(process),
        "peak_rss_mb": rss,
        "output": f"{info.subtype}, {info.samplerate} Hz, {info.frames / info.samplerate:.1f} s",
    }


LIKE_FOR_LIKE = (
    ("voidline", "matchering, same setup"),
    ("voidline, kept memory", "matchering, kept memory"),
)


def speed_ratios(anchor: dict[str, Any], result: dict[str, Any]) -> tuple[float, ...]:
    """anchor's time / result's, per warm job, cold job and process."""
    return tuple(anchor[key] / result[key] for key in ("warm_s", "cold_s", "process_s"))


# --- material ---------------------------------------------------------------------------------


def write_material(workdir: Path, seconds: float, track: str) -> tuple[Path, Path, str]:
    """(input WAV, reference WAV, description): 16-bit stereo 44.1 kHz files."""
    source, reference = workdir / "input.wav", workdir / "reference.wav"
    archive = music_archive()
    if archive is not None:
        audio, fs = load_track(archive, track)
        sf.write(source, middle_excerpt(audio, fs, seconds), fs, subtype="PCM_16")
        ref, ref_fs = load_track(archive, REFERENCE_TRACK)
        sf.write(reference, ref, ref_fs, subtype="PCM_16")
        return (
            source,
            reference,
            (
                f"{seconds:g} s from the middle of `{track}` (nexuiz-music), reference "
                f"`{REFERENCE_TRACK}` ({ref.shape[0] / ref_fs:.0f} s)"
            ),
        )
    from voidline.mastering.synth import generate_track

    for path, seed in zip((source, reference), GENERATED_SEEDS, strict=True):
        sf.write(path, generate_track(seed, seconds, FS).audio, FS, subtype="PCM_16")
    return source, reference, f"generated tracks, seeds {GENERATED_SEEDS}, {seconds:g} s each"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--track", default=DEFAULT_TRACK)
    parser.add_argument("--no-matchering", action="store_true")
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--job", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--job-reference", metavar="REF", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:  # a worker: --jobs jobs, one JSON line
        memory.configure()  # as the mastering service does at start
        reference = Path(args.job_reference) if args.job_reference else None
        jobs = voidline_jobs(Path(args.job[0]), Path(args.job[1]), reference, args.jobs)
        print(json.dumps(jobs))
        return

    names = [n for n in DESCRIPTIONS if not (args.no_matchering and n.startswith("matchering"))]
    names = [n for n in names if not (args.no_gateway and n == "voidline via gateway")]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source, reference, material = write_material(workdir, args.seconds, args.track)
        up = None if args.no_gateway else VoidlineUp(workdir / "home")
        try:
            for name in names:
                print(f"running {name} ...", file=sys.stderr)
                results[name] = run_contender(name, source, reference, workdir, args.repeats, up)
        finally:
            if up is not None:
                up.stop()

    anchor = results.get("matchering") or {}
    print(f"## Mastering speed and memory — {dt.date.today().isoformat()}\n")
    print(f"Machine: {machine()}. Input: {material}; 16-bit WAV in, 24-bit WAV out.")
    print(f"Medians of {args.repeats} fresh-process runs after one warm-up.\n")
    print(
        "| contender | warm job s | cold job s | process s | x real time (warm) "
        "| speed vs matchering (warm / cold / process) | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        if not result:
            print(f"| {name} | - | - | - | - | - | (unavailable) |")
            continue
        ratios = "-"
        if anchor:
            ratios = " / ".join(
                f"{anchor[key] / result[key]:.2f}x" for key in ("warm_s", "cold_s", "process_s")
            )
        print(
            f"| {name} | {result['warm_s']:.2f} | {result['cold_s']:.2f} | "
            f"{result['process_s']:.2f} | {args.seconds / result['warm_s']:.0f}x | {ratios} | "
            f"{result['peak_rss_mb']:.0f} |"
        )
    print()
    if anchor and results.get("voidline"):
        warm, cold, process = speed_ratios(anchor, results["voidline"])
        verdict = "met" if warm >= 3.0 else "NOT met"
        print(
            f"Voidline's speed vs matchering's (matchering's time / Voidline's): {warm:.2f}x "
            f"per warm job, {cold:.2f}x per cold job, {process:.2f}x per process (goal >= 3x: "
            f"{verdict}).\n"
        )
    for ours, theirs in LIKE_FOR_LIKE:
        if results.get(ours) and results.get(theirs):
            warm, cold, process = speed_ratios(results[theirs], results[ours])
            print(
                f"Like for like, {ours} vs {theirs}: {warm:.2f}x per warm job, {cold:.2f}x per "
                f"cold job, {process:.2f}x per process.\n"
            )
    for name in results:
        print(f"- {name}: {DESCRIPTIONS[name]}")


if __name__ == "__main__":
    main()
