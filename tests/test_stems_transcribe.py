"""Transcription domain (voidline.stems.transcribe) against a tiny Whisper model built here.

The model is random, so its words are gibberish: the tests check structure, timing, laziness,
errors and the offline guarantees, never the text.
"""

from __future__ import annotations

import collections.abc
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.support.tiny_whisper import WHISPER_LANGUAGES, build_tiny_whisper, whisper_vocabulary
from voidline.errors import FailedPreconditionError, InvalidInputError, NotFoundError
from voidline.stems.transcribe import (
    LoadedWhisperModel,
    TranscribeOptions,
    TranscriptInfo,
    TranscriptSegment,
    WhisperModelCache,
    WhisperTranscriber,
    installed_whisper_models,
    prepare_audio,
)

ROOT = Path(__file__).resolve().parent.parent
SR = 44100
MULTI = "tiny-test"
ENGLISH = "tiny-test.en"
# Greedy, one decode per window: the random model would fail every fallback check anyway.
FAST: dict[str, Any] = {"temperatures": (0.0,), "beam_size": 1}

Audio = npt.NDArray[np.float32]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every test runs with outbound connections refused and recorded."""
    attempts: list[object] = []

    def refuse(_sock: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(f"network access in a test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_whisper(root / "whisper" / MULTI, multilingual=True)
    build_tiny_whisper(root / "whisper" / ENGLISH, multilingual=False)
    return root


@pytest.fixture(scope="module")
def transcriber(model_dir: Path) -> WhisperTranscriber:
    return WhisperTranscriber(
        model_dir, default_model=MULTI, cpu_threads=1, cache=WhisperModelCache(2)
    )


def _bursts(seconds: float = 4.0) -> Audio:
    """Stereo 44.1 kHz: half-second 440 Hz tone bursts alternating with noise bursts."""
    rng = np.random.default_rng(7)
    t = np.arange(int(SR * seconds)) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * ((t % 1.0) < 0.5)
    noise = 0.05 * rng.standard_normal(t.size) * ((t % 1.0) >= 0.5)
    left = tone + noise
    return np.stack([left, 0.8 * left], axis=1).astype(np.float32)


def _vowel_like(seconds: float, sr: int = SR) -> npt.NDArray[np.float64]:
    """A pulse train at 120 Hz through three formants, syllable-modulated: VAD hears speech."""
    from scipy.signal import lfilter

    t = np.arange(int(sr * seconds)) / sr
    phase = np.cumsum(120.0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t)) / sr)
    pulses = (np.mod(phase, 1.0) < 0.05).astype(np.float64)
    voiced = np.zeros_like(t)
    for formant, bandwidth in ((700, 80), (1200, 90), (2600, 120)):
        r = np.exp(-np.pi * bandwidth / sr)
        theta = 2 * np.pi * formant / sr
        voiced += lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], pulses)
    voiced *= (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    result: npt.NDArray[np.float64] = 0.5 * voiced / np.abs(voiced).max()
    return result


def _check_timing(segments: list[TranscriptSegment], duration: float) -> None:
    """The TranscriptSegment guarantees: in order, non-overlapping, within the audio."""
    assert [s.id for s in segments] == list(range(len(segments)))
    previous_end = 0.0
    for segment in segments:
        assert previous_end <= segment.start <= segment.end <= duration
        previous_end = segment.end
        word_end = segment.start
        for word in segment.words:
            assert word_end <= word.start <= word.end <= segment.end
            assert 0.0 <= word.probability <= 1.0
            word_end = word.end


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts faster-whisper's window decodes (one per 30 s window and temperature)."""
    import faster_whisper.transcribe as fw

    calls = [0]
    original = fw.WhisperModel.generate_with_fallback

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(fw.WhisperModel, "generate_with_fallback", counted)
    return lambda: calls[0]


# --- the tiny model -----------------------------------------------------------------------


def test_tiny_model_build_is_fast_and_deterministic(tmp_path: Path) -> None:
    start = time.perf_counter()
    first = build_tiny_whisper(tmp_path / "a", seed=3)
    elapsed = time.perf_counter() - start
    second = build_tiny_whisper(tmp_path / "b", seed=3)
    other = build_tiny_whisper(tmp_path / "c", seed=4)
    assert elapsed < 2.0
    for name in ("model.bin", "config.json", "vocabulary.json", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "model.bin").read_bytes() != (other / "model.bin").read_bytes()
    with pytest.raises(FileExistsError):
        build_tiny_whisper(first)


def test_tiny_model_vocabulary_has_whisper_layout() -> None:
    multi = whisper_vocabulary(multilingual=True)
    english = whisper_vocabulary(multilingual=False)
    assert "" in multi and "" not in english
    for vocabulary in (multi, english):
        eot = vocabulary.index("<|endoftext|>")
        assert vocabulary[eot + 1] == "<|startoftranscript|>"
        assert vocabulary[eot + 2 : eot + 2 + len(WHISPER_LANGUAGES)] == [
            f"<|{code}|>" for code in WHISPER_LANGUAGES
        ]
        assert vocabulary[-1503:-1501] == ["<|nospeech|>", "<|notimestamps|>"]
        assert vocabulary[-1501] == "<|0.00|>" and vocabulary[-1] == "<|30.00|>"


def test_both_variants_load_as_what_they_are(transcriber: WhisperTranscriber) -> None:
    multi = transcriber.load(MULTI)
    english = transcriber.load(ENGLISH)
    assert multi.multilingual and not english.multilingual
    assert {"en", "de", "haw", "yue"} <= multi.languages
    assert english.languages == {"en"}
    assert (multi.device, multi.compute_type) == ("cpu", "int8")


def test_importing_the_module_puts_the_hub_client_offline() -> None:
    # In a fresh interpreter: here huggingface_hub may have been imported by another test.
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    check = (
        "import voidline.stems.transcribe, huggingface_hub.constants as c; assert c.HF_HUB_OFFLINE"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]


# --- installed models and loading ---------------------------------------------------------


def _copy_model(model_dir: Path, target: Path, name: str, *, drop: str | None = None) -> Path:
    folder = shutil.copytree(model_dir / "whisper" / MULTI, target / "whisper" / name)
    if drop:
        (folder / drop).unlink()
    return folder


def test_installed_models_are_listed_with_what_is_missing(model_dir: Path, tmp_path: Path) -> None:
    assert installed_whisper_models(tmp_path) == []
    listed = installed_whisper_models(model_dir)
    assert [info.name for info in listed] == [MULTI, ENGLISH]
    assert all(info.complete and not info.missing for info in listed)
    assert all(info.size_bytes > 1_000_000 for info in listed)

    _copy_model(model_dir, tmp_path, "broken", drop="tokenizer.json")
    (tmp_path / "whisper" / "broken" / "vocabulary.json").unlink()
    (tmp_path / "whisper" / ".partial").mkdir()
    (info,) = installed_whisper_models(tmp_path)
    assert (info.name, info.complete) == ("broken", False)
    assert info.missing == ("tokenizer.json", "vocabulary.json (or vocabulary.txt)")


def test_unknown_model_is_not_found_and_names_the_installed_ones(
    transcriber: WhisperTranscriber, model_dir: Path
) -> None:
    with pytest.raises(NotFoundError) as caught:
        transcriber.load("large-v3")
    message = str(caught.value)
    assert "'large-v3'" in message and MULTI in message and ENGLISH in message
    assert str(model_dir / "whisper") in message


@pytest.mark.parametrize("name", ["../tiny-test", "a/b", ".hidden", ""])
def test_model_names_that_are_not_folder_names_are_refused(
    transcriber: WhisperTranscriber, name: str
) -> None:
    with pytest.raises(InvalidInputError):
        TranscribeOptions(model=name)
    if name:  # "" means the default model
        with pytest.raises(InvalidInputError):
            transcriber.load(name)


def test_missing_tokenizer_fails_before_faster_whisper_can_reach_the_hub(
    model_dir: Path, tmp_path: Path, no_network: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    import faster_whisper

    def must_not_run(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("faster-whisper was asked to load an incomplete folder")

    monkeypatch.setattr(faster_whisper, "WhisperModel", must_not_run)
    _copy_model(model_dir, tmp_path, "no-tokenizer", drop="tokenizer.json")
    transcriber = WhisperTranscriber(tmp_path, cpu_threads=1, cache=WhisperModelCache())
    with pytest.raises(FailedPreconditionError, match=r"tokenizer\.json missing"):
        transcriber.load("no-tokenizer")
    with pytest.raises(FailedPreconditionError, match="no Whisper model is installed"):
        transcriber.load()  # the only folder is incomplete
    assert no_network == []


def test_mel_bins_that_disagree_with_the_model_are_refused(model_dir: Path, tmp_path: Path) -> None:
    folder = _copy_model(model_dir, tmp_path, "wrong-mels")
    config = folder / "preprocessor_config.json"
    config.write_text(config.read_text().replace('"feature_size": 80', '"feature_size": 128'))
    transcriber = WhisperTranscriber(tmp_path, cpu_threads=1, cache=WhisperModelCache())
    with pytest.raises(FailedPreconditionError, match="expects 80 mel bins"):
        transcriber.load("wrong-mels")


def test_default_model_resolution(model_dir: Path, tmp_path: Path) -> None:
    several = WhisperTranscriber(model_dir, cpu_threads=1, cache=WhisperModelCache())
    with pytest.raises(InvalidInputError, match="several Whisper models"):
        several.load()
    _copy_model(model_dir, tmp_path, "only")
    single = WhisperTranscriber(tmp_path, cpu_threads=1, cache=WhisperModelCache())
    assert single.load().name == "only"
    assert single.load("") is single.load()


def test_loaded_models_are_cached_and_shared(model_dir: Path) -> None:
    cache = WhisperModelCache(max_models=1)
    first = WhisperTranscriber(model_dir, cpu_threads=1, cache=cache)
    second = WhisperTranscriber(model_dir, cpu_threads=1, cache=cache)
    multi = first.load(MULTI)
    assert second.load(MULTI) is multi
    assert len(cache) == 1
    first.load(ENGLISH)  # evicts the multilingual model (one model at most)
    assert len(cache) == 1
    assert first.load(MULTI) is not multi


def test_cache_loads_once_under_concurrent_requests() -> None:
    cache = WhisperModelCache(max_models=2)
    loads: list[int] = []

    def slow_load() -> LoadedWhisperModel:
        loads.append(1)
        time.sleep(0.1)
        return LoadedWhisperModel("m", Path("m"), "cpu", "int8", True, frozenset(), object())

    results: list[LoadedWhisperModel] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(("m",), slow_load)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(results) == 4
    assert all(result is results[0] for result in results)

    def failing() -> LoadedWhisperModel:
        raise FailedPreconditionError("broken")

    with pytest.raises(FailedPreconditionError):
        cache.get(("bad",), failing)
    assert len(cache) == 1  # a failed load leaves nothing behind


def test_device_and_compute_type_are_checked(model_dir: Path) -> None:
    import ctranslate2

    with pytest.raises(InvalidInputError, match="device must be one of"):
        WhisperTranscriber(model_dir, device="tpu")
    with pytest.raises(InvalidInputError, match="compute type must be one of"):
        WhisperTranscriber(model_dir, compute_type="int3")
    if ctranslate2.get_cuda_device_count() == 0:
        with pytest.raises(FailedPreconditionError, match="no usable CUDA device"):
            WhisperTranscriber(model_dir, device="cuda")
    if "float16" not in ctranslate2.get_supported_compute_types("cpu"):
        with pytest.raises(FailedPreconditionError, match="not supported on cpu"):
            WhisperTranscriber(model_dir, compute_type="float16")


# --- options and audio --------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"beam_size": 0},
        {"beam_size": 11},
        {"beam_size": 2.5},
        {"temperatures": ()},
        {"temperatures": (0.0, 1.5)},
        {"temperatures": (float("nan"),)},
        {"task": "summarize"},
        {"language": "english!"},
        {"initial_prompt": "la " * 400},
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        TranscribeOptions(**options)


def test_language_is_normalised() -> None:
    assert TranscribeOptions(language=" DE ").language == "de"
    assert TranscribeOptions(language="auto").language is None
    assert TranscribeOptions(language="").language is None


@pytest.mark.parametrize(
    ("audio", "samplerate", "match"),
    [
        (np.full((100, 2), np.nan, dtype=np.float32), SR, "NaN or infinite"),
        (np.array([[0.0], [np.inf]], dtype=np.float32), SR, "NaN or infinite"),
        (np.zeros((100, 2), dtype=np.int16), SR, "float32"),
        (np.zeros((100, 2), dtype=np.float32), 4000, "samplerate"),
        (np.zeros((100, 2), dtype=np.float32), 384000, "samplerate"),
        (np.zeros((2, SR), dtype=np.float32), SR, "channels"),  # transposed
        (np.zeros((2, 2, 2), dtype=np.float32), SR, "channels"),
    ],
)
def test_invalid_audio_is_refused(
    transcriber: WhisperTranscriber, audio: Audio, samplerate: int, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        transcriber.transcribe(audio, samplerate, TranscribeOptions(**FAST))


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000, 192000])
def test_audio_is_mixed_to_mono_and_resampled_to_16k(rate: int) -> None:
    t = np.arange(rate) / rate
    left = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    mono = prepare_audio(np.stack([left, -left, 2 * left], axis=1), rate)
    assert mono.dtype == np.float32 and mono.shape == (16000,)
    expected = 2 / 3 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.abs(mono[100:-100] - expected[100:-100]).max() < 0.01


# --- transcription ------------------------------------------------------------------------


def test_transcription_streams_segments_lazily(
    transcriber: WhisperTranscriber, count_decodes: Callable[[], int]
) -> None:
    audio = _bursts(4.0)
    info, segments = transcriber.transcribe(audio, SR, TranscribeOptions(language="en", **FAST))
    assert isinstance(segments, collections.abc.Generator)
    assert count_decodes() == 0  # nothing decoded until the stream is pulled
    assert info == TranscriptInfo(MULTI, "en", 1.0, 4.0, 4.0)

    first = next(segments)
    assert count_decodes() == 1  # one 30 s window decoded for the first segment
    rest = list(segments)
    _check_timing([first, *rest], info.duration_s)
    assert all(segment.words == () for segment in [first, *rest])
    assert all(segment.text for segment in [first, *rest])
    assert first.temperature == 0.0 and first.avg_logprob < 0.0
    assert 0.0 <= first.no_speech_prob <= 1.0 and first.compression_ratio > 0.0


def test_closing_the_stream_stops_decoding(
    transcriber: WhisperTranscriber, count_decodes: Callable[[], int]
) -> None:
    _, segments = transcriber.transcribe(_bursts(4.0), SR, TranscribeOptions(**FAST))
    assert isinstance(segments, collections.abc.Generator)
    next(segments)
    decoded = count_decodes()
    segments.close()
    assert list(segments) == [] and count_decodes() == decoded


def test_word_timestamps_when_asked(transcriber: WhisperTranscriber) -> None:
    options = TranscribeOptions(language="en", word_timestamps=True, **FAST)
    info, stream = transcriber.transcribe(_bursts(4.0), SR, options)
    segments = list(stream)
    assert segments and all(segment.words for segment in segments)
    _check_timing(segments, info.duration_s)


def test_language_detection_and_fixed_language(transcriber: WhisperTranscriber) -> None:
    audio = _bursts(3.0)
    detected, stream = transcriber.transcribe(audio, SR, TranscribeOptions(**FAST))
    stream.close()
    assert detected.language in transcriber.load(MULTI).languages
    assert 0.0 < detected.language_probability <= 1.0

    fixed, stream = transcriber.transcribe(audio, SR, TranscribeOptions(language="de", **FAST))
    _check_timing(list(stream), fixed.duration_s)
    assert (fixed.language, fixed.language_probability) == ("de", 1.0)

    translated, stream = transcriber.transcribe(
        audio, SR, TranscribeOptions(language="de", task="translate", **FAST)
    )
    _check_timing(list(stream), translated.duration_s)


def test_english_only_model(transcriber: WhisperTranscriber) -> None:
    audio = _bursts(3.0)
    info, stream = transcriber.transcribe(audio, SR, TranscribeOptions(model=ENGLISH, **FAST))
    _check_timing(list(stream), info.duration_s)
    assert (info.model, info.language, info.language_probability) == (ENGLISH, "en", 1.0)
    wrong: list[dict[str, Any]] = [{"language": "de"}, {"task": "translate"}]
    for options in wrong:
        with pytest.raises(InvalidInputError, match="English-only"):
            transcriber.transcribe(audio, SR, TranscribeOptions(model=ENGLISH, **options))


def test_unknown_language_is_refused_with_the_known_ones(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(InvalidInputError, match=r"does not know language 'xx'.*haw"):
        transcriber.transcribe(_bursts(1.0), SR, TranscribeOptions(language="xx"))


def test_vad_filter_runs_offline_and_keeps_the_timeline(
    transcriber: WhisperTranscriber, no_network: list[object]
) -> None:
    speech = _vowel_like(2.0)
    silence = np.zeros(SR * 2)
    mono = np.concatenate([silence, speech, silence]).astype(np.float32)
    options = TranscribeOptions(vad_filter=True, word_timestamps=True, **FAST)
    info, stream = transcriber.transcribe(mono[:, np.newaxis], SR, options)
    segments = list(stream)
    assert 1.0 < info.duration_after_vad_s < info.duration_s == 6.0
    assert segments, "the random model decodes something from the kept audio"
    _check_timing(segments, info.duration_s)
    assert segments[0].start >= 1.0  # mapped back past the leading silence
    assert no_network == []


def test_vad_that_hears_no_speech_gives_no_segments(transcriber: WhisperTranscriber) -> None:
    noise = 0.1 * np.random.default_rng(1).standard_normal((SR * 2, 2))
    options = TranscribeOptions(vad_filter=True, **FAST)
    info, stream = transcriber.transcribe(noise.astype(np.float32), SR, options)
    assert list(stream) == []
    assert info == TranscriptInfo(MULTI, None, 0.0, 2.0, 0.0)


@pytest.mark.parametrize(
    ("frames", "language", "expected"),
    [
        (SR * 3, None, TranscriptInfo(MULTI, None, 0.0, 3.0, 0.0)),
        (SR * 3, "fr", TranscriptInfo(MULTI, "fr", 1.0, 3.0, 0.0)),
        (0, None, TranscriptInfo(MULTI, None, 0.0, 0.0, 0.0)),
    ],
)
def test_silence_gives_no_segments(
    transcriber: WhisperTranscriber,
    count_decodes: Callable[[], int],
    frames: int,
    language: str | None,
    expected: TranscriptInfo,
) -> None:
    silence = np.zeros((frames, 2), dtype=np.float32)
    info, stream = transcriber.transcribe(silence, SR, TranscribeOptions(language=language))
    assert isinstance(stream, collections.abc.Generator)
    assert list(stream) == [] and info == expected and count_decodes() == 0


def test_very_short_audio_is_transcribed_within_its_length(
    transcriber: WhisperTranscriber,
) -> None:
    blip = _bursts(0.05)
    info, stream = transcriber.transcribe(blip, SR, TranscribeOptions(language="en", **FAST))
    _check_timing(list(stream), info.duration_s)
    assert info.duration_s == pytest.approx(0.05)


def test_one_model_serves_concurrent_transcriptions(transcriber: WhisperTranscriber) -> None:
    audio = _bursts(3.0)
    options = TranscribeOptions(language="en", word_timestamps=True, **FAST)
    _, stream = transcriber.transcribe(audio, SR, options)
    expected = list(stream)
    results: list[list[TranscriptSegment]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _, stream = transcriber.transcribe(audio, SR, options)
            results.append(list(stream))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [expected] * 3  # greedy decoding is deterministic
