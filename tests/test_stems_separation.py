"""Stem separation domain: the model folder (checksums before unpickling), streamed
segment-wise application equal to demucs.apply.apply_model, the streaming resampler equal to
resample_poly, and the job's length, channel and reconstruction guarantees.

The Demucs model is a small randomly initialised HTDemucs saved by the test in demucs' own
repository format (tests/support/tiny_demucs.py): nothing is downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from demucs.apply import apply_model
from demucs.pretrained import get_model

from tests.support.tiny_demucs import SOURCES, install_tiny_bag, save_in_repo, tiny_htdemucs
from voidline.errors import FailedPreconditionError, InvalidInputError, NotFoundError
from voidline.stems import demucs_models
from voidline.stems.resample import StreamingResampler
from voidline.stems.separation import (
    SeparationJob,
    SeparationOptions,
    SeparatorCatalog,
    separate_whole,
)
from voidline.stems.streaming import StreamingSeparator, crossfade_weight, separate_array

FS = 44_100


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    install_tiny_bag(folder, "tiny", seeds=(0,))
    install_tiny_bag(folder, "pair", seeds=(1, 2), weights=[[1, 0.5, 1, 2], [0.5, 1, 1, 1]])
    return folder


def noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((frames, channels))).astype(np.float32)


def reference_stems(model_dir: Path, name: str, x: np.ndarray, **kwargs: object) -> np.ndarray:
    """demucs' own loading and apply_model on the whole array: (sources, frames, channels)."""
    model = get_model(name, repo=model_dir / "demucs")
    mix = torch.from_numpy(np.ascontiguousarray(x.T))[None]
    with torch.no_grad():
        out = apply_model(model, mix, shifts=0, split=True, **kwargs)  # type: ignore[arg-type]
    stems: np.ndarray = out[0].numpy().transpose(0, 2, 1)
    return stems


# -- streamed application equals apply_model --------------------------------------------


@pytest.mark.parametrize("frames", [1, 1000, 2 * FS, 5 * FS + 123])
@pytest.mark.parametrize("name", ["tiny", "pair"])
def test_streamed_segments_equal_apply_model(model_dir: Path, name: str, frames: int) -> None:
    x = noise(frames, seed=frames)
    expected = reference_stems(model_dir, name, x, overlap=0.25)
    separator = StreamingSeparator(demucs_models.load_bag(model_dir, name), overlap=0.25)
    # Odd block sizes: segment boundaries fall anywhere inside the pushed blocks.
    got = separate_array(separator, x, block_frames=4_321)
    assert got.shape == expected.shape == (4, frames, 2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_segment_and_overlap_overrides_match_apply_model(model_dir: Path) -> None:
    x = noise(4 * FS, seed=5)
    expected = reference_stems(model_dir, "tiny", x, overlap=0.5, segment=1.3)
    separator = StreamingSeparator(
        demucs_models.load_bag(model_dir, "tiny"), overlap=0.5, segment_s=1.3
    )
    np.testing.assert_allclose(separate_array(separator, x, 10_000), expected, atol=1e-6)


def test_memory_is_bounded_by_the_segment_not_the_song(model_dir: Path) -> None:
    """After 30 s of input in 0.1 s blocks the streamer holds under two segments of it."""
    separator = StreamingSeparator(demucs_models.load_bag(model_dir, "tiny"), overlap=0.25)
    streamer = separator._streams[0][0]
    emitted = 0
    for block in range(300):
        emitted += separator.push(noise(FS // 10, seed=block)).shape[1]
        assert streamer._input.shape[0] <= 2 * streamer.segment
    assert emitted >= 30 * FS - 2 * streamer.segment  # output kept pace with the input


def test_shifts_average_time_shifted_runs_and_are_reproducible(model_dir: Path) -> None:
    x = noise(3 * FS, seed=9)
    members = demucs_models.load_bag(model_dir, "tiny")
    once = separate_array(StreamingSeparator(members, shifts=2, seed=3), x)
    again = separate_array(StreamingSeparator(members, shifts=2, seed=3), x)
    other_seed = separate_array(StreamingSeparator(members, shifts=2, seed=4), x)
    unshifted = separate_array(StreamingSeparator(members, shifts=0), x)
    assert once.shape == unshifted.shape
    np.testing.assert_array_equal(once, again)
    assert not np.array_equal(once, other_seed) and not np.array_equal(once, unshifted)


def test_crossfade_weight_is_demucs_triangle() -> None:
    weight = crossfade_weight(6)
    np.testing.assert_allclose(weight, [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3], rtol=1e-6)
    assert crossfade_weight(7).argmax() == 3 and crossfade_weight(7)[-1] > 0


# -- the model folder ---------------------------------------------------------------------


def test_listing_shows_bags_and_their_state(tmp_path: Path, model_dir: Path) -> None:
    listed = {m.name: m for m in demucs_models.list_installed(model_dir)}
    assert listed["tiny"].usable and listed["tiny"].kind == "bag"
    assert listed["pair"].signatures == ("pair0001", "pair0002")
    folder = tmp_path / "demucs"
    folder.mkdir()
    (folder / "broken.yaml").write_text("models: [nowhere0001]\n")
    broken = demucs_models.list_installed(tmp_path)[0]
    assert not broken.usable and "nowhere0001" in broken.problem
    assert demucs_models.list_installed(tmp_path / "absent") == []


def test_unknown_model_names_the_installed_ones(model_dir: Path) -> None:
    with pytest.raises(NotFoundError, match=r"htdemucs.*installed: pair, tiny"):
        demucs_models.load_bag(model_dir, "htdemucs")
    with pytest.raises(InvalidInputError):
        demucs_models.load_bag(model_dir, "../etc/passwd")


def test_checksum_mismatch_refuses_before_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_tiny_bag(tmp_path, "tiny")
    weight = next((tmp_path / "demucs").glob("*.th"))
    data = bytearray(weight.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte: the file no longer matches its name
    weight.write_bytes(bytes(data))
    loads: list[object] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))
    with pytest.raises(FailedPreconditionError, match="checksum mismatch"):
        demucs_models.load_bag(tmp_path, "tiny")
    assert loads == []  # nothing was unpickled


def test_weight_file_without_checksum_is_refused(tmp_path: Path) -> None:
    path = save_in_repo(tiny_htdemucs(), tmp_path / "demucs", "plain0001")
    path.rename(path.with_name("plain0001.th"))
    listed = demucs_models.list_installed(tmp_path)[0]
    assert not listed.usable and "without a checksum" in listed.problem
    with pytest.raises(FailedPreconditionError, match="no checksum in its name"):
        demucs_models.load_bag(tmp_path, "plain0001")


def test_restricted_unpickler_refuses_other_globals(tmp_path: Path) -> None:
    """A file whose checksum matches but whose pickle calls anything else is not loaded."""
    import hashlib
    import io

    buffer = io.BytesIO()
    torch.save({"klass": math.floor, "args": (), "kwargs": {}, "state": {}}, buffer)
    data = buffer.getvalue()
    folder = tmp_path / "demucs"
    folder.mkdir()
    (folder / f"evil0001-{hashlib.sha256(data).hexdigest()[:8]}.th").write_bytes(data)
    with pytest.raises(FailedPreconditionError, match="restricted loader refused"):
        demucs_models.load_bag(tmp_path, "evil0001")


# -- the streaming resampler --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate_in", "rate_out"),
    [(48_000, 44_100), (44_100, 48_000), (22_050, 44_100), (96_000, 44_100)],
)
@pytest.mark.parametrize("frames", [0, 1, 7, 30_011])
def test_streaming_resampler_equals_resample_poly(rate_in: int, rate_out: int, frames: int) -> None:
    x = noise(frames, seed=frames)
    resampler = StreamingResampler(rate_in, rate_out, 2)
    rng = np.random.default_rng(1)
    parts, start = [], 0
    while start < frames:
        size = int(rng.integers(1, 3000))
        parts.append(resampler.push(x[start : start + size]))
        start += size
    parts.append(resampler.finish())
    got = np.concatenate(parts)
    g = math.gcd(rate_in, rate_out)
    expected = (
        scipy.signal.resample_poly(x, rate_out // g, rate_in // g, axis=0)
        if frames
        else np.zeros((0, 2), np.float32)
    )
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


# -- the job ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "channels", "frames"), [(FS, 2, 3 * FS + 17), (48_000, 1, 48_001), (22_050, 2, 5)]
)
def test_job_keeps_length_rate_and_channels(
    model_dir: Path, rate: int, channels: int, frames: int
) -> None:
    catalog = SeparatorCatalog(model_dir, default_model="tiny")
    options = SeparationOptions(backend="demucs", stems=("vocals", "bass"))
    job = SeparationJob(catalog.resolve(options, rate), options, rate, channels)
    stems = separate_whole(job, noise(frames, channels), block_frames=4_800)
    assert list(stems) == ["vocals", "bass"]
    for stem in stems.values():
        assert stem.shape == (frames, channels) and stem.dtype == np.float32
    assert job.frames_out == frames and math.isfinite(job.reconstruction_error_db)


def test_job_at_the_model_rate_equals_apply_model(model_dir: Path) -> None:
    x = noise(3 * FS, seed=2)
    catalog = SeparatorCatalog(model_dir, default_model="tiny")
    options = SeparationOptions(backend="demucs")
    job = SeparationJob(catalog.resolve(options, FS), options, FS, 2)
    stems = separate_whole(job, x, block_frames=4_410)
    expected = reference_stems(model_dir, "tiny", x, overlap=0.25)
    got = np.stack([stems[name] for name in SOURCES])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    residual = x.astype(np.float64) - got.sum(axis=0, dtype=np.float64)
    expected_db = 10 * math.log10(np.square(residual).sum() / np.square(x.astype(np.float64)).sum())
    assert job.reconstruction_error_db == pytest.approx(expected_db, abs=1e-6)


def test_job_rejects_what_it_cannot_do(model_dir: Path) -> None:
    catalog = SeparatorCatalog(model_dir, default_model="tiny")
    options = SeparationOptions(backend="demucs")
    resolved = catalog.resolve(options, FS)
    with pytest.raises(InvalidInputError, match="mono or stereo"):
        SeparationJob(resolved, options, FS, 6)
    with pytest.raises(InvalidInputError, match="no stem guitar; its stems are drums"):
        bad = SeparationOptions(backend="demucs", stems=("guitar",))
        SeparationJob(resolved, bad, FS, 2)
    with pytest.raises(InvalidInputError, match="longer than demucs:tiny's 2 s"):
        long = SeparationOptions(backend="demucs", segment_s=3.0)
        SeparationJob(resolved, long, FS, 2)
    job = SeparationJob(resolved, options, FS, 2)
    x = noise(1000)
    x[500, 1] = np.nan
    with pytest.raises(InvalidInputError, match="sample 500 is NaN"):
        job.push(x)
    for bad_options in (
        SeparationOptions(overlap=0.95),
        SeparationOptions(shifts=11),
        SeparationOptions(segment_s=0.01),
        SeparationOptions(backend="spleeter"),
        SeparationOptions(device="tpu"),
        SeparationOptions(backend="dsp", model="htdemucs"),
    ):
        with pytest.raises(InvalidInputError):
            catalog.resolve(bad_options, FS)


def test_cuda_without_a_device_is_a_failed_precondition(model_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    catalog = SeparatorCatalog(model_dir, default_model="tiny")
    with pytest.raises(FailedPreconditionError, match="no CUDA device"):
        catalog.resolve(SeparationOptions(backend="demucs", device="cuda"), FS)


def test_auto_uses_demucs_when_installed_and_dsp_otherwise(model_dir: Path, tmp_path: Path) -> None:
    with_weights = SeparatorCatalog(model_dir, default_model="tiny").resolve(
        SeparationOptions(), FS
    )
    assert with_weights.label == "demucs:tiny" and not with_weights.notes
    without = SeparatorCatalog(tmp_path, default_model="htdemucs").resolve(SeparationOptions(), FS)
    assert without.label == "dsp" and "no usable demucs weights for htdemucs" in without.notes[0]
    with pytest.raises(NotFoundError):  # a model named explicitly is never swapped for dsp
        SeparatorCatalog(tmp_path).resolve(SeparationOptions(model="htdemucs"), FS)
    with pytest.raises(NotFoundError):
        SeparatorCatalog(tmp_path).resolve(SeparationOptions(backend="demucs"), FS)


def test_silence_gives_silent_stems(model_dir: Path) -> None:
    catalog = SeparatorCatalog(model_dir, default_model="tiny")
    options = SeparationOptions(backend="demucs")
    job = SeparationJob(catalog.resolve(options, FS), options, FS, 2)
    stems = separate_whole(job, np.zeros((FS, 2), np.float32))
    assert job.silent
    assert all(np.abs(s).max() < 1e-6 for s in stems.values())
