"""MasteringService end to end: a client -> gateway -> mastering -> analysis, all real servers on
loopback, the packaged parameter model, real encoders and decoders, a real SQLite job log."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile

from gateway.auth import KeyRing
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from services.analysis.server import build_runtime as build_analysis
from services.analysis.settings import AnalysisSettings
from services.mastering.server import MasteringRuntime
from services.mastering.settings import MasteringServiceSettings
from tests.support.metrics import scrape, series
from tests.support.servers import BackgroundRuntime
from voidline.dsp.limiter import true_peak_dbtp
from voidline.dsp.loudness_target import integrated_lufs
from voidline.mastering.joblog import JobLog
from voidline.mastering.parameters import PARAMETER_NAMES
from voidline.v1 import audio_pb2, mastering_pb2, mastering_pb2_grpc

FS = 44_100
API_KEY = "vl_test_master_" + "m" * 32


def music(seconds: float, seed: int = 0, fs: int = FS, channels: int = 2) -> np.ndarray:
    """A kick-and-bass groove with noise hats and a little stereo, about -20 LUFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    beat = np.exp(-(t % 0.5) * 14.0)
    kick = 0.5 * np.sin(2 * np.pi * (50 + 80 * np.exp(-(t % 0.5) * 30)) * t) * beat
    bass = 0.15 * np.sign(np.sin(2 * np.pi * 55 * t)) * (1 - beat) * 0.5
    hats = 0.05 * rng.standard_normal((n, channels)) * np.exp(-(t % 0.25) * 40)[:, None]
    chord = 0.05 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t))
    x = (kick + bass + chord)[:, None] + hats
    out: np.ndarray = 0.3 * x[:, :channels]
    return out


def wav_bytes(x: np.ndarray, fs: int = FS, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, x, fs, format="WAV", subtype=subtype)
    return buffer.getvalue()


def pcm_f32_config(x: np.ndarray, fs: int = FS, **fields: Any) -> Any:
    return mastering_pb2.MasterConfig(
        format=audio_pb2.AudioFormat(
            encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
            sample_rate_hz=fs,
            channel_count=x.shape[1],
        ),
        **fields,
    )


def requests(config: Any, x: np.ndarray, fs: int = FS, chunk_s: float = 0.1) -> Iterator[Any]:
    yield mastering_pb2.MasterRequest(config=config)
    step = int(chunk_s * fs)
    pcm = np.ascontiguousarray(x, dtype="<f4")
    for i in range(0, len(pcm), step):
        yield mastering_pb2.MasterRequest(
            audio=audio_pb2.AudioChunk(data=pcm[i : i + step].tobytes())
        )


def collect(responses: Iterator[Any]) -> tuple[list[Any], bytes, Any]:
    progress, audio, report = [], bytearray(), None
    for response in responses:
        kind = response.WhichOneof("response")
        if kind == "progress":
            progress.append(response.progress)
        elif kind == "audio":
            assert report is None, "audio after the report"
            audio += response.audio.data
        else:
            report = response.report
    assert report is not None
    return progress, bytes(audio), report


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("mastering")
    with BackgroundRuntime(
        build_analysis(AnalysisSettings(drain_pause_s=0.0, grace_s=2.0))
    ) as analysis:
        settings = MasteringServiceSettings(
            analysis_address=analysis.address,
            data_dir=str(data_dir),
            max_concurrent_jobs=4,
            drain_pause_s=0.0,
            grace_s=2.0,
        )
        mastering = MasteringRuntime(settings)
        with BackgroundRuntime(mastering.runtime, on_ready=mastering.ready) as service:
            keys = KeyRing().with_plain_key(API_KEY)
            gateway = Gateway(
                GatewaySettings(
                    backends=(
                        f"voidline.v1.AnalysisService={analysis.address}",
                        f"voidline.v1.MasteringService={service.address}",
                    ),
                    health_interval_s=0.05,
                    drain_pause_s=0.0,
                    grace_s=2.0,
                ),
                keys,
            )
            with (
                BackgroundRuntime(
                    gateway.runtime, on_ready=gateway.on_ready, on_stop=gateway.close
                ) as front,
                grpc.insecure_channel(front.address) as channel,
            ):
                yield {
                    "stub": mastering_pb2_grpc.MasteringServiceStub(channel),
                    "direct": service,
                    "data_dir": data_dir,
                    "runtime": mastering,
                }


def call(
    system: dict[str, Any], method: str, messages: Iterator[Any]
) -> tuple[list[Any], bytes, Any]:
    rpc = getattr(system["stub"], method)
    return collect(rpc(messages, metadata=[("x-api-key", API_KEY)], timeout=120))


def test_master_through_the_gateway_hits_target_and_ceiling(system: dict[str, Any]) -> None:
    x = music(12.0)
    config = pcm_f32_config(
        x, target_name="streaming", output_format=mastering_pb2.OUTPUT_FORMAT_WAV24
    )
    progress, audio, report = call(system, "Master", requests(config, x))

    stages = [p.stage for p in progress]
    assert stages[0] == "receiving" or stages[0] == "queued"
    assert "analysing" in stages and "loudness" in stages and stages[-1] == "done"
    assert stages.count("done") == 1  # the chain's own end is not the job's
    assert stages.index("loudness") < stages.index("encoding") < stages.index("verifying")
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)

    master, fs = soundfile.read(io.BytesIO(audio), dtype="float64", always_2d=True)
    info = soundfile.info(io.BytesIO(audio))
    assert info.subtype == "PCM_24" and fs == FS and master.shape == x.shape
    assert abs(integrated_lufs(master, fs) + 14.0) <= 0.1
    assert true_peak_dbtp(master, fs) <= -1.0 + 1e-3  # 24-bit dither: a few 1e-6 dB at most

    assert report.target_lufs == -14.0 and report.ceiling_dbtp == -1.0
    assert abs(report.output.loudness.integrated_lufs + 14.0) <= 0.1
    assert report.output.peaks.true_peak_dbtp <= -1.0 + 1e-3
    assert len(report.input.features) == 384 and report.input.duration_s == pytest.approx(12.0)
    assert [p.name for p in report.parameters] == list(PARAMETER_NAMES)
    assert report.model.version and len(report.model.sha256) == 64
    assert report.model.precision == mastering_pb2.MODEL_PRECISION_INT8
    expected_ab = report.output.loudness.integrated_lufs - report.input.loudness.integrated_lufs
    assert report.ab_gain_db == pytest.approx(expected_ab)
    assert report.output_bytes == len(audio) and report.mime_type == "audio/wav"
    assert report.processing_s > 0 and not report.cached

    # The job log has the row the feedback service will read.
    record = JobLog(Path(system["data_dir"]) / "jobs.sqlite3").get(report.job_id)
    assert record.status == "succeeded" and record.kind == "master"
    assert record.model_sha256 == report.model.sha256
    assert record.features is not None and len(record.features) == 384
    assert record.applied is not None and set(record.applied) == set(PARAMETER_NAMES)
    assert record.result is not None
    assert record.result["output_integrated_lufs"] == pytest.approx(
        report.output.loudness.integrated_lufs
    )
    job = system["stub"].GetJob(
        mastering_pb2.GetJobRequest(job_id=report.job_id), metadata=[("x-api-key", API_KEY)]
    )
    assert job.status == "succeeded" and len(job.parameters) == 32
    assert json.loads(job.settings_json)["target_name"] == "streaming"


def test_same_input_and_settings_come_from_the_cache(system: dict[str, Any]) -> None:
    x = music(6.0, seed=3)
    config = pcm_f32_config(x, target_lufs=-12.0, intensity=0.5)
    _, first_audio, first = call(system, "Master", requests(config, x, chunk_s=0.1))
    _, again_audio, again = call(system, "Master", requests(config, x, chunk_s=0.37))
    assert again.cached and not first.cached
    assert again_audio == first_audio and again.job_id != first.job_id
    job_log = JobLog(Path(system["data_dir"]) / "jobs.sqlite3")
    hit, original = job_log.get(again.job_id), job_log.get(first.job_id)
    assert hit.cached and not original.cached
    assert hit.result is not None and original.result is not None
    assert hit.result.keys() == original.result.keys()  # the same fields as a real job
    for key in ("output_integrated_lufs", "output_true_peak_dbtp", "output_score", "ab_gain_db"):
        assert hit.result[key] == pytest.approx(original.result[key]), key
    config.skip_cache = True
    _, _, fresh = call(system, "Master", requests(config, x))
    assert not fresh.cached
    text = scrape(system["direct"].metrics_url)
    assert (
        series(text, "voidline_mastering_jobs_total", grpc_method="Master", outcome="cached") >= 1
    )


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [
        (mastering_pb2.OUTPUT_FORMAT_WAV16, "PCM_16"),
        (mastering_pb2.OUTPUT_FORMAT_F32, "FLOAT"),
        (mastering_pb2.OUTPUT_FORMAT_FLAC24, "PCM_24"),
        (mastering_pb2.OUTPUT_FORMAT_MP3, "MPEG_LAYER_III"),
        (mastering_pb2.OUTPUT_FORMAT_OGG, "VORBIS"),
    ],
)
def test_output_formats_keep_rate_and_channels(
    system: dict[str, Any], fmt: int, subtype: str
) -> None:
    x = music(4.0, seed=5, fs=48_000, channels=1)
    config = pcm_f32_config(x, fs=48_000, target_name="podcast", output_format=fmt)
    _, audio, report = call(system, "Master", requests(config, x, fs=48_000))
    info = soundfile.info(io.BytesIO(audio))
    assert (info.samplerate, info.channels, info.subtype) == (48_000, 1, subtype)
    assert abs(report.output.loudness.integrated_lufs + 16.0) <= (
        0.1
        if fmt != mastering_pb2.OUTPUT_FORMAT_MP3 and fmt != mastering_pb2.OUTPUT_FORMAT_OGG
        else 0.3
    )


def test_container_input_and_preview_of_the_loudest_part(system: dict[str, Any]) -> None:
    x = music(40.0, seed=7) * 0.2
    x[int(25 * FS) : int(35 * FS)] *= 4.0  # the loud 10 s
    preview = mastering_pb2.PreviewConfig(
        master=mastering_pb2.MasterConfig(
            format=audio_pb2.AudioFormat(encoding=audio_pb2.SAMPLE_ENCODING_CONTAINER)
        ),
        duration_s=10.0,
    )
    data = wav_bytes(x)

    def messages() -> Iterator[Any]:
        yield mastering_pb2.PreviewRequest(config=preview)
        for i in range(0, len(data), 65536):
            yield mastering_pb2.PreviewRequest(audio=audio_pb2.AudioChunk(data=data[i : i + 65536]))

    _, audio, report = call(system, "Preview", messages())
    assert report.excerpt_start_s == pytest.approx(25.0, abs=0.2)
    assert report.excerpt_duration_s == pytest.approx(10.0)
    excerpt, fs = soundfile.read(io.BytesIO(audio), always_2d=True)
    assert excerpt.shape[0] == 10 * FS
    assert abs(integrated_lufs(excerpt, fs) + 14.0) <= 0.1
    assert JobLog(Path(system["data_dir"]) / "jobs.sqlite3").get(report.job_id).kind == "preview"


def test_reference_mode_moves_tone_and_loudness_towards_the_reference(
    system: dict[str, Any],
) -> None:
    x = music(8.0, seed=11)
    reference = music(8.0, seed=12)
    # A darker, quieter reference: low-passed and at about -20 LUFS.
    from scipy.signal import butter, sosfilt

    reference = sosfilt(butter(2, 2000, fs=FS, output="sos"), reference, axis=0)
    upload = system["stub"].UploadReference(
        iter(
            [
                mastering_pb2.UploadReferenceRequest(
                    format=audio_pb2.AudioFormat(encoding=audio_pb2.SAMPLE_ENCODING_CONTAINER)
                ),
                mastering_pb2.UploadReferenceRequest(
                    audio=audio_pb2.AudioChunk(data=wav_bytes(reference, subtype="FLOAT"))
                ),
            ]
        ),
        metadata=[("x-api-key", API_KEY)],
    )
    assert len(upload.reference_id) == 64
    config = pcm_f32_config(
        x, reference=mastering_pb2.ReferenceConfig(reference_id=upload.reference_id, amount=1.0)
    )
    _, _, report = call(system, "Master", requests(config, x))
    assert report.reference.reference_id == upload.reference_id
    assert report.target_lufs == pytest.approx(upload.integrated_lufs, abs=0.01)
    assert abs(report.output.loudness.integrated_lufs - upload.integrated_lufs) <= 0.1
    assert report.output.peaks.true_peak_dbtp <= -1.0 + 1e-3  # true-peak safe
    assert report.reference.max_cut_db < -3.0  # the top end came down towards the reference
    assert report.output.spectrum.centroid_hz < report.input.spectrum.centroid_hz

    unknown = pcm_f32_config(x, reference=mastering_pb2.ReferenceConfig(reference_id="0" * 64))
    with pytest.raises(grpc.RpcError) as error:
        call(system, "Master", requests(unknown, x))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def bad_call(system: dict[str, Any], config: Any, x: np.ndarray) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(system, "Master", requests(config, x))
    return error.value


def test_bad_input_is_invalid_argument_and_the_service_keeps_serving(
    system: dict[str, Any],
) -> None:
    x = music(4.0, seed=13)
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases: list[tuple[Any, np.ndarray, str]] = [
        (pcm_f32_config(x, target_name="loud"), x, "unknown target"),
        (pcm_f32_config(x, ceiling_dbtp=0.5), x, "ceiling"),
        (pcm_f32_config(x, intensity=1.5), x, "intensity"),
        (pcm_f32_config(x, intensity=-0.1), x, "intensity"),
        (pcm_f32_config(np.zeros((FS * 4, 2))), np.zeros((FS * 4, 2)), "silent"),
        (pcm_f32_config(np.full((FS * 4, 2), 1e-6)), np.full((FS * 4, 2), 1e-6), "silent"),
        (pcm_f32_config(np.zeros((FS, 6))), np.zeros((FS, 6)), "mono or stereo"),
        # Refused from the config, before any audio is processed: MPEG has no 96 kHz.
        (
            pcm_f32_config(x, fs=96_000, output_format=mastering_pb2.OUTPUT_FORMAT_MP3),
            x,
            "MP3 cannot carry 96000 Hz",
        ),
    ]
    nan = x.copy()
    nan[1000, 0] = np.nan
    cases.append((pcm_f32_config(nan), nan, "NaN"))

    def jobs(outcome: str) -> float:
        text = scrape(system["direct"].metrics_url)
        return series(text, "voidline_mastering_jobs_total", grpc_method="Master", outcome=outcome)

    rejected_before = jobs("rejected")
    for config, audio, words in cases:
        error = bad_call(system, config, audio)
        assert error.code() == invalid, (words, error.details())
        assert words in (error.details() or ""), error.details()
    # Counted as the callers' mistakes, not as the service failing.
    assert jobs("rejected") - rejected_before == len(cases) and jobs("error") == 0
    # The service still serves.
    _, _, report = call(system, "Master", requests(pcm_f32_config(x), x))
    assert abs(report.output.loudness.integrated_lufs + 14.0) <= 0.1


def test_short_clip_is_mastered_with_a_note(system: dict[str, Any]) -> None:
    x = music(1.5, seed=17)
    _, _, report = call(system, "Master", requests(pcm_f32_config(x), x))
    assert abs(report.output.loudness.integrated_lufs + 14.0) <= 0.1
    assert any("short clip" in note for note in report.notes)


def test_reference_at_another_sample_rate_is_used(system: dict[str, Any]) -> None:
    x = music(6.0, seed=19)
    reference = music(6.0, seed=20, fs=48_000) * 0.5
    config = pcm_f32_config(
        x, reference=mastering_pb2.ReferenceConfig(data=wav_bytes(reference, fs=48_000), amount=0.5)
    )
    _, audio, report = call(system, "Master", requests(config, x))
    assert report.reference.amount == 0.5
    master, fs = soundfile.read(io.BytesIO(audio), always_2d=True)
    assert fs == FS and master.shape == x.shape
    assert math.isfinite(report.output.loudness.integrated_lufs)
