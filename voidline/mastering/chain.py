"""The mastering chain: the 32 parameters applied by the DSP stages, in order.

    input ─▶ working gain ─▶ EQ ─▶ 4-band compressor ─▶ stereo width / mono bass ─▶ exciter
          ─▶ gain + true-peak limiter to the loudness target (re-measured, ±0.1 LU)

1. Working gain: the input is brought to WORKING_LUFS integrated (BS.1770-5) first, so the
   compressor thresholds mean the same thing for a quiet and a loud input (they are dBFS at
   that working level). Silence or near-silence is refused here: there is no gain to find.
2. EQ (`voidline.dsp.eq`): ten octave bands 31.5 Hz-16 kHz and two shelves.
3. Multiband compressor (`voidline.dsp.compressor`): Linkwitz-Riley bands at CROSSOVER_HZ,
   each with its threshold and ratio; attack, release and knee shared.
4. Stereo (`voidline.dsp.stereo.widen`): side gain per band, mono below mono_bass_hz, and
   the guard that keeps mono compatibility within 1 dB of the input's.
5. Exciter (`voidline.dsp.exciter.excite`): 4x oversampled tanh harmonics above a corner.
6. Loudness (`voidline.dsp.loudness_target.match_loudness`): gain and true-peak look-ahead
   limiting to the target, the 16x meter's true peak at or below the ceiling.

An optional reference-match EQ (a callable, see `voidline.mastering.reference`) runs after
the exciter, just before the loudness stage: it sees the tone the compressor, the width
stage and the exciter have left, so the master's tonal balance is the reference's whatever
those stages did to it. Stages whose settings do nothing are skipped, and each stage reports
progress.

The working gain makes one channel-major copy of the signal (a contiguous row per channel,
which the filters run along, one thread per channel). Stages 2-5 work on it in place and
share one spare array of its size, so no stage transposes, copies or allocates the whole
signal again; the loudness stage reads the rows in place as (frames, channels), uses the
spare array for its trial signals and returns a new C-ordered array.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from voidline.dsp.biquad import as_frames, to_frames
from voidline.dsp.compressor import CompressorBand, MultibandCompressor
from voidline.dsp.crossover import Crossover
from voidline.dsp.eq import EqSettings, Equalizer
from voidline.dsp.exciter import MAX_FREQ_FRACTION, excite_rows
from voidline.dsp.loudness_target import (
    ABSOLUTE_GATE_LUFS,
    LoudnessResult,
    integrated_lufs,
    match_loudness,
)
from voidline.dsp.stereo import widen_rows
from voidline.errors import InvalidInputError
from voidline.mastering.parameters import (
    BAND_NAMES,
    CROSSOVER_HZ,
    EQ_BAND_NAMES,
    MONO_BASS_OFF_BELOW_HZ,
    PARAMETER_NAMES,
)

WORKING_LUFS = -18.0  # the level the compressor thresholds refer to
MIN_SAMPLE_RATE_HZ = 16_000  # the 6 kHz crossover needs fs > 13.3 kHz
MAX_CHANNELS = 2
MIN_SECONDS = 0.4  # one 400 ms gating block: anything shorter has no integrated loudness

Progress = Callable[[str, float], None]
MatchEq = Callable[[NDArray[np.float64]], NDArray[np.float64]]


@dataclass(frozen=True)
class ChainSettings:
    """Every stage's settings in physical units, made from the 32 named parameters."""

    eq: EqSettings
    compressor: tuple[CompressorBand, ...]
    widths: tuple[float, ...]
    mono_bass_hz: float  # 0: off
    exciter_amount: float
    exciter_drive_db: float
    exciter_freq_hz: float
    limiter_release_ms: float

    @classmethod
    def from_parameters(cls, params: Mapping[str, float]) -> ChainSettings:
        """Build the settings from all 32 parameters by name (see parameters.PARAMETERS)."""
        missing = [n for n in PARAMETER_NAMES if n not in params]
        if missing:
            raise InvalidInputError(f"chain parameters lack {', '.join(missing)}")
        bad = [n for n in PARAMETER_NAMES if not math.isfinite(float(params[n]))]
        if bad:
            raise InvalidInputError(f"chain parameters must be finite: {', '.join(bad)}")
        bands = tuple(
            CompressorBand(
                threshold_db=params[f"comp_{band}_threshold_db"],
                ratio=max(1.0, params[f"comp_{band}_ratio"]),
                knee_db=params["comp_knee_db"],
                attack_ms=params["comp_attack_ms"],
                release_ms=params["comp_release_ms"],
            )
            for band in BAND_NAMES
        )
        mono = params["mono_bass_hz"]
        return cls(
            eq=EqSettings(
                band_gains_db=tuple(params[name] for name in EQ_BAND_NAMES),
                low_shelf_db=params["low_shelf_db"],
                high_shelf_db=params["high_shelf_db"],
            ),
            compressor=bands,
            widths=tuple(params[f"width_{band}"] for band in BAND_NAMES),
            mono_bass_hz=mono if mono >= MONO_BASS_OFF_BELOW_HZ else 0.0,
            exciter_amount=params["exciter_amount"],
            exciter_drive_db=params["exciter_drive_db"],
            exciter_freq_hz=params["exciter_freq_hz"],
            limiter_release_ms=params["limiter_release_ms"],
        )


@dataclass(frozen=True)
class ChainResult:
    """The mastered audio and what the last stage measured."""

    audio: NDArray[np.float64]
    loudness: LoudnessResult
    working_gain_db: float
    stage_seconds: dict[str, float] = field(default_factory=dict)


def check_input(audio: NDArray[np.float64], fs: int) -> NDArray[np.float64]:
    """Validate what the chain accepts: 1-2 channels, >= 16 kHz, >= 0.4 s, finite samples."""
    if isinstance(fs, bool) or not isinstance(fs, int) or fs < MIN_SAMPLE_RATE_HZ:
        raise InvalidInputError(
            f"mastering needs a sample rate of at least {MIN_SAMPLE_RATE_HZ} Hz, got {fs}"
        )
    frames = np.asarray(audio, dtype=np.float64)
    if frames.ndim != 2 or not 1 <= frames.shape[1] <= MAX_CHANNELS:
        raise InvalidInputError(
            f"mastering takes mono or stereo audio; got {frames.shape[-1] if frames.ndim else 0}"
            " channels (downmix to stereo first)"
        )
    if frames.shape[0] < MIN_SECONDS * fs:
        raise InvalidInputError(
            f"the audio is {frames.shape[0] / fs:.3f} s long; mastering needs at least "
            f"{MIN_SECONDS:g} s (one BS.1770 gating block) to measure loudness"
        )
    if not np.isfinite(frames).all():
        raise InvalidInputError("the audio holds NaN or infinite samples; send finite PCM")
    return as_frames(frames)


def working_gain_db(
    audio: NDArray[np.float64], fs: int, input_lufs: float | None = None
) -> tuple[float, float]:
    """(gain in dB to WORKING_LUFS, input integrated loudness); refuses (near-)silence.

    input_lufs: the audio's integrated loudness when the caller has already measured it.
    """
    loudness = integrated_lufs(audio, fs) if input_lufs is None else input_lufs
    if not (math.isfinite(loudness) and loudness >= ABSOLUTE_GATE_LUFS):
        raise InvalidInputError(
            "the audio is silent or nearly so (nothing above the BS.1770 -70 LUFS gate): "
            "there is nothing to master, and raising it would only amplify noise"
        )
    return WORKING_LUFS - loudness, loudness


def process(
    audio: NDArray[np.float64],
    fs: int,
    settings: ChainSettings,
    target_lufs: float,
    ceiling_dbtp: float,
    match_eq: MatchEq | None = None,
    progress: Progress | None = None,
    input_lufs: float | None = None,
) -> ChainResult:
    """Run the whole chain on audio (frames, channels); returns a new array and measurements.

    progress(stage, fraction) is called before each stage, fraction in [0, 1) by stage count,
    and ("done", 1.0) at the end. input_lufs: the audio's BS.1770 integrated loudness when
    the caller has measured it already (the analysis report's), so it is not measured again.
    """
    frames = check_input(audio, fs)
    gain_db, _ = working_gain_db(frames, fs, input_lufs)
    stages = _stages(settings, fs, frames.shape[1], match_eq)
    report = progress or (lambda stage, fraction: None)
    timings: dict[str, float] = {}
    rows = np.multiply(frames.T, 10.0 ** (gain_db / 20.0), out=np.empty(frames.shape[::-1]))
    # One spare signal-sized array serves every stage that needs one (fresh memory is slow).
    work = np.empty_like(rows)
    for i, (stage, step) in enumerate(stages):
        report(stage, i / (len(stages) + 1))
        start = time.perf_counter()
        step(rows, work)
        timings[stage] = time.perf_counter() - start

    report("loudness", len(stages) / (len(stages) + 1))
    start = time.perf_counter()
    out, loudness = match_loudness(  # reads the rows in place; its output is C-ordered frames
        rows.T, fs, target_lufs, ceiling_dbtp, release_ms=settings.limiter_release_ms, work=work.T
    )
    timings["loudness"] = time.perf_counter() - start
    report("done", 1.0)
    return ChainResult(audio=out, loudness=loudness, working_gain_db=gain_db, stage_seconds=timings)


# A stage works in place on rows (channels, frames), given a spare array of the same shape it
# may overwrite; what it returns is ignored.
Stage = Callable[[NDArray[np.float64], NDArray[np.float64]], object]


def _reference_stage(match_eq: MatchEq) -> Stage:
    """The match EQ (which takes and returns frames) as an in-place stage on rows."""

    def step(rows: NDArray[np.float64], work: NDArray[np.float64]) -> None:
        np.copyto(rows, match_eq(to_frames(rows)).T)

    return step


def _stages(
    settings: ChainSettings, fs: int, channels: int, match_eq: MatchEq | None
) -> list[tuple[str, Stage]]:
    """The stages that do something with these settings, in chain order (loudness excluded)."""
    stages: list[tuple[str, Stage]] = []
    equalizer = Equalizer(settings.eq, fs)
    if not equalizer.is_flat:
        stages.append(("eq", lambda rows, work: equalizer.process_rows(rows, rows)))
    if not all(band.is_transparent for band in settings.compressor):
        compressor = MultibandCompressor(Crossover(CROSSOVER_HZ, fs), settings.compressor)
        stages.append(("multiband", lambda rows, work: compressor.process_rows(rows, rows)))
    widths, mono_hz = settings.widths, settings.mono_bass_hz
    if channels == 2 and (any(w != 1.0 for w in widths) or mono_hz > 0.0):
        crossover = Crossover(CROSSOVER_HZ, fs)
        stages.append(
            (
                "stereo",
                lambda rows, work: widen_rows(rows, widths, crossover, mono_hz, fs, rows, work),
            )
        )
    if settings.exciter_amount > 0.0:
        # The exciter's corner must stay below 0.45 fs; at 16 kHz that is 7.2 kHz.
        freq = min(settings.exciter_freq_hz, 0.9 * MAX_FREQ_FRACTION * fs)
        amount, drive = settings.exciter_amount, settings.exciter_drive_db
        stages.append(
            ("exciter", lambda rows, work: excite_rows(rows, fs, amount, drive, freq, rows, work))
        )
    if match_eq is not None:
        stages.append(("reference_eq", _reference_stage(match_eq)))
    return stages
