"""StemsService end to end: a client -> gateway -> stems service, real servers on loopback,
real channels, a tiny HTDemucs saved by the test in demucs' format (no download), real PCM
and WAV decoding. Transcription has its own tests in test_stems_transcribe_service.py."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile
import torch
from demucs.apply import apply_model
from demucs.pretrained import get_model

from services.stems.server import StemsRuntime
from services.stems.settings import StemsServiceSettings
from tests.support.metrics import scrape, series
from tests.support.servers import BackgroundRuntime, gateway_channel
from tests.support.tiny_demucs import SOURCES, install_tiny_bag
from voidline.audio.decode import PcmDecoder
from voidline.audio.format import Encoding
from voidline.v1 import audio_pb2, stems_pb2, stems_pb2_grpc

FS = 44_100
API_KEY = "vl_test_stems_" + "s" * 32
METADATA = [("x-api-key", API_KEY)]


def music(seconds: float, channels: int = 2, fs: int = FS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-(t % 0.5) * 12)
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    x = 0.3 * (kick + tone)[:, None] + 0.02 * rng.standard_normal((t.size, channels))
    return x[:, :channels].astype(np.float32)


def pcm_config(x: np.ndarray, fs: int = FS, **fields: Any) -> stems_pb2.SeparateConfig:
    return stems_pb2.SeparateConfig(
        format=audio_pb2.AudioFormat(
            encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
            sample_rate_hz=fs,
            channel_count=x.shape[1],
        ),
        **fields,
    )


def requests(
    config: stems_pb2.SeparateConfig, x: np.ndarray, fs: int = FS, chunk_s: float = 0.1
) -> Iterator[stems_pb2.SeparateRequest]:
    yield stems_pb2.SeparateRequest(config=config)
    step = int(chunk_s * fs)
    pcm = np.ascontiguousarray(x, dtype="<f4")
    for i in range(0, len(pcm), step):
        yield stems_pb2.SeparateRequest(
            audio=audio_pb2.AudioChunk(data=pcm[i : i + step].tobytes())
        )


class Result:
    def __init__(self, responses: Iterator[stems_pb2.SeparateResponse], channels: int) -> None:
        self.backends: set[str] = set()
        self.progress: list[Any] = []
        self.blocks: dict[str, list[tuple[int, bytes]]] = {}
        self.summary: Any = None
        self.order: list[str] = []
        for response in responses:
            self.backends.add(response.backend)
            kind = response.WhichOneof("response")
            self.order.append(kind)
            if kind == "progress":
                self.progress.append(response.progress)
            elif kind == "audio":
                assert self.summary is None
                audio = response.audio
                self.blocks.setdefault(audio.stem, []).append((audio.start_frame, audio.data))
            else:
                self.summary = response.summary
        assert self.summary is not None
        self.channels = channels

    def stem(self, name: str, encoding: Encoding = Encoding.PCM_F32LE) -> np.ndarray:
        decoder = PcmDecoder(encoding, self.channels)
        blocks = self.blocks[name]
        position = 0
        frames = []
        for start, data in blocks:
            assert start == position  # in order, no gaps
            block = decoder.decode(data)
            frames.append(block)
            position += block.shape[0]
        return np.concatenate(frames)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    model_dir = tmp_path_factory.mktemp("models")
    install_tiny_bag(model_dir, "tiny")
    install_tiny_bag(model_dir, "damaged", seeds=(7,))
    weight = next((model_dir / "demucs").glob("damaged*.th"))
    weight.write_bytes(weight.read_bytes()[:-1] + b"x")  # no longer matches its name
    settings = StemsServiceSettings(
        model_dir=str(model_dir),
        default_separation_model="tiny",
        max_input_seconds=60.0,
        drain_pause_s=0.0,
        grace_s=2.0,
        output_chunk_bytes=64 * 1024,
    )
    stems = StemsRuntime(settings)
    with (
        BackgroundRuntime(stems.runtime, on_ready=stems.ready) as service,
        gateway_channel([f"voidline.v1.StemsService={service.address}"], API_KEY) as channel,
    ):
        yield {
            "stub": stems_pb2_grpc.StemsServiceStub(channel),
            "service": service,
            "model_dir": model_dir,
        }


def separate(system: dict[str, Any], messages: Iterator[Any], channels: int = 2) -> Result:
    return Result(
        system["stub"].Separate(messages, metadata=METADATA, timeout=120), channels=channels
    )


def test_separation_through_the_gateway_equals_apply_model(system: dict[str, Any]) -> None:
    x = music(5.0)
    result = separate(system, requests(pcm_config(x, model="tiny", overlap=0.25), x))
    assert result.backends == {"demucs:tiny"}  # every message says what ran
    model = get_model("tiny", repo=system["model_dir"] / "demucs")
    with torch.no_grad():
        mix = torch.from_numpy(np.ascontiguousarray(x.T))[None]
        expected = apply_model(model, mix, shifts=0, split=True, overlap=0.25)[0].numpy()
    for index, name in enumerate(SOURCES):
        got = result.stem(name)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, expected[index].T, atol=1e-6)
    summary = result.summary
    assert summary.backend == "demucs" and summary.model == "tiny"
    assert list(summary.stems) == SOURCES and summary.frame_count == x.shape[0]
    assert summary.duration_s == pytest.approx(5.0) and summary.segment_s == pytest.approx(2.0)
    assert summary.real_time_factor > 0 and 0 < summary.first_stem_s <= summary.processing_s
    residual = x.astype(np.float64) - expected.transpose(0, 2, 1).sum(axis=0)
    error_db = 10 * np.log10(np.square(residual).sum() / np.square(x.astype(np.float64)).sum())
    assert summary.reconstruction_error_db == pytest.approx(error_db, abs=1e-3)
    fractions = [p.fraction for p in result.progress]
    assert fractions == sorted(fractions) and result.progress[-1].stage == "done"


def test_first_stems_arrive_while_the_input_is_still_streaming(system: dict[str, Any]) -> None:
    """The client stops sending after 6 s of a 12 s song until it has seen a stem block."""
    x = music(12.0, seed=1)
    first_block = threading.Event()
    sent_when_first_block: list[float] = []
    sent_s = [0.0]

    def paced() -> Iterator[stems_pb2.SeparateRequest]:
        for index, request in enumerate(requests(pcm_config(x, stems=["vocals"]), x)):
            if index and sent_s[0] >= 6.0 and not first_block.is_set():
                assert first_block.wait(60), "no stem came back while the input was streaming"
            if index:
                sent_s[0] += 0.1
            yield request

    responses = system["stub"].Separate(paced(), metadata=METADATA, timeout=120)
    blocks = 0
    for response in responses:
        if response.WhichOneof("response") == "audio":
            if not first_block.is_set():
                sent_when_first_block.append(sent_s[0])
                first_block.set()
            blocks += 1
            assert response.audio.stem == "vocals"
    assert sent_when_first_block and sent_when_first_block[0] < 12.0
    assert blocks > 1


def test_mono_wav_container_and_s16_output(system: dict[str, Any]) -> None:
    x = music(3.0, channels=1, fs=48_000, seed=2)
    buffer = io.BytesIO()
    soundfile.write(buffer, x, 48_000, format="WAV", subtype="PCM_16")
    config = stems_pb2.SeparateConfig(
        format=audio_pb2.AudioFormat(encoding=audio_pb2.SAMPLE_ENCODING_CONTAINER),
        stems=["bass", "drums"],
        output_encoding=audio_pb2.SAMPLE_ENCODING_PCM_S16LE,
    )
    data = buffer.getvalue()
    messages = [stems_pb2.SeparateRequest(config=config)] + [
        stems_pb2.SeparateRequest(audio=audio_pb2.AudioChunk(data=data[i : i + 65536]))
        for i in range(0, len(data), 65536)
    ]
    result = separate(system, iter(messages), channels=1)
    assert set(result.blocks) == {"bass", "drums"}
    for name in ("bass", "drums"):
        assert result.stem(name, Encoding.PCM_S16LE).shape == (x.shape[0], 1)
    summary = result.summary
    assert summary.sample_rate_hz == 48_000 and summary.channel_count == 1
    assert summary.output_encoding == audio_pb2.SAMPLE_ENCODING_PCM_S16LE
    assert any("mono input" in note for note in summary.notes)


def test_bad_requests_get_clear_errors_and_the_service_keeps_serving(
    system: dict[str, Any],
) -> None:
    x = music(1.0)
    cases: list[tuple[Iterator[Any], grpc.StatusCode, str]] = [
        (requests(pcm_config(x, model="htdemucs_ft"), x), grpc.StatusCode.NOT_FOUND, "tiny"),
        (
            requests(pcm_config(x, model="damaged"), x),
            grpc.StatusCode.FAILED_PRECONDITION,
            "checksum mismatch",
        ),
        (requests(pcm_config(x, stems=["guitar"]), x), grpc.StatusCode.INVALID_ARGUMENT, "guitar"),
        (requests(pcm_config(x, overlap=0.99), x), grpc.StatusCode.INVALID_ARGUMENT, "overlap"),
        (
            requests(pcm_config(x, output_encoding=audio_pb2.SAMPLE_ENCODING_CONTAINER), x),
            grpc.StatusCode.INVALID_ARGUMENT,
            "raw PCM",
        ),
        (
            iter([stems_pb2.SeparateRequest(config=pcm_config(x))]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "without audio",
        ),
    ]
    nan = x.copy()
    nan[300, 0] = np.nan
    cases.append((requests(pcm_config(nan), nan), grpc.StatusCode.INVALID_ARGUMENT, "NaN"))
    long = music(61.0)
    cases.append(
        (
            requests(
                pcm_config(long, backend=stems_pb2.SEPARATION_BACKEND_DEMUCS), long, chunk_s=1.0
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "max_input_seconds",
        )
    )
    for messages, code, text in cases:
        with pytest.raises(grpc.RpcError) as error:
            separate(system, messages)
        assert error.value.code() == code, error.value.details()
        assert text in (error.value.details() or "")
    ok = separate(system, requests(pcm_config(x, stems=["vocals"]), x))
    assert ok.stem("vocals").shape == x.shape


def test_silence_gives_silent_stems_and_a_note(system: dict[str, Any]) -> None:
    silence = np.zeros((2 * FS, 2), np.float32)
    config = pcm_config(silence, backend=stems_pb2.SEPARATION_BACKEND_DSP)
    result = separate(system, requests(config, silence))
    assert result.backends == {"dsp"}
    for name in SOURCES:
        assert not result.stem(name).any()
    assert any("digital silence" in note for note in result.summary.notes)


def test_list_models_and_metrics(system: dict[str, Any]) -> None:
    listed = system["stub"].ListModels(stems_pb2.ListModelsRequest(), metadata=METADATA)
    assert listed.dsp_available and listed.default_separation_model == "tiny"
    listed_models = {m.name: m.usable for m in listed.separation}
    assert listed_models == {"tiny": True, "damaged": True}  # hashing happens on load
    samples = scrape(system["service"].runtime.metrics_url)
    assert (
        series(
            samples,
            "voidline_stems_jobs_total",
            grpc_method="Separate",
            backend="demucs",
            outcome="ok",
        )
        >= 1
    )
    assert (
        series(
            samples, "voidline_stems_audio_seconds_total", grpc_method="Separate", backend="demucs"
        )
        >= 5.0
    )
