"""The parameter network, its differentiable EQ and compressor curves, and its ONNX export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from voidline.analysis.features import FEATURE_NAMES
from voidline.dsp.compressor import CompressorBand, static_curve_db
from voidline.dsp.eq import EqSettings, Equalizer
from voidline.errors import InvalidInputError
from voidline.mastering.model import (
    CURVE_LEVELS_DB,
    FORMAT_AND_DEFECT_FEATURES,
    MIN_FEATURE_STD,
    N_FEATURES,
    CompressorCurve,
    EqResponse,
    ParameterNetwork,
    TokenSelfAttention,
)
from voidline.mastering.parameters import (
    BAND_NAMES,
    BY_NAME,
    EQ_BAND_NAMES,
    N_PARAMETERS,
    PARAMETERS,
    to_physical,
)
from voidline.mastering.train import (
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    export_onnx,
    onnx_outputs,
    quantize_int8,
)

EQ_COLUMNS = [BY_NAME[name].index for name in (*EQ_BAND_NAMES, "low_shelf_db", "high_shelf_db")]


def raw_features(n: int, seed: int = 0) -> np.ndarray:
    """Feature-like values: each column with its own offset and scale, as real features have."""
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-80.0, 20.0, N_FEATURES)
    scale = rng.uniform(0.5, 40.0, N_FEATURES)
    return (offset + scale * rng.standard_normal((n, N_FEATURES))).astype(np.float32)


def network_for(features: np.ndarray, seed: int = 0) -> ParameterNetwork:
    torch.manual_seed(seed)
    network = ParameterNetwork()
    network.set_standardisation(features)
    return network.eval()


def test_network_maps_raw_features_to_unit_outputs() -> None:
    features = raw_features(64)
    network = network_for(features)
    with torch.no_grad():
        outputs = network(torch.from_numpy(features[:5])).numpy()
        extreme = network(torch.full((2, N_FEATURES), 1e9)).numpy()
    assert outputs.shape == (5, N_PARAMETERS)
    assert np.all((outputs >= 0.0) & (outputs <= 1.0))
    # Standardised scores are clipped, so absurd inputs still give finite, bounded outputs.
    assert np.isfinite(extreme).all()


def test_standardisation_uses_training_statistics_with_a_floor() -> None:
    features = raw_features(100)
    features[:, 7] = 3.0  # constant in the training data
    network = network_for(features)
    np.testing.assert_allclose(network.feature_mean.numpy(), features.mean(axis=0), rtol=1e-5)
    assert network.feature_std[7].item() == pytest.approx(MIN_FEATURE_STD)
    np.testing.assert_allclose(network.feature_std[0].item(), features[:, 0].std(), rtol=1e-5)
    # A feature constant in training is ignored: any value there gives the same outputs.
    assert network.feature_scale[7].item() == 0.0 and network.feature_scale[0].item() > 0.0
    assert set(network.ignored_features) == {FEATURE_NAMES[7], *FORMAT_AND_DEFECT_FEATURES}
    network.eval()
    shifted = features[:4].copy()
    shifted[:, 7] = 1e6
    with torch.no_grad():
        same = network(torch.from_numpy(features[:4])), network(torch.from_numpy(shifted))
    torch.testing.assert_close(same[0], same[1])
    with pytest.raises(InvalidInputError, match="shape"):
        network.set_standardisation(features[:, :10])


def test_attention_block_needs_a_width_that_splits_into_heads() -> None:
    block = TokenSelfAttention(256, 16, 4)
    assert block(torch.randn(3, 256)).shape == (3, 256)
    with pytest.raises(InvalidInputError, match="tokens"):
        TokenSelfAttention(256, 16, 3)


def test_eq_response_matches_the_dsp_equalizer() -> None:
    response = EqResponse()
    rng = np.random.default_rng(1)
    unit = rng.uniform(0.0, 1.0, (20, N_PARAMETERS))
    unit[0], unit[1] = 0.0, 1.0  # every gain at its extreme
    with torch.no_grad():
        ours = response(torch.from_numpy(unit)).numpy()
    for row, curve in zip(unit, ours, strict=True):
        p = to_physical(row)
        settings = EqSettings(
            tuple(p[name] for name in EQ_BAND_NAMES), p["low_shelf_db"], p["high_shelf_db"]
        )
        reference = Equalizer(settings, response.fs).response_db(response.freqs_hz)
        np.testing.assert_allclose(curve, reference, atol=1e-3)


def test_eq_response_is_flat_at_neutral_and_differentiable_in_the_eq_only() -> None:
    unit = torch.rand(4, N_PARAMETERS, dtype=torch.float64)
    for column in EQ_COLUMNS:
        unit[:, column] = PARAMETERS[column].to_unit(0.0)
    unit.requires_grad_(True)
    curve = EqResponse()(unit)
    assert float(curve.detach().abs().max()) < 1e-9
    (curve + 1.0).pow(2).sum().backward()  # type: ignore[no-untyped-call]
    gradient = unit.grad
    assert gradient is not None
    eq_mask = torch.zeros(N_PARAMETERS, dtype=torch.bool)
    eq_mask[EQ_COLUMNS] = True
    assert bool((gradient[:, eq_mask].abs() > 0).all())
    assert bool((gradient[:, ~eq_mask] == 0).all())


def test_compressor_curve_matches_the_dsp_gain_computer() -> None:
    rng = np.random.default_rng(2)
    unit = rng.uniform(0.0, 1.0, (20, N_PARAMETERS))
    unit[0], unit[1] = 0.0, 1.0  # ratio 1 and knee 0; ratio 8 and knee 12 dB
    with torch.no_grad():
        ours = CompressorCurve()(torch.from_numpy(unit)).numpy()
    assert ours.shape == (20, len(BAND_NAMES), CURVE_LEVELS_DB.size)
    for row, curves in zip(unit, ours, strict=True):
        p = to_physical(row)
        for band, curve in zip(BAND_NAMES, curves, strict=True):
            settings = CompressorBand(
                threshold_db=p[f"comp_{band}_threshold_db"],
                ratio=p[f"comp_{band}_ratio"],
                knee_db=p["comp_knee_db"],
                attack_ms=10.0,
                release_ms=100.0,
            )
            reduction = CURVE_LEVELS_DB - static_curve_db(CURVE_LEVELS_DB, settings)
            np.testing.assert_allclose(curve, reduction, atol=1e-9)


def test_compressor_curve_leaves_the_threshold_free_at_ratio_one() -> None:
    unit = torch.rand(4, N_PARAMETERS, dtype=torch.float64)
    ratio_columns = [BY_NAME[f"comp_{band}_ratio"].index for band in BAND_NAMES]
    unit[:, ratio_columns] = 0.0  # ratio 1: no band compresses
    unit.requires_grad_(True)
    curve = CompressorCurve()(unit)
    assert float(curve.detach().abs().max()) == 0.0
    (curve - 1.0).pow(2).sum().backward()  # type: ignore[no-untyped-call]
    gradient = unit.grad
    assert gradient is not None
    threshold_columns = [BY_NAME[f"comp_{band}_threshold_db"].index for band in BAND_NAMES]
    assert bool((gradient[:, threshold_columns] == 0).all())  # free: no pull towards 0 dB
    assert bool((gradient[:, ratio_columns] != 0).all())  # but the ratio is pushed up
    others = torch.ones(N_PARAMETERS, dtype=torch.bool)
    others[[*threshold_columns, *ratio_columns, BY_NAME["comp_knee_db"].index]] = False
    assert bool((gradient[:, others] == 0).all())


def test_eq_response_rejects_frequencies_outside_the_band() -> None:
    with pytest.raises(InvalidInputError, match="frequencies"):
        EqResponse(np.array([10.0, 30_000.0]))


def test_onnx_export_is_one_file_that_matches_torch_and_quantises(tmp_path: Path) -> None:
    features = raw_features(64)
    network = network_for(features, seed=3)
    fp32 = tmp_path / "model.onnx"
    int8 = tmp_path / "model.int8.onnx"
    export_onnx(network, fp32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no external data
    quantize_int8(fp32, int8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx", "model.onnx"]

    for batch in (1, 3, 17):  # the batch axis is dynamic
        x = features[:batch]
        with torch.no_grad():
            reference = network(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(onnx_outputs(fp32, x), reference, atol=FP32_TOLERANCE)
        assert np.abs(onnx_outputs(int8, x) - reference).max() < INT8_TOLERANCE

    quantised = onnx.load(str(int8))
    assert "MatMulInteger" in {node.op_type for node in quantised.graph.node}
    assert int8.stat().st_size < 0.4 * fp32.stat().st_size
