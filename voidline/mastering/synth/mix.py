"""Render a plan's parts, balance them, add reverb and master to a loudness target.

Balance: every part is scaled so its RMS while playing (over 50 ms blocks louder than 40 dB
below its loudest block) sits at its planned level relative to the drums, the way a mix
engineer sets faders by ear. Reverb is one shared send: the parts' sends summed through the
Freeverb-style room of `reverb`, returned with the energy sent into it (wide unless the
track is mono).

Mastering: a 25 Hz high-pass removes sub-sonic offsets, a corrective EQ brings the long-term
spectrum onto a house curve around the reference tonal balance (`balance`), some masters get a lossy
codec's top-octave low-pass (`codec_lowpass`), then a gain brings the mix to its target integrated
loudness (ITU-R BS.1770-5) and the true-peak limiter (`voidline.dsp.limiter.limit`) keeps it at or
below -1 dBTP, the ceiling streaming services ask for (e.g. AES TD1004, 2021). Limiting lowers the
loudness slightly below the target on punchy tracks; the recipe records the measured value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.signal

from voidline.dsp.crossover import Crossover
from voidline.dsp.limiter import limit
from voidline.dsp.loudness_target import integrated_lufs
from voidline.mastering.parameters import BAND_NAMES, CROSSOVER_HZ
from voidline.mastering.synth.arrangement import Plan
from voidline.mastering.synth.balance import balance_tone
from voidline.mastering.synth.drums import render_drums
from voidline.mastering.synth.oscillators import (
    FloatArray,
    delayed,
    highpassed,
    pan_gains,
)
from voidline.mastering.synth.reverb import reverb
from voidline.mastering.synth.theory import STEPS_PER_BAR, Grid
from voidline.mastering.synth.tonal import bass_patch, chord_patch, lead_patch, render_notes
from voidline.mastering.synth.voice import render_noise_bed, render_voice

CEILING_DBTP = -1.0
ACTIVE_BLOCK_S = 0.05
ACTIVE_RANGE_DB = 40.0
LEVEL_BLOCK_S = 0.01  # blocks of the band level statistics (the compressor's time scale)
LEVEL_PERCENTILES = (10.0, 50.0, 90.0, 99.0)
CODEC_PROBABILITY = 0.35
CODEC_CUTOFF_HZ = (15_000.0, 20_000.0)


def active_rms(x: FloatArray, fs: int) -> float:
    """RMS over the blocks within ACTIVE_RANGE_DB of the loudest (the part while playing)."""
    block = max(1, int(ACTIVE_BLOCK_S * fs))
    n = x.shape[0] // block * block
    if n == 0:
        return 0.0
    powers = (x[:n] ** 2).reshape(n // block, -1).mean(axis=1)
    loudest = float(powers.max())
    if loudest <= 0.0:
        return 0.0
    active = powers[powers >= loudest * 10.0 ** (-ACTIVE_RANGE_DB / 10.0)]
    return math.sqrt(float(active.mean()))


def _render_part(
    rng: np.random.Generator, plan: Plan, name: str
) -> tuple[FloatArray, dict[str, Any]]:
    """One part's stereo bus, panned, before its level is set."""
    part = plan.parts[name]
    grid: Grid = plan.grid
    fs = grid.fs
    if name == "drums":
        spread = 0.3 if plan.stereo_image != "mono" else 0.0
        return render_drums(rng, grid, part.patch, part.active_bars, spread, plan.expression_db)
    if name == "noise":
        return render_noise_bed(rng, part.patch, grid.n_frames, fs, plan.stereo_image == "mono")
    if name == "voice":
        bus, info = render_voice(rng, part.notes, grid, "high" in part.patch, part.detune_cents)
    else:
        make = {"bass": bass_patch, "chords": chord_patch, "pad": chord_patch, "lead": lead_patch}
        patch = make[name](rng, part.patch.split("/")[0], fs)
        bus = render_notes(part.notes, grid, patch, part.detune_cents, part.articulation)
        info = patch.info
    if part.haas_ms > 0.0:  # precedence-effect width: one side a few ms late
        bus[:, 1] = delayed(bus[:, 1], round(part.haas_ms * 1e-3 * fs))
    left, right = pan_gains(part.pan)
    bus[:, 0] *= left * math.sqrt(2.0)
    bus[:, 1] *= right * math.sqrt(2.0)
    return bus, info


def contour_envelope(grid: Grid, bar_gains_db: tuple[float, ...]) -> FloatArray:
    """Per-sample gain of the plan's section contour: linear in dB between bar centres."""
    if not bar_gains_db:
        return np.ones(grid.n_frames)
    centres = [
        0.5 * (grid.sample(bar * STEPS_PER_BAR) + grid.sample((bar + 1) * STEPS_PER_BAR))
        for bar in range(len(bar_gains_db))
    ]
    gains_db = np.interp(np.arange(grid.n_frames), centres, bar_gains_db)
    return np.asarray(10.0 ** (gains_db / 20.0))


def band_levels(audio: FloatArray, fs: int) -> dict[str, dict[str, float]]:
    """Percentiles (p10, p50, p90, p99) of each compressor band's 10 ms level, dBFS.

    Bands are the mastering chain's (`CROSSOVER_HZ`). The level is the RMS over 10 ms of the
    larger channel's magnitude, close to what the chain's stereo-linked compressor detector
    settles on with a 5-30 ms attack; the degradation places its expander thresholds with
    these.
    """
    block = max(1, int(LEVEL_BLOCK_S * fs))
    n = audio.shape[0] // block * block
    out: dict[str, dict[str, float]] = {}
    for name, band in zip(BAND_NAMES, Crossover(CROSSOVER_HZ, fs).bands(audio), strict=True):
        if n == 0:
            power = np.full(1, 1e-24)
        else:
            linked = np.abs(band[:n]).max(axis=1)
            power = (linked * linked).reshape(n // block, block).mean(axis=1)
        levels = 10.0 * np.log10(np.maximum(power, 1e-24))
        values = np.percentile(levels, LEVEL_PERCENTILES)
        out[name] = {
            f"p{p:g}": round(float(v), 3) for p, v in zip(LEVEL_PERCENTILES, values, strict=True)
        }
    return out


def codec_lowpass(rng: np.random.Generator, mix: FloatArray, fs: int) -> tuple[FloatArray, float]:
    """Some masters arrive through a lossy codec, whose encoder cuts the top octave.

    With probability CODEC_PROBABILITY: an 8th-order Butterworth low-pass at 15-20 kHz, like
    the low-pass of MP3, AAC and Vorbis encoders at common bitrates; otherwise nothing (0 Hz
    in the recipe). The model must learn that an empty top octave is the file's format, not
    dullness to excite: the degradation's dullness starts below 12 kHz.
    """
    if rng.uniform() >= CODEC_PROBABILITY:
        return mix, 0.0
    cutoff = float(rng.uniform(*CODEC_CUTOFF_HZ))
    if cutoff >= 0.45 * fs:
        return mix, 0.0
    sos = scipy.signal.butter(8, cutoff, btype="lowpass", fs=fs, output="sos")
    return np.asarray(scipy.signal.sosfilt(sos, mix, axis=0), dtype=np.float64), round(cutoff, 1)


def mix_and_master(
    rng: np.random.Generator, plan: Plan, target_lufs: float
) -> tuple[FloatArray, dict[str, Any]]:
    """Render, balance, reverberate and master the plan; returns audio and recipe details."""
    grid = plan.grid
    fs = grid.fs
    mix = np.zeros((grid.n_frames, 2))
    sends = np.zeros((grid.n_frames, 2))
    details: dict[str, Any] = {}
    drum_power = 0.0
    total_power = 0.0
    reference: float | None = None
    for name in plan.parts:
        bus, info = _render_part(rng, plan, name)
        rms = active_rms(bus, fs)
        if rms <= 0.0:
            continue
        if reference is None:
            reference = 0.1  # the first part sets the scale; the master gain fixes the level
        gain = reference * 10.0 ** (plan.parts[name].level_db / 20.0) / rms
        bus *= gain
        mix += bus
        sends += plan.parts[name].send * bus
        power = float((bus**2).mean())
        total_power += power
        if name == "drums":
            drum_power = power
        details[name] = info
    contour = contour_envelope(grid, plan.bar_gains_db)[:, None]
    mix *= contour  # the sections' levels, before the room (the room follows the playing)
    sends *= contour
    mono = plan.stereo_image == "mono"
    send_rms = math.sqrt(float((sends**2).mean()))
    if send_rms > 0.0:
        wet = reverb(sends, fs, plan.reverb_rt60_s, plan.reverb_damping, mono)
        wet_rms = math.sqrt(float((wet**2).mean()))
        if wet_rms > 0.0:
            mix += wet * (send_rms / wet_rms)  # the room returns the energy sent into it
    mix = highpassed(mix, 25.0, fs)
    if mono:
        mix[:, 1] = mix[:, 0]
    mix, details["tonal_balance"] = balance_tone(rng, mix, fs)
    mix, details["codec_lowpass_hz"] = codec_lowpass(rng, mix, fs)
    loudness = integrated_lufs(mix, fs)
    mix *= 10.0 ** ((target_lufs - loudness) / 20.0)
    mastered = limit(mix, fs, CEILING_DBTP)
    details["percussive_share"] = round(drum_power / total_power, 4) if total_power else 0.0
    return mastered, details
