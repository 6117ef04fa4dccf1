"""A separation job on a stream: the input's rate and channels in, the same out, per stem.

`SeparationJob` wraps the model-rate `StreamingSeparator` with what a caller needs around
it: mono input is duplicated for the model and its stems averaged back to mono; the input
is resampled to the model's rate and the stems back (`StreamingResampler`, equal to
resample_poly on the whole signal); every stem has exactly the input's frame count; and the
job measures how well all the stems sum back to the input (reconstruction error).

`SeparatorCatalog` picks the backend: Demucs from the local model folder (loaded once,
checksums verified) or the DSP separator, which needs no weights.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voidline.errors import FailedPreconditionError, InvalidInputError
from voidline.stems import demucs_models
from voidline.stems.backend import FloatArray
from voidline.stems.resample import StreamingResampler
from voidline.stems.streaming import BagMember, StreamingSeparator, segment_frames

BACKENDS = ("auto", "demucs", "dsp")
DEVICES = ("cpu", "cuda")
MAX_SHIFTS = 10
MAX_OVERLAP = 0.9
DEFAULT_OVERLAP = 0.25
# Output frames held back until the stream ends: resampling to the model's rate and back
# can make a frame or two more than the input had, and every stem must have its length.
HOLD_BACK_FRAMES = 8


@dataclass(frozen=True)
class SeparationOptions:
    """What a caller asks for; `check` validates it against nothing but itself."""

    backend: str = "auto"
    model: str = ""  # empty: the catalog's default
    stems: tuple[str, ...] = ()  # empty: all the model's stems
    segment_s: float | None = None
    overlap: float = DEFAULT_OVERLAP
    shifts: int = 0
    device: str = "cpu"
    seed: int = 0

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise InvalidInputError(f"device must be one of {', '.join(DEVICES)}")
        if not 0.0 <= self.overlap <= MAX_OVERLAP:
            raise InvalidInputError(f"overlap must be 0 to {MAX_OVERLAP}, got {self.overlap:g}")
        if not 0 <= self.shifts <= MAX_SHIFTS:
            raise InvalidInputError(f"shifts must be 0 to {MAX_SHIFTS}, got {self.shifts}")
        if self.segment_s is not None and not (
            math.isfinite(self.segment_s) and self.segment_s >= 0.1
        ):
            raise InvalidInputError(
                f"segment_s must be at least 0.1 s (or unset), got {self.segment_s:g}"
            )
        if len(set(self.stems)) != len(self.stems):
            raise InvalidInputError("stems lists a stem twice")


@dataclass(frozen=True)
class ResolvedSeparator:
    """The models a job runs, and how to report them."""

    members: Sequence[BagMember]
    backend: str  # "demucs" or "dsp"
    model: str  # demucs bag name; "" for dsp
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"demucs:{self.model}" if self.backend == "demucs" else "dsp"

    @property
    def sources(self) -> tuple[str, ...]:
        return self.members[0].model.sources


@dataclass
class SeparatorCatalog:
    """Resolves options to models: Demucs bags from `<model_dir>/demucs`, or DSP."""

    model_dir: Path
    default_model: str = "htdemucs"
    max_loaded: int = 2
    _loaded: dict[tuple[str, str], list[BagMember]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def installed(self) -> list[demucs_models.InstalledModel]:
        return demucs_models.list_installed(self.model_dir)

    def resolve(self, options: SeparationOptions, samplerate: int) -> ResolvedSeparator:
        """The separator for a job on audio at `samplerate` (the DSP one works at it)."""
        options.check()
        if options.backend == "dsp":
            if options.model:
                raise InvalidInputError(
                    f"model {options.model!r} names a demucs model, but backend is dsp; "
                    "leave model empty or choose backend demucs or auto"
                )
            return self._dsp(samplerate, ())
        name = options.model or self.default_model
        usable = {m.name for m in self.installed() if m.usable}
        if options.backend == "auto" and not options.model and name not in usable:
            folder = demucs_models.demucs_folder(self.model_dir)
            note = (
                f"no usable demucs weights for {name} in {folder}; the DSP separator ran "
                "instead (`voidline models` says how to install them)"
            )
            return self._dsp(samplerate, (note,))
        self._check_device(options.device)
        return ResolvedSeparator(self._bag(name, options.device), "demucs", name)

    def _dsp(self, samplerate: int, notes: tuple[str, ...]) -> ResolvedSeparator:
        from voidline.stems.dsp_separator import DspSeparator

        separator = DspSeparator(samplerate)
        weights = tuple(1.0 for _ in separator.sources)
        return ResolvedSeparator([BagMember(separator, weights)], "dsp", "", notes)

    @staticmethod
    def _check_device(device: str) -> None:
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise FailedPreconditionError(
                    "device cuda was asked for, but this service has no CUDA device; use cpu"
                )

    def _bag(self, name: str, device: str) -> list[BagMember]:
        key = (name, device)
        with self._lock:  # one load at a time; later calls reuse it
            if key not in self._loaded:
                members = demucs_models.load_bag(self.model_dir, name, device)
                while len(self._loaded) >= self.max_loaded:
                    self._loaded.pop(next(iter(self._loaded)))
                self._loaded[key] = members
            return self._loaded[key]


def _empty(channels: int) -> FloatArray:
    return np.zeros((0, channels), dtype=np.float32)


class SeparationJob:
    """Separate one stream. `push` input blocks; each call returns the finished stem frames.

    Input and output are float32 (frames, channels) at `samplerate`; the result of push and
    finish maps each wanted stem to the next frames of that stem, all of equal length.
    """

    def __init__(
        self,
        resolved: ResolvedSeparator,
        options: SeparationOptions,
        samplerate: int,
        channels: int,
    ) -> None:
        if channels not in (1, 2):
            raise InvalidInputError(
                f"separation takes mono or stereo input, got {channels} channels; "
                "downmix surround to stereo first"
            )
        sources = resolved.sources
        unknown = [stem for stem in options.stems if stem not in sources]
        if unknown:
            raise InvalidInputError(
                f"{resolved.label} has no stem {', '.join(unknown)}; its stems are "
                f"{', '.join(sources)}"
            )
        first = resolved.members[0].model
        if options.segment_s is not None and options.segment_s > float(first.segment_s):
            raise InvalidInputError(
                f"segment_s {options.segment_s:g} is longer than {resolved.label}'s "
                f"{float(first.segment_s):g} s; leave it unset or choose less"
            )
        self.resolved = resolved
        self.wanted = options.stems or sources
        self._wanted_index = [sources.index(stem) for stem in self.wanted]
        self.samplerate = samplerate
        self.channels = channels
        self.model_rate = first.samplerate
        self.model_channels = first.audio_channels
        self.separator = StreamingSeparator(
            resolved.members,
            segment_s=options.segment_s,
            overlap=options.overlap,
            shifts=options.shifts,
            seed=options.seed,
        )
        self.segment_s = segment_frames(first, options.segment_s) / self.model_rate
        self._to_model = StreamingResampler(samplerate, self.model_rate, self.model_channels)
        stem_channels = len(sources) * self.model_channels
        self._from_model = StreamingResampler(self.model_rate, samplerate, stem_channels)
        self._sources = len(sources)
        # Output frames not yet released (for the exact length) and the input they match.
        self._held = np.zeros((len(sources), 0, channels), dtype=np.float32)
        self._input_queue: deque[FloatArray] = deque()
        self.frames_in = 0
        self.frames_out = 0
        self._input_energy = 0.0
        self._residual_energy = 0.0
        self._peak = 0.0

    def push(self, frames: FloatArray) -> dict[str, FloatArray]:
        """Take input frames (frames, channels); return the stems' newly finished frames."""
        frames = np.ascontiguousarray(frames, dtype=np.float32).reshape(-1, self.channels)
        if not np.isfinite(frames).all():
            bad = int(np.argmax(~np.isfinite(frames).all(axis=1)))
            raise InvalidInputError(
                f"sample {self.frames_in + bad} is NaN or infinite; send finite samples"
            )
        self.frames_in += frames.shape[0]
        self._peak = max(self._peak, float(np.abs(frames).max(initial=0.0)))
        self._input_queue.append(frames)
        model_in = self._to_model.push(self._to_model_channels(frames))
        stems = self.separator.push(model_in)
        return self._release(self._back_to_input(self._from_model_push(stems)), final=False)

    def finish(self) -> dict[str, FloatArray]:
        """The input has ended: the remaining frames of every stem."""
        stems = self.separator.push(self._to_model.finish())
        tail = self.separator.finish()
        parts = [self._from_model_push(stems), self._from_model_push(tail)]
        flat_rest = self._from_model.finish()
        parts.append(self._unflatten(flat_rest))
        return self._release(self._back_to_input(np.concatenate(parts, axis=1)), final=True)

    @property
    def silent(self) -> bool:
        return self._peak == 0.0

    @property
    def reconstruction_error_db(self) -> float:
        """10 log10(energy of input - sum of stems / energy of input); -inf if exact."""
        if self._input_energy == 0.0:
            return float("-inf") if self._residual_energy == 0.0 else float("inf")
        if self._residual_energy == 0.0:
            return float("-inf")
        return 10.0 * math.log10(self._residual_energy / self._input_energy)

    # -- internals -----------------------------------------------------------------------

    def _to_model_channels(self, frames: FloatArray) -> FloatArray:
        if self.channels == self.model_channels:
            return frames
        if self.channels == 1:  # demucs' convert_audio_channels: repeat mono
            return np.repeat(frames, self.model_channels, axis=1)
        mono: FloatArray = frames.mean(axis=1, keepdims=True, dtype=np.float32)
        return mono

    def _from_model_push(self, stems: FloatArray) -> FloatArray:
        """(sources, n, model channels) at the model rate -> the same at the input rate."""
        flat = stems.transpose(1, 0, 2).reshape(stems.shape[1], self._sources * self.model_channels)
        return self._unflatten(self._from_model.push(flat))

    def _unflatten(self, flat: FloatArray) -> FloatArray:
        shaped = flat.reshape(flat.shape[0], self._sources, self.model_channels)
        return np.ascontiguousarray(shaped.transpose(1, 0, 2))

    def _back_to_input(self, stems: FloatArray) -> FloatArray:
        if self.channels == self.model_channels:
            return stems
        mono: FloatArray = stems.mean(axis=2, keepdims=True, dtype=np.float32)
        return mono

    def _release(self, stems: FloatArray, final: bool) -> dict[str, FloatArray]:
        held = np.concatenate([self._held, stems], axis=1)
        if final:
            count = self.frames_in - self.frames_out
            if held.shape[1] < count:  # never expected; keep the length promise anyway
                held = np.pad(held, ((0, 0), (0, count - held.shape[1]), (0, 0)))
        else:
            limit = self.frames_in - HOLD_BACK_FRAMES - self.frames_out
            count = max(0, min(held.shape[1], limit))
        out, self._held = held[:, :count], held[:, count:]
        self._measure(out)
        self.frames_out += count
        return {stem: out[i] for stem, i in zip(self.wanted, self._wanted_index, strict=True)}

    def _measure(self, stems: FloatArray) -> None:
        """Accumulate input and residual energy over the frames being released."""
        remaining = stems.shape[1]
        mixed = stems.sum(axis=0, dtype=np.float64)
        position = 0
        while remaining:
            head = self._input_queue[0]
            take = min(remaining, head.shape[0])
            reference = head[:take].astype(np.float64)
            self._input_energy += float(np.square(reference).sum())
            residual = reference - mixed[position : position + take]
            self._residual_energy += float(np.square(residual).sum())
            if take == head.shape[0]:
                self._input_queue.popleft()
            else:
                self._input_queue[0] = head[take:]
            position += take
            remaining -= take


def separate_whole(
    job: SeparationJob,
    audio: FloatArray,
    block_frames: int = 1 << 16,
    on_block: Callable[[int], None] | None = None,
) -> dict[str, FloatArray]:
    """Run a whole (frames, channels) array through a job; every stem, concatenated."""
    parts: dict[str, list[FloatArray]] = {stem: [] for stem in job.wanted}
    for start in range(0, audio.shape[0], block_frames):
        for stem, frames in job.push(audio[start : start + block_frames]).items():
            parts[stem].append(frames)
        if on_block is not None:
            on_block(min(start + block_frames, audio.shape[0]))
    for stem, frames in job.finish().items():
        parts[stem].append(frames)
    return {
        stem: np.concatenate(blocks) if blocks else _empty(job.channels)
        for stem, blocks in parts.items()
    }
