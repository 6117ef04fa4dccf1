"""Pitched instruments: bass, chords/pads and leads, by subtractive and FM synthesis.

Patches follow textbook synthesiser recipes (M. Russ, "Sound Synthesis and Sampling", 3rd
ed., Focal Press 2009): detuned sawtooth stacks through a low-pass for pads and stabs, a
filter envelope for plucks and acid-style bass, two-operator FM (J. Chowning, "The synthesis
of complex audio spectra by means of frequency modulation", JAES 21(7), 1973) for bells and
growling bass, and a sine-plus-harmonics electric piano.

Speed: a patch's filters are fixed, so they run once on the part's bus rather than once per
note (filtering is linear, so only the order of envelope and filter changes). A filter
envelope is a crossfade between a bright and a dark layer: each note's samples go into both
layers weighted by the envelope and its complement, and each layer is low-passed once.

Every renderer returns a stereo bus (frames, 2). Stereo width comes from the patch where a
real instrument would make it: the two channels of a pad or a wide bass get different
detunes (a chorus), so their difference (the side signal) lies in the instrument's register.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voidline.mastering.synth.oscillators import (
    FloatArray,
    adsr,
    decay,
    lowpassed,
    phase,
    place,
    pulse,
    saw,
    saw_tone,
    sine_tone,
    triangle,
)
from voidline.mastering.synth.theory import Grid, Note, midi_to_hz

BASS_PATCHES = ("sub", "saw", "square", "fm")
CHORD_PATCHES = ("pad", "keys", "stabs", "arp")
LEAD_PATCHES = ("square", "saw", "bell", "flute")

# A voice renders one note: (frequency, samples held, samples in all, detune in cents) ->
# samples of shape (total, layers); layer k is low-passed at Patch.layer_corners_hz[k].
Voice = Callable[[float, int, int, float], FloatArray]


@dataclass(frozen=True)
class Patch:
    """A voice, the low-pass corner of each of its layers (None: unfiltered), its release."""

    voice: Voice
    layer_corners_hz: tuple[float | None, ...]
    release_s: float
    info: dict[str, Any] = field(default_factory=dict)


def cents(value: float) -> float:
    return float(2.0 ** (value / 1200.0))


def render_notes(
    notes: list[Note],
    grid: Grid,
    patch: Patch,
    channel_detune_cents: tuple[float, float] = (0.0, 0.0),
    articulation: float = 1.0,
) -> FloatArray:
    """Place every note's voice on a stereo bus; each channel may be detuned (cents).

    articulation: the share of each note's written length that is held before the release
    (1 legato, 0.3 staccato).

    Identical detunes render once and copy, so a mono patch costs one voice per note.
    """
    layers = len(patch.layer_corners_hz)
    channels = 1 if channel_detune_cents[0] == channel_detune_cents[1] else 2
    bus = np.zeros((grid.n_frames, channels, layers))
    release = int(patch.release_s * grid.fs)
    for note in notes:
        start = grid.sample(note.start)
        held = grid.samples(note.length * articulation)
        freq = midi_to_hz(note.pitch)
        for channel in range(channels):
            sound = patch.voice(freq, held, held + release, channel_detune_cents[channel])
            place(bus[:, channel, :], start, sound, note.velocity)
    out = np.zeros((grid.n_frames, channels))
    for k, corner in enumerate(patch.layer_corners_hz):
        layer = np.ascontiguousarray(bus[:, :, k])
        out += layer if corner is None else lowpassed(layer, corner, grid.fs)
    return np.repeat(out, 2, axis=1) if channels == 1 else out


def _sweep_layers(tone: FloatArray, env: FloatArray, sweep: FloatArray) -> FloatArray:
    """A note split into a bright (weight sweep) and a dark (1 - sweep) layer."""
    shaped = tone * env
    return np.stack([shaped * sweep, shaped * (1.0 - sweep)], axis=1)


# --- bass -----------------------------------------------------------------------------------


def bass_patch(rng: np.random.Generator, name: str, fs: int) -> Patch:
    """A bass patch: sub sine, filter-swept saw, filtered square or two-operator FM."""
    decay_s = float(rng.uniform(0.15, 0.6))
    sustain = float(rng.uniform(0.4, 0.9))
    info: dict[str, Any] = {"patch": name, "decay_s": decay_s}
    if name == "sub":

        def voice(f: float, held: int, total: int, detune: float) -> FloatArray:
            fd = f * cents(detune)
            tone = sine_tone(fd, total, fs) + 0.15 * sine_tone(2.0 * fd, total, fs)
            return (tone * adsr(held, total, fs, 0.005, decay_s, sustain, 0.03))[:, None]

        return Patch(voice, (None,), 0.1, info)
    if name == "saw":
        bright = float(rng.uniform(600.0, 2500.0))
        dark = float(rng.uniform(150.0, 400.0))
        sweep_s = float(rng.uniform(0.04, 0.2))
        info.update(bright_hz=bright, dark_hz=dark)

        def voice(f: float, held: int, total: int, detune: float) -> FloatArray:
            tone = 0.8 * saw_tone(f * cents(detune), total, fs)
            env = adsr(held, total, fs, 0.004, decay_s, sustain, 0.03)
            return _sweep_layers(tone, env, decay(total, fs, sweep_s))

        return Patch(voice, (bright, dark), 0.1, info)
    if name == "square":
        width = float(rng.uniform(0.25, 0.5))
        corner = float(rng.uniform(500.0, 1500.0))
        info.update(pulse_width=width, corner_hz=corner)

        def voice(f: float, held: int, total: int, detune: float) -> FloatArray:
            fd = f * cents(detune)
            tone = 0.8 * pulse(phase(fd, total, fs), fd / fs, width)
            return (tone * adsr(held, total, fs, 0.004, decay_s, sustain, 0.03))[:, None]

        return Patch(voice, (corner,), 0.1, info)
    ratio = float(rng.choice((1.0, 2.0, 0.5)))
    index = float(rng.uniform(1.0, 4.0))
    info.update(ratio=ratio, index=index)

    def fm_voice(f: float, held: int, total: int, detune: float) -> FloatArray:
        fd = f * cents(detune)
        depth = index * decay(total, fs, decay_s)
        tone = sine_tone(fd, total, fs, modulation=depth * sine_tone(fd * ratio, total, fs))
        return (tone * adsr(held, total, fs, 0.004, decay_s, sustain, 0.03))[:, None]

    return Patch(fm_voice, (None,), 0.1, info)


# --- chords ---------------------------------------------------------------------------------


def chord_patch(rng: np.random.Generator, name: str, fs: int) -> Patch:
    """A chord patch: detuned-saw pad, electric piano, saw stab or plucked arpeggio."""
    info: dict[str, Any] = {"patch": name}
    if name == "pad":
        detune = float(rng.uniform(5.0, 15.0))
        attack = float(rng.uniform(0.08, 0.5))
        shape = str(rng.choice(("saw", "triangle")))
        corner = float(rng.uniform(1200.0, 4000.0))
        info.update(detune_cents=detune, attack_s=attack, shape=shape, corner_hz=corner)

        def voice(f: float, held: int, total: int, offset: float) -> FloatArray:
            tone = np.zeros(total)
            for spread, start in ((-detune, 0.0), (detune, 0.37)):
                fd = f * cents(spread + offset)
                if shape == "saw":
                    tone += saw_tone(fd, total, fs, start)
                else:
                    tone += triangle(phase(fd, total, fs, start))
            return (0.5 * tone * adsr(held, total, fs, attack, 1.0, 0.8, 0.35))[:, None]

        return Patch(voice, (corner,), 0.6, info)
    if name == "keys":
        decay_s = float(rng.uniform(0.4, 1.2))
        bell = float(rng.uniform(0.05, 0.25))
        info.update(decay_s=decay_s)

        def keys_voice(f: float, held: int, total: int, offset: float) -> FloatArray:
            fd = f * cents(offset)
            body = decay(total, fs, decay_s)
            tone = sine_tone(fd, total, fs) * body
            tone += 0.3 * sine_tone(2.0 * fd, total, fs) * body * body
            tine = min(total, int(0.3 * fs))  # the tine's attack, gone after 0.3 s
            tone[:tine] += bell * sine_tone(7.0 * fd, tine, fs) * decay(tine, fs, 0.05)
            return (tone * adsr(held, total, fs, 0.002, 10.0, 1.0, 0.08))[:, None]

        return Patch(keys_voice, (None,), 0.5, info)
    if name == "stabs":
        corner = float(rng.uniform(1500.0, 5000.0))
        info.update(corner_hz=corner)

        def stab_voice(f: float, held: int, total: int, offset: float) -> FloatArray:
            tone = saw_tone(f * cents(offset - 7.0), total, fs)
            tone += saw_tone(f * cents(offset + 7.0), total, fs, 0.5)
            return (0.5 * tone * adsr(held, total, fs, 0.003, 0.15, 0.5, 0.06))[:, None]

        return Patch(stab_voice, (corner,), 0.15, info)
    bright = float(rng.uniform(2500.0, 7000.0))
    dark = float(rng.uniform(400.0, 1200.0))
    decay_s = float(rng.uniform(0.1, 0.3))
    info.update(bright_hz=bright, dark_hz=dark, decay_s=decay_s)

    def arp_voice(f: float, held: int, total: int, offset: float) -> FloatArray:
        tone = saw_tone(f * cents(offset), total, fs)
        env = adsr(held, total, fs, 0.002, decay_s, 0.2, 0.08)
        return _sweep_layers(tone, env, decay(total, fs, 0.5 * decay_s))

    return Patch(arp_voice, (bright, dark), 0.15, info)


# --- leads ----------------------------------------------------------------------------------


def _vibrato(f: float, total: int, fs: int, rate_hz: float, depth_cents: float) -> FloatArray:
    """Per-sample frequency with a vibrato that fades in over the first 0.25 s."""
    t = np.arange(total) / fs
    fade = np.minimum(t / 0.25, 1.0)
    return np.asarray(f * 2.0 ** (fade * depth_cents * np.sin(2 * np.pi * rate_hz * t) / 1200.0))


def lead_patch(rng: np.random.Generator, name: str, fs: int) -> Patch:
    """A lead patch: vibrato square, detuned saws, FM bell or breathy flute."""
    info: dict[str, Any] = {"patch": name}
    rate = float(rng.uniform(4.5, 6.5))
    depth = float(rng.uniform(0.0, 25.0))
    if name == "square":
        corner = float(rng.uniform(2000.0, 6000.0))
        info.update(corner_hz=corner, vibrato_cents=depth)

        def voice(f: float, held: int, total: int, offset: float) -> FloatArray:
            freq = _vibrato(f * cents(offset), total, fs, rate, depth)
            tone = 0.6 * pulse(phase(freq, total, fs), freq / fs, 0.5)
            return (tone * adsr(held, total, fs, 0.01, 0.3, 0.7, 0.08))[:, None]

        return Patch(voice, (corner,), 0.15, info)
    if name == "saw":
        corner = float(rng.uniform(2500.0, 8000.0))
        info.update(corner_hz=corner, vibrato_cents=depth)

        def saw_voice(f: float, held: int, total: int, offset: float) -> FloatArray:
            freq = _vibrato(f * cents(offset), total, fs, rate, depth)
            tone = saw(phase(freq, total, fs), freq / fs)
            tone += saw(phase(freq * cents(9.0), total, fs, 0.5), freq / fs)
            return (0.4 * tone * adsr(held, total, fs, 0.008, 0.25, 0.75, 0.1))[:, None]

        return Patch(saw_voice, (corner,), 0.15, info)
    if name == "bell":
        ratio = float(rng.choice((3.5, 1.4, 2.0)))
        index = float(rng.uniform(1.5, 4.0))
        decay_s = float(rng.uniform(0.4, 1.0))
        info.update(ratio=ratio, index=index)

        def bell_voice(f: float, held: int, total: int, offset: float) -> FloatArray:
            fd = f * cents(offset)
            body = decay(total, fs, decay_s)
            depth_env = index * decay(total, fs, 0.3 * decay_s)  # brightness dies first
            tone = sine_tone(fd, total, fs, modulation=depth_env * sine_tone(fd * ratio, total, fs))
            return (tone * body * adsr(held, total, fs, 0.002, 10.0, 1.0, 0.1))[:, None]

        return Patch(bell_voice, (None,), 0.5, info)
    breath = float(rng.uniform(0.03, 0.12))
    noise_rng = np.random.default_rng(int(rng.integers(2**32)))
    info.update(breath=breath, vibrato_cents=depth)

    def flute_voice(f: float, held: int, total: int, offset: float) -> FloatArray:
        freq = _vibrato(f * cents(offset), total, fs, rate, depth)
        p = 2.0 * np.pi * np.cumsum(freq) / fs
        tone = np.sin(p) + 0.2 * np.sin(2.0 * p)
        env = 0.8 * adsr(held, total, fs, 0.05, 0.3, 0.85, 0.12)
        # The breath noise goes to a layer low-passed at the instrument's register.
        return np.stack([tone * env, breath * noise_rng.standard_normal(total) * env], axis=1)

    return Patch(flute_voice, (None, float(rng.uniform(2000.0, 5000.0))), 0.15, info)
