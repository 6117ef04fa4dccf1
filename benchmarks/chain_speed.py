"""Mastering chain speed: per-stage wall time of `voidline.mastering.chain.process`.

    .venv/bin/python benchmarks/chain_speed.py [--repeats 5] [--seconds 180] [--save DIR]
        [--track FILE]

Signals: a deterministic synthetic stereo 44.1 kHz programme (chords, bass, a kick drum that
makes the limiter work, noise hats, slow loudness changes) and, when
`benchmarks/.cache/brainsukker.ogg` exists (see analysis.py, which fetches it from Debian's
nexuiz-music) or --track names another 44.1 kHz recording, a stretch of that real recording
from REAL_OFFSET_S on (or from its start, when it is too short for that). Every stage is
switched on (EQ, 4-band compressor, per-band width with mono bass, exciter, limiter), so the
figures are the chain's worst case. Each run is timed around `process` only (decoding and
encoding excluded); the table holds the median of --repeats runs per stage, after one warm-up
run that also loads numba's cached machine code. "cpu (all threads)" is the process's CPU
time during `process`: on a shared machine, where other work slows the wall clock, it shows
the work done (it exceeds the wall time when the stages' threads run on several cores).

--save DIR writes each signal's mastered audio as .npy, so two versions of the chain can be
compared sample for sample (run once per version, then diff the arrays).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from voidline.mastering.chain import ChainSettings, process
from voidline.mastering.parameters import DEFAULTS
from voidline.mastering.styles import applied_parameters

ROOT = Path(__file__).resolve().parent.parent
REAL_TRACK = ROOT / "benchmarks" / ".cache" / "brainsukker.ogg"
REAL_OFFSET_S = 30.0
FS = 44_100
TARGET_LUFS = -14.0
CEILING_DBTP = -1.0


def synthetic_programme(seconds: float, fs: int = FS) -> NDArray[np.float64]:
    """A deterministic music-like stereo signal: chords, bass, kick, noise hats, dynamics."""
    rng = np.random.default_rng(2026)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    beat = (t * 2.0) % 1.0  # 120 bpm
    envelope = np.exp(-6.0 * beat)
    chords = sum(
        np.sin(2 * np.pi * f * t + p) for f, p in ((220.0, 0.0), (277.2, 1.0), (329.6, 2.0))
    )
    bass = np.sin(2 * np.pi * 55.0 * t) * (0.6 + 0.4 * envelope)
    kick = np.sin(2 * np.pi * (50.0 + 80.0 * np.exp(-30.0 * beat)) * beat) * envelope**4
    hats = rng.standard_normal(n) * np.exp(-40.0 * ((t * 4.0) % 1.0))
    sections = 0.5 + 0.5 * np.sin(2 * np.pi * t / 40.0) ** 2  # slow loudness changes
    left = sections * (0.12 * chords + 0.3 * bass + 0.6 * kick + 0.05 * hats)
    right = sections * (0.10 * chords + 0.3 * bass + 0.6 * kick + 0.07 * np.roll(hats, 37))
    return np.stack([left, right], axis=1)


def real_recording(seconds: float, track: Path = REAL_TRACK) -> NDArray[np.float64] | None:
    """`seconds` of a real recording from REAL_OFFSET_S on (from its start when it is too
    short for that); None when the file is absent or not at FS."""
    if not track.exists():
        return None
    audio, fs = sf.read(track, dtype="float64", always_2d=True)
    if fs != FS:
        return None
    length = round(seconds * fs)
    start = min(round(REAL_OFFSET_S * fs), max(0, audio.shape[0] - length))
    return np.ascontiguousarray(audio[start : start + length])


def every_stage_on() -> ChainSettings:
    """Settings that switch every stage on, as a 'punchy' master at intensity 0.8."""
    params = dict(DEFAULTS)
    params.update(
        eq_63hz_db=1.5,
        eq_125hz_db=2.0,
        eq_500hz_db=-1.0,
        eq_4khz_db=1.0,
        low_shelf_db=1.0,
        high_shelf_db=1.5,
        comp_low_ratio=3.0,
        comp_low_threshold_db=-24.0,
        comp_high_mid_ratio=2.0,
        comp_high_mid_threshold_db=-30.0,
        width_high=1.3,
        width_low_mid=1.1,
        mono_bass_hz=100.0,
        exciter_amount=0.3,
    )
    return ChainSettings.from_parameters(applied_parameters(params, "punchy", 0.8))


def timed_runs(
    audio: NDArray[np.float64], settings: ChainSettings, repeats: int
) -> tuple[dict[str, list[float]], NDArray[np.float64]]:
    """Stage timings (seconds) of `repeats` runs after one warm-up, and the last output."""
    stages: dict[str, list[float]] = {}
    out = np.empty(0)
    for run in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = process(audio, FS, settings, TARGET_LUFS, CEILING_DBTP)
        total, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        out = result.audio
        if run == 0:
            continue
        accounted = sum(result.stage_seconds.values())
        for name, seconds in [*result.stage_seconds.items(), ("total", total)]:
            stages.setdefault(name, []).append(seconds)
        stages.setdefault("input gain + checks", []).append(total - accounted)
        stages.setdefault("cpu (all threads)", []).append(cpu)
    return stages, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--save", type=Path, default=None, help="folder for the outputs (.npy)")
    parser.add_argument(
        "--track", type=Path, default=REAL_TRACK, help="the real recording (44.1 kHz)"
    )
    args = parser.parse_args()

    signals: list[tuple[str, Callable[[], NDArray[np.float64] | None]]] = [
        ("synthetic", lambda: synthetic_programme(args.seconds)),
        ("real", lambda: real_recording(args.seconds, args.track)),
    ]
    settings = every_stage_on()
    for name, make in signals:
        audio = make()
        if audio is None:
            print(f"{name}: not available, skipped")
            continue
        timings, out = timed_runs(audio, settings, args.repeats)
        print(f"\n{name}: {audio.shape[0] / FS:.0f} s stereo {FS} Hz, median of {args.repeats}")
        print(f"  {'stage':<22}{'median s':>10}{'min s':>10}")
        for stage, values in timings.items():
            print(f"  {stage:<22}{statistics.median(values):>10.3f}{min(values):>10.3f}")
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            np.save(args.save / f"{name}.npy", out)


if __name__ == "__main__":
    main()
