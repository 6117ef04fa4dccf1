"""Bounds on the tonal-balance error of `mastering_quality.py`: what the chain can reach.

    .venv/bin/python benchmarks/tonal_bounds.py [--corpus nexuiz-music|warzone2100-music]
        [--tracks N] [--per-track 2] [--seconds 30] [--no-rules] [--model-dir DIR ...]

Same material, degradations and seeds as `benchmarks/mastering_quality.py` (the first
--tracks of `nexuiz-music`, --seconds from the middle, --per-track degradations from
`np.random.default_rng(1_000_000 + case)`), and its tonal-balance error (dB RMS over the
one-third-octave bands, against the undegraded original).

Equalisers only (no dynamics, width or exciter; the error is loudness-normalised, so no
level either):

- degraded input: nothing done.
- oracle EQ: the training labels for the ten octave bands and both shelves
  (`voidline.dsp.eq.Equalizer`): the exact inverse of the degradation's tonal EQ (the
  negated gains) plus, on a dull track, the lift of its low-pass at the band centres
  (`degrade.undo_dullness_eq`, within the EQ's limits). It does not undo the spectral side
  effects of the expander and the width changes.
- shrinkage rule, alpha: no model; the octave-band EQ whose response at the band centres is
  -alpha x `octave_deviation_db` of the degraded input (the generator's own measurement:
  deviation from the reference curve, median removed; `balance._fit_gains`). alpha 1 moves
  every track onto the reference curve, 0 leaves it alone. The best alpha is chosen on
  these very cases, so its row is an optimistic bound for any single shrinkage factor, not a
  held-out result.
- model EQ only (one row per --model-dir; default: the packaged model): the parameter
  model's predicted octave-band and shelf gains (int8, from the degraded input's analysis
  features, style balanced, intensity 1) applied alone, without the rest of the chain. Also
  reported: the RMS difference, over the ten bands and two shelves, between the predicted
  gains and the exact inverse (dB).

The whole chain (`voidline.mastering.chain.process`, loudness targeting and the true-peak
limiter included, target `streaming` as in `mastering_quality.py`), stage by stage: every
parameter with a neutral value (`parameters.PARAMETERS`) is neutral except those of the
stages named; time constants, knee, drive and corner keep the set's values.

- chain baseline: no stage at all, only loudness targeting and the limiter (the
  `baseline` of `mastering_quality.py`, up to the time constants); every reduction in the
  table is against it.
- oracle chain, <stages>: the exact labels of the degradation (`degrade.labels`, the
  training targets). "all stages" is the ceiling of the label design: what a perfect
  parameter model would reach with this chain.
- model chain, <stages> (one row set per model): the model's predicted parameters (style
  balanced, intensity 1), the stages named.

This is an evaluation-set analysis: none of its numbers feeds the generator or the model.

`--corpus warzone2100-music` runs the same cases on the calibration corpus of
`tonal_prior.py` instead (every track by default, 44.1 kHz, seeds from 2000000): a second,
larger set of real music on which training choices can be compared without looking at the
evaluation set. `--no-rules` skips the 21 shrinkage rules (the slow part).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _music import TRACKS, FloatArray, load_track, machine, middle_excerpt, music_archive
from mastering_quality import SEED_BASE, TARGET, real_recipe, tonal_balance_error_db
from tonal_prior import FS as TONAL_PRIOR_FS
from tonal_prior import corpus_excerpt, corpus_files

from voidline.dsp.eq import Equalizer
from voidline.mastering.chain import ChainSettings, process
from voidline.mastering.degrade import apply_degradation, labels, random_degradation
from voidline.mastering.engine import InProcessAnalyzer
from voidline.mastering.inference import ParameterModel, default_model_dir
from voidline.mastering.parameters import EQ_BAND_NAMES, PARAMETERS
from voidline.mastering.reference import ReferenceProfile
from voidline.mastering.synth.balance import _eq_settings, _fit_gains, octave_deviation_db

CORPORA = ("nexuiz-music", "warzone2100-music")
CALIBRATION_SEED_BASE = 2_000_000  # warzone2100 cases: far from training and evaluation seeds

ALPHAS = tuple(round(0.05 * k, 2) for k in range(21))
EQ_NAMES = (*EQ_BAND_NAMES, "low_shelf_db", "high_shelf_db")
# Chain stages by the prefixes of their parameters' names.
STAGE_PREFIXES = {
    "eq": ("eq_", "low_shelf_db", "high_shelf_db"),
    "compressor": ("comp_",),
    "stereo": ("width_", "mono_bass_hz"),
    "exciter": ("exciter_",),
}
ORACLE_STAGES: tuple[tuple[str, ...], ...] = (
    ("eq",),
    ("eq", "compressor"),
    ("eq", "compressor", "stereo"),
    ("eq", "compressor", "stereo", "exciter"),
)
MODEL_STAGES: tuple[tuple[str, ...], ...] = (
    ("eq",),
    ("eq", "compressor"),
    ("eq", "compressor", "stereo", "exciter"),
)
BASELINE = "chain baseline: every stage neutral (loudness and limiter only)"


def only_stages(parameters: dict[str, float], stages: tuple[str, ...]) -> dict[str, float]:
    """The parameters with every neutral-valued one outside `stages` set to neutral."""
    kept = tuple(prefix for stage in stages for prefix in STAGE_PREFIXES[stage])
    return {
        spec.name: parameters[spec.name]
        if spec.neutral is None or spec.name.startswith(kept)
        else spec.neutral
        for spec in PARAMETERS
    }


def stage_label(stages: tuple[str, ...]) -> str:
    return "all stages" if len(stages) == len(STAGE_PREFIXES) else " + ".join(stages)


def chain_error(
    parameters: dict[str, float], degraded: FloatArray, original: FloatArray, fs: int
) -> float:
    """Tonal error of the degraded audio mastered by the whole chain with these parameters."""
    settings = ChainSettings.from_parameters(parameters)
    mastered = process(degraded, fs, settings, TARGET.lufs, TARGET.ceiling_dbtp).audio
    return tonal_balance_error_db(mastered, original, fs)


def eq_error(
    parameters: dict[str, float], degraded: FloatArray, original: FloatArray, fs: int
) -> float:
    """Tonal error of the degraded audio through the EQ of these parameters alone."""
    equalised = Equalizer(ChainSettings.from_parameters(parameters).eq, fs).process(degraded)
    return tonal_balance_error_db(equalised, original, fs)


def originals(
    corpus: str, tracks: int | None, seconds: float
) -> Iterator[tuple[str, FloatArray, int]]:
    """(name, undegraded excerpt, rate) for the first `tracks` tracks of the corpus."""
    if corpus == "nexuiz-music":
        archive = music_archive()
        if archive is None:
            raise SystemExit("no real recordings: this needs nexuiz-music")
        for track in TRACKS[: 10 if tracks is None else tracks]:
            audio, fs = load_track(archive, track)
            yield track, middle_excerpt(audio, fs, seconds), fs
        return
    files = corpus_files()
    if not files:
        raise SystemExit("no real recordings: this needs warzone2100-music")
    for path in files[:tracks]:
        yield path.stem, corpus_excerpt(path, seconds), TONAL_PRIOR_FS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=CORPORA, default="nexuiz-music")
    parser.add_argument("--tracks", type=int, help="default: 10 of nexuiz, all of warzone2100")
    parser.add_argument("--no-rules", action="store_true", help="skip the shrinkage rules")
    parser.add_argument("--per-track", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--model-dir", type=Path, action="append", help="parameter model folder (repeatable)"
    )
    args = parser.parse_args(argv)
    models = [ParameterModel.load(folder, "int8") for folder in args.model_dir or []] or [
        ParameterModel.load(default_model_dir(), "int8")
    ]
    analyzer = InProcessAnalyzer()
    seed_base = SEED_BASE if args.corpus == "nexuiz-music" else CALIBRATION_SEED_BASE
    alphas = () if args.no_rules else ALPHAS

    errors: dict[str, list[float]] = {"degraded input": [], "oracle EQ": []}
    errors.update({f"rule alpha {alpha:.2f}": [] for alpha in alphas})
    errors.update({f"model EQ only, {model.version}": [] for model in models})
    errors[BASELINE] = []
    errors.update({f"oracle chain, {stage_label(st)}": [] for st in ORACLE_STAGES})
    errors.update(
        {f"model chain, {stage_label(st)}, {m.version}": [] for m in models for st in MODEL_STAGES}
    )
    gain_errors: dict[str, list[float]] = {model.version: [] for model in models}
    case = 0
    for track, original, fs in originals(args.corpus, args.tracks, args.seconds):
        recipe = real_recipe(original, fs, ReferenceProfile.measure(original, fs, role="original"))
        for _ in range(args.per_track):
            seed = seed_base + case
            case += 1
            degradation = random_degradation(np.random.default_rng(seed), recipe)
            degraded = apply_degradation(original, fs, degradation)
            errors["degraded input"].append(tonal_balance_error_db(degraded, original, fs))
            inverse_gains = labels(degradation, recipe)  # the EQ's: negated gains, dullness lift
            errors["oracle EQ"].append(eq_error(inverse_gains, degraded, original, fs))
            features = np.asarray(analyzer.analyze(degraded, fs).features, dtype=np.float32)
            for model in models:
                predicted = model.predict_parameters(features)
                errors[f"model EQ only, {model.version}"].append(
                    eq_error(predicted, degraded, original, fs)
                )
                difference = [predicted[name] - inverse_gains[name] for name in EQ_NAMES]
                gain_errors[model.version].append(float(np.sqrt(np.mean(np.square(difference)))))
                for stages in MODEL_STAGES:
                    errors[f"model chain, {stage_label(stages)}, {model.version}"].append(
                        chain_error(only_stages(predicted, stages), degraded, original, fs)
                    )
            errors[BASELINE].append(
                chain_error(only_stages(inverse_gains, ()), degraded, original, fs)
            )
            for stages in ORACLE_STAGES:
                errors[f"oracle chain, {stage_label(stages)}"].append(
                    chain_error(only_stages(inverse_gains, stages), degraded, original, fs)
                )
            deviation = octave_deviation_db(degraded, fs)
            for alpha in alphas:
                gains = _fit_gains(-alpha * deviation, fs)
                ruled = Equalizer(_eq_settings(gains), fs).process(degraded)
                errors[f"rule alpha {alpha:.2f}"].append(
                    tonal_balance_error_db(ruled, original, fs)
                )
            print(
                f"[{case}] {track} seed {seed}: degraded "
                f"{errors['degraded input'][-1]:.2f}, oracle EQ {errors['oracle EQ'][-1]:.2f}",
                file=sys.stderr,
            )

    def key(name: str) -> tuple[float, float]:
        return statistics.median(errors[name]), statistics.fmean(errors[name])

    rules = [name for name in errors if name.startswith("rule")]
    best_median = min(rules, key=lambda name: key(name)[0]) if rules else "none run"
    best_mean = min(rules, key=lambda name: key(name)[1]) if rules else "none run"
    print(f"Date: {dt.date.today().isoformat()}  ")
    print(f"Machine: {machine()}  ")
    print(
        f"Command: `.venv/bin/python benchmarks/tonal_bounds.py --corpus {args.corpus}"
        + ("" if args.tracks is None else f" --tracks {args.tracks}")
        + f" --per-track {args.per_track} --seconds {args.seconds:g}"
        + (" --no-rules" if args.no_rules else "")
        + "".join(f" --model-dir {folder}" for folder in args.model_dir or [])
        + "`\n"
    )
    print(
        f"Tonal-balance error, dB RMS over the one-third-octave bands, {case} cases (seeds "
        f"{seed_base}-{seed_base + case - 1}, {args.corpus}); best alpha by median: "
        f"{best_median}, by mean: {best_mean}\n"
    )
    base_median, base_mean = key(BASELINE)
    print(f"Reduction: against the chain baseline ({base_median:.2f} / {base_mean:.2f} dB).\n")
    print("| contender | median | mean | reduction (median / mean) |")
    print("|---|---:|---:|---:|")
    for name in errors:
        median, mean = key(name)
        reduction = f"{1 - median / base_median:+.0%} / {1 - mean / base_mean:+.0%}"
        print(f"| {name} | {median:.2f} | {mean:.2f} | {reduction} |")
    print("\nPredicted EQ and shelf gains against the exact inverse, RMS dB:\n")
    print("| model | median | mean |")
    print("|---|---:|---:|")
    for version, values in gain_errors.items():
        print(f"| {version} | {statistics.median(values):.2f} | {statistics.fmean(values):.2f} |")


if __name__ == "__main__":
    main()
