"""Quality and speed of the DSP fallback separator on generated multitracks with known stems.

    .venv/bin/python benchmarks/stems_dsp_quality.py [--songs 20] [--seconds 30]
        [--samplerate 44100] [--first-seed 0] [--speed-seconds 180]

Material: `--songs` songs of `voidline.stems.multitrack` (seeds first-seed, first-seed + 1,
...), each `--seconds` long: drums, a bass synth, wide chords (sometimes a pad and an
off-centre lead) and a centred sung voice, each with its own level; the mix is their exact
sum. The separator's parameters were tuned by hand on other seeds (100-107, 12 s), so these
songs are held out.

Each mix goes through the path the stems service uses: `StreamingSeparator` with the
`DspSeparator` as its only model (10 s segments, 25 % overlap, Demucs' triangular
cross-fade; `voidline.stems.streaming.separate_array`). Scores are the nSDR of the Music
Demixing challenge (`voidline.stems.sdr`), per stem, median and mean over the songs, for:
- dsp: the separator on the stereo mix;
- dsp, mono: the separator on the mix averaged to one channel, scored against the stems
  averaged likewise (the streaming layer hands a mono file to the two-channel model as two
  equal channels, as the stems service does);
- mix / 4: every stem estimated as a quarter of the mix (on the stereo and the mono songs);
- all to other: the whole mix as "other", silence for the rest.
Speed: the real-time factor (separation time / audio time) over the stereo songs, and the
wall time for one `--speed-seconds` stereo song, separated as above after a warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from _music import machine

from voidline.stems.backend import FOUR_STEMS
from voidline.stems.dsp_separator import DspSeparator
from voidline.stems.multitrack import Multitrack, generate_multitrack
from voidline.stems.sdr import score_stems
from voidline.stems.streaming import BagMember, StreamingSeparator, separate_array

FloatArray = npt.NDArray[np.float32]
Estimator = Callable[[FloatArray], dict[str, FloatArray]]


def dsp_estimator(samplerate: int) -> Estimator:
    """The stems service's path: the DSP separator under the streaming cross-fade."""

    def estimate(mix: FloatArray) -> dict[str, FloatArray]:
        separator = DspSeparator(samplerate)
        streamer = StreamingSeparator([BagMember(separator, (1.0,) * len(FOUR_STEMS))])
        channels = mix.shape[1]
        model_input = np.repeat(mix, 2, axis=1) if channels == 1 else mix
        stems = separate_array(streamer, model_input)
        if channels == 1:  # averaged back, as the stems service does for mono input
            stems = stems.mean(axis=2, keepdims=True)
        return dict(zip(FOUR_STEMS, stems, strict=True))

    return estimate


def quarter_of_the_mix(mix: FloatArray) -> dict[str, FloatArray]:
    return {name: mix / np.float32(4.0) for name in FOUR_STEMS}


def all_to_other(mix: FloatArray) -> dict[str, FloatArray]:
    return {name: mix if name == "other" else np.zeros_like(mix) for name in FOUR_STEMS}


def mono(song: Multitrack) -> Multitrack:
    """The song averaged to one channel, stems included (still an exact sum)."""
    stems = {name: stem.mean(axis=1, keepdims=True) for name, stem in song.stems.items()}
    mix = np.sum([stem.astype(np.float64) for stem in stems.values()], axis=0)
    return Multitrack(stems, mix.astype(np.float32), song.samplerate, song.recipe)


def score(
    songs: Sequence[Multitrack], estimator: Estimator
) -> tuple[dict[str, list[float]], float]:
    """Per stem, the nSDR of every song; and the seconds spent estimating."""
    scores: dict[str, list[float]] = {name: [] for name in FOUR_STEMS}
    spent = 0.0
    for song in songs:
        start = time.perf_counter()
        estimates = estimator(song.mix)
        spent += time.perf_counter() - start
        for name, value in score_stems(song.stems, estimates).items():
            scores[name].append(value)
    return scores, spent


def speed_of_one_song(seconds: float, samplerate: int) -> float:
    """Wall seconds to separate one stereo song of `seconds` (after a warm-up call)."""
    song = generate_multitrack(1000, seconds, samplerate)
    estimate = dsp_estimator(samplerate)
    estimate(song.mix[:samplerate])  # numba's cache and the FFT plans
    start = time.perf_counter()
    estimate(song.mix)
    return time.perf_counter() - start


def table(rows: dict[str, dict[str, list[float]]]) -> str:
    header = "| stem | " + " | ".join(f"{label} median / mean" for label in rows) + " |"
    rule = "|---|" + "---|" * len(rows)
    lines = [header, rule]
    for name in FOUR_STEMS:
        cells = [
            f"{statistics.median(scores[name]):.2f} / {statistics.fmean(scores[name]):.2f}"
            for scores in rows.values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--samplerate", type=int, default=44100)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--speed-seconds", type=float, default=180.0)
    args = parser.parse_args(argv)

    seeds = range(args.first_seed, args.first_seed + args.songs)
    print(f"generating {args.songs} songs of {args.seconds:g} s ...", file=sys.stderr)
    songs = [generate_multitrack(seed, args.seconds, args.samplerate) for seed in seeds]
    dsp = dsp_estimator(args.samplerate)
    dsp(songs[0].mix[: args.samplerate])  # warm-up: numba's on-disk cache, FFT plans

    rows: dict[str, dict[str, list[float]]] = {}
    rows["dsp"], spent = score(songs, dsp)
    rows["mix / 4"], _ = score(songs, quarter_of_the_mix)
    rows["all to other"], _ = score(songs, all_to_other)
    mono_songs = [mono(song) for song in songs]
    rows["dsp, mono"], _ = score(mono_songs, dsp)
    rows["mix / 4, mono"], _ = score(mono_songs, quarter_of_the_mix)
    audio_seconds = args.songs * args.seconds
    one_song = speed_of_one_song(args.speed_seconds, args.samplerate)

    command = "benchmarks/stems_dsp_quality.py " + " ".join(
        f"--{name.replace('_', '-')} {value:g}" for name, value in vars(args).items()
    )
    print(f"Date: {dt.date.today().isoformat()}  ")
    print(f"Machine: {machine()}  ")
    print(f"Command: `.venv/bin/python {command}`\n")
    print(
        f"nSDR in dB over {args.songs} generated songs of {args.seconds:g} s at "
        f"{args.samplerate} Hz (seeds {seeds.start}-{seeds.stop - 1}):\n"
    )
    print(table(rows))
    print(
        f"\nSpeed: real-time factor {spent / audio_seconds:.4f} "
        f"({spent:.1f} s for {audio_seconds:g} s of stereo audio, segments included); "
        f"one {args.speed_seconds:g} s stereo song: {one_song:.1f} s."
    )


if __name__ == "__main__":
    main()
