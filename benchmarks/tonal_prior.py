"""Tonal balance of real masters around the reference curve: the generator's house-curve prior.

    .venv/bin/python benchmarks/tonal_prior.py [--seconds 30] [--house-draws 4000]
        [--package NAME] [--max-tracks N]

Why: the training generator (`voidline.mastering.synth.balance`) equalises every generated
master onto a "house curve" drawn around the analysis service's reference tonal balance. The
spread of that curve is the model's prior on how far a finished master may sit from the
reference: too narrow a spread and the model takes every deviation of real music for a
degradation and over-corrects it. This script measures the spread on real masters.

Material (calibration corpus): every track of Debian's `warzone2100-music` (GPL-2+ game
music, 48 kHz Ogg Opus), or with --package another game-music package of CORPORA (the first
--max-tracks files in path order). It is fetched with `apt-get download` and unpacked with
`dpkg -x` into the gitignored benchmarks/.cache on first use, as `_music.music_archive` does
for `nexuiz-music`; nothing is committed. `nexuiz-music` is the evaluation set of
`benchmarks/mastering_quality.py` and is not one of CORPORA: no number of the prior is chosen
on it.

Method, per track: --seconds from the middle (the whole track when shorter), resampled to
44.1 kHz (the training's rate, so the 16 kHz octave band sees the same spectrum edge), then
`octave_deviation_db` (the generator's own measurement: mean Welch PSD of the mid signal per
octave band of the EQ, 31.5 Hz-16 kHz, minus the reference curve, median removed). A
least-squares line in log2(f / 1 kHz) gives the tilt (dB per octave around 1 kHz); the
residuals after removing the line are the per-band spread.

Reported: the tilt's mean, standard deviation and percentiles, per octave band the median
deviation (the corpus's typical tonal balance around the reference curve), and the
residual's mean, standard deviation, robust sigma (1.4826 x median absolute deviation) and
5th/95th percentiles. The last rows draw --house-draws house curves from the generator as it
stands and measure them the same way, so the generator's prior can be compared with the
corpus directly.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
from _music import CACHE, FloatArray, debian_package, machine, middle_excerpt

from voidline.dsp.eq import BAND_CENTRES_HZ
from voidline.mastering.synth.balance import draw_house_curve, octave_deviation_db

# Debian game-music packages measurable here: their folder under CACHE, their audio files.
CORPORA = {
    "warzone2100-music": ("warzone2100", "*.opus"),
    "drascula-music": ("drascula-music", "*.ogg"),
    "hyperrogue-music": ("hyperrogue-music", "*.ogg"),
    "planetblupi-music-ogg": ("planetblupi-music-ogg", "*.ogg"),
}
DEFAULT_PACKAGE = "warzone2100-music"
FS = 44100
OCTAVES = np.log2(np.asarray(BAND_CENTRES_HZ) / 1000.0)


def corpus_files(package: str = DEFAULT_PACKAGE) -> list[Path]:
    """The package's audio files in path order, fetched and unpacked once; [] if unavailable."""
    folder, pattern = CORPORA[package]
    return debian_package(package, CACHE / folder, pattern)


def corpus_excerpt(path: Path, seconds: float) -> FloatArray:
    """The track's middle `seconds` (the whole track when shorter), resampled to 44.1 kHz."""
    audio, fs = sf.read(path, dtype="float64", always_2d=True)
    if audio.shape[0] > seconds * fs:
        audio = middle_excerpt(audio, fs, seconds)
    if fs != FS:
        g = np.gcd(FS, fs)
        audio = scipy.signal.resample_poly(audio, FS // g, fs // g, axis=0)
    return np.asarray(audio, dtype=np.float64)


def track_deviation(path: Path, seconds: float) -> FloatArray:
    """octave_deviation_db of the track's middle `seconds`, at 44.1 kHz."""
    return octave_deviation_db(corpus_excerpt(path, seconds), FS)


def tilt_and_residual(deviation: FloatArray) -> tuple[float, FloatArray]:
    """Least-squares line in log2(f / 1 kHz): its slope, and deviation minus the line."""
    slope, intercept = np.polyfit(OCTAVES, deviation, 1)
    return float(slope), deviation - (slope * OCTAVES + intercept)


def statistics_of(deviations: FloatArray) -> tuple[FloatArray, FloatArray]:
    tilts, residuals = zip(*(tilt_and_residual(d) for d in deviations), strict=True)
    return np.asarray(tilts), np.asarray(residuals)


def robust_sigma(values: FloatArray, axis: int = 0) -> FloatArray:
    median = np.median(values, axis=axis, keepdims=True)
    return np.asarray(1.4826 * np.median(np.abs(values - median), axis=axis))


def tilt_row(name: str, tilts: FloatArray) -> str:
    p5, p25, p50, p75, p95 = np.percentile(tilts, [5, 25, 50, 75, 95])
    return (
        f"| {name} | {tilts.size} | {tilts.mean():+.2f} | {tilts.std():.2f} | "
        f"{robust_sigma(tilts):.2f} | {p5:+.2f} | {p25:+.2f} | {p50:+.2f} | {p75:+.2f} | "
        f"{p95:+.2f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--house-draws", type=int, default=4000)
    parser.add_argument("--package", choices=sorted(CORPORA), default=DEFAULT_PACKAGE)
    parser.add_argument("--max-tracks", type=int, default=0, help="0: every track")
    args = parser.parse_args(argv)
    if args.max_tracks < 0:
        parser.error("--max-tracks must be 0 (every track) or more")

    files = corpus_files(args.package)
    if not files:
        raise SystemExit(f"{args.package} is unavailable")
    if args.max_tracks > 0:
        files = files[: args.max_tracks]
    corpus = np.asarray([track_deviation(path, args.seconds) for path in files])
    if not np.isfinite(corpus).all():
        raise SystemExit("a band of the corpus has no value at 44.1 kHz")
    rng = np.random.default_rng(0)
    house = np.asarray([draw_house_curve(rng, FS)[1] for _ in range(args.house_draws)])
    corpus_tilts, corpus_residuals = statistics_of(corpus)
    house_tilts, house_residuals = statistics_of(house)

    print(f"Date: {dt.date.today().isoformat()}  ")
    print(f"Machine: {machine()}  ")
    print(
        f"Command: `.venv/bin/python benchmarks/tonal_prior.py --seconds {args.seconds:g} "
        f"--house-draws {args.house_draws} --package {args.package} "
        f"--max-tracks {args.max_tracks}`\n"
    )
    print(
        f"Calibration corpus: {len(files)} tracks of Debian `{args.package}`, "
        f"{args.seconds:g} s "
        "from the middle of each, at 44.1 kHz; house: the generator's house curves "
        f"({args.house_draws} draws). Octave deviation from the reference curve "
        "(`octave_deviation_db`), dB.\n"
    )
    print("Tilt (least-squares slope in log2(f / 1 kHz), dB per octave):\n")
    print("| | n | mean | std | robust sigma | p5 | p25 | p50 | p75 | p95 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(tilt_row("corpus", corpus_tilts))
    print(tilt_row("house", house_tilts))
    header = " | ".join(f"{c:g} Hz" for c in BAND_CENTRES_HZ)
    print("\nPer octave band, median deviation from the reference curve (median removed), dB:\n")
    print(f"| | {header} |")
    print("|---|" + "---:|" * len(BAND_CENTRES_HZ))
    for name, curves in (("corpus", corpus), ("house", house)):
        median = np.median(curves, axis=0)
        median -= np.median(median)
        print(f"| {name} | " + " | ".join(f"{v:+.2f}" for v in median) + " |")
    print("\nPer octave band, residual after removing the fitted line (dB):\n")
    print(f"| | {header} |")
    print("|---|" + "---:|" * len(BAND_CENTRES_HZ))
    rows = {
        "corpus mean": corpus_residuals.mean(axis=0),
        "corpus std": corpus_residuals.std(axis=0),
        "corpus robust sigma": robust_sigma(corpus_residuals),
        "corpus p5": np.percentile(corpus_residuals, 5, axis=0),
        "corpus p95": np.percentile(corpus_residuals, 95, axis=0),
        "house std": house_residuals.std(axis=0),
        "house p5": np.percentile(house_residuals, 5, axis=0),
        "house p95": np.percentile(house_residuals, 95, axis=0),
    }
    for name, values in rows.items():
        form = "{:.2f}" if "std" in name or "sigma" in name else "{:+.2f}"
        print(f"| {name} | " + " | ".join(form.format(v) for v in values) + " |")
    print("\nPer track (deviation from the reference curve, dB, and tilt):\n")
    print(f"| track | tilt | {header} |")
    print("|---|---:|" + "---:|" * len(BAND_CENTRES_HZ))
    for path, deviation, tilt in zip(files, corpus, corpus_tilts, strict=True):
        name = f"{path.parent.name}/{path.stem}" if path.parent.name != "music" else path.stem
        print(f"| {name} | {tilt:+.2f} | " + " | ".join(f"{v:+.1f}" for v in deviation) + " |")


if __name__ == "__main__":
    main()
