"""Keys, scales, chord progressions and the note lines the instruments play.

Everything here is symbolic: notes are MIDI numbers (69 = A4 = 440 Hz, 12-tone equal
temperament) placed on a grid of sixteenth-note steps. The rendering modules turn these
events into sound.

Progressions are the common-practice loops of popular music written as scale degrees
(0 = tonic): I-V-vi-IV, I-vi-IV-V, ii-V-I in major; i-VI-III-VII, i-iv-v-i in minor. Chords
are triads (sometimes sevenths) stacked in thirds within the scale, voiced close to a centre
note so that successive chords move by small steps (voice leading by nearest octave).
Melodies are a random walk on the scale that lands on chord tones on strong beats, the
usual rule of thumb for a line that "fits" its harmony.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor (Aeolian)
}
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (1, 4, 0, 0)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 5, 4), (0, 5, 3, 4)),
}
STEPS_PER_BEAT = 4  # sixteenth notes
STEPS_PER_BAR = 16  # 4/4 time


@dataclass(frozen=True)
class Grid:
    """The time grid: sixteenth-note steps at a tempo, with swing on the off-sixteenths.

    swing delays every odd step by that fraction of a step (0: straight; 1/3: triplet feel).
    """

    fs: int
    tempo_bpm: float
    n_frames: int
    swing: float = 0.0

    @property
    def step_seconds(self) -> float:
        return 60.0 / self.tempo_bpm / STEPS_PER_BEAT

    @property
    def n_steps(self) -> int:
        return math.ceil(self.n_frames / (self.step_seconds * self.fs))

    @property
    def n_bars(self) -> int:
        return math.ceil(self.n_steps / STEPS_PER_BAR)

    def sample(self, step: int) -> int:
        """First sample of a step (swing applied)."""
        seconds = step * self.step_seconds
        if step % 2:
            seconds += self.swing * self.step_seconds
        return round(seconds * self.fs)

    def samples(self, steps: float) -> int:
        """Length of `steps` steps in samples (at least 1)."""
        return max(1, round(steps * self.step_seconds * self.fs))


@dataclass(frozen=True)
class Note:
    """One note: start and length in sixteenth steps, MIDI pitch, velocity in (0, 1]."""

    start: int
    length: int
    pitch: int
    velocity: float = 1.0


DOWNBEAT_FALL_SHARE = 0.33  # a downbeat keeps at most a third of a player's velocity fall


def played_velocity(rng: np.random.Generator, velocity: float, step: int, depth_db: float) -> float:
    """A written velocity as played: up to depth_db softer, drawn per note, and downbeats
    (every quarter note) by at most DOWNBEAT_FALL_SHARE of it, so the accents survive."""
    fall = depth_db * float(rng.random()) * (DOWNBEAT_FALL_SHARE if step % 4 == 0 else 1.0)
    return float(velocity * 10 ** (-fall / 20))


def midi_to_hz(pitch: float) -> float:
    """Frequency of a MIDI note in 12-TET with A4 (69) = 440 Hz."""
    return float(440.0 * 2.0 ** ((pitch - 69.0) / 12.0))


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a scale name from SCALES."""

    tonic: int
    scale: str

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.scale}"

    def degree_pitch(self, degree: int, octave: int) -> int:
        """MIDI pitch of a scale degree (any integer; 7 is the next octave's tonic).

        octave: the MIDI octave of degree 0 (4 puts the tonic between C4 = 60 and B4 = 71).
        """
        steps = SCALES[self.scale]
        octaves, index = divmod(degree, len(steps))
        return 12 * (octave + 1 + octaves) + self.tonic + steps[index]

    def chord_degrees(self, root: int, size: int) -> tuple[int, ...]:
        """Scale degrees of a chord stacked in thirds: triad (3) or seventh chord (4)."""
        return tuple(root + 2 * i for i in range(size))

    def chord_pitch_classes(self, root: int, size: int) -> tuple[int, ...]:
        return tuple(self.degree_pitch(d, 0) % 12 for d in self.chord_degrees(root, size))


def voice_near(pitch_classes: tuple[int, ...], centre: int) -> tuple[int, ...]:
    """Each pitch class at the octave nearest to `centre` (close voicing), sorted."""
    voiced = []
    for pc in pitch_classes:
        candidate = centre - ((centre - pc) % 12)  # at or below the centre
        if centre - candidate > 6:
            candidate += 12
        voiced.append(candidate)
    return tuple(sorted(voiced))


def nearest_in(pitch: int, pitch_classes: tuple[int, ...]) -> int:
    """The pitch nearest to `pitch` whose pitch class is in pitch_classes (ties: lower)."""
    for distance in range(12):
        for candidate in (pitch - distance, pitch + distance):
            if candidate % 12 in pitch_classes:
                return candidate
    return pitch


def melody(
    rng: np.random.Generator,
    key: Key,
    chords: list[tuple[int, ...]],
    n_steps: int,
    low: int,
    high: int,
    note_lengths: tuple[int, ...],
    rest_probability: float,
) -> list[Note]:
    """A melodic line over the chords (one chord per bar, pitch classes), low-high MIDI.

    A random walk of scale steps (mostly +-1 or +-2, sometimes a leap), snapped to the
    nearest chord tone on strong beats (every quarter note) with probability 0.7.
    """
    scale_pcs = tuple((key.tonic + s) % 12 for s in SCALES[key.scale])
    notes: list[Note] = []
    pitch = nearest_in((low + high) // 2, scale_pcs)
    step = 0
    while step < n_steps:
        length = int(rng.choice(note_lengths))
        if rng.random() < rest_probability:
            step += length
            continue
        move = int(rng.choice((-4, -2, -1, -1, 0, 1, 1, 2, 4)))
        pitch = _scale_step(pitch, move, scale_pcs)
        if pitch < low or pitch > high:
            pitch = _scale_step(pitch, -2 * move, scale_pcs)
            pitch = min(max(pitch, low), high)
        chord = chords[(step // STEPS_PER_BAR) % len(chords)]
        if step % STEPS_PER_BEAT == 0 and rng.random() < 0.7:
            pitch = nearest_in(pitch, chord)
        elif pitch % 12 not in scale_pcs:
            pitch = nearest_in(pitch, scale_pcs)
        velocity = 0.75 + 0.25 * rng.random() if step % STEPS_PER_BEAT else 1.0
        notes.append(Note(step, min(length, n_steps - step), pitch, velocity))
        step += length
    return notes


def _scale_step(pitch: int, move: int, scale_pcs: tuple[int, ...]) -> int:
    """Move `move` scale steps up (positive) or down from a pitch in the scale."""
    direction = 1 if move > 0 else -1
    for _ in range(abs(move)):
        pitch += direction
        while pitch % 12 not in scale_pcs:
            pitch += direction
    return pitch
