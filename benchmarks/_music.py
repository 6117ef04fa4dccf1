"""Shared pieces of the mastering benchmarks: real recordings, the GPL baseline, the machine.

Recordings: the music of Debian's `nexuiz-music` package (GPL-2+ game music, 17 stereo
44.1 kHz Ogg Vorbis tracks). `music_archive` fetches the package with `apt-get download` into
the gitignored benchmarks/.cache on first use (as `benchmarks/analysis.py` does) and tracks
are decoded straight from its `music.pk3` zip; nothing is ever committed.

Baseline: matchering 2.0.6 is GPL-3.0, so it lives in a virtual environment of its own
(benchmarks/.cache/gpl-venv) and only ever runs as a subprocess of that interpreter
(`gpl_python`); this project never imports it.
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from voidline.errors import InvalidInputError

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
PACKAGE = "nexuiz-music"
TRACK_FOLDER = "sound/cdtracks/"
# The package's music, in name order; it also holds thunder.ogg, an 11 kHz sound effect.
TRACKS: tuple[str, ...] = (
    "beast-of-insanity",
    "brainsukker",
    "breakdown-easy",
    "brokenlight",
    "calling-bogus",
    "chaos-fog",
    "desert3",
    "digital-pursuit",
    "infight",
    "neuronal-diving",
    "ninesix",
    "northern-lights",
    "sixtyfour_",
    "sixtyfour_revisited",
    "stairs",
    "subcities",
    "thru-the-mirror",
)
GPL_VENV = CACHE / "gpl-venv"
MATCHERING_REQUIREMENT = "matchering==2.0.6"

FloatArray = NDArray[np.float64]


def debian_package(package: str, folder: Path, pattern: str) -> list[Path]:
    """The files matching `pattern` of a Debian package unpacked into `folder`, sorted.

    Fetched (`apt-get download`) and unpacked (`dpkg -x`) on first use; [] with a note when
    the package cannot be had.
    """
    found = sorted(folder.rglob(pattern))
    if found:
        return found
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", package], cwd=CACHE, check=True, capture_output=True)
        deb = next(CACHE.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(folder)], check=True)
    except (OSError, subprocess.CalledProcessError, StopIteration) as error:
        print(f"note: {package} is unavailable ({error})", file=sys.stderr)
        return []
    return sorted(folder.rglob(pattern))


def music_archive() -> Path | None:
    """The package's music.pk3 (a zip of Ogg files), fetched once; None when unavailable."""
    found = debian_package(PACKAGE, CACHE / "nexuiz", "music.pk3")
    return found[0] if found else None


def load_track(archive: Path, name: str) -> tuple[FloatArray, int]:
    """Decode one track of the archive: (frames, channels) float64 at full scale 1.0, fs."""
    if name not in TRACKS:
        raise InvalidInputError(f"unknown track {name!r}; choose one of {', '.join(TRACKS)}")
    with zipfile.ZipFile(archive) as bundle:
        data = bundle.read(f"{TRACK_FOLDER}{name}.ogg")
    audio, fs = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return np.ascontiguousarray(audio), int(fs)


def excerpt(audio: FloatArray, fs: int, start_s: float, seconds: float) -> FloatArray:
    """seconds of audio from start_s; InvalidInputError when the track is too short."""
    start, length = round(start_s * fs), round(seconds * fs)
    if start < 0 or start + length > audio.shape[0]:
        raise InvalidInputError(
            f"the track is {audio.shape[0] / fs:.1f} s long: it has no {seconds:g} s "
            f"from {start_s:g} s"
        )
    return np.ascontiguousarray(audio[start : start + length])


def middle_excerpt(audio: FloatArray, fs: int, seconds: float) -> FloatArray:
    """seconds from the middle of the track (intros and fades are not typical programme)."""
    return excerpt(audio, fs, max(audio.shape[0] / fs - seconds, 0.0) / 2.0, seconds)


def gpl_python() -> Path | None:
    """The matchering venv's interpreter, created on first use; None (with a note) if that fails.

    The venv is made with python3.11 (the project's Python) and pip from the registry, the
    ordinary way; it is never on the project's own path.
    """
    python = GPL_VENV / "bin" / "python"
    check = [str(python), "-c", "import matchering"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run(["python3.11", "-m", "venv", str(GPL_VENV)], check=True)
        pip = [str(GPL_VENV / "bin" / "pip"), "install", "--quiet", MATCHERING_REQUIREMENT]
        subprocess.run(pip, check=True)
        subprocess.run(check, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"note: matchering is unavailable ({error}); its rows are skipped")
        return None
    return python


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a living process, MB.

    Not getrusage's ru_maxrss of the process itself: Linux keeps that across execve, so a
    fresh worker would report its parent's size if that was larger.
    """
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def machine() -> str:
    """OS, architecture, core count, CPU model and memory, for the result tables."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    cores = len(os.sched_getaffinity(0))
    return (
        f"{platform.system()} {platform.machine()}, {cores} cores, {cpu}, "
        f"{memory_kb / 1024**2:.0f} GiB"
    )
