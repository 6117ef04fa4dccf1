"""Procedural music generator: the source tracks of the mastering model's training set.

`generate_track(seed)` draws a plan (`arrangement`), renders its parts (`drums`, `tonal`,
`voice`), balances, reverberates and masters them (`mix`). The result is meant to be a
reasonably balanced, mastered-sounding track: the *target* that `voidline.mastering.degrade`
then spoils with an invertible "un-mastering" chain. Only procedurally generated audio is
used for training, so the data set needs no downloads and has no licensing questions.

Everything is drawn from `np.random.default_rng(seed)` in a fixed order, so a seed always
gives the same samples (bit for bit on the same numpy/scipy build).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voidline.dsp.loudness_target import integrated_lufs
from voidline.errors import InvalidInputError
from voidline.mastering.synth.arrangement import make_plan
from voidline.mastering.synth.mix import CEILING_DBTP, band_levels, mix_and_master

__all__ = ["LOUDNESS_RANGE_LUFS", "GeneratedTrack", "generate_track"]

# Mastered music from dynamic (film, game and acoustic releases near -20 LUFS) to loud
# (-9); the masters below -14 keep their transients, as recorded soundtracks do.
LOUDNESS_RANGE_LUFS = (-20.0, -9.0)
MIN_SAMPLE_RATE_HZ = 16_000  # the chain's 6 kHz crossover and the hats need it
MAX_SAMPLE_RATE_HZ = 192_000
MAX_SECONDS = 600.0
MIN_SECONDS = 0.5  # a bar's worth at the fastest tempo; loudness needs 400 ms blocks


@dataclass(frozen=True)
class GeneratedTrack:
    """A generated, mastered stereo track and the recipe that made it."""

    audio: NDArray[np.float64]  # (frames, 2), full scale 1.0
    fs: int
    recipe: dict[str, Any]  # plain JSON-able values


def check_arguments(seed: int, seconds: float, fs: int) -> None:
    """InvalidInputError unless seed, seconds and fs lie within what the generators support."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(seconds, int | float) and math.isfinite(seconds)):
        raise InvalidInputError(f"seconds must be a finite number, got {seconds!r}")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise InvalidInputError(
            f"seconds must lie within {MIN_SECONDS:g}-{MAX_SECONDS:g}, got {seconds:g}"
        )
    if isinstance(fs, bool) or not isinstance(fs, int | np.integer):
        raise InvalidInputError(f"the sample rate must be a whole number of Hz, got {fs!r}")
    if not MIN_SAMPLE_RATE_HZ <= fs <= MAX_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"the sample rate must lie within {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz, "
            f"got {fs}"
        )


def generate_track(seed: int, seconds: float = 8.0, fs: int = 44100) -> GeneratedTrack:
    """A mastered stereo track of `seconds` at `fs`, the same for the same arguments.

    The recipe holds the musical plan (tempo_bpm, key, scale, arrangement, structure, instruments,
    patches, stereo_image, wide_bass, pans, levels, articulation, expression_db, bar_gains_db),
    what was rendered (per-part details, percussive_share: the drums' share of the mix power),
    the mastering (the tonal balance EQ, codec_lowpass_hz, target and measured integrated
    loudness, ceiling) and band_levels_dbfs (per compressor band percentiles of the 10 ms peak
    level, for placing dynamics degradations).
    """
    check_arguments(seed, seconds, fs)
    fs = int(fs)
    rng = np.random.default_rng(int(seed))
    n_frames = round(seconds * fs)
    plan = make_plan(rng, fs, n_frames)
    target = round(float(rng.uniform(*LOUDNESS_RANGE_LUFS)), 2)
    audio, details = mix_and_master(rng, plan, target)
    recipe = {
        "seed": int(seed),
        "seconds": float(seconds),
        "fs": fs,
        **plan.recipe(),
        "parts": {
            k: v
            for k, v in details.items()
            if k not in ("percussive_share", "tonal_balance", "codec_lowpass_hz")
        },
        "percussive_share": details["percussive_share"],
        "tonal_balance": details["tonal_balance"],
        "codec_lowpass_hz": details["codec_lowpass_hz"],
        "target_lufs": target,
        "integrated_lufs": round(integrated_lufs(audio, fs), 3),
        "ceiling_dbtp": CEILING_DBTP,
        "band_levels_dbfs": band_levels(audio, fs),
    }
    return GeneratedTrack(audio=audio, fs=fs, recipe=recipe)
