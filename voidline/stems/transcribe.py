"""Lyric transcription with faster-whisper (CTranslate2 Whisper models), offline only.

Models are installed by users, never downloaded: each is a converted CTranslate2 Whisper folder
`<model_dir>/whisper/<name>/` holding `model.bin`, `config.json`, `tokenizer.json` and the
vocabulary (`vocabulary.json` or `vocabulary.txt`); `preprocessor_config.json` is needed for
128-mel models (large-v3). faster-whisper falls back to the Hugging Face hub when
`tokenizer.json` is missing, so such a folder is refused here before faster-whisper sees it,
`HF_HUB_OFFLINE=1` is set before faster-whisper (and huggingface_hub) is first imported, and
models load with `local_files_only=True`.

    transcriber = WhisperTranscriber(Path("/models"), device="cpu")
    info, segments = transcriber.transcribe(audio, 44100, TranscribeOptions(model="small"))
    for segment in segments:          # decoded lazily, window by window
        print(segment.start, segment.end, segment.text)

`transcribe` does the eager work before it returns (resampling, VAD, language detection on the
first 30 s window) so bad input and missing models fail the call, not the stream; the segment
iterator then decodes one 30 s window at a time as it is advanced.

Audio is float32 (frames, channels) at 8-192 kHz, like the rest of Voidline.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from voidline.errors import FailedPreconditionError, InvalidInputError, NotFoundError

# Before faster_whisper / huggingface_hub is imported anywhere below: the hub client reads this
# once at import time, and nothing in Voidline may ever download a model.
os.environ["HF_HUB_OFFLINE"] = "1"

FloatArray = npt.NDArray[np.float32]
# What `transcribe` streams: advance it to decode, close() it to stop decoding.
SegmentStream = Generator["TranscriptSegment", None, None]

WHISPER_SUBDIR: Final = "whisper"
WHISPER_SAMPLERATE: Final = 16000
MIN_SAMPLERATE: Final = 8000
MAX_SAMPLERATE: Final = 192000
MAX_CHANNELS: Final = 32
MAX_BEAM_SIZE: Final = 10
MAX_PROMPT_CHARS: Final = 1000
# faster-whisper's fallback schedule: decode greedily, retry hotter when the text looks wrong.
DEFAULT_TEMPERATURES: Final = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# A peak below -80 dBFS is silence (or dither): Whisper would only hallucinate on it.
SILENCE_PEAK: Final = 1e-4
DEFAULT_CACHE_SIZE: Final = 2

REQUIRED_FILES: Final = ("model.bin", "config.json", "tokenizer.json")
VOCABULARY_FILES: Final = ("vocabulary.json", "vocabulary.txt")
_VOCABULARY_MISSING: Final = "vocabulary.json (or vocabulary.txt)"
_INSTALL_HINT: Final = (
    "install a CTranslate2 Whisper model folder (model.bin, config.json, tokenizer.json, "
    "vocabulary.json; e.g. a Systran/faster-whisper-* snapshot or the output of "
    "ct2-transformers-converter --copy_files tokenizer.json preprocessor_config.json)"
)
_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LANGUAGE_PATTERN: Final = re.compile(r"[a-z]{2,3}")
_TASKS: Final = ("transcribe", "translate")
_DEVICES: Final = ("cpu", "cuda")
_DEFAULT_COMPUTE_TYPES: Final = {"cpu": "int8", "cuda": "float16"}
_COMPUTE_TYPES: Final = (
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)


# --- installed models ---------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperModelInfo:
    """One folder under `<model_dir>/whisper/`: complete when every required file is there."""

    name: str
    path: Path
    size_bytes: int
    complete: bool
    missing: tuple[str, ...]


def _missing_files(folder: Path) -> tuple[str, ...]:
    """The required files a model folder lacks, in a fixed order."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in VOCABULARY_FILES):
        missing.append(_VOCABULARY_MISSING)
    return tuple(missing)


def _folder_size(folder: Path) -> int:
    """Bytes in all files below `folder` (a model folder holds a handful of files)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def installed_whisper_models(model_dir: Path) -> list[WhisperModelInfo]:
    """Every model folder in `<model_dir>/whisper/`, sorted by name; [] when there is none."""
    root = model_dir / WHISPER_SUBDIR
    if not root.is_dir():
        return []
    models = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        missing = _missing_files(folder)
        models.append(
            WhisperModelInfo(
                name=folder.name,
                path=folder,
                size_bytes=_folder_size(folder),
                complete=not missing,
                missing=missing,
            )
        )
    return models


# --- options ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscribeOptions:
    """What to transcribe with and how; checked on construction (InvalidInputError).

    model: an installed model's folder name; None means the transcriber's default.
    language: a Whisper language code ("en", "de", "haw", ...); None, "" or "auto" detect it
      from the first 30 s. Whether the model knows it is checked when the model is loaded.
    task: "transcribe", or "translate" (to English; multilingual models only).
    vad_filter: skip what faster-whisper's bundled Silero VAD does not hear as speech.
    word_timestamps: fill `TranscriptSegment.words` (cross-attention alignment).
    beam_size: 1 (greedy) to 10.
    temperatures: decode at the first; retry at the next ones when the text looks wrong
      (compression ratio or log probability), as faster-whisper does. Each in [0, 1].
    initial_prompt: text that primes the first window (names, lyrics style), at most 1000
      characters.
    condition_on_previous_text: prime each window with the text before it.
    """

    model: str | None = None
    language: str | None = None
    task: str = "transcribe"
    vad_filter: bool = False
    word_timestamps: bool = False
    beam_size: int = 5
    temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES
    initial_prompt: str | None = None
    condition_on_previous_text: bool = True

    def __post_init__(self) -> None:
        # Normalise once so every later check and the model see one spelling.
        object.__setattr__(self, "language", _normalise_language(self.language))
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        if self.model is not None:
            check_model_name(self.model)
        if self.task not in _TASKS:
            raise InvalidInputError(f"task must be one of {', '.join(_TASKS)}, not {self.task!r}")
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, int):
            raise InvalidInputError(f"beam_size must be an integer, not {self.beam_size!r}")
        if not 1 <= self.beam_size <= MAX_BEAM_SIZE:
            raise InvalidInputError(
                f"beam_size must be between 1 and {MAX_BEAM_SIZE}, not {self.beam_size}"
            )
        _check_temperatures(self.temperatures)
        if self.initial_prompt is not None and len(self.initial_prompt) > MAX_PROMPT_CHARS:
            raise InvalidInputError(
                f"initial_prompt has {len(self.initial_prompt)} characters; "
                f"at most {MAX_PROMPT_CHARS} are accepted"
            )


def _normalise_language(language: str | None) -> str | None:
    """ "EN " -> "en"; None, "" and "auto" -> None (detect)."""
    if language is None:
        return None
    code = language.strip().lower()
    if code in ("", "auto"):
        return None
    if not _LANGUAGE_PATTERN.fullmatch(code):
        raise InvalidInputError(
            f"language must be a Whisper language code such as 'en' or 'de' "
            f"(or empty to detect it), not {language!r}"
        )
    return code


def _check_temperatures(temperatures: tuple[float, ...]) -> None:
    if not temperatures:
        raise InvalidInputError("temperatures must hold at least one value (0.0 is greedy)")
    for value in temperatures:
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise InvalidInputError(f"each temperature must be within [0, 1], not {value}")


def check_model_name(name: str) -> str:
    """A model name is one folder name: no path separators, no "..", no hidden folders."""
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"model name {name!r} is not a folder name (letters, digits, '.', '_', '-'; "
            "starting with a letter or digit)"
        )
    return name


def _check_options_for_model(options: TranscribeOptions, model: LoadedWhisperModel) -> None:
    """The checks that need the loaded model: its languages and whether it can translate."""
    if not model.multilingual:
        if options.language not in (None, "en"):
            raise InvalidInputError(
                f"model {model.name!r} is English-only; ask for language 'en' (or none), "
                f"or use a multilingual model for {options.language!r}"
            )
        if options.task == "translate":
            raise InvalidInputError(f"model {model.name!r} is English-only and cannot translate")
        return
    if options.language is not None and options.language not in model.languages:
        raise InvalidInputError(
            f"model {model.name!r} does not know language {options.language!r}; "
            f"it knows: {', '.join(sorted(model.languages))}"
        )


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptWord:
    """One word with its time span in seconds from the start of the audio."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class TranscriptSegment:
    """One decoded segment. Times are seconds from the start of the audio, rounded to 1 ms.

    Segments come in order: 0 <= start <= end <= the audio's duration, and each segment starts
    no earlier than the one before it ended. `words` is empty unless word timestamps were asked
    for; word times lie within the segment and never decrease.
    """

    id: int
    start: float
    end: float
    text: str
    words: tuple[TranscriptWord, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


@dataclass(frozen=True)
class TranscriptInfo:
    """What is known before the first segment.

    language: the requested language, else the detected one; None when nothing was decoded
      (silent audio, or VAD heard no speech) and no language was requested.
    language_probability: 1.0 when requested, the detector's confidence when detected, 0.0
      when unknown.
    duration_s: the input's duration. duration_after_vad_s: seconds that reach the decoder (all
      of it without VAD, 0.0 when the audio is silent and nothing is decoded).
    """

    model: str
    language: str | None
    language_probability: float
    duration_s: float
    duration_after_vad_s: float


# --- audio --------------------------------------------------------------------------------


def prepare_audio(audio: npt.NDArray[Any], samplerate: int) -> FloatArray:
    """(frames, channels) or (frames,) float audio at 8-192 kHz -> mono float32 at 16 kHz."""
    if not isinstance(audio, np.ndarray) or not np.issubdtype(audio.dtype, np.floating):
        raise InvalidInputError("audio must be a float32 array of samples at full scale 1.0")
    if audio.ndim == 1:
        audio = audio[:, np.newaxis]
    if audio.ndim != 2 or not 1 <= audio.shape[1] <= MAX_CHANNELS:
        raise InvalidInputError(
            f"audio must have shape (frames, channels) with 1-{MAX_CHANNELS} channels, "
            f"not {audio.shape}"
        )
    if isinstance(samplerate, bool) or not isinstance(samplerate, int | np.integer):
        raise InvalidInputError(f"samplerate must be an integer, not {samplerate!r}")
    if not MIN_SAMPLERATE <= samplerate <= MAX_SAMPLERATE:
        raise InvalidInputError(
            f"samplerate must be {MIN_SAMPLERATE}-{MAX_SAMPLERATE} Hz, not {samplerate}"
        )
    bad = audio.size - int(np.count_nonzero(np.isfinite(audio)))
    if bad:
        raise InvalidInputError(f"audio holds {bad} NaN or infinite samples")
    mono = audio.astype(np.float32, copy=False).mean(axis=1, dtype=np.float32)
    rate = int(samplerate)
    if rate != WHISPER_SAMPLERATE and mono.size:
        divisor = math.gcd(WHISPER_SAMPLERATE, rate)
        mono = resample_poly(mono, WHISPER_SAMPLERATE // divisor, rate // divisor)
    return np.ascontiguousarray(mono, dtype=np.float32)


def is_silent(mono: FloatArray) -> bool:
    """True for empty audio and for audio whose peak is below -80 dBFS."""
    return mono.size == 0 or float(np.max(np.abs(mono))) < SILENCE_PEAK


# --- models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedWhisperModel:
    """A faster-whisper model ready to share between threads, and what it can do."""

    name: str
    path: Path
    device: str
    compute_type: str
    multilingual: bool
    languages: frozenset[str]
    model: Any = field(repr=False, compare=False)  # faster_whisper.WhisperModel


@dataclass
class _CacheEntry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    model: LoadedWhisperModel | None = None


class WhisperModelCache:
    """The last `max_models` loaded models, shared by every transcriber in the process.

    Thread-safe: a model is loaded once even when several threads ask for it at the same time
    (they wait for the first), and loads of different models do not wait for each other. An
    evicted model stays alive as long as a running transcription still holds it.
    """

    def __init__(self, max_models: int = DEFAULT_CACHE_SIZE) -> None:
        if max_models < 1:
            raise ValueError("max_models must be at least 1")
        self._max_models = max_models
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[object, ...], _CacheEntry] = OrderedDict()

    def get(
        self, key: tuple[object, ...], load: Callable[[], LoadedWhisperModel]
    ) -> LoadedWhisperModel:
        """The cached model for `key`, loading it with `load()` on a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _CacheEntry()
            self._entries.move_to_end(key)
        with entry.lock:
            if entry.model is None:
                try:
                    entry.model = load()
                except BaseException:
                    self._forget(key, entry)
                    raise
            model = entry.model
        self._evict()
        return model

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.model is not None)

    def clear(self) -> None:
        """Forget every model (running transcriptions keep theirs)."""
        with self._lock:
            self._entries.clear()

    def _forget(self, key: tuple[object, ...], entry: _CacheEntry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]

    def _evict(self) -> None:
        with self._lock:
            while len(self._entries) > self._max_models:
                self._entries.popitem(last=False)


_SHARED_CACHE = WhisperModelCache()


def _faster_whisper() -> Any:
    """faster_whisper, imported on first use (it takes ~2 s; HF_HUB_OFFLINE is already set)."""
    import faster_whisper

    return faster_whisper


def _ctranslate2() -> Any:
    import ctranslate2

    return ctranslate2


def _check_device(device: str, device_index: int, compute_type: str | None) -> str:
    """The compute type to use on `device`; FailedPreconditionError when it cannot run there."""
    if device not in _DEVICES:
        raise InvalidInputError(f"device must be one of {', '.join(_DEVICES)}, not {device!r}")
    ct2 = _ctranslate2()
    if device == "cuda":
        count = int(ct2.get_cuda_device_count())
        if count == 0:
            raise FailedPreconditionError(
                "device 'cuda' was asked for, but CTranslate2 finds no usable CUDA device "
                "(driver, CUDA 12 cuBLAS and cuDNN 9 libraries); use device 'cpu'"
            )
        if not 0 <= device_index < count:
            raise FailedPreconditionError(
                f"CUDA device {device_index} does not exist; devices 0-{count - 1} do"
            )
    chosen = compute_type or _DEFAULT_COMPUTE_TYPES[device]
    if chosen not in _COMPUTE_TYPES:
        raise InvalidInputError(
            f"compute type must be one of {', '.join(_COMPUTE_TYPES)}, not {chosen!r}"
        )
    supported = sorted(ct2.get_supported_compute_types(device, device_index))
    if chosen not in supported:
        raise FailedPreconditionError(
            f"compute type {chosen!r} is not supported on {device}; "
            f"this machine supports: {', '.join(supported)}"
        )
    return chosen


def _default_cpu_threads() -> int:
    # CTranslate2's own default is 4, which oversubscribes small machines.
    return max(1, min(4, os.cpu_count() or 1))


class WhisperTranscriber:
    """Transcribes audio with the Whisper models installed in `<model_dir>/whisper/`.

    One transcriber per configuration (device, compute type, threads) is enough for a whole
    service: loaded models are kept in a process-wide `WhisperModelCache` keyed by folder,
    model file, device and compute type, and a loaded model is shared between threads.
    Concurrent `transcribe` calls are safe; with `num_workers=1` CTranslate2 runs their decoding
    steps one at a time, `num_workers=N` lets N run at once (more memory).
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        default_model: str | None = None,
        device: str = "cpu",
        device_index: int = 0,
        compute_type: str | None = None,
        cpu_threads: int = 0,
        num_workers: int = 1,
        cache: WhisperModelCache | None = None,
    ) -> None:
        """`compute_type` None picks int8 on CPU and float16 on CUDA; `cpu_threads` 0 picks
        min(4, CPU count). Raises FailedPreconditionError when the device cannot be used."""
        if default_model is not None:
            check_model_name(default_model)
        if cpu_threads < 0 or num_workers < 1:
            raise InvalidInputError("cpu_threads must be >= 0 and num_workers >= 1")
        self._model_dir = model_dir
        self._default_model = default_model
        self._device = device
        self._device_index = device_index
        self._compute_type = _check_device(device, device_index, compute_type)
        self._cpu_threads = cpu_threads or _default_cpu_threads()
        self._num_workers = num_workers
        self._cache = cache if cache is not None else _SHARED_CACHE

    @property
    def model_dir(self) -> Path:
        return self._model_dir

    @property
    def device(self) -> str:
        return self._device

    @property
    def compute_type(self) -> str:
        return self._compute_type

    def installed(self) -> list[WhisperModelInfo]:
        """The model folders in `<model_dir>/whisper/`, complete or not."""
        return installed_whisper_models(self._model_dir)

    def resolve_name(self, name: str | None = None) -> str:
        """`name`, else the default model, else the only complete model installed."""
        chosen = name or self._default_model
        if chosen is not None:
            return check_model_name(chosen)
        complete = [info.name for info in self.installed() if info.complete]
        if len(complete) == 1:
            return complete[0]
        folder = self._model_dir / WHISPER_SUBDIR
        if not complete:
            raise FailedPreconditionError(
                f"no Whisper model is installed in {folder}; {_INSTALL_HINT}"
            )
        raise InvalidInputError(
            f"several Whisper models are installed ({', '.join(complete)}); name one"
        )

    def load(self, name: str | None = None) -> LoadedWhisperModel:
        """The named (or default) model, loaded once and then served from the cache.

        NotFoundError: no such folder (the message lists the installed models).
        FailedPreconditionError: the folder lacks a file, or CTranslate2 cannot load it.
        """
        folder = self._model_folder(self.resolve_name(name))
        model_file = (folder / "model.bin").stat()
        key = (
            str(folder.resolve()),
            model_file.st_mtime_ns,
            model_file.st_size,
            self._device,
            self._device_index,
            self._compute_type,
            self._cpu_threads,
            self._num_workers,
        )
        return self._cache.get(key, lambda: self._load_uncached(folder))

    def transcribe(
        self,
        audio: npt.NDArray[Any],
        samplerate: int,
        options: TranscribeOptions | None = None,
    ) -> tuple[TranscriptInfo, SegmentStream]:
        """Transcribes float (frames, channels) audio; segments are decoded as they are pulled.

        Before returning: checks the audio (InvalidInputError), loads the model (see `load`),
        mixes to mono and resamples to 16 kHz, runs the VAD and detects the language. Silent
        audio (empty, or peak below -80 dBFS) returns at once with no segments.
        """
        options = options or TranscribeOptions()
        mono = prepare_audio(audio, samplerate)
        duration_s = audio.shape[0] / float(samplerate)
        model = self.load(options.model)
        _check_options_for_model(options, model)
        if options.vad_filter:
            _check_vad_available()
        if is_silent(mono):
            return _silent_info(model.name, options, duration_s), _no_segments()
        raw_segments, raw_info = model.model.transcribe(
            mono,
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            temperature=list(options.temperatures),
            initial_prompt=options.initial_prompt,
            condition_on_previous_text=options.condition_on_previous_text,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
        )
        info = _info(model.name, options, raw_info, duration_s)
        return info, _segments(raw_segments, duration_s, word_timestamps=options.word_timestamps)

    def _model_folder(self, name: str) -> Path:
        """The complete folder of an installed model, or the error that says what to do."""
        root = self._model_dir / WHISPER_SUBDIR
        folder = root / name
        if not folder.is_dir():
            installed = [info.name for info in self.installed()]
            listing = ", ".join(installed) if installed else "none"
            raise NotFoundError(
                f"Whisper model {name!r} is not installed in {root} (installed: {listing}); "
                f"{_INSTALL_HINT}"
            )
        missing = _missing_files(folder)
        if missing:
            raise FailedPreconditionError(
                f"Whisper model {name!r} in {folder} is incomplete: {', '.join(missing)} "
                f"missing. Copy the missing files from the converted model; without "
                "tokenizer.json faster-whisper would try to download one"
            )
        return folder

    def _load_uncached(self, folder: Path) -> LoadedWhisperModel:
        fw = _faster_whisper()
        try:
            model = fw.WhisperModel(
                str(folder),
                device=self._device,
                device_index=self._device_index,
                compute_type=self._compute_type,
                cpu_threads=self._cpu_threads,
                num_workers=self._num_workers,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise FailedPreconditionError(
                f"CTranslate2 cannot load the Whisper model in {folder}: {exc}"
            ) from exc
        _check_mel_bins(folder, model)
        multilingual = bool(model.model.is_multilingual)
        return LoadedWhisperModel(
            name=folder.name,
            path=folder,
            device=self._device,
            compute_type=self._compute_type,
            multilingual=multilingual,
            languages=_known_languages(model) if multilingual else frozenset({"en"}),
            model=model,
        )


def _check_mel_bins(folder: Path, model: Any) -> None:
    """large-v3 models need 128 mel bins, which only preprocessor_config.json says."""
    model_bins = int(model.model.n_mels)
    feature_bins = int(model.feature_extractor.mel_filters.shape[0])
    if model_bins != feature_bins:
        raise FailedPreconditionError(
            f"the Whisper model in {folder} expects {model_bins} mel bins but its "
            f"preprocessor_config.json is missing or says {feature_bins}; copy "
            "preprocessor_config.json from the converted model"
        )


def _known_languages(model: Any) -> frozenset[str]:
    """faster-whisper's language codes that this model's tokenizer has a token for."""
    tokenizer = model.hf_tokenizer
    return frozenset(
        code
        for code in cast(Sequence[str], model.supported_languages)
        if tokenizer.token_to_id(f"<|{code}|>") is not None
    )


_vad_lock = threading.Lock()
_vad_checked = False


def _check_vad_available() -> None:
    """faster-whisper runs its bundled Silero VAD with onnxruntime; both must be present."""
    global _vad_checked
    with _vad_lock:
        if _vad_checked:
            return
        assets = Path(_faster_whisper().utils.get_assets_path())
        if importlib.util.find_spec("onnxruntime") is None:
            raise FailedPreconditionError(
                "vad_filter needs onnxruntime, which faster-whisper's VAD runs on; install it "
                "or transcribe without the VAD"
            )
        if not any(assets.glob("silero_vad*.onnx")):
            raise FailedPreconditionError(
                f"vad_filter needs faster-whisper's bundled Silero VAD model, which is not in "
                f"{assets}; reinstall faster-whisper or transcribe without the VAD"
            )
        _vad_checked = True


# --- conversion ---------------------------------------------------------------------------


def _silent_info(model: str, options: TranscribeOptions, duration_s: float) -> TranscriptInfo:
    return TranscriptInfo(
        model=model,
        language=options.language,
        language_probability=1.0 if options.language else 0.0,
        duration_s=duration_s,
        duration_after_vad_s=0.0,
    )


def _info(model: str, options: TranscribeOptions, raw: Any, duration_s: float) -> TranscriptInfo:
    after_vad = float(raw.duration_after_vad)
    if options.language is None and after_vad <= 0.0:
        # The VAD kept nothing: faster-whisper "detected" a language on padding alone.
        return _silent_info(model, options, duration_s)
    return TranscriptInfo(
        model=model,
        language=str(raw.language),
        language_probability=float(raw.language_probability),
        duration_s=duration_s,
        duration_after_vad_s=min(after_vad, duration_s),
    )


def _ms(seconds: float) -> float:
    return round(float(seconds), 3)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)


def _no_segments() -> SegmentStream:
    yield from ()


def _segments(raw_segments: Any, duration_s: float, *, word_timestamps: bool) -> SegmentStream:
    """faster-whisper's lazy segments as TranscriptSegments, in order and within the audio.

    Whisper can predict timestamps past the end of the audio (in the padding of the last
    window) or behind the previous segment (a window re-decoded after a seek); those are
    clamped so the guarantees of TranscriptSegment hold. Closing this generator closes
    faster-whisper's, which stops decoding.
    """
    previous_end = 0.0
    try:
        for index, raw in enumerate(raw_segments):
            start = _ms(_clamp(raw.start, previous_end, duration_s))
            end = _ms(_clamp(raw.end, start, duration_s))
            words = _words(raw.words, start, end) if word_timestamps else ()
            previous_end = end
            yield TranscriptSegment(
                id=index,
                start=start,
                end=end,
                text=str(raw.text).strip(),
                words=words,
                avg_logprob=float(raw.avg_logprob),
                no_speech_prob=float(raw.no_speech_prob),
                compression_ratio=float(raw.compression_ratio),
                temperature=float(raw.temperature or 0.0),
            )
    finally:
        close = getattr(raw_segments, "close", None)
        if close is not None:
            close()


def _words(raw_words: Any, start: float, end: float) -> tuple[TranscriptWord, ...]:
    """Word times clamped into their segment and made non-decreasing."""
    words = []
    previous_end = start
    for raw in raw_words or ():
        word_start = _ms(_clamp(raw.start, previous_end, end))
        word_end = _ms(_clamp(raw.end, word_start, end))
        previous_end = word_end
        words.append(
            TranscriptWord(
                start=word_start,
                end=word_end,
                text=str(raw.word).strip(),
                probability=float(raw.probability),
            )
        )
    return tuple(words)
