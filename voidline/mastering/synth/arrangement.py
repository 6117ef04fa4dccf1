"""The musical plan of one track: style, tempo, key, harmony, parts, their lines and image.

An arrangement names a texture found in real catalogues (a band with drums, bass, chords and
a voice; four-on-the-floor electronic; half-time hip-hop with keys and vinyl; drumless
ambient pads; a piano ballad; a minimal drum-and-bass groove; solo keys). Each gives the
probability that a part plays, the drum styles and patches that suit it, and a tempo range;
the plan then draws the details. A structure (steady, build, breakdown, drop) switches parts
on and off per bar, so tracks differ in macro-dynamics too, not only in timbre.

Performances are not played at one level: each track draws an expression depth, how far
its notes' velocities fall below full (accents stay on the beat), and a section contour, a
gain per bar that wanders by up to a few dB (a verse played softer, a swell into a chorus).
Without them the generated music was far steadier than recorded music: the analysis of
degraded real tracks (warzone2100's and nexuiz's soundtracks) read 2-3 standard deviations
above the generated set in peak-to-loudness ratio, short-term loudness headroom, per-band
crest and modulation.

The stereo image is drawn once per track (mono, narrow, normal, wide) and sets every part's
pan, the chord Haas delay, the pad and voice channel detunes and the reverb's decorrelation;
`wide_bass` gives the bass a chorus (different detunes per channel), i.e. side content in
the low end, which a mastering engineer would usually collapse to mono.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voidline.mastering.synth.drums import DRUM_STYLES, PATTERNS
from voidline.mastering.synth.theory import (
    PROGRESSIONS,
    SCALES,
    STEPS_PER_BAR,
    Grid,
    Key,
    Note,
    melody,
    played_velocity,
    voice_near,
)

PARTS = ("drums", "bass", "chords", "pad", "lead", "voice", "noise")


@dataclass(frozen=True)
class Style:
    """What an arrangement may contain: part probabilities, patches, drum styles, tempi."""

    part_probability: dict[str, float]
    tempo_bpm: tuple[float, float]
    drum_styles: tuple[str, ...] = DRUM_STYLES
    bass_patches: tuple[str, ...] = ("sub", "saw", "square", "fm")
    chord_patches: tuple[str, ...] = ("pad", "keys", "stabs", "arp")
    lead_patches: tuple[str, ...] = ("square", "saw", "bell", "flute")
    noise_beds: tuple[str, ...] = ("hiss", "wind", "vinyl")
    reverb_rt60_s: tuple[float, float] = (0.5, 1.5)


ARRANGEMENTS: dict[str, Style] = {
    "band": Style(
        {"drums": 1, "bass": 1, "chords": 1, "pad": 0.3, "lead": 0.5, "voice": 0.6, "noise": 0.1},
        (80.0, 150.0),
        drum_styles=("backbeat", "breakbeat", "half_time"),
        chord_patches=("keys", "stabs", "pad"),
    ),
    "electronic": Style(
        {"drums": 1, "bass": 1, "chords": 0.9, "pad": 0.5, "lead": 0.6, "voice": 0.2, "noise": 0.2},
        (110.0, 170.0),
        drum_styles=("four_on_floor", "sixteenths", "breakbeat"),
        chord_patches=("stabs", "arp", "pad"),
        lead_patches=("square", "saw", "bell"),
    ),
    "hiphop": Style(
        {"drums": 1, "bass": 1, "chords": 1, "pad": 0.2, "lead": 0.3, "voice": 0.7, "noise": 0.5},
        (70.0, 100.0),
        drum_styles=("half_time", "breakbeat", "backbeat"),
        bass_patches=("sub", "fm", "saw"),
        chord_patches=("keys", "pad", "arp"),
        noise_beds=("vinyl", "hiss"),
    ),
    "ambient": Style(
        {"drums": 0, "bass": 0.3, "chords": 0.4, "pad": 1, "lead": 0.5, "voice": 0.5, "noise": 0.7},
        (70.0, 110.0),
        bass_patches=("sub",),
        chord_patches=("pad", "arp", "keys"),
        lead_patches=("bell", "flute"),
        noise_beds=("wind", "hiss"),
        reverb_rt60_s=(1.5, 3.0),
    ),
    "ballad": Style(
        {"drums": 0.5, "bass": 0.7, "chords": 1, "pad": 0.4, "lead": 0.2, "voice": 0.9, "noise": 0},
        (70.0, 95.0),
        drum_styles=("backbeat", "half_time"),
        bass_patches=("sub", "square"),
        chord_patches=("keys",),
        lead_patches=("flute", "bell"),
        reverb_rt60_s=(1.0, 2.2),
    ),
    "minimal": Style(
        {"drums": 1, "bass": 1, "chords": 0.7, "pad": 0.1, "lead": 0.3, "voice": 0.1, "noise": 0.4},
        (100.0, 135.0),
        drum_styles=("four_on_floor", "sixteenths"),
        chord_patches=("stabs",),
        reverb_rt60_s=(0.4, 1.2),
    ),
    "solo": Style(
        {"drums": 0, "bass": 0.2, "chords": 1, "pad": 0.2, "lead": 0.6, "voice": 0.3, "noise": 0.2},
        (70.0, 140.0),
        chord_patches=("keys", "arp"),
        lead_patches=("bell", "flute", "square"),
        reverb_rt60_s=(0.8, 2.0),
    ),
}
STRUCTURES = ("steady", "build", "breakdown", "drop")
STEREO_IMAGES: dict[str, float] = {"mono": 0.0, "narrow": 0.25, "normal": 0.55, "wide": 0.9}
# Mix level of each part relative to the drums (dB of RMS while playing), before the random
# +-2 dB of each track: the usual pop balance, kick and bass on top, beds far below.
PART_LEVELS_DB = {
    "drums": 0.0,
    "bass": -2.0,
    "chords": -6.0,
    "pad": -9.0,
    "lead": -6.0,
    "voice": -4.0,
    "noise": -24.0,
}
NOISE_LEVELS_DB = {"hiss": -8.0, "vinyl": -4.0, "wind": 0.0}  # on top of the noise part's level
REVERB_SENDS = {"drums": 0.08, "bass": 0.0, "chords": 0.25, "pad": 0.35, "lead": 0.2, "voice": 0.3}
EXPRESSION_DB = (0.0, 9.0)  # how far a track's note velocities may fall below its accents
ARTICULATION = (0.3, 1.0)  # staccato to legato: the share of a written length held
ARTICULATED_PARTS = ("bass", "chords", "lead")  # pads sustain; the voice phrases its own
CONTOUR_DB = (0.0, 6.0)  # the section contour's step spread per bar (dB, standard deviation)


@dataclass
class PartPlan:
    """One part: what it plays and where it sits in the mix."""

    name: str
    patch: str
    notes: list[Note] = field(default_factory=list)
    active_bars: list[bool] = field(default_factory=list)
    pan: float = 0.0
    level_db: float = 0.0
    send: float = 0.0
    detune_cents: tuple[float, float] = (0.0, 0.0)
    haas_ms: float = 0.0
    articulation: float = 1.0  # share of each written note length that is held (1 = legato)


@dataclass
class Plan:
    """The whole track's plan; `recipe()` is its JSON-able summary."""

    arrangement: str
    structure: str
    key: Key
    grid: Grid
    progression: tuple[int, ...]
    chord_bars: int
    seventh_chords: bool
    stereo_image: str
    wide_bass: bool
    reverb_rt60_s: float
    reverb_damping: float
    parts: dict[str, PartPlan]
    drum_style: str
    expression_db: float = 0.0
    bar_gains_db: tuple[float, ...] = ()

    def recipe(self) -> dict[str, Any]:
        return {
            "arrangement": self.arrangement,
            "structure": self.structure,
            "tempo_bpm": self.grid.tempo_bpm,
            "swing": self.grid.swing,
            "key": self.key.name,
            "tonic": self.key.tonic,
            "scale": self.key.scale,
            "progression": list(self.progression),
            "chord_bars": self.chord_bars,
            "seventh_chords": self.seventh_chords,
            "instruments": sorted(self.parts),
            "drums": "drums" in self.parts,
            "drum_style": self.drum_style if "drums" in self.parts else "",
            "patches": {name: part.patch for name, part in sorted(self.parts.items())},
            "stereo_image": self.stereo_image,
            "wide_bass": self.wide_bass,
            "pans": {name: part.pan for name, part in sorted(self.parts.items())},
            "levels_db": {name: part.level_db for name, part in sorted(self.parts.items())},
            "articulation": {name: part.articulation for name, part in sorted(self.parts.items())},
            "reverb_rt60_s": self.reverb_rt60_s,
            "reverb_damping": self.reverb_damping,
            "notes": sum(len(part.notes) for part in self.parts.values()),
            "expression_db": self.expression_db,
            "bar_gains_db": list(self.bar_gains_db),
        }


def _active_bars(structure: str, part: str, n_bars: int) -> list[bool]:
    """Which bars a part plays in a structure (rhythm parts move, harmony stays)."""
    half = max(1, n_bars // 2)
    rhythmic = part in ("drums", "bass")
    if structure == "build" and rhythmic:
        return [bar >= half for bar in range(n_bars)]
    if structure == "breakdown" and part == "drums" and n_bars >= 3:
        return [bar != half for bar in range(n_bars)]
    if structure == "drop" and part not in ("pad", "chords", "noise"):
        return [bar >= half for bar in range(n_bars)]
    return [True] * n_bars


def section_contour(rng: np.random.Generator, n_bars: int) -> tuple[float, ...]:
    """A gain per bar (dB, loudest bar at 0): a random walk with a per-track step spread.

    Recorded music moves between softer and louder passages; the walk's spread is drawn
    from CONTOUR_DB, so some tracks stay level and others swell or fall by several dB.
    """
    spread = float(rng.uniform(*CONTOUR_DB))
    walk = np.cumsum(rng.normal(0.0, spread, n_bars))
    return tuple(round(float(g), 3) for g in walk - walk.max())


def _bass_line(
    rng: np.random.Generator, key: Key, roots: list[int], grid: Grid, kick_steps: tuple[int, ...]
) -> tuple[str, list[Note]]:
    """Bass notes on the chord roots, in one of several rhythms."""
    style = str(rng.choice(("whole", "eighths", "kick", "syncopated", "octaves")))
    rhythms = {
        "whole": ((0, 16),),
        "eighths": tuple((s, 2) for s in range(0, 16, 2)),
        "syncopated": ((0, 3), (3, 3), (6, 4), (10, 2), (12, 4)),
        "octaves": tuple((s, 2) for s in range(0, 16, 2)),
    }
    if style == "kick":
        starts = (*kick_steps, 16)
        rhythm = tuple((a, b - a) for a, b in itertools.pairwise(starts))
    else:
        rhythm = rhythms[style]
    octave = 1 if rng.random() < 0.5 else 2
    notes = []
    for bar, root in enumerate(roots):
        base = key.degree_pitch(root, octave)
        while base > 50:
            base -= 12
        while base < 28:
            base += 12
        for i, (start, length) in enumerate(rhythm):
            pitch = base + 12 if style == "octaves" and i % 2 else base
            velocity = 1.0 if start % 4 == 0 else 0.85
            notes.append(Note(bar * STEPS_PER_BAR + start, length, pitch, velocity))
    return style, notes


def _chord_notes(
    rng: np.random.Generator,
    patch: str,
    chords: list[tuple[int, ...]],
    centre: int,
    left_hand: bool = False,
) -> list[Note]:
    """Chord tones per bar in the patch's rhythm (held, comped, stabbed or arpeggiated).

    left_hand: also play each chord's root an octave and a half below the centre (a
    pianist's left hand), so arrangements without a bass part still have a low end.
    """
    notes: list[Note] = []
    if left_hand:
        for bar, chord in enumerate(chords):
            root = voice_near(chord[:1], centre - 18)[0]
            notes.append(Note(bar * STEPS_PER_BAR, STEPS_PER_BAR, root, 1.0))
    if patch == "arp":
        rate = int(rng.choice((1, 2)))
        for bar, chord in enumerate(chords):
            voiced = voice_near(chord, centre)
            cycle = (*voiced, voiced[0] + 12)
            for i, step in enumerate(range(0, STEPS_PER_BAR, rate)):
                notes.append(Note(bar * STEPS_PER_BAR + step, rate, cycle[i % len(cycle)], 0.9))
        return notes
    rhythms = {
        "pad": (((0, 16),),),
        "keys": (((0, 16),), ((0, 4), (4, 4), (8, 4), (12, 4)), ((0, 6), (6, 4), (10, 6))),
        "stabs": (((2, 1), (6, 1), (10, 1), (14, 1)), ((0, 2), (3, 2), (6, 2), (10, 2))),
    }
    options = rhythms[patch]
    rhythm = options[int(rng.integers(len(options)))]
    for bar, chord in enumerate(chords):
        for start, length in rhythm:
            for pitch in voice_near(chord, centre):
                notes.append(Note(bar * STEPS_PER_BAR + start, length, pitch, 0.9))
    return notes


def make_plan(rng: np.random.Generator, fs: int, n_frames: int) -> Plan:
    """Draw a whole plan; every random choice comes from rng, in a fixed order."""
    arrangement = str(rng.choice(tuple(ARRANGEMENTS)))
    style = ARRANGEMENTS[arrangement]
    tempo = round(float(rng.uniform(*style.tempo_bpm)), 1)
    swing = float(rng.choice((0.0, 0.0, 0.1, 0.2)))
    grid = Grid(fs, tempo, n_frames, swing)
    key = Key(int(rng.integers(12)), str(rng.choice(tuple(SCALES))))
    progression = PROGRESSIONS[key.scale][int(rng.integers(len(PROGRESSIONS[key.scale])))]
    chord_bars = 2 if tempo > 130 and rng.random() < 0.5 else 1
    seventh = bool(rng.random() < 0.3)
    roots = [progression[(bar // chord_bars) % len(progression)] for bar in range(grid.n_bars)]
    chords = [key.chord_pitch_classes(root, 4 if seventh else 3) for root in roots]
    structure = str(rng.choice(STRUCTURES, p=(0.5, 0.2, 0.15, 0.15)))
    image = str(rng.choice(tuple(STEREO_IMAGES), p=(0.1, 0.25, 0.4, 0.25)))
    spread = STEREO_IMAGES[image]
    wide_bass = image != "mono" and bool(rng.random() < 0.2)
    expression_db = round(float(rng.uniform(*EXPRESSION_DB)), 3)
    bar_gains_db = section_contour(rng, grid.n_bars)

    chosen = [p for p in PARTS if rng.random() < style.part_probability[p]]
    if len(chosen) < 2:  # at least a harmony and one more layer
        chosen = sorted({*chosen, "chords", "lead"}, key=PARTS.index)
    drum_style = str(rng.choice(style.drum_styles))
    parts: dict[str, PartPlan] = {}
    for name in chosen:
        part = PartPlan(name=name, patch="")
        part.active_bars = _active_bars(structure, name, grid.n_bars)
        part.level_db = PART_LEVELS_DB[name] + float(rng.uniform(-2.0, 2.0))
        part.send = REVERB_SENDS.get(name, 0.0) * float(rng.uniform(0.5, 1.5))
        if name == "drums":
            part.patch = drum_style
        elif name == "bass":
            part.patch = str(rng.choice(style.bass_patches))
            rhythm, part.notes = _bass_line(rng, key, roots, grid, PATTERNS[drum_style][0])
            part.patch += f"/{rhythm}"
            if wide_bass:
                part.detune_cents = (-8.0, 8.0)
        elif name in ("chords", "pad"):
            part.patch = "pad" if name == "pad" else str(rng.choice(style.chord_patches))
            centre = int(rng.integers(55, 68))
            left_hand = name == "chords" and "bass" not in chosen
            part.notes = _chord_notes(rng, part.patch, chords, centre, left_hand)
            part.pan = float(rng.uniform(-0.4, 0.4)) * spread
            if part.patch == "pad":
                part.detune_cents = (-6.0 * spread, 6.0 * spread)
            elif spread > 0.3:
                part.haas_ms = float(rng.uniform(5.0, 20.0)) * spread
        elif name == "lead":
            part.patch = str(rng.choice(style.lead_patches))
            centre = int(rng.integers(70, 80))
            busy = rng.random() < 0.5
            lengths: tuple[int, ...] = (1, 2, 2, 4) if busy else (2, 4, 4, 8)
            rests = float(rng.uniform(0.1, 0.4))
            part.notes = melody(
                rng, key, chords, grid.n_steps, centre - 7, centre + 9, lengths, rests
            )
            part.pan = float(rng.uniform(-0.6, 0.6)) * spread
        elif name == "voice":
            high = bool(rng.random() < 0.5)
            centre = 67 if high else 55
            if rng.random() < 0.3:  # a choir on the chord tones
                part.patch = "choir_high" if high else "choir_low"
                part.notes = _chord_notes(rng, "pad", chords, centre)
            else:
                part.patch = "solo_high" if high else "solo_low"
                lengths = (2, 4, 4, 6, 8)
                part.notes = melody(
                    rng, key, chords, grid.n_steps, centre - 7, centre + 9, lengths, 0.2
                )
            part.detune_cents = (-5.0 * spread, 5.0 * spread)
        else:  # noise
            part.patch = str(rng.choice(style.noise_beds))
            part.level_db += NOISE_LEVELS_DB[part.patch]
        part.notes = [
            Note(
                n.start, n.length, n.pitch, played_velocity(rng, n.velocity, n.start, expression_db)
            )
            for n in part.notes
            if part.active_bars[n.start // STEPS_PER_BAR]
        ]
        if name in ARTICULATED_PARTS:
            part.articulation = round(float(rng.uniform(*ARTICULATION)), 3)
        parts[name] = part
    return Plan(
        arrangement=arrangement,
        structure=structure,
        key=key,
        grid=grid,
        progression=progression,
        chord_bars=chord_bars,
        seventh_chords=seventh,
        stereo_image=image,
        wide_bass=wide_bass,
        reverb_rt60_s=float(rng.uniform(*style.reverb_rt60_s)),
        reverb_damping=float(rng.uniform(0.2, 0.5)),
        parts=parts,
        drum_style=drum_style,
        expression_db=expression_db,
        bar_gains_db=bar_gains_db,
    )
