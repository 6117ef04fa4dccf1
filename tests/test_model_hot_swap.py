"""The mastering service follows the model registry: a promotion while Master calls are in
flight drops none of them, and calls after it report the new version. Real servers on
loopback, a real registry folder, the packaged model under two version names."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from services.mastering.models import POLL_INTERVAL_S
from services.mastering.server import MasteringRuntime
from services.mastering.settings import MasteringServiceSettings
from tests.support.metrics import scrape, series
from tests.support.model_versions import default_version, make_model_version
from tests.support.servers import BackgroundRuntime
from voidline.feedback.registry import ModelRegistry
from voidline.v1 import audio_pb2, mastering_pb2, mastering_pb2_grpc

FS = 44_100


def requests(seconds: float, seed: int) -> Iterator[mastering_pb2.MasterRequest]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    x = 0.2 * np.sin(2 * np.pi * 110 * t) * (1 + np.sin(2 * np.pi * 2 * t))
    pcm = (np.stack([x, x], axis=1) + 0.01 * rng.standard_normal((t.size, 2))).astype("<f4")
    yield mastering_pb2.MasterRequest(
        config=mastering_pb2.MasterConfig(
            format=audio_pb2.AudioFormat(
                encoding=audio_pb2.SAMPLE_ENCODING_PCM_F32LE, sample_rate_hz=FS, channel_count=2
            ),
            skip_cache=True,
        )
    )
    step = FS // 10
    for i in range(0, len(pcm), step):
        yield mastering_pb2.MasterRequest(
            audio=audio_pb2.AudioChunk(data=pcm[i : i + step].tobytes())
        )


@pytest.fixture
def system(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = MasteringServiceSettings(
        data_dir=str(tmp_path / "mastering"),
        registry_dir=str(tmp_path / "registry"),
        processing_slots=2,
        drift_window=4,
        drift_min_samples=2,
        drain_pause_s=0.0,
        grace_s=5.0,
    )
    mastering = MasteringRuntime(settings)
    with (
        BackgroundRuntime(mastering.runtime, on_ready=mastering.ready) as service,
        grpc.insecure_channel(service.address) as channel,
    ):
        yield {
            "stub": mastering_pb2_grpc.MasteringServiceStub(channel),
            "service": service,
            "registry": ModelRegistry(tmp_path / "registry"),
            "tmp": tmp_path,
        }


def master(stub: Any, seconds: float, seed: int) -> Any:
    report = None
    for response in stub.Master(requests(seconds, seed), timeout=120):
        if response.WhichOneof("response") == "report":
            report = response.report
    assert report is not None
    return report


def test_promotion_during_calls_drops_none_and_later_calls_use_it(
    system: dict[str, Any],
) -> None:
    stub, registry = system["stub"], system["registry"]
    seed_version = default_version()
    assert master(stub, 2.0, 0).model.version == seed_version

    new = make_model_version(system["tmp"] / "src" / "pm-swap-2", "pm-swap-2")
    registry.add_version(new, parent=seed_version, validation={"validation_unit_mse": 0.03})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(master, stub, 6.0, seed) for seed in range(1, 5)]
        time.sleep(0.3)  # the calls are streaming now
        registry.promote("pm-swap-2")
        reports = [future.result(timeout=180) for future in in_flight]
    assert all(r.job_id for r in reports)  # every call in flight completed
    assert {r.model.version for r in reports} <= {seed_version, "pm-swap-2"}

    time.sleep(POLL_INTERVAL_S + 0.1)
    after = master(stub, 2.0, 9)
    assert after.model.version == "pm-swap-2"
    samples = scrape(system["service"].metrics_url)
    assert series(samples, "voidline_model_info", version="pm-swap-2") == 1
    assert series(samples, "voidline_model_info", version=seed_version) == 0
    assert series(samples, "voidline_feature_drift_window_samples") >= 2

    registry.rollback()
    time.sleep(POLL_INTERVAL_S + 0.1)
    assert master(stub, 2.0, 10).model.version == seed_version
