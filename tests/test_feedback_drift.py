"""Drift detection of the mastering model's input features (voidline.feedback.drift)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from voidline.analysis.features import FEATURE_NAMES, FEATURE_SPECS, GROUP_SIZES
from voidline.errors import FailedPreconditionError, InvalidInputError
from voidline.feedback.drift import (
    FEATURE_GROUPS,
    KEY_FEATURES,
    REFERENCE_FORMAT,
    DriftMonitor,
    DriftThresholds,
    ReferenceDistribution,
    drift_report,
    ks_statistic,
    psi,
)

FloatArray = NDArray[np.float64]

N = len(FEATURE_NAMES)
INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_REFERENCE = 5000
WINDOW = 500

# Synthetic training data: every feature is a function of a unit-variance latent z with
# within-group correlation (a shared group factor), so "+1 sd" means z + 1 for every column.
_PARAMETERS = np.random.default_rng(1234)
LOC = _PARAMETERS.uniform(-30.0, 30.0, N)
SCALE = _PARAMETERS.uniform(0.1, 10.0, N)
FLAG = "stereo_is_stereo"  # 1 for 90 %: a point mass at the training maximum
POINT_MASS = "dynamics_quiet_fraction"  # 0 for 90 %, continuous above: mass at the minimum
SKEWED = ("transient_flux_mean", "transient_flux_std", "transient_flux_max")  # log-normal
CONSTANT = {
    "context_sample_rate": 0.91875,
    "context_channels": 2.0,
    "context_duration": 1.5,
    "dynamics_lra_stable": 0.0,
}
NEARLY_CONSTANT = "dynamics_loud_fraction"  # std 1e-4: below CONSTANT_STD
Z90 = -1.2815515655446004  # the 10 % point of N(0, 1)


def synthetic(n: int, seed: int, shift: Sequence[int] = (), amount: float = 1.0) -> FloatArray:
    """(n, 384) feature vectors; the columns in `shift` moved by `amount` standard deviations."""
    rng = np.random.default_rng(seed)
    z = np.empty((n, N))
    for indices in FEATURE_GROUPS.values():
        latent = rng.standard_normal((n, 1))
        z[:, indices] = 0.6 * latent + 0.8 * rng.standard_normal((n, len(indices)))
    z[:, list(shift)] += amount
    x = LOC + SCALE * z
    x[:, INDEX[FLAG]] = (z[:, INDEX[FLAG]] > Z90).astype(np.float64)
    x[:, INDEX[POINT_MASS]] = np.maximum(z[:, INDEX[POINT_MASS]] + Z90, 0.0)
    for name in SKEWED:
        x[:, INDEX[name]] = np.exp(z[:, INDEX[name]])
    for name, value in CONSTANT.items():
        x[:, INDEX[name]] = value
    x[:, INDEX[NEARLY_CONSTANT]] = 0.5 + 1e-4 * z[:, INDEX[NEARLY_CONSTANT]]
    return x


@pytest.fixture(scope="module")
def reference() -> ReferenceDistribution:
    return ReferenceDistribution.from_features(synthetic(N_REFERENCE, seed=0), model_version="v7")


# ----- layout -----


def test_feature_groups_follow_the_layout() -> None:
    assert {group: len(indices) for group, indices in FEATURE_GROUPS.items()} == GROUP_SIZES
    assert [i for indices in FEATURE_GROUPS.values() for i in indices] == list(range(N))
    for group, indices in FEATURE_GROUPS.items():
        assert all(FEATURE_SPECS[i].group == group for i in indices)


def test_key_features_exist() -> None:
    assert 6 <= len(KEY_FEATURES) <= 8
    assert len(set(KEY_FEATURES)) == len(KEY_FEATURES)
    assert set(KEY_FEATURES) <= set(FEATURE_NAMES)
    assert "dynamics_integrated" in KEY_FEATURES


# ----- the statistics -----


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([0.1] * 10, [0.1] * 10) == 0.0
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0, abs=1e-15)


def test_psi_two_bins_by_hand() -> None:
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5) = 0.4 ln 1.8 + 0.4 ln 5 = 0.4 ln 9
    expected = 0.4 * math.log(9.0)
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(expected, rel=1e-12)
    assert psi([0.9, 0.1], [0.5, 0.5]) == pytest.approx(expected, rel=1e-12)  # symmetric
    assert psi([50, 50], [90, 10]) == pytest.approx(expected, rel=1e-12)  # counts normalised


def test_psi_floors_empty_bins_at_eps() -> None:
    eps = 1e-4
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - eps) * math.log(0.5 / eps)
    assert psi([1.0, 0.0], [0.5, 0.5], eps=eps) == pytest.approx(by_hand, rel=1e-12)
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))


@pytest.mark.parametrize(
    ("expected", "actual"),
    [([0.5, 0.5], [1.0]), ([[0.5, 0.5]], [[0.5, 0.5]]), ([0.5, -0.5], [0.5, 0.5]),
     ([0.0, 0.0], [0.5, 0.5]), ([0.5, math.nan], [0.5, 0.5])],
)  # fmt: skip
def test_psi_rejects_bad_input(expected: list[float], actual: list[float]) -> None:
    with pytest.raises(InvalidInputError):
        psi(expected, actual)


def test_ks_statistic_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(700), rng.standard_normal(300) + 0.3
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    ties = rng.integers(0, 4, 200).astype(float), rng.integers(0, 5, 90).astype(float)
    assert ks_statistic(*ties) == pytest.approx(stats.ks_2samp(*ties).statistic, abs=1e-12)
    assert ks_statistic(a, a) == 0.0


# ----- the reference -----


def test_reference_bins_at_deciles_and_point_masses(reference: ReferenceDistribution) -> None:
    assert reference.n_samples == N_REFERENCE and reference.bins == 10
    plain = INDEX["spectral_mel10_deviation"]
    np.testing.assert_allclose(reference.expected[plain], np.full(10, 0.1))
    column = synthetic(N_REFERENCE, seed=0)[:, plain].astype(np.float32)
    deciles = np.quantile(column, np.arange(1, 10) / 10, method="inverted_cdf")
    np.testing.assert_array_equal(reference.edges[plain], deciles.astype(np.float64))
    # a point mass at the maximum gets its own bin rather than an empty one above it
    flag = reference.expected[INDEX[FLAG]]
    assert np.count_nonzero(flag) == 2
    assert flag[0] == pytest.approx(0.1, abs=0.02) and flag[1] == pytest.approx(0.9, abs=0.02)
    # a point mass at the minimum keeps its own bin (right-closed), the rest lies above it
    mass = reference.expected[INDEX[POINT_MASS]]
    assert mass[0] == pytest.approx(0.9, abs=0.02) and 2 <= np.count_nonzero(mass) <= 3
    assert reference.edges[INDEX[POINT_MASS], 0] == 0.0


def test_constant_features_are_marked(reference: ReferenceDistribution) -> None:
    expected = {*CONSTANT, NEARLY_CONSTANT}
    assert set(reference.constant_features) == expected
    assert list(reference.constant_features) == [n for n in FEATURE_NAMES if n in expected]
    assert reference.excluded_features == ()


def test_from_features_rejects_bad_training_data() -> None:
    good = synthetic(100, seed=1)
    bad_value = good.copy()
    bad_value[3, 7] = math.nan
    for features in (good[:, :-1], good[0], good[:5], bad_value):
        with pytest.raises(InvalidInputError):
            ReferenceDistribution.from_features(features)
    with pytest.raises(InvalidInputError):
        ReferenceDistribution.from_features(good, key_features=("no_such_feature",))
    with pytest.raises(InvalidInputError):
        ReferenceDistribution.from_features(good, exclude=("no_such_feature",))
    with pytest.raises(InvalidInputError):
        ReferenceDistribution.from_features(good, bins=1)


# ----- drift -----


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_unshifted_windows_stay_stable(reference: ReferenceDistribution, seed: int) -> None:
    report = drift_report(reference, synthetic(WINDOW, seed))
    assert report.samples == WINDOW and report.model_version == "v7"
    assert set(report.psi_by_group) == set(FEATURE_GROUPS)
    # noise at 500 samples with deciles is about 9/500 + 9/5000 = 0.02 per feature
    assert all(0.0 < value < 0.1 for value in report.psi_by_group.values()), report.psi_by_group
    assert set(report.ks_by_feature) == set(KEY_FEATURES)
    assert all(value < 0.15 for value in report.ks_by_feature.values()), report.ks_by_feature
    assert not report.drifted and not any(report.alerts.values())


@pytest.mark.parametrize("group", list(FEATURE_GROUPS))
def test_a_shifted_group_alerts_alone(reference: ReferenceDistribution, group: str) -> None:
    report = drift_report(reference, synthetic(WINDOW, 21, shift=FEATURE_GROUPS[group]))
    assert report.psi_by_group[group] > 0.25
    others = {g: v for g, v in report.psi_by_group.items() if g != group}
    assert all(value < 0.1 for value in others.values()), others
    in_group = {name for name in KEY_FEATURES if FEATURE_SPECS[INDEX[name]].group == group}
    assert {key for key, alert in report.alerts.items() if alert} == {group} | in_group
    assert report.drifted


def test_one_shifted_key_feature_trips_its_ks_alone(reference: ReferenceDistribution) -> None:
    report = drift_report(reference, synthetic(WINDOW, 22, shift=[INDEX["dynamics_lra"]]))
    assert report.ks_by_feature["dynamics_lra"] > 0.3  # about Phi(0.5) - Phi(-0.5) = 0.38
    # one feature in 32 barely moves the group mean, though it tops the group's maximum
    assert report.psi_by_group["dynamics"] < 0.1
    assert report.max_psi_by_group["dynamics"] > 0.25
    assert max(report.psi_by_feature, key=report.psi_by_feature.__getitem__) == "dynamics_lra"
    assert {key for key, alert in report.alerts.items() if alert} == {"dynamics_lra"}


def test_constant_features_stay_out_of_the_psi(reference: ReferenceDistribution) -> None:
    window = synthetic(WINDOW, 23)
    window[:, INDEX["context_sample_rate"]] = 1.0  # live traffic at 48 kHz, mono, etc.
    window[:, INDEX["context_channels"]] = 1.0
    window[:, INDEX[NEARLY_CONSTANT]] = 0.9
    report = drift_report(reference, window)
    assert report.constant_features == reference.constant_features
    assert not set(report.constant_features) & set(report.psi_by_feature)
    assert len(report.psi_by_feature) == N - len(report.constant_features)
    assert report.psi_by_group["context"] < 0.1 and not report.drifted


def test_excluded_features_and_empty_groups() -> None:
    training = synthetic(2000, seed=2)
    stereo = [FEATURE_NAMES[i] for i in FEATURE_GROUPS["stereo"]]
    reference = ReferenceDistribution.from_features(
        training, exclude=[*stereo, "context_energy_air"]
    )
    assert set(reference.excluded_features) == {*stereo, "context_energy_air"}
    window = synthetic(WINDOW, 24, shift=[INDEX["context_energy_air"]], amount=5.0)
    report = drift_report(reference, window)
    assert "stereo" not in report.psi_by_group and "stereo" not in report.alerts
    assert "context_energy_air" not in report.ks_by_feature
    assert "stereo_width" not in report.ks_by_feature
    assert not report.drifted
    assert set(report.excluded_features) == set(reference.excluded_features)


def test_features_are_compared_at_float32_precision() -> None:
    # A discrete feature (44.1 or 48 kHz) stored as float32 in the training set and seen as
    # float64 live: 0.91875 as float64 lies above its float32 edge 0.9187499880...
    training = synthetic(2000, seed=3)
    rates = np.random.default_rng(4).choice([44_100 / 48_000, 1.0], size=(2000 + WINDOW))
    training[:, INDEX["context_sample_rate"]] = rates[:2000]
    reference = ReferenceDistribution.from_features(training.astype(np.float32))
    window = synthetic(WINDOW, 25)
    window[:, INDEX["context_sample_rate"]] = rates[2000:]
    assert drift_report(reference, window).psi_by_feature["context_sample_rate"] < 0.02


# ----- storage -----


def test_json_round_trip_gives_identical_reports(reference: ReferenceDistribution) -> None:
    text = json.dumps(reference.to_json(), allow_nan=False)  # strict JSON: no inf padding
    loaded = ReferenceDistribution.from_json(json.loads(text))
    assert loaded.model_version == "v7" and loaded.n_samples == N_REFERENCE
    assert loaded.bins == reference.bins and loaded.key_features == reference.key_features
    assert loaded.constant_features == reference.constant_features
    np.testing.assert_array_equal(loaded.edges, reference.edges)
    np.testing.assert_array_equal(loaded.expected, reference.expected)
    np.testing.assert_array_equal(loaded.key_samples, reference.key_samples)
    for window in (synthetic(WINDOW, 31), synthetic(300, 32, shift=FEATURE_GROUPS["harmonic"])):
        assert drift_report(loaded, window) == drift_report(reference, window)
    data = reference.to_json()
    assert data["format"] == REFERENCE_FORMAT and len(data["key_features"][0]["sample"]) == 2000


def test_from_json_refuses_other_formats_and_layouts(reference: ReferenceDistribution) -> None:
    data = reference.to_json()
    with pytest.raises(InvalidInputError):
        ReferenceDistribution.from_json({**data, "format": "something-else/1"})
    renamed = json.loads(json.dumps(data))
    renamed["features"][5]["name"] = "spectral_renamed"
    with pytest.raises(FailedPreconditionError):
        ReferenceDistribution.from_json(renamed)
    broken = json.loads(json.dumps(data))
    del broken["features"][7]["expected"]
    with pytest.raises(InvalidInputError):
        ReferenceDistribution.from_json(broken)
    unsorted = json.loads(json.dumps(data))
    unsorted["features"][9]["edges"].reverse()
    with pytest.raises(InvalidInputError):
        ReferenceDistribution.from_json(unsorted)


# ----- the monitor -----


def test_monitor_waits_for_min_samples_and_slides(reference: ReferenceDistribution) -> None:
    monitor = DriftMonitor(reference, DriftThresholds(min_samples=50), window=100)
    rows = synthetic(150, seed=41)
    for i in range(49):
        assert monitor.observe(rows[i]) == i + 1
    assert monitor.report() is None
    monitor.observe(rows[49])
    first = monitor.report()
    assert first is not None and first.samples == 50
    for row in rows[50:]:
        monitor.observe(row)
    latest = monitor.report()
    assert latest is not None and latest.samples == 100 == monitor.samples
    assert latest == drift_report(reference, rows[50:], DriftThresholds(min_samples=50))
    other = ReferenceDistribution.from_features(synthetic(1000, seed=5), model_version="v8")
    monitor.reset(other)
    assert monitor.samples == 0 and monitor.report() is None and monitor.reference is other


def test_monitor_copies_what_it_observes(reference: ReferenceDistribution) -> None:
    monitor = DriftMonitor(reference, DriftThresholds(min_samples=10), window=10)
    buffer = np.zeros(N)
    rows = synthetic(10, seed=42)
    for row in rows:
        buffer[:] = row  # a caller reusing one buffer must not rewrite the window
        monitor.observe(buffer)
    assert monitor.report() == drift_report(reference, rows, DriftThresholds(min_samples=10))


def test_monitor_rejects_bad_vectors(reference: ReferenceDistribution) -> None:
    monitor = DriftMonitor(reference)
    good = synthetic(1, seed=43)[0]
    nan, inf, huge = good.copy(), good.copy(), good.copy()
    nan[100], inf[5], huge[9] = math.nan, math.inf, 1e40  # 1e40: inf as the model's float32
    for bad in (good[:-1], np.append(good, 0.0), good[None, :], nan, inf, huge, "loud"):
        with pytest.raises(InvalidInputError):
            monitor.observe(bad)
    assert monitor.samples == 0


def test_thresholds_are_checked(reference: ReferenceDistribution) -> None:
    for kwargs in ({"psi": 0.0}, {"psi": math.nan}, {"ks": 1.5}, {"min_samples": 0}):
        with pytest.raises(InvalidInputError):
            DriftThresholds(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        DriftMonitor(reference, DriftThresholds(min_samples=600), window=500)
    assert DriftThresholds() == DriftThresholds(psi=0.25, ks=0.2, min_samples=200)


def test_monitor_is_thread_safe(reference: ReferenceDistribution) -> None:
    monitor = DriftMonitor(reference, DriftThresholds(min_samples=50), window=WINDOW)
    rows = synthetic(1200, seed=44)
    errors: list[BaseException] = []
    reports = []
    done = threading.Event()

    def write(part: FloatArray) -> None:
        try:
            for row in part:
                monitor.observe(row)
        except BaseException as error:  # a failure in a thread must fail the test
            errors.append(error)

    def read() -> None:
        try:
            while not done.is_set():
                report = monitor.report()
                if report is not None:
                    reports.append(report)
        except BaseException as error:
            errors.append(error)

    writers = [threading.Thread(target=write, args=(part,)) for part in np.split(rows, 4)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert not errors
    assert monitor.samples == WINDOW
    final = monitor.report()
    assert final is not None and final.samples == WINDOW and not final.drifted
    assert all(50 <= r.samples <= WINDOW and len(r.psi_by_group) == 6 for r in reports)


def test_report_takes_a_few_milliseconds(reference: ReferenceDistribution) -> None:
    monitor = DriftMonitor(reference)
    for row in synthetic(WINDOW, seed=45):
        monitor.observe(row)
    timings = []
    for _ in range(15):
        start = time.perf_counter()
        monitor.report()
        timings.append(time.perf_counter() - start)
    assert float(np.median(timings)) < 0.05  # about 3 ms on one shared core
