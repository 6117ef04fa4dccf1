"""Voice-like formant sounds and noise beds.

Voice: the source-filter model of speech (G. Fant, "Acoustic Theory of Speech Production",
1960). The source is a glottal-pulse-like wave: a band-limited sawtooth with an extra
6 dB/octave roll-off (the glottal spectrum falls about 12 dB/octave), vibrato and a little
aspiration noise. The filter is Klatt's cascade of three two-pole formant resonators
(D. Klatt, JASA 67(3), 1980). Vowels use the average formants of adult speakers measured by
G. Peterson and H. Barney ("Control methods used in a study of the vowels", JASA 24(2),
1952), raised by 15 % for a high register. Each sung note moves from one vowel to another:
the source is crossfaded between both vowels' formant filters, a cheap stand-in for
time-varying resonators.

Noise beds: tape hiss (high-passed white noise), wind (noise whose band moves with a slow
LFO) and vinyl (low-passed hiss with sparse crackles), each channel its own noise unless the
track is mono.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voidline.mastering.synth.oscillators import (
    FloatArray,
    adsr,
    filtered,
    highpassed,
    lowpassed,
    one_pole_lowpass,
    phase,
    place,
    resonator_sos,
    saw,
)
from voidline.mastering.synth.theory import Grid, Note, midi_to_hz

# Peterson & Barney (1952), men's averages: F1, F2, F3 in Hz.
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
}
FORMANT_BANDWIDTHS_HZ = (80.0, 100.0, 140.0)
NOISE_BEDS = ("hiss", "wind", "vinyl")


def _formant_sos(vowel: str, register_scale: float, fs: int) -> FloatArray:
    sections = [
        resonator_sos(min(f * register_scale, 0.4 * fs), bw, fs)
        for f, bw in zip(VOWELS[vowel], FORMANT_BANDWIDTHS_HZ, strict=True)
    ]
    return np.vstack(sections)


def render_voice(
    rng: np.random.Generator,
    notes: list[Note],
    grid: Grid,
    high_register: bool,
    detune_cents: tuple[float, float],
) -> tuple[FloatArray, dict[str, Any]]:
    """Sung notes (frames, 2): glottal source through moving vowel formants.

    detune_cents: per channel (a choir-like double when they differ; equal: one voice).
    The filters are linear and fixed, so they run once per vowel on the whole part: each
    note's source goes into its start vowel's layer faded out and its end vowel's layer
    faded in, and the glottal roll-off is applied once to the sum.
    """
    fs = grid.fs
    scale = 1.15 if high_register else 1.0
    vowels = tuple(VOWELS)
    vibrato_hz = float(rng.uniform(4.8, 6.2))
    vibrato_cents = float(rng.uniform(20.0, 50.0))
    breath = float(rng.uniform(0.02, 0.08))
    tilt_hz = float(rng.uniform(300.0, 900.0))  # the glottal source's extra roll-off
    noise_rng = np.random.default_rng(int(rng.integers(2**32)))
    channels = 1 if detune_cents[0] == detune_cents[1] else 2  # equal: render once, copy
    layers = {v: np.zeros((grid.n_frames, channels)) for v in vowels}
    release = int(0.12 * fs)
    sung: list[str] = []
    for note in notes:
        start_vowel, end_vowel = (str(v) for v in rng.choice(vowels, size=2))
        sung.append(start_vowel + end_vowel)
        held = grid.samples(note.length)
        total = held + release
        t = np.arange(total) / fs
        wobble = vibrato_cents * np.minimum(t / 0.3, 1.0) * np.sin(2.0 * np.pi * vibrato_hz * t)
        blend = t / max(float(t[-1]), 1e-3)  # start vowel -> end vowel
        env = adsr(held, total, fs, 0.06, 0.4, 0.85, 0.05) * note.velocity
        noise = breath * noise_rng.standard_normal(total)
        start = grid.sample(note.start)
        for channel in range(channels):
            freq = midi_to_hz(note.pitch) * 2.0 ** ((wobble + detune_cents[channel]) / 1200.0)
            source = (saw(phase(freq, total, fs), freq / fs) + noise) * env
            place(layers[start_vowel][:, channel], start, source * (1.0 - blend))
            place(layers[end_vowel][:, channel], start, source * blend)
    bus = np.zeros((grid.n_frames, channels))
    for vowel in sorted({v for pair in sung for v in pair}):
        bus += filtered(_formant_sos(vowel, scale, fs), layers[vowel])
    bus = one_pole_lowpass(bus, tilt_hz, fs)
    if channels == 1:
        bus = np.repeat(bus, 2, axis=1)
    return bus, {"high_register": high_register, "vowels": sung, "vibrato_hz": vibrato_hz}


def render_noise_bed(
    rng: np.random.Generator, kind: str, n: int, fs: int, mono: bool
) -> tuple[FloatArray, dict[str, Any]]:
    """A noise bed (frames, 2): hiss, wind or vinyl; both channels identical when mono."""
    noise = rng.standard_normal((n, 1 if mono else 2))
    info: dict[str, Any] = {"kind": kind}
    if kind == "hiss":
        bed = highpassed(noise, float(rng.uniform(2000.0, 5000.0)), fs)
    elif kind == "wind":
        rate = float(rng.uniform(0.05, 0.3))
        t = np.arange(n) / fs
        lfo = 0.5 + 0.5 * np.sin(2.0 * np.pi * rate * t + float(rng.uniform(0, 2 * np.pi)))
        low = lowpassed(noise, 400.0, fs)
        high = lowpassed(noise, 2500.0, fs)
        bed = (1.0 - lfo)[:, None] * low + lfo[:, None] * high
        info["lfo_hz"] = rate
    else:  # vinyl: dark hiss and sparse clicks
        bed = 0.5 * lowpassed(noise, 6000.0, fs)
        clicks = np.zeros_like(noise)
        count = int(rng.integers(5, 30) * n / fs)
        where = rng.integers(0, n, size=count)
        clicks[where, :] = rng.uniform(-1.0, 1.0, size=(count, 1)) * 8.0
        bed += highpassed(clicks, 1000.0, fs)
    if mono:
        bed = np.repeat(bed, 2, axis=1)
    return np.asarray(bed, dtype=np.float64), info
