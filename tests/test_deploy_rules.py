"""deploy/prometheus/voidline-rules.yml: well formed, and every metric it names is real."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import yaml

from gateway.auth import KeyRing
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from services.analysis.server import build_runtime
from services.analysis.settings import AnalysisSettings
from services.mastering.server import MasteringRuntime
from services.mastering.settings import MasteringServiceSettings
from services.stems.server import StemsRuntime
from services.stems.settings import StemsServiceSettings
from tests.support.metrics import scrape
from tests.support.servers import BackgroundRuntime
from voidline.mastering.parameters import BY_NAME
from voidline.v1 import (
    analysis_pb2,
    analysis_pb2_grpc,
    audio_pb2,
    feedback_pb2,
    feedback_pb2_grpc,
    mastering_pb2,
    mastering_pb2_grpc,
    stems_pb2,
    stems_pb2_grpc,
)

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "voidline-rules.yml"
KEY = "vl_rules_test_key"
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names_in(expr: str) -> set[str]:
    """Exported metric names an expression reads (recorded series contain colons: skipped)."""
    return {
        token
        for token in IDENTIFIER.findall(expr)
        if ":" not in token and token.startswith(("grpc_server_", "voidline_"))
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The series real processes (analysis, gateway, mastering) export after a good and a
    refused call."""
    analysis = build_runtime(AnalysisSettings(drain_pause_s=0.0, grace_s=1.0))
    with BackgroundRuntime(analysis) as backend:
        settings = GatewaySettings(
            backends=(f"voidline.v1.AnalysisService={backend.address}",),
            drain_pause_s=0.0,
            grace_s=1.0,
            health_interval_s=0.05,
        )
        gateway = Gateway(settings, KeyRing().with_plain_key(KEY))
        with (
            BackgroundRuntime(
                gateway.runtime, on_ready=gateway.on_ready, on_stop=gateway.close
            ) as front,
            grpc.insecure_channel(front.address) as channel,
        ):
            stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
            pcm = (0.1 * np.sin(np.arange(48000) * 0.05)).astype("<f4")
            config = analysis_pb2.AnalysisConfig(
                format=audio_pb2.AudioFormat(
                    encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE,
                    sample_rate_hz=48000,
                    channel_count=1,
                )
            )
            requests = [
                analysis_pb2.StreamAnalyzeRequest(config=config),
                analysis_pb2.StreamAnalyzeRequest(audio=audio_pb2.AudioChunk(data=pcm.tobytes())),
            ]
            list(stub.StreamAnalyze(iter(requests), metadata=[("x-api-key", KEY)], timeout=60))
            with pytest.raises(grpc.RpcError):
                list(stub.StreamAnalyze(iter(requests), metadata=[("x-api-key", "wrong")]))
            assert backend.metrics_url and front.metrics_url
            exported = {name for name, _ in scrape(backend.metrics_url) | scrape(front.metrics_url)}
    yield (
        exported
        | mastering_series(tmp_path_factory.mktemp("mastering"))
        | stems_series(tmp_path_factory.mktemp("stems"))
        | feedback_series(tmp_path_factory.mktemp("feedback"))
    )


def mastering_series(data_dir: Path) -> set[str]:
    """The series a real mastering service exports after a master and a refused call."""
    settings = MasteringServiceSettings(data_dir=str(data_dir), drain_pause_s=0.0, grace_s=1.0)
    mastering = MasteringRuntime(settings)
    with (
        BackgroundRuntime(mastering.runtime, on_ready=mastering.ready) as service,
        grpc.insecure_channel(service.address) as channel,
    ):
        stub = mastering_pb2_grpc.MasteringServiceStub(channel)
        t = np.arange(3 * 48000) / 48000
        pcm = (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype("<f4")
        audio_format = audio_pb2.AudioFormat(
            encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE, sample_rate_hz=48000, channel_count=1
        )
        chunk = mastering_pb2.MasterRequest(audio=audio_pb2.AudioChunk(data=pcm.tobytes()))
        good = mastering_pb2.MasterConfig(format=audio_format)
        list(stub.Master(iter([mastering_pb2.MasterRequest(config=good), chunk]), timeout=120))
        bad = mastering_pb2.MasterConfig(format=audio_format, target_name="loud")
        with pytest.raises(grpc.RpcError):
            list(stub.Master(iter([mastering_pb2.MasterRequest(config=bad), chunk])))
        assert service.metrics_url
        return {name for name, _ in scrape(service.metrics_url)}


def stems_series(model_dir: Path) -> set[str]:
    """The series a real stems service exports after a DSP separation and a refused call."""
    settings = StemsServiceSettings(model_dir=str(model_dir), drain_pause_s=0.0, grace_s=1.0)
    stems = StemsRuntime(settings)
    with (
        BackgroundRuntime(stems.runtime, on_ready=stems.ready) as service,
        grpc.insecure_channel(service.address) as channel,
    ):
        stub = stems_pb2_grpc.StemsServiceStub(channel)
        pcm = (0.1 * np.sin(np.arange(2 * 44100) * 0.05)).astype("<f4")
        audio_format = audio_pb2.AudioFormat(
            encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE, sample_rate_hz=44100, channel_count=1
        )
        chunk = stems_pb2.SeparateRequest(audio=audio_pb2.AudioChunk(data=pcm.tobytes()))
        good = stems_pb2.SeparateConfig(format=audio_format)  # no weights: the dsp backend
        list(stub.Separate(iter([stems_pb2.SeparateRequest(config=good), chunk]), timeout=120))
        bad = stems_pb2.SeparateConfig(format=audio_format, stems=["kazoo"])
        with pytest.raises(grpc.RpcError):
            list(stub.Separate(iter([stems_pb2.SeparateRequest(config=bad), chunk])))
        assert service.metrics_url
        return {name for name, _ in scrape(service.metrics_url)}


def feedback_series(root: Path) -> set[str]:
    """The series a real feedback service exports after a stored, a refused and a learned item."""
    from services.feedback.server import FeedbackRuntime
    from services.feedback.settings import FeedbackServiceSettings
    from voidline.feedback.loop import load_validation_set
    from voidline.mastering.joblog import JobLog

    settings = FeedbackServiceSettings(
        data_dir=str(root / "feedback"),
        jobs_db=str(root / "jobs.sqlite3"),
        registry_dir=str(root / "registry"),
        drift_window=2,
        drift_min_samples=1,
        drain_pause_s=0.0,
        grace_s=1.0,
    )
    runtime = FeedbackRuntime(settings)
    features = load_validation_set().features[0]
    jobs = JobLog(root / "jobs.sqlite3")
    jobs.start("a" * 32, "master", "0" * 64, {})
    applied = {name: spec.to_physical(0.5) for name, spec in BY_NAME.items()}
    jobs.succeed("a" * 32, features.tolist(), applied, applied, "v", "s", {})
    with (
        BackgroundRuntime(
            runtime.runtime, on_ready=runtime.ready, on_stop=runtime.close
        ) as service,
        grpc.insecure_channel(service.address) as channel,
    ):
        stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
        good = feedback_pb2.Feedback(job_id="a" * 32, rating=4)
        stub.SubmitFeedback(feedback_pb2.SubmitFeedbackRequest(feedback=good))
        with pytest.raises(grpc.RpcError):
            bad = feedback_pb2.Feedback(job_id="a" * 32, rating=9)
            stub.SubmitFeedback(feedback_pb2.SubmitFeedbackRequest(feedback=bad))
        stub.Retrain(feedback_pb2.RetrainRequest(allow_partial_batch=True), timeout=120)
        assert service.metrics_url
        return {name for name, _ in scrape(service.metrics_url)}


def test_every_rule_is_complete() -> None:
    names = set()
    for rule in rules():
        assert rule["expr"].strip()
        name = rule.get("alert") or rule.get("record")
        assert name and name not in names, f"rule name missing or repeated: {name}"
        names.add(name)
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("page", "ticket"), name
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_metric_the_rules_read_is_exported(exported: set[str]) -> None:
    read = set().union(*(metric_names_in(rule["expr"]) for rule in rules()))
    assert read, "the rules read no Voidline metric"
    missing = sorted(read - exported)
    assert not missing, f"rules name metrics no process exports: {missing}"


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_retrain_cronjob_runs_voidline_retrain() -> None:
    """The Kubernetes CronJob is well-formed and runs a command the CLI accepts."""
    path = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
    manifest = yaml.safe_load((path / "retrain-cronjob.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "CronJob")
    spec = manifest["spec"]
    assert len(spec["schedule"].split()) == 5 and spec["concurrencyPolicy"] == "Forbid"
    (container,) = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["voidline", "retrain"]
    from voidline.cli.main import build_parser

    parsed = build_parser().parse_args(command[1:])
    assert parsed.command == "retrain" and parsed.gateway == "voidline-gateway:50051"
    assert any(e["name"] == "VOIDLINE_API_KEY" for e in container["env"])
