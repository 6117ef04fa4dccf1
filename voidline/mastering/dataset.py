"""The mastering model's training set, built from procedurally generated music only.

Each example: generate a mastered source track (`voidline.mastering.synth.generate_track`),
draw and apply an un-mastering degradation (`voidline.mastering.degrade`), analyse the
degraded track (`voidline.analysis.analyzer.StreamingAnalyzer`, the 384-value feature vector
the service computes for real input) and label it with the chain settings that undo the
degradation, mapped to the model's [0, 1] targets (`parameters.to_unit`).

Seeding: example i is drawn from `np.random.SeedSequence(seed).spawn(n)[i]`, whose two
children seed the generator and the degradation. A spawned child depends only on the root
seed and i, so example i is the same whatever n and however many worker processes build
the set, and `workers=2` gives the same arrays as `workers=1`.

Workers are separate processes started with the "spawn" method (safe with numba and
threads, and the same on every platform); each example is independent, so they scale with
cores. `save`/`load` keep a set in one .npz file, recipes as JSON, so training can reuse it.
Timing per stage (generation, degradation, analysis) is logged at INFO by `build_dataset`
and printed by `python -m voidline.mastering.dataset`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voidline.analysis.analyzer import StreamingAnalyzer
from voidline.analysis.features import FEATURE_LAYOUT_VERSION
from voidline.audio.format import AudioFormat
from voidline.errors import InvalidInputError
from voidline.mastering.degrade import apply_degradation, labels, random_degradation
from voidline.mastering.parameters import N_PARAMETERS, PARAMETER_NAMES, to_unit
from voidline.mastering.synth import generate_track

N_FEATURES = 384
FORMAT_VERSION = 1
STAGES = ("generation", "degradation", "analysis")
MAX_WORKERS = 256

Progress = Callable[[int, int], None]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    """Features of degraded tracks, their [0, 1] labels, and how each example was made."""

    features: NDArray[np.float32]  # (n, 384) analysis features of the degraded tracks
    labels: NDArray[np.float32]  # (n, 32) in [0, 1] (parameters.to_unit of the labels)
    recipes: list[dict[str, Any]]  # per example: seed, generator recipe, degradation values

    def __post_init__(self) -> None:
        n = self.features.shape[0] if self.features.ndim == 2 else -1
        if self.features.ndim != 2 or self.features.shape[1] != N_FEATURES:
            raise InvalidInputError(
                f"features must have shape (n, {N_FEATURES}), got {self.features.shape}"
            )
        if self.labels.shape != (n, N_PARAMETERS):
            raise InvalidInputError(
                f"labels must have shape ({n}, {N_PARAMETERS}), got {self.labels.shape}"
            )
        if len(self.recipes) != n:
            raise InvalidInputError(f"recipes must hold {n} entries, got {len(self.recipes)}")

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the set to one .npz file at exactly `path` (recipes as JSON text)."""
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                features=self.features,
                labels=self.labels,
                recipes=np.array(json.dumps(self.recipes)),
                parameter_names=np.array(PARAMETER_NAMES),
                feature_layout_version=np.array(FEATURE_LAYOUT_VERSION),
                format_version=np.array(FORMAT_VERSION),
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingSet:
        """Read a set written by `save`; refuses files made for another parameter layout."""
        if not Path(path).is_file():
            raise InvalidInputError(
                f"no training set at {os.fspath(path)}: build one with "
                "build_dataset(...).save(path) or python -m voidline.mastering.dataset"
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise InvalidInputError(
                f"{os.fspath(path)} is not a training-set .npz: {error}"
            ) from error
        expected = ("features", "labels", "recipes", "parameter_names", "feature_layout_version")
        missing = [key for key in expected if key not in arrays]
        if missing:
            raise InvalidInputError(
                f"{os.fspath(path)} lacks {', '.join(missing)}: not written by TrainingSet.save"
            )
        if tuple(str(n) for n in arrays["parameter_names"]) != PARAMETER_NAMES:
            raise InvalidInputError(
                f"{os.fspath(path)} was built for another parameter layout; rebuild it"
            )
        if str(arrays["feature_layout_version"]) != FEATURE_LAYOUT_VERSION:
            raise InvalidInputError(
                f"{os.fspath(path)} holds feature layout {arrays['feature_layout_version']}, "
                f"the analyzer now makes {FEATURE_LAYOUT_VERSION}; rebuild it"
            )
        return cls(
            features=np.asarray(arrays["features"], dtype=np.float32),
            labels=np.asarray(arrays["labels"], dtype=np.float32),
            recipes=list(json.loads(str(arrays["recipes"]))),
        )


def load(path: str | os.PathLike[str]) -> TrainingSet:
    """`TrainingSet.load(path)`."""
    return TrainingSet.load(path)


@dataclass(frozen=True)
class Example:
    """One built example, with the seconds each stage took."""

    features: NDArray[np.float32]
    labels: NDArray[np.float32]
    recipe: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def build_example(sequence: np.random.SeedSequence, index: int, seconds: float, fs: int) -> Example:
    """Generate, degrade, analyse and label the example seeded by `sequence`.

    `sequence` must be fresh (nothing spawned from it yet): its first two children seed
    the generator and the degradation.
    """
    track_sequence, degradation_sequence = sequence.spawn(2)
    track_seed = int(track_sequence.generate_state(1, dtype=np.uint64)[0])
    timings: dict[str, float] = {}

    start = time.perf_counter()
    track = generate_track(track_seed, seconds, fs)
    timings["generation"] = time.perf_counter() - start

    start = time.perf_counter()
    degradation = random_degradation(np.random.default_rng(degradation_sequence), track.recipe)
    degraded = apply_degradation(track.audio, fs, degradation)
    physical = labels(degradation, track.recipe)
    timings["degradation"] = time.perf_counter() - start

    start = time.perf_counter()
    analyzer = StreamingAnalyzer(AudioFormat(fs, degraded.shape[1]))
    analyzer.push(degraded)
    features = np.asarray(analyzer.finish().features, dtype=np.float32)
    timings["analysis"] = time.perf_counter() - start

    if features.shape != (N_FEATURES,) or not np.isfinite(features).all():
        raise InvalidInputError(
            f"example {index}: the analyzer returned {features.shape[0]} features "
            f"(finite: {bool(np.isfinite(features).all())}); expected {N_FEATURES} finite"
        )
    recipe = {
        "index": index,
        "track_seed": track_seed,
        "generator": track.recipe,
        "degradation": degradation.as_json(),
        "labels": physical,
    }
    return Example(features, to_unit(physical), recipe, timings)


def _build_one(
    sequence: np.random.SeedSequence, index: int, dataset_seed: int, seconds: float, fs: int
) -> Example:
    example = build_example(sequence, index, seconds, fs)
    example.recipe["dataset_seed"] = dataset_seed
    return example


def _check(n_examples: int, seed: int, seconds: float, fs: int, workers: int) -> None:
    for name, value, low in (
        ("n_examples", n_examples, 1),
        ("seed", seed, 0),
        ("workers", workers, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    if workers > MAX_WORKERS:
        raise InvalidInputError(f"workers must be at most {MAX_WORKERS}, got {workers}")
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
        raise InvalidInputError(f"seconds must be a positive number, got {seconds!r}")
    if isinstance(fs, bool) or not isinstance(fs, int | np.integer):
        raise InvalidInputError(f"fs must be a whole number of Hz, got {fs!r}")


def build_dataset(
    n_examples: int,
    seed: int,
    seconds: float = 8.0,
    fs: int = 44100,
    workers: int = 1,
    progress: Progress | None = None,
) -> TrainingSet:
    """Build n_examples examples (see the module docstring); the same seed, the same arrays.

    workers > 1 builds in that many processes. progress(done, total) is called in this
    process after each example.
    """
    examples = build_examples(n_examples, seed, seconds, fs, workers, progress)
    _log_timings(examples)
    return training_set(examples)


def build_examples(
    n_examples: int,
    seed: int,
    seconds: float = 8.0,
    fs: int = 44100,
    workers: int = 1,
    progress: Progress | None = None,
) -> list[Example]:
    """The examples of `build_dataset`, in order, each with its stage timings."""
    _check(n_examples, seed, seconds, fs, workers)
    sequences = np.random.SeedSequence(int(seed)).spawn(int(n_examples))
    arguments = (int(seed), float(seconds), int(fs))
    report = progress or (lambda done, total: None)
    if workers == 1:
        built = []
        for i, sequence in enumerate(sequences):
            built.append(_build_one(sequence, i, *arguments))
            report(i + 1, n_examples)
        return built
    examples: list[Example | None] = [None] * n_examples
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_build_one, sequence, i, *arguments): i
            for i, sequence in enumerate(sequences)
        }
        for done, future in enumerate(as_completed(futures), start=1):
            examples[futures[future]] = future.result()
            report(done, n_examples)
    return [e for e in examples if e is not None]


def training_set(examples: Sequence[Example]) -> TrainingSet:
    """Stack built examples into a TrainingSet."""
    if not examples:
        raise InvalidInputError("a training set needs at least one example")
    return TrainingSet(
        features=np.stack([e.features for e in examples]),
        labels=np.stack([e.labels for e in examples]),
        recipes=[e.recipe for e in examples],
    )


def mean_stage_seconds(examples: Sequence[Example]) -> dict[str, float]:
    """Mean seconds per example of each stage, and their total."""
    means = {s: float(np.mean([e.seconds.get(s, 0.0) for e in examples])) for s in STAGES}
    means["total"] = sum(means.values())
    return means


def _log_timings(examples: Sequence[Example]) -> None:
    means = mean_stage_seconds(examples)
    logger.info(
        "built %d examples; seconds per example: %s",
        len(examples),
        ", ".join(f"{stage} {value:.3f}" for stage, value in means.items()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Build a set, save it and print the seconds each stage took per example."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, required=True, help="number of examples")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    parser.add_argument("--seconds", type=float, default=8.0, help="track length (default 8)")
    parser.add_argument("--fs", type=int, default=44100, help="sample rate (default 44100)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    examples = build_examples(args.examples, args.seed, args.seconds, args.fs, args.workers)
    elapsed = time.perf_counter() - start
    training_set(examples).save(args.out)
    for stage, value in mean_stage_seconds(examples).items():
        print(f"{stage:12s} {value:.3f} s per example")
    print(f"{'wall':12s} {elapsed / args.examples:.3f} s per example ({args.workers} workers)")
    print(f"wrote {args.examples} examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
