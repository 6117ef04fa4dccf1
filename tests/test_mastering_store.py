"""The job log (SQLite), the result cache and preview excerpt selection."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from voidline.errors import NotFoundError
from voidline.mastering.cache import ResultCache, cache_key
from voidline.mastering.excerpt import loudest_window
from voidline.mastering.joblog import JobLog, new_job_id


def test_job_log_records_a_job_durably(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    log = JobLog(path)
    job_id = new_job_id()
    log.start(job_id, "master", "ab" * 32, {"target_lufs": -14.0, "style": "warm"})
    assert log.get(job_id).status == "running"
    features = np.linspace(-1, 1, 384).astype(np.float32)
    log.succeed(
        job_id,
        features.tolist(),
        {"eq_1khz_db": 1.5},
        {"eq_1khz_db": 0.75},
        "pm-test",
        "cd" * 32,
        {"output_integrated_lufs": -14.02},
    )
    log.close()

    reopened = JobLog(path)  # a new connection: what another process (feedback) sees
    record = reopened.get(job_id)
    assert record.status == "succeeded" and record.kind == "master"
    assert record.settings == {"target_lufs": -14.0, "style": "warm"}
    np.testing.assert_array_equal(np.asarray(record.features, np.float32), features)
    assert record.predicted == {"eq_1khz_db": 1.5} and record.applied == {"eq_1khz_db": 0.75}
    assert record.model_version == "pm-test" and record.result == {"output_integrated_lufs": -14.02}
    assert record.finished_at is not None and record.finished_at >= record.created_at
    # A plain sqlite3 reader sees the same row (WAL mode does not hide committed writes).
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT status FROM jobs WHERE job_id=?", (job_id,)).fetchone() == (
            "succeeded",
        )
    with pytest.raises(NotFoundError):
        reopened.get("nope")


def test_job_log_failures_and_concurrent_writers(tmp_path: Path) -> None:
    log = JobLog(tmp_path / "jobs.sqlite3")

    def work(i: int) -> None:
        job_id = f"job{i:03d}"
        log.start(job_id, "preview", "00" * 32, {"i": i})
        if i % 2:
            log.fail(job_id, "InvalidInputError: silent")
        else:
            log.succeed(job_id, [0.0] * 384, {}, {}, "v", "s", {"i": i})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log.recent(limit=100)) == 20
    failed = log.recent(status="failed")
    assert len(failed) == 10 and all(r.error == "InvalidInputError: silent" for r in failed)


def test_cache_hits_misses_and_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache", max_bytes=2500)
    keys = [cache_key("00" * 32, {"target": t}) for t in range(3)]
    assert cache_key("00" * 32, {"a": 1, "b": 2}) == cache_key("00" * 32, {"b": 2, "a": 1})
    assert cache.get(keys[0]) is None
    cache.put(keys[0], b"a" * 1000, b"r0")
    cache.put(keys[1], b"b" * 1000, b"r1")
    entry = cache.get(keys[0])  # touch 0: 1 is now the least recently used
    assert entry is not None and entry.audio == b"a" * 1000 and entry.report == b"r0"
    old = time.time() - 100
    for suffix in (".audio", ".report"):
        os.utime(tmp_path / "cache" / f"{keys[1]}{suffix}", (old, old))
    cache.put(keys[2], b"c" * 1000, b"r2")
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    assert cache.size_bytes() <= 2500
    disabled = ResultCache(tmp_path / "off", max_bytes=0)
    disabled.put(keys[0], b"x", b"y")
    assert disabled.get(keys[0]) is None
    with pytest.raises(ValueError):
        cache.get("../../etc/passwd")


def test_loudest_window_finds_the_loud_part() -> None:
    fs = 8000
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal((fs * 60, 2))
    x[fs * 37 : fs * 47] *= 30.0  # the loud 10 s
    start = loudest_window(x, fs, fs * 10)
    assert abs(start / fs - 37.0) <= 0.1
    assert loudest_window(x[: fs * 5], fs, fs * 10) == 0
