"""Drum kit: synthesised kick, snare and hi-hats placed on sixteenth-note patterns.

The voices follow the classic analogue drum machine recipes (as in the Roland TR-808/909
circuits and the "Synth Secrets" series, Sound On Sound 2002):
- kick: a sine whose pitch sweeps exponentially down (e.g. 160 Hz -> 50 Hz in ~30 ms) under
  an exponential amplitude decay, plus a short noise click for the beater;
- snare: two decaying sines (the drum's shell modes near 180 Hz and 1.6x above) plus
  band-passed noise (the snares), the noise decaying a little slower;
- hats: white noise high-passed at 7-10 kHz (4th order) with a fast (closed) or slow (open)
  decay.
Each voice is rendered once per track and copied onto its hits with a per-hit velocity, which
is how drum machines and samplers work and keeps rendering cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voidline.mastering.synth.oscillators import (
    FloatArray,
    bandpassed,
    decay,
    highpassed,
    pan_gains,
    phase,
    place,
    sine,
)
from voidline.mastering.synth.theory import STEPS_PER_BAR, Grid, played_velocity

# One bar of hits per style: (kick, snare, closed hat, open hat) step lists; the half-time
# and breakbeat snares fall on beat 3 and the "and" of beats, as in those genres.
PATTERNS: dict[str, tuple[tuple[int, ...], ...]] = {
    "four_on_floor": ((0, 4, 8, 12), (4, 12), (0, 4, 8, 12), (2, 6, 10, 14)),
    "backbeat": ((0, 8, 10), (4, 12), (0, 2, 4, 6, 8, 10, 12, 14), ()),
    "half_time": ((0, 7, 10), (8,), (0, 2, 4, 6, 8, 10, 12, 14), (14,)),
    "breakbeat": ((0, 10, 11), (4, 12), (0, 2, 4, 6, 8, 10, 12, 14), (6,)),
    "sixteenths": ((0, 6, 8, 14), (4, 12), tuple(range(16)), ()),
}
DRUM_STYLES = tuple(PATTERNS)
HUMAN_FALL_DB = 1.4  # the least velocity variation of any hit, as even a drum machine's swing


def kick(rng: np.random.Generator, fs: int) -> tuple[FloatArray, dict[str, float]]:
    start_hz = float(rng.uniform(120.0, 200.0))
    end_hz = float(rng.uniform(40.0, 62.0))
    sweep_s = float(rng.uniform(0.015, 0.05))
    decay_s = float(rng.uniform(0.12, 0.35))
    n = int(fs * min(1.0, 6.0 * decay_s))
    t = np.arange(n) / fs
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / sweep_s)
    body = sine(phase(freq, n, fs)) * decay(n, fs, decay_s)
    click = rng.standard_normal(n) * decay(n, fs, 0.002) * float(rng.uniform(0.05, 0.25))
    drive = float(rng.uniform(1.0, 3.0))  # a little saturation, as an overdriven VCA
    hit = np.tanh(drive * (body + highpassed(click, 1500.0, fs))) / np.tanh(drive)
    return hit, {"start_hz": start_hz, "end_hz": end_hz, "decay_s": decay_s}


def snare(rng: np.random.Generator, fs: int) -> tuple[FloatArray, dict[str, float]]:
    tone_hz = float(rng.uniform(160.0, 240.0))
    noise_share = float(rng.uniform(0.5, 0.85))
    noise_decay_s = float(rng.uniform(0.06, 0.18))
    n = int(fs * min(0.8, 6.0 * noise_decay_s))
    tone_env = decay(n, fs, float(rng.uniform(0.03, 0.08)))
    tone = (sine(phase(tone_hz, n, fs)) + 0.5 * sine(phase(1.6 * tone_hz, n, fs))) * tone_env
    noise = bandpassed(rng.standard_normal(n), 1200.0, float(rng.uniform(6000.0, 11000.0)), fs)
    noise *= decay(n, fs, noise_decay_s) / max(float(np.abs(noise).max()), 1e-9)
    hit = (1.0 - noise_share) * tone / 1.5 + noise_share * noise
    return hit, {"tone_hz": tone_hz, "noise_share": noise_share}


def hat(rng: np.random.Generator, fs: int, open_hat: bool) -> FloatArray:
    decay_s = float(rng.uniform(0.15, 0.3) if open_hat else rng.uniform(0.012, 0.04))
    n = int(fs * 6.0 * decay_s)
    corner = float(rng.uniform(6500.0, 10000.0))
    noise = highpassed(rng.standard_normal(n), corner, fs, order=4)
    out: FloatArray = noise * decay(n, fs, decay_s) / 3.0
    return out


def render_drums(
    rng: np.random.Generator,
    grid: Grid,
    style: str,
    active_bars: list[bool],
    spread: float,
    expression_db: float = 0.0,
) -> tuple[FloatArray, dict[str, Any]]:
    """The drum bus (frames, 2): the style's bar pattern with random ghost notes and fills.

    active_bars: which bars play (arrangements drop the drums out or bring them in).
    spread: how far the hats sit off centre (0 = centre, 1 = hard left).
    expression_db: how far off-beat hits may fall below the written velocity (the plan's).
    """
    fs = grid.fs
    kick_hit, kick_info = kick(rng, fs)
    snare_hit, snare_info = snare(rng, fs)
    voices = (kick_hit, snare_hit, hat(rng, fs, False), hat(rng, fs, True))
    levels = (1.0, float(rng.uniform(0.6, 0.9)), float(rng.uniform(0.25, 0.5)), 0.3)
    pans = (0.0, float(rng.uniform(-0.1, 0.1)), -spread, -0.7 * spread)
    pattern = PATTERNS[style]
    ghost_probability = float(rng.uniform(0.0, 0.15))
    out = np.zeros((grid.n_frames, 2))
    hits = 0
    for voice, hit, level, pan, steps in zip(range(4), voices, levels, pans, pattern, strict=True):
        bus = np.zeros(grid.n_frames)
        for bar in range(grid.n_bars):
            if not active_bars[bar]:
                continue
            chosen = set(steps)
            if voice < 2:  # ghost kicks and snares, and a fill in the last 16th of some bars
                chosen |= {s for s in range(STEPS_PER_BAR) if rng.random() < ghost_probability / 3}
            for step in sorted(chosen):
                written = 1.0 if step in steps else float(rng.uniform(0.3, 0.6))
                # A drummer's touch: every hit a little softer than written.
                velocity = played_velocity(rng, written, step, HUMAN_FALL_DB + expression_db)
                place(bus, grid.sample(bar * STEPS_PER_BAR + step), hit, velocity)
                hits += 1
        left, right = pan_gains(pan)
        out[:, 0] += level * left * bus
        out[:, 1] += level * right * bus
    return out, {"style": style, "kick": kick_info, "snare": snare_info, "hits": hits}
