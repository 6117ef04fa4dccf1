"""StemsService.Transcribe end to end through the gateway: real servers on loopback, a tiny
CTranslate2 Whisper model and a tiny HTDemucs built by the test (no download), PCM and WAV
input, vocals-first transcription, errors and metrics."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile

from services.stems.server import StemsRuntime
from services.stems.settings import StemsServiceSettings
from tests.support.metrics import scrape, series
from tests.support.servers import BackgroundRuntime, gateway_channel
from tests.support.tiny_demucs import install_tiny_bag
from tests.support.tiny_whisper import build_tiny_whisper
from voidline.v1 import audio_pb2, stems_pb2, stems_pb2_grpc

FS = 44_100
API_KEY = "vl_test_transcribe_" + "t" * 32
METADATA = [("x-api-key", API_KEY)]


def bursts(seconds: float = 4.0, channels: int = 2) -> np.ndarray:
    """Half-second tone bursts alternating with noise bursts (speech-like on and off)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * FS)) / FS
    on = (t % 1.0) < 0.5
    x = np.where(on, 0.3 * np.sin(2 * np.pi * 440 * t), 0.05 * rng.standard_normal(t.size))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def requests(
    config: stems_pb2.TranscribeConfig, x: np.ndarray, chunk_s: float = 0.1
) -> Iterator[stems_pb2.TranscribeRequest]:
    yield stems_pb2.TranscribeRequest(config=config)
    step = int(chunk_s * FS)
    pcm = np.ascontiguousarray(x, dtype="<f4")
    for i in range(0, len(pcm), step):
        chunk = audio_pb2.AudioChunk(data=pcm[i : i + step].tobytes())
        yield stems_pb2.TranscribeRequest(audio=chunk)


def pcm_config(x: np.ndarray, **fields: Any) -> stems_pb2.TranscribeConfig:
    return stems_pb2.TranscribeConfig(
        format=audio_pb2.AudioFormat(
            encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
            sample_rate_hz=FS,
            channel_count=x.shape[1],
        ),
        **fields,
    )


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    model_dir = tmp_path_factory.mktemp("models")
    build_tiny_whisper(model_dir / "whisper" / "tiny-test")
    install_tiny_bag(model_dir, "tiny")
    settings = StemsServiceSettings(
        model_dir=str(model_dir),
        default_separation_model="tiny",
        whisper_cpu_threads=1,
        max_input_seconds=60.0,
        drain_pause_s=0.0,
        grace_s=2.0,
    )
    stems = StemsRuntime(settings)
    with (
        BackgroundRuntime(stems.runtime, on_ready=stems.ready) as service,
        gateway_channel([f"voidline.v1.StemsService={service.address}"], API_KEY) as channel,
    ):
        yield {"stub": stems_pb2_grpc.StemsServiceStub(channel), "service": service}


def transcribe(system: dict[str, Any], messages: Iterator[Any]) -> list[Any]:
    return list(system["stub"].Transcribe(messages, metadata=METADATA, timeout=120))


def test_segments_stream_in_order_with_times_and_words(system: dict[str, Any]) -> None:
    x = bursts(4.0)
    responses = transcribe(
        system, requests(pcm_config(x, language="en", word_timestamps=True, beam_size=1), x)
    )
    kinds = [r.WhichOneof("response") for r in responses]
    assert kinds[-1] == "summary" and kinds.count("info") == 1
    assert kinds.index("info") < kinds.index("segment")  # info before the first segment
    info = next(r.info for r in responses if r.WhichOneof("response") == "info")
    assert info.language == "en" and info.model == "tiny-test" and not info.vocals_backend
    assert info.duration_s == pytest.approx(4.0)
    segments = [r.segment for r in responses if r.WhichOneof("response") == "segment"]
    assert [s.id for s in segments] == list(range(len(segments)))
    previous_end = 0.0
    for segment in segments:
        assert previous_end <= segment.start_s <= segment.end_s <= 4.0
        previous_end = segment.end_s
        for word in segment.words:
            assert segment.start_s <= word.start_s <= word.end_s <= segment.end_s
    assert any(segment.words for segment in segments)
    summary = responses[-1].summary
    assert summary.segment_count == len(segments) and summary.model == "tiny-test"
    assert summary.real_time_factor > 0
    progress = [r.progress for r in responses if r.WhichOneof("response") == "progress"]
    assert progress[-1].stage == "done"
    assert [p.fraction for p in progress] == sorted(p.fraction for p in progress)


def test_vocals_first_from_a_wav_container(system: dict[str, Any]) -> None:
    x = bursts(3.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, x, FS, format="WAV", subtype="PCM_16")
    config = stems_pb2.TranscribeConfig(
        format=audio_pb2.AudioFormat(encoding=audio_pb2.SAMPLE_ENCODING_CONTAINER),
        vocals_first=True,
        separation_backend=stems_pb2.SEPARATION_BACKEND_DSP,
        beam_size=1,
    )
    data = buffer.getvalue()
    messages = [stems_pb2.TranscribeRequest(config=config)] + [
        stems_pb2.TranscribeRequest(audio=audio_pb2.AudioChunk(data=data[i : i + 65536]))
        for i in range(0, len(data), 65536)
    ]
    responses = transcribe(system, iter(messages))
    stages = [r.progress.stage for r in responses if r.WhichOneof("response") == "progress"]
    assert stages[0] == "separating" and stages[-1] == "done"
    info = next(r.info for r in responses if r.WhichOneof("response") == "info")
    assert info.vocals_backend == "dsp" and info.duration_s == pytest.approx(3.0)


def test_transcription_errors_and_the_service_keeps_serving(system: dict[str, Any]) -> None:
    x = bursts(1.0)
    cases = [
        (pcm_config(x, model="large-v3"), grpc.StatusCode.NOT_FOUND, "tiny-test"),
        (pcm_config(x, beam_size=11), grpc.StatusCode.INVALID_ARGUMENT, "beam_size"),
        (pcm_config(x, language="xx"), grpc.StatusCode.INVALID_ARGUMENT, "xx"),
        (pcm_config(x, model="../etc"), grpc.StatusCode.INVALID_ARGUMENT, "../etc"),
    ]
    for config, code, text in cases:
        with pytest.raises(grpc.RpcError) as error:
            transcribe(system, requests(config, x))
        assert error.value.code() == code, error.value.details()
        assert text in (error.value.details() or "")
    nan = x.copy()
    nan[10, 0] = np.nan
    with pytest.raises(grpc.RpcError) as error:
        transcribe(system, requests(pcm_config(nan), nan))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    silence = np.zeros((FS, 2), np.float32)
    responses = transcribe(system, requests(pcm_config(silence, beam_size=1), silence))
    summary = responses[-1].summary
    assert summary.segment_count == 0 and "no speech" in summary.notes[0]


def test_list_models_names_whisper_models_and_metrics_count_calls(
    system: dict[str, Any], tmp_path: Path
) -> None:
    listed = system["stub"].ListModels(stems_pb2.ListModelsRequest(), metadata=METADATA)
    assert [(m.name, m.usable) for m in listed.transcription] == [("tiny-test", True)]
    samples = scrape(system["service"].runtime.metrics_url)
    ok = series(
        samples,
        "voidline_stems_jobs_total",
        grpc_method="Transcribe",
        backend="whisper",
        outcome="ok",
    )
    rejected = series(
        samples,
        "voidline_stems_jobs_total",
        grpc_method="Transcribe",
        backend="whisper",
        outcome="rejected",
    )
    assert ok >= 1 and rejected >= 1
