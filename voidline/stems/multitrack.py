"""Procedurally generated multitrack songs whose four stems are known exactly.

A separator can only be scored against true stems, and real multitracks (MUSDB18 and the
like) come with licences and downloads; these songs need neither. Each song is drawn from
`np.random.default_rng(seed)` in a fixed order, so a seed always gives the same samples.

The instruments are those of the mastering training set (`voidline.mastering.synth`):
- drums: the analogue-style kick, snare and hats of `synth.drums` on one of its patterns,
  kick and snare near the centre, hats off to the sides;
- bass: one of the `synth.tonal` bass patches (sub sine, swept saw, square, FM) playing the
  chord roots in MIDI 28-50 (41-147 Hz fundamentals), centred;
- other: a chord instrument (pad, electric piano, stabs or arpeggio) made wide by a chorus
  (different detunes per channel) and a Haas delay, a quieter pad under it in some songs,
  and an off-centre lead synth in some; their own reverb;
- vocals: the sung voice of `synth.voice` (a glottal-like source with vibrato through moving
  Peterson-Barney vowel formants, one syllable per note with its ADSR envelope), one voice
  panned to the centre, with its own (wide) reverb, as a produced lead vocal.
Stems are balanced to the usual pop levels (RMS while playing, relative to the drums, each
drawn +-2 dB) and nothing non-linear runs on the mix, so the mix is exactly their sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from voidline.mastering.synth import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ, check_arguments
from voidline.mastering.synth.drums import DRUM_STYLES, render_drums
from voidline.mastering.synth.mix import active_rms
from voidline.mastering.synth.oscillators import delayed, pan_gains
from voidline.mastering.synth.reverb import reverb
from voidline.mastering.synth.theory import (
    PROGRESSIONS,
    SCALES,
    STEPS_PER_BAR,
    Grid,
    Key,
    Note,
    melody,
    voice_near,
)
from voidline.mastering.synth.tonal import (
    BASS_PATCHES,
    CHORD_PATCHES,
    LEAD_PATCHES,
    bass_patch,
    chord_patch,
    lead_patch,
    render_notes,
)
from voidline.mastering.synth.voice import render_voice
from voidline.stems.backend import FOUR_STEMS

__all__ = ["MAX_SAMPLERATE", "MIN_SAMPLERATE", "Multitrack", "generate_multitrack"]

FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]

# The limits of voidline.mastering.synth, whose instruments and checks this reuses.
MIN_SAMPLERATE = MIN_SAMPLE_RATE_HZ
MAX_SAMPLERATE = MAX_SAMPLE_RATE_HZ
TEMPO_BPM = (78.0, 140.0)
# RMS while playing relative to the drums, dB (each drawn within +-2 dB of this).
STEM_LEVELS_DB = {"drums": 0.0, "bass": -2.0, "other": -4.0, "vocals": -3.0}
PEAK = 0.9  # the mix's peak after the final gain: headroom, no limiter (the sum stays exact)
BASS_RHYTHMS: dict[str, tuple[tuple[int, int], ...]] = {
    "whole": ((0, 16),),
    "quarters": ((0, 4), (4, 4), (8, 4), (12, 4)),
    "eighths": tuple((step, 2) for step in range(0, 16, 2)),
    "syncopated": ((0, 3), (3, 3), (6, 4), (10, 2), (12, 4)),
}
CHORD_RHYTHMS: dict[str, tuple[tuple[int, int], ...]] = {
    "pad": ((0, 16),),
    "keys": ((0, 6), (6, 4), (10, 6)),
    "stabs": ((2, 1), (6, 1), (10, 1), (14, 1)),
}


@dataclass(frozen=True)
class Multitrack:
    """A generated song: its stems (each (frames, 2) float32), their sum and the recipe."""

    stems: dict[str, FloatArray]  # FOUR_STEMS order: drums, bass, other, vocals
    mix: FloatArray  # (frames, 2): the sum of the stems (rounded once to float32)
    samplerate: int
    recipe: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Harmony:
    key: Key
    grid: Grid
    chords: list[tuple[int, ...]]  # pitch classes, one chord per bar
    roots: list[int]  # MIDI pitch of each bar's root in the bass register


def _harmony(rng: np.random.Generator, samplerate: int, frames: int) -> _Harmony:
    """Tempo, key and a looped progression (one chord per bar) with its bass roots."""
    tempo = round(float(rng.uniform(*TEMPO_BPM)), 1)
    swing = float(rng.choice((0.0, 0.0, 0.1)))
    grid = Grid(samplerate, tempo, frames, swing)
    key = Key(int(rng.integers(12)), str(rng.choice(tuple(SCALES))))
    options = PROGRESSIONS[key.scale]
    progression = options[int(rng.integers(len(options)))]
    degrees = [progression[bar % len(progression)] for bar in range(grid.n_bars)]
    chords = [key.chord_pitch_classes(degree, 3) for degree in degrees]
    roots = []
    for degree in degrees:
        root = key.degree_pitch(degree, 1)
        while root > 50:  # keep the fundamentals within 41-147 Hz
            root -= 12
        while root < 28:
            root += 12
        roots.append(root)
    return _Harmony(key, grid, chords, roots)


def _bass_notes(rng: np.random.Generator, harmony: _Harmony) -> tuple[str, list[Note]]:
    rhythm_name = str(rng.choice(tuple(BASS_RHYTHMS)))
    notes = [
        Note(bar * STEPS_PER_BAR + start, length, root, 1.0 if start % 4 == 0 else 0.85)
        for bar, root in enumerate(harmony.roots)
        for start, length in BASS_RHYTHMS[rhythm_name]
    ]
    return rhythm_name, notes


def _chord_notes(patch: str, harmony: _Harmony, centre: int) -> list[Note]:
    """Close-voiced chords in the patch's rhythm; the arpeggio cycles through them."""
    notes: list[Note] = []
    for bar, chord in enumerate(harmony.chords):
        voiced = voice_near(chord, centre)
        if patch == "arp":
            cycle = (*voiced, voiced[0] + 12)
            notes += [
                Note(bar * STEPS_PER_BAR + step, 2, cycle[i % len(cycle)], 0.9)
                for i, step in enumerate(range(0, STEPS_PER_BAR, 2))
            ]
            continue
        for start, length in CHORD_RHYTHMS[patch]:
            notes += [Note(bar * STEPS_PER_BAR + start, length, p, 0.9) for p in voiced]
    return notes


def _panned(bus: Float64Array, pan: float) -> Float64Array:
    left, right = pan_gains(pan)
    out = bus.copy()
    out[:, 0] *= left * math.sqrt(2.0)  # unity gain at the centre
    out[:, 1] *= right * math.sqrt(2.0)
    return out


def _with_reverb(
    rng: np.random.Generator, dry: Float64Array, samplerate: int
) -> tuple[Float64Array, dict[str, float]]:
    """The stem plus its own send reverb (part of the stem, as in a produced multitrack)."""
    send = float(rng.uniform(0.1, 0.3))
    rt60 = float(rng.uniform(0.6, 1.8))
    wet = reverb(dry, samplerate, rt60, float(rng.uniform(0.2, 0.5)), False)
    dry_rms = math.sqrt(float(np.mean(dry * dry)))
    wet_rms = math.sqrt(float(np.mean(wet * wet)))
    if wet_rms > 0.0:
        dry = dry + wet * (send * dry_rms / wet_rms)
    return dry, {"reverb_send": round(send, 3), "reverb_rt60_s": round(rt60, 3)}


def _drums(rng: np.random.Generator, harmony: _Harmony) -> tuple[Float64Array, dict[str, Any]]:
    style = str(rng.choice(DRUM_STYLES))
    bars = [True] * harmony.grid.n_bars
    bus, info = render_drums(rng, harmony.grid, style, bars, 0.3)
    return bus, {"style": style, "hits": info["hits"]}


def _bass(rng: np.random.Generator, harmony: _Harmony) -> tuple[Float64Array, dict[str, Any]]:
    name = str(rng.choice(BASS_PATCHES))
    patch = bass_patch(rng, name, harmony.grid.fs)
    rhythm, notes = _bass_notes(rng, harmony)
    return render_notes(notes, harmony.grid, patch), {"patch": name, "rhythm": rhythm}


def _other(rng: np.random.Generator, harmony: _Harmony) -> tuple[Float64Array, dict[str, Any]]:
    """Wide chords, sometimes a pad under them and an off-centre lead over them."""
    fs = harmony.grid.fs
    name = str(rng.choice(CHORD_PATCHES))
    detune = float(rng.uniform(4.0, 9.0))  # a chorus: the side signal is in the chords' band
    chords = render_notes(
        _chord_notes(name, harmony, int(rng.integers(55, 68))),
        harmony.grid,
        chord_patch(rng, name, fs),
        (-detune, detune),
    )
    haas_ms = float(rng.uniform(6.0, 18.0))
    chords[:, 1] = delayed(chords[:, 1], round(haas_ms * 1e-3 * fs))
    bus = _panned(chords, float(rng.uniform(-0.3, 0.3)))
    info: dict[str, Any] = {"chords": name, "haas_ms": round(haas_ms, 2)}
    if name != "pad" and rng.random() < 0.4:
        pad = render_notes(
            _chord_notes("pad", harmony, int(rng.integers(50, 62))),
            harmony.grid,
            chord_patch(rng, "pad", fs),
            (-6.0, 6.0),
        )
        bus += 0.5 * pad * active_rms(bus, fs) / max(active_rms(pad, fs), 1e-12)
        info["pad"] = True
    if rng.random() < 0.4:
        lead_name = str(rng.choice(LEAD_PATCHES))
        line = melody(rng, harmony.key, harmony.chords, harmony.grid.n_steps, 72, 86, (2, 4), 0.4)
        lead = render_notes(line, harmony.grid, lead_patch(rng, lead_name, fs))
        pan = float(rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 0.8))
        lead = _panned(lead, pan)
        bus += 0.7 * lead * active_rms(bus, fs) / max(active_rms(lead, fs), 1e-12)
        info.update(lead=lead_name, lead_pan=round(pan, 3))
    bus, room = _with_reverb(rng, bus, fs)
    return bus, {**info, **room}


def _vocals(rng: np.random.Generator, harmony: _Harmony) -> tuple[Float64Array, dict[str, Any]]:
    """One sung voice in the centre: a melody of syllables with rests between phrases."""
    high = bool(rng.random() < 0.5)
    centre = 67 if high else 55
    line = melody(
        rng,
        harmony.key,
        harmony.chords,
        harmony.grid.n_steps,
        centre - 7,
        centre + 9,
        (2, 4, 4, 6, 8),
        float(rng.uniform(0.15, 0.35)),
    )
    bus, info = render_voice(rng, line, harmony.grid, high, (0.0, 0.0))
    bus, room = _with_reverb(rng, bus, harmony.grid.fs)
    vibrato_hz = round(float(info["vibrato_hz"]), 3)
    return bus, {"high_register": high, "notes": len(line), "vibrato_hz": vibrato_hz, **room}


def generate_multitrack(seed: int, seconds: float = 8.0, samplerate: int = 44100) -> Multitrack:
    """A four-stem song of `seconds` at `samplerate`; the same for the same arguments."""
    check_arguments(seed, seconds, samplerate)
    samplerate = int(samplerate)
    rng = np.random.default_rng(int(seed))
    harmony = _harmony(rng, samplerate, round(seconds * samplerate))
    renderers = {"drums": _drums, "bass": _bass, "other": _other, "vocals": _vocals}
    recipe: dict[str, Any] = {
        "seed": int(seed),
        "seconds": float(seconds),
        "samplerate": samplerate,
        "tempo_bpm": harmony.grid.tempo_bpm,
        "key": harmony.key.name,
    }
    buses: dict[str, Float64Array] = {}
    for name in FOUR_STEMS:
        bus, info = renderers[name](rng, harmony)
        level_db = STEM_LEVELS_DB[name] + float(rng.uniform(-2.0, 2.0))
        rms = active_rms(bus, samplerate)
        buses[name] = bus * (0.1 * 10.0 ** (level_db / 20.0) / rms) if rms > 0.0 else bus
        recipe[name] = {**info, "level_db": round(level_db, 3)}
    total = sum(buses.values(), np.zeros_like(buses["drums"]))
    gain = PEAK / max(float(np.abs(total).max()), 1e-12)
    stems = {name: (bus * gain).astype(np.float32) for name, bus in buses.items()}
    mix = np.sum([stem.astype(np.float64) for stem in stems.values()], axis=0)
    return Multitrack(stems, mix.astype(np.float32), samplerate, recipe)
