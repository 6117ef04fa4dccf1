"""The training-set builder: shapes, ranges, determinism across n and workers, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voidline.errors import InvalidInputError
from voidline.mastering.dataset import (
    N_FEATURES,
    TrainingSet,
    build_dataset,
    build_examples,
    load,
    mean_stage_seconds,
)
from voidline.mastering.degrade import Degradation, labels
from voidline.mastering.parameters import N_PARAMETERS, PARAMETER_NAMES, to_unit

SEED = 20
SECONDS = 2.5


@pytest.fixture(scope="module")
def six() -> TrainingSet:
    calls: list[tuple[int, int]] = []
    built = build_dataset(6, SEED, seconds=SECONDS, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]
    return built


def test_arrays_have_the_interface_shapes_and_ranges(six: TrainingSet) -> None:
    assert six.features.shape == (6, N_FEATURES) and six.features.dtype == np.float32
    assert six.labels.shape == (6, N_PARAMETERS) and six.labels.dtype == np.float32
    assert np.isfinite(six.features).all()
    assert np.all((six.labels >= 0.0) & (six.labels <= 1.0))
    assert len(six) == len(six.recipes) == 6
    assert not np.array_equal(six.features[0], six.features[1])


def test_recipes_hold_seed_generator_recipe_degradation_and_labels(six: TrainingSet) -> None:
    for i, recipe in enumerate(six.recipes):
        assert json.loads(json.dumps(recipe)) == recipe
        assert recipe["index"] == i and recipe["dataset_seed"] == SEED
        assert recipe["generator"]["seed"] == recipe["track_seed"]
        assert recipe["generator"]["seconds"] == SECONDS
        assert tuple(recipe["labels"]) == PARAMETER_NAMES
        degradation = Degradation.from_json(recipe["degradation"])
        # The stored values reproduce the stored labels and the [0, 1] targets.
        assert labels(degradation, recipe["generator"]) == recipe["labels"]
        assert np.array_equal(to_unit(recipe["labels"]), six.labels[i])


def test_same_seed_same_arrays_whatever_the_number_of_examples(six: TrainingSet) -> None:
    first_three = build_dataset(3, SEED, seconds=SECONDS)
    assert np.array_equal(first_three.features, six.features[:3])
    assert np.array_equal(first_three.labels, six.labels[:3])
    assert first_three.recipes == six.recipes[:3]
    other = build_dataset(1, SEED + 1, seconds=SECONDS)
    assert not np.array_equal(other.features[0], six.features[0])


def test_two_workers_give_the_same_set_as_one(six: TrainingSet) -> None:
    parallel = build_dataset(2, SEED, seconds=SECONDS, workers=2)
    assert np.array_equal(parallel.features, six.features[:2])
    assert np.array_equal(parallel.labels, six.labels[:2])
    assert parallel.recipes == six.recipes[:2]


def test_save_and_load_round_trip(six: TrainingSet, tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    six.save(path)
    assert path.is_file()
    again = load(path)
    assert np.array_equal(again.features, six.features)
    assert np.array_equal(again.labels, six.labels)
    assert again.recipes == six.recipes
    assert TrainingSet.load(str(path)).recipes == six.recipes


def test_load_refuses_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="build_dataset"):
        load(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(InvalidInputError):
        load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, features=np.zeros((1, N_FEATURES)))
    with pytest.raises(InvalidInputError, match="lacks"):
        load(other)


def test_stage_timings_are_measured() -> None:
    examples = build_examples(1, SEED + 5, seconds=1.0)
    means = mean_stage_seconds(examples)
    assert set(means) == {"generation", "degradation", "analysis", "total"}
    assert all(value > 0.0 for value in means.values())
    assert means["total"] == pytest.approx(sum(v for k, v in means.items() if k != "total"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_examples": 0, "seed": 0},
        {"n_examples": 2, "seed": -1},
        {"n_examples": 2, "seed": 0, "workers": 0},
        {"n_examples": 2, "seed": 0, "seconds": -1.0},
        {"n_examples": 2, "seed": 0, "fs": 44100.0},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        build_dataset(**kwargs)  # type: ignore[arg-type]


def test_training_set_checks_its_shapes() -> None:
    with pytest.raises(InvalidInputError):
        TrainingSet(np.zeros((2, 10), np.float32), np.zeros((2, 32), np.float32), [{}, {}])
    with pytest.raises(InvalidInputError):
        TrainingSet(np.zeros((2, N_FEATURES), np.float32), np.zeros((2, 32), np.float32), [{}])
