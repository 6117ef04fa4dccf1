"""Mastering quality on real recordings: how close each contender gets back to the original.

    .venv/bin/python benchmarks/mastering_quality.py [--model-dir DIR] [--tracks 10]
        [--per-track 2] [--seconds 30] [--no-matchering]

Material: the first --tracks music tracks of Debian's `nexuiz-music` (GPL-2+ game music; the
parameter model trains on generated tracks only, so it has never heard them), --seconds from
the middle of each. Each excerpt gets --per-track held-out random degradations
(`voidline.mastering.degrade`, the training's un-mastering draws: tonal EQ, dullness, width,
wide bass, upward expansion, level) drawn from `np.random.default_rng(1_000_000 + case)`:
seeds the training never uses (it spawns its generators from small seeds through
`np.random.SeedSequence`). Every contender masters the degraded excerpt; every metric
compares the delivered file with the undegraded original.

Contenders:
- voidline: no reference, style balanced, intensity 1, target `streaming` (-14 LUFS, -1 dBTP).
- baseline: the same engine at intensity 0: every chain parameter neutral, so only loudness
  targeting and the true-peak limiter run ("loudness normalisation plus limiter").
- voidline ref: reference mode with the original as the reference, amount 1.
- matchering: matchering 2.0.6 with the original as the reference (GPL-3.0: run only as a
  subprocess of its own venv, benchmarks/.cache/gpl-venv, never imported here).

Metrics (all against the original; both signals scaled to the same integrated loudness where
the metric is about tone):
- tonal-balance error: RMS over the 26 one-third-octave bands of IEC 61260-1 (base ten, 50 Hz
  to 16 kHz) of the difference in band level, dB. Band levels come from a long-term Welch
  PSD (Hann, 32768 points, 50 % overlap) of the mid signal (L + R) / 2, integrated over each
  band's edges (f_m 10^(-1/20) to f_m 10^(1/20)), minus the track's integrated loudness.
- loudness error: |integrated loudness - target|, LU (ITU-R BS.1770-5,
  `voidline.dsp.loudness_target.integrated_lufs`). The target is -14 LUFS for voidline and
  the baseline, and the original's integrated loudness for the two reference-mode contenders
  (matchering always aims at its reference's level; voidline ref blends its target fully to
  the reference's at amount 1).
- true peak: 16x meter (`voidline.dsp.limiter.true_peak_dbtp`), and the overshoot
  max(0, true peak - (-1 dBTP)). matchering has no true-peak ceiling (its limiter holds the
  sample peak just under 0 dBFS), so its overshoot is against the same -1 dBTP delivery spec.
- multi-resolution STFT distance (Yamamoto et al., "Parallel WaveGAN", ICASSP 2020): for FFT
  sizes 512, 1024 and 2048 (hop 1/4, periodic Hann), spectral convergence
  ||S_orig| - |S_out||_F / ||S_orig||_F plus the mean |ln max(|S_orig|, 1e-5) -
  ln max(|S_out|, 1e-5)|, averaged over the sizes, on both channels; both signals at
  -23 LUFS and time-aligned first. Every contender should keep length and timing; the lag
  (the cross-correlation peak of the mid signals within +-100 ms) and any length difference
  are measured and corrected before the distance, and reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal
import soundfile as sf
from _music import TRACKS, gpl_python, load_track, machine, middle_excerpt, music_archive
from numpy.typing import NDArray

from voidline.audio.encode import OutputFormat
from voidline.dsp.limiter import true_peak_dbtp
from voidline.dsp.loudness_target import integrated_lufs
from voidline.errors import InvalidInputError
from voidline.mastering.degrade import Degradation, apply_degradation, random_degradation
from voidline.mastering.engine import (
    InProcessAnalyzer,
    MasteringEngine,
    MasteringSettings,
    ReferenceInput,
)
from voidline.mastering.inference import ParameterModel, default_model_dir
from voidline.mastering.reference import ReferenceProfile
from voidline.mastering.synth.mix import band_levels
from voidline.mastering.targets import resolve_target

FloatArray = NDArray[np.float64]

SEED_BASE = 1_000_000  # the training draws from small seeds; these are far from them
TARGET = resolve_target("streaming")
# IEC 61260-1 base-ten one-third-octave mid-band frequencies, nominal 50 Hz to 16 kHz.
THIRD_OCTAVE_HZ: tuple[float, ...] = tuple(1000.0 * 10.0 ** (k / 10.0) for k in range(-13, 13))
HALF_BAND = 10.0 ** (1.0 / 20.0)
WELCH_POINTS = 32768
STFT_SIZES = (512, 1024, 2048)
STFT_FLOOR = 1e-5  # magnitudes below this (about 100 dB down) count as this
ALIGN_LUFS = -23.0
MAX_LAG_S = 0.1
MONO_SIDE_RATIO = 1e-6  # side/mid energy below this in every band: a mono recording
WIDE_BASS_SIDE_RATIO = 10.0 ** (-12.0 / 10.0)  # side within 12 dB of mid below 120 Hz

CONTENDERS = ("voidline", "baseline", "voidline ref", "matchering")
DESCRIPTIONS = {
    "degraded input": "the degraded excerpt itself, unmastered (how far off the input is)",
    "voidline": "no reference, balanced, intensity 1, target streaming (-14 LUFS, -1 dBTP)",
    "baseline": "intensity 0: loudness normalisation to -14 LUFS + true-peak limiter only",
    "voidline ref": "reference mode, the original as reference, amount 1",
    "matchering": "matchering 2.0.6, the original as reference (GPL, own venv, subprocess)",
}

# Runs inside the GPL venv's interpreter: one process masters every job of a JSON list.
MATCHERING_BATCH = """
import json, sys
import matchering
jobs = json.load(open(sys.argv[1]))
for job in jobs:
    try:
        matchering.process(target=job["target"], reference=job["reference"],
                           results=[matchering.pcm24(job["output"])])
        print(json.dumps({"output": job["output"], "ok": True}), flush=True)
    except Exception as error:
        print(json.dumps({"output": job["output"], "ok": False, "error": repr(error)}),
              flush=True)
"""


# --- metrics ----------------------------------------------------------------------------------


def _mid(audio: FloatArray) -> FloatArray:
    return np.asarray(audio.mean(axis=1), dtype=np.float64)


def _loudness(audio: FloatArray, fs: int) -> float:
    value = integrated_lufs(audio, fs)
    if not math.isfinite(value):
        raise InvalidInputError("a compared signal is silent: it has no integrated loudness")
    return value


def third_octave_levels_db(audio: FloatArray, fs: int) -> FloatArray:
    """Mid-signal power per IEC 61260-1 one-third-octave band, dB, relative to the loudness.

    The PSD's bins are integrated as piecewise-constant densities, so band edges that fall
    inside a bin take only their share of it. Subtracting the integrated loudness makes two
    signals at different levels comparable, as if both were played at the same loudness.
    """
    mid = _mid(audio)
    points = min(WELCH_POINTS, 1 << int(math.log2(mid.shape[0])))
    freqs, psd = scipy.signal.welch(mid, fs, window="hann", nperseg=points)
    df = float(freqs[1])
    bin_edges = (np.arange(psd.shape[0] + 1) - 0.5) * df
    cumulative = np.concatenate([[0.0], np.cumsum(psd) * df])
    centres = np.asarray(THIRD_OCTAVE_HZ)
    power = np.interp(centres * HALF_BAND, bin_edges, cumulative) - np.interp(
        centres / HALF_BAND, bin_edges, cumulative
    )
    levels = 10.0 * np.log10(np.maximum(power, 1e-30))
    return np.asarray(levels - _loudness(audio, fs), dtype=np.float64)


def tonal_balance_error_db(output: FloatArray, original: FloatArray, fs: int) -> float:
    """RMS difference of the loudness-aligned one-third-octave band levels, dB."""
    difference = third_octave_levels_db(output, fs) - third_octave_levels_db(original, fs)
    return float(np.sqrt(np.mean(difference**2)))


def lag_frames(output: FloatArray, original: FloatArray, fs: int) -> int:
    """Delay of output behind original (frames, negative: ahead), within +-MAX_LAG_S."""
    n = min(output.shape[0], original.shape[0])
    correlation = scipy.signal.correlate(
        _mid(output[:n]), _mid(original[:n]), mode="full", method="fft"
    )
    lags = scipy.signal.correlation_lags(n, n, mode="full")
    near = np.abs(lags) <= round(MAX_LAG_S * fs)
    return int(lags[near][np.argmax(correlation[near])])


def time_aligned(
    output: FloatArray, original: FloatArray, lag: int
) -> tuple[FloatArray, FloatArray]:
    """The overlapping parts of output (moved back by lag) and original, equal lengths."""
    if lag > 0:
        output = output[lag:]
    elif lag < 0:
        original = original[-lag:]
    n = min(output.shape[0], original.shape[0])
    return output[:n], original[:n]


def _at_loudness(audio: FloatArray, fs: int, lufs: float) -> FloatArray:
    gain: float = 10.0 ** ((lufs - _loudness(audio, fs)) / 20.0)
    return audio * gain


def _stft_magnitudes(channel: FloatArray, size: int) -> FloatArray:
    hop = size // 4
    frames = np.lib.stride_tricks.sliding_window_view(channel, size)[::hop]
    window = scipy.signal.get_window("hann", size)  # periodic, for spectral analysis
    return np.abs(np.fft.rfft(frames * window, axis=1))


def mr_stft_distance(output: FloatArray, original: FloatArray, fs: int) -> float:
    """Multi-resolution STFT distance (spectral convergence + log magnitude), aligned inputs."""
    out = _at_loudness(output, fs, ALIGN_LUFS)
    ref = _at_loudness(original, fs, ALIGN_LUFS)
    per_size = []
    for size in STFT_SIZES:
        squared_error = squared_reference = log_error = 0.0
        count = 0
        for c in range(ref.shape[1]):
            mag_ref = _stft_magnitudes(ref[:, c], size)
            mag_out = _stft_magnitudes(out[:, c], size)
            squared_error += float(np.sum((mag_ref - mag_out) ** 2))
            squared_reference += float(np.sum(mag_ref**2))
            log_error += float(
                np.sum(
                    np.abs(
                        np.log(np.maximum(mag_ref, STFT_FLOOR))
                        - np.log(np.maximum(mag_out, STFT_FLOOR))
                    )
                )
            )
            count += mag_ref.size
        convergence = math.sqrt(squared_error / squared_reference)
        per_size.append(convergence + log_error / count)
    return float(np.mean(per_size))


@dataclass
class Scores:
    """One contender's measurements on one case."""

    tonal_db: float
    mr_stft: float
    lag_frames: int
    length_difference: int  # output frames - original frames
    loudness_error_lu: float | None = None  # None for the unmastered input
    true_peak_dbtp: float | None = None
    overshoot_db: float | None = None


def score(output: FloatArray, original: FloatArray, fs: int, target_lufs: float | None) -> Scores:
    """Every metric for one delivered output against the original excerpt."""
    lag = lag_frames(output, original, fs)
    aligned_output, aligned_original = time_aligned(output, original, lag)
    scores = Scores(
        tonal_db=tonal_balance_error_db(aligned_output, aligned_original, fs),
        mr_stft=mr_stft_distance(aligned_output, aligned_original, fs),
        lag_frames=lag,
        length_difference=output.shape[0] - original.shape[0],
    )
    if target_lufs is not None:
        peak = true_peak_dbtp(output, fs)
        scores.loudness_error_lu = abs(_loudness(output, fs) - target_lufs)
        scores.true_peak_dbtp = peak
        scores.overshoot_db = max(0.0, peak - TARGET.ceiling_dbtp)
    return scores


# --- cases ------------------------------------------------------------------------------------


def real_recipe(audio: FloatArray, fs: int, profile: ReferenceProfile) -> dict[str, Any]:
    """What `random_degradation` needs to know of a real recording (no musical plan here).

    Measured: the rate, the integrated loudness, the compressor bands' level percentiles
    (to place the expander thresholds), whether the recording is mono (no width changes) and
    whether its bass is already wide (no wide-bass degradation on top). Tempo, drums and
    percussive share are unknown: the degradation module's documented defaults apply (120
    bpm, no drums, share 0), which only set the expander's time constants and knee.
    """
    ratios = profile.side_mid_ratios
    return {
        "fs": fs,
        "integrated_lufs": profile.integrated_lufs,
        "band_levels_dbfs": band_levels(audio, fs),
        "stereo_image": "mono" if max(ratios) < MONO_SIDE_RATIO else "normal",
        "wide_bass": ratios[0] > WIDE_BASS_SIDE_RATIO,
    }


def describe_degradation(d: Degradation) -> str:
    """A short human summary of what a degradation did."""
    parts = []
    if d.tilt_db_per_octave or any(d.eq_band_gains_db):
        parts.append(f"EQ tilt {d.tilt_db_per_octave:+.1f} dB/oct")
    if d.low_shelf_db or d.high_shelf_db:
        parts.append(f"shelves {d.low_shelf_db:+.1f}/{d.high_shelf_db:+.1f} dB")
    if d.lowpass_hz:
        parts.append(f"dull {d.lowpass_hz / 1000:.1f} kHz/{d.lowpass_order}")
    if any(w != 1.0 for w in d.side_gains):
        parts.append(f"side x{min(d.side_gains):.2f}-{max(d.side_gains):.2f}")
    if d.wide_bass_hz:
        parts.append(f"wide bass {d.wide_bass_hz:.0f} Hz")
    expanded = sum(r > 1.0 for r in d.expander_ratios)
    if expanded:
        parts.append(f"expander on {expanded} band{'s' if expanded > 1 else ''}")
    parts.append(f"level {d.gain_db:+.1f} dB")
    return ", ".join(parts)


@dataclass
class Case:
    track: str
    seed: int
    degradation: str
    original_lufs: float
    scores: dict[str, Scores] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def decode_wav(data: bytes) -> FloatArray:
    audio, _ = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return np.asarray(audio, dtype=np.float64)


def voidline_runs(
    engine: MasteringEngine, profile: ReferenceProfile, precision: str
) -> dict[str, Callable[[FloatArray, int], bytes]]:
    """The three Voidline contenders, each a function of (degraded audio, fs) -> WAV bytes."""

    def run(
        intensity: float, reference: ReferenceInput | None
    ) -> Callable[[FloatArray, int], bytes]:
        def master(audio: FloatArray, fs: int) -> bytes:
            settings = MasteringSettings(
                target=TARGET,
                output_format=OutputFormat.WAV24,
                intensity=intensity,
                style="balanced",
                precision=precision,
                reference=reference,
            )
            digest = hashlib.sha256(audio.tobytes()).hexdigest()
            return engine.master(audio, fs, settings, input_sha256=digest).encoded

        return master

    return {
        "voidline": run(1.0, None),
        "baseline": run(0.0, None),
        "voidline ref": run(1.0, ReferenceInput("original", profile, amount=1.0)),
    }


def run_matchering(jobs: list[dict[str, str]], workdir: Path) -> dict[str, str]:
    """Master every job in one GPL-venv process; output path -> error ("" when it worked)."""
    python = gpl_python()
    if python is None:
        return {}
    job_file = workdir / "matchering_jobs.json"
    job_file.write_text(json.dumps(jobs))
    done = subprocess.run(
        [str(python), "-c", MATCHERING_BATCH, str(job_file)], capture_output=True, text=True
    )
    outcome: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            outcome[record["output"]] = "" if record["ok"] else record["error"]
    if done.returncode != 0:
        print(f"note: matchering exited with {done.returncode}: {done.stderr[-500:]}")
    return outcome


def evaluate(args: argparse.Namespace, workdir: Path) -> tuple[list[Case], ParameterModel]:
    archive = music_archive()
    if archive is None:
        raise SystemExit("no real recordings: the quality benchmark needs nexuiz-music")
    model = ParameterModel.load(args.model_dir, args.precision)

    def loaded_model(precision: str) -> ParameterModel:
        if precision != model.precision:
            raise InvalidInputError(f"only the {model.precision} model is loaded")
        return model

    engine = MasteringEngine(InProcessAnalyzer(), loaded_model)
    cases: list[Case] = []
    matchering_jobs: list[dict[str, str]] = []
    for track in TRACKS[: args.tracks]:
        audio, fs = load_track(archive, track)
        original = middle_excerpt(audio, fs, args.seconds)
        del audio
        profile = ReferenceProfile.measure(original, fs, role="original")
        recipe = real_recipe(original, fs, profile)
        original_path = workdir / f"{track}.wav"
        sf.write(original_path, original.astype(np.float32), fs, subtype="FLOAT")
        for _ in range(args.per_track):
            seed = SEED_BASE + len(cases)
            degradation = random_degradation(np.random.default_rng(seed), recipe)
            degraded = apply_degradation(original, fs, degradation)
            case = Case(track, seed, describe_degradation(degradation), profile.integrated_lufs)
            case.scores["degraded input"] = score(degraded, original, fs, None)
            for name, master in voidline_runs(engine, profile, args.precision).items():
                started = time.perf_counter()
                delivered = decode_wav(master(degraded, fs))
                case.seconds[name] = time.perf_counter() - started
                target = profile.integrated_lufs if name == "voidline ref" else TARGET.lufs
                case.scores[name] = score(delivered, original, fs, target)
            degraded_path = workdir / f"{track}_{seed}_degraded.wav"
            sf.write(degraded_path, degraded.astype(np.float32), fs, subtype="FLOAT")
            matchering_jobs.append(
                {
                    "target": str(degraded_path),
                    "reference": str(original_path),
                    "output": str(workdir / f"{track}_{seed}_matchering.wav"),
                    "case": str(len(cases)),
                }
            )
            cases.append(case)
            row = ", ".join(f"{k} {v.tonal_db:.2f}" for k, v in case.scores.items())
            print(f"[{len(cases)}] {track} seed {seed}: tonal dB {row}", file=sys.stderr)
    if not args.no_matchering and matchering_jobs:
        started = time.perf_counter()
        outcome = run_matchering(matchering_jobs, workdir)
        elapsed = time.perf_counter() - started
        for job in matchering_jobs:
            case = cases[int(job["case"])]
            error = outcome.get(job["output"])
            if error is None or error:
                print(f"note: matchering failed on {case.track}: {error}", file=sys.stderr)
                continue
            original, fs = sf.read(job["reference"], dtype="float64", always_2d=True)
            delivered, _ = sf.read(job["output"], dtype="float64", always_2d=True)
            case.scores["matchering"] = score(delivered, original, fs, case.original_lufs)
            case.seconds["matchering"] = elapsed / len(matchering_jobs)
    return cases, model


# --- report -----------------------------------------------------------------------------------


def _values(cases: list[Case], name: str, metric: str) -> list[float]:
    out = []
    for case in cases:
        scores = case.scores.get(name)
        value = getattr(scores, metric) if scores is not None else None
        if value is not None:
            out.append(float(value))
    return out


def _median_mean(values: list[float], digits: int = 2) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.{digits}f} / {statistics.mean(values):.{digits}f}"


def _peak_cell(values: list[float], pick: Callable[[list[float]], float]) -> str:
    return f"{pick(values):.2f} (max {max(values):.2f})" if values else "n/a"


def summary_table(cases: list[Case]) -> list[str]:
    lines = [
        "| contender | tonal error dB | loudness error LU | true peak dBTP | "
        "overshoot > -1 dBTP dB | MR-STFT | lag / length frames | s per master |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("degraded input", *CONTENDERS):
        if not _values(cases, name, "tonal_db"):
            continue
        offsets = _values(cases, name, "lag_frames") + _values(cases, name, "length_difference")
        seconds = [c.seconds[name] for c in cases if name in c.seconds]
        cells = [
            name,
            _median_mean(_values(cases, name, "tonal_db")),
            _median_mean(_values(cases, name, "loudness_error_lu")),
            _peak_cell(_values(cases, name, "true_peak_dbtp"), statistics.median),
            _peak_cell(_values(cases, name, "overshoot_db"), statistics.mean),
            _median_mean(_values(cases, name, "mr_stft"), 3),
            f"max {max(abs(v) for v in offsets):.0f}",
            f"{statistics.median(seconds):.1f}" if seconds else "n/a",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def case_table(cases: list[Case]) -> list[str]:
    names = [n for n in ("degraded input", *CONTENDERS) if _values(cases, n, "tonal_db")]
    lines = [
        "| # | track | seed | degradation | " + " | ".join(names) + " |",
        "|---|---|---|---|" + "---|" * len(names),
    ]
    for index, case in enumerate(cases, 1):
        cells = [f"{case.scores[n].tonal_db:.2f}" if n in case.scores else "n/a" for n in names]
        lines.append(
            f"| {index} | {case.track} | {case.seed} | {case.degradation} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def goal_lines(cases: list[Case]) -> list[str]:
    lines = []
    baseline = _values(cases, "baseline", "tonal_db")
    voidline = _values(cases, "voidline", "tonal_db")
    if baseline and voidline:
        for label, pick in (("median", statistics.median), ("mean", statistics.mean)):
            reduction = (pick(baseline) - pick(voidline)) / pick(baseline)
            verdict = "met" if reduction >= 0.4 else "NOT met"
            lines.append(
                f"- No-reference tonal error vs baseline ({label}s): {pick(baseline):.2f} -> "
                f"{pick(voidline):.2f} dB, a {reduction:+.1%} reduction (goal >= 40 %: {verdict})"
            )
        better = sum(
            c.scores["voidline"].tonal_db < c.scores["baseline"].tonal_db
            for c in cases
            if "voidline" in c.scores and "baseline" in c.scores
        )
        lines.append(f"  Voidline closer than the baseline on {better} of {len(cases)} cases.")
    reference = _values(cases, "voidline ref", "tonal_db")
    matchering = _values(cases, "matchering", "tonal_db")
    if reference and matchering:
        for label, pick in (("median", statistics.median), ("mean", statistics.mean)):
            ratio = pick(reference) / pick(matchering)
            verdict = "met" if ratio <= 1.0 else "NOT met"
            lines.append(
                f"- Reference mode vs matchering ({label}s): {pick(reference):.2f} vs "
                f"{pick(matchering):.2f} dB, ratio {ratio:.2f} (goal <= 1: {verdict})"
            )
        both = [c for c in cases if "voidline ref" in c.scores and "matchering" in c.scores]
        closer = sum(
            c.scores["voidline ref"].tonal_db <= c.scores["matchering"].tonal_db for c in both
        )
        lines.append(f"  Reference mode at least as close on {closer} of {len(both)} cases.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--tracks", type=int, default=10, help=f"1-{len(TRACKS)}")
    parser.add_argument("--per-track", type=int, default=2, help="degradations per track")
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length")
    parser.add_argument("--no-matchering", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.tracks <= len(TRACKS) or args.per_track < 1 or args.seconds < 5.0:
        parser.error(f"--tracks 1-{len(TRACKS)}, --per-track >= 1 and --seconds >= 5")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cases, model = evaluate(args, Path(tmp))
    elapsed = time.perf_counter() - started

    print(f"# Mastering quality, {dt.date.today().isoformat()}, {machine()}")
    print(
        f"# model {model.version} ({model.precision}, sha256 {model.sha256}) from "
        f"{args.model_dir}; {len(cases)} cases: {args.tracks} tracks x {args.per_track} "
        f"degradations, {args.seconds:g} s from the middle of each; seeds "
        f"{SEED_BASE}-{SEED_BASE + len(cases) - 1}; {elapsed:.0f} s in all\n"
    )
    print("Median / mean over the cases (true peak: median, max; overshoot: mean, max):\n")
    print("\n".join(summary_table(cases)))
    print()
    print("\n".join(goal_lines(cases)))
    print("\nTonal-balance error per case, dB RMS over the one-third-octave bands:\n")
    print("\n".join(case_table(cases)))
    print()
    for name, text in DESCRIPTIONS.items():
        print(f"- {name}: {text}")


if __name__ == "__main__":
    main()
