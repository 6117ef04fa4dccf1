"""The durable job log: one row per mastering job, in a SQLite file.

Every Master and Preview call is recorded when it starts and updated when it ends, with what
the feedback service needs later to learn from listeners' ratings: the input's 384 features,
the parameters the model predicted, the ones applied after style and intensity, the settings,
the model version and sha256, and the result's metrics. SQLite in WAL mode keeps readers (the
feedback service) from blocking the writer; every write is its own committed transaction, so
a crash loses at most the job in flight, whose row then stays `running`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voidline.errors import NotFoundError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                  -- master | preview
    status TEXT NOT NULL,                -- running | succeeded | failed
    created_at REAL NOT NULL,            -- unix seconds
    finished_at REAL,
    input_sha256 TEXT NOT NULL,
    settings TEXT NOT NULL,              -- JSON: target, ceiling, intensity, style, format ...
    features BLOB,                       -- 384 float32, little-endian
    predicted TEXT,                      -- JSON: parameter name -> model prediction
    applied TEXT,                        -- JSON: parameter name -> value the chain ran with
    model_version TEXT,
    model_sha256 TEXT,
    result TEXT,                         -- JSON: loudness, true peak, LRA, A/B gain, timing ...
    cached INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created_at ON jobs (created_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class JobRecord:
    """One row of the job log."""

    job_id: str
    kind: str
    status: str
    created_at: float
    finished_at: float | None
    input_sha256: str
    settings: dict[str, Any]
    features: list[float] | None
    predicted: dict[str, float] | None
    applied: dict[str, float] | None
    model_version: str | None
    model_sha256: str | None
    result: dict[str, Any] | None
    cached: bool
    error: str | None


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobLog:
    """Append and read job rows; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def start(
        self,
        job_id: str,
        kind: str,
        input_sha256: str,
        settings: Mapping[str, Any],
        cached: bool = False,
    ) -> None:
        """Record a job as running."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (job_id, kind, status, created_at, input_sha256, settings, "
                "cached) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (job_id, kind, time.time(), input_sha256, json.dumps(dict(settings)), int(cached)),
            )

    def succeed(
        self,
        job_id: str,
        features: Sequence[float],
        predicted: Mapping[str, float],
        applied: Mapping[str, float],
        model_version: str,
        model_sha256: str,
        result: Mapping[str, Any],
    ) -> None:
        """Record what a finished job computed and measured."""
        blob = np.asarray(features, dtype="<f4").tobytes()
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status='succeeded', finished_at=?, features=?, predicted=?, "
                "applied=?, model_version=?, model_sha256=?, result=? WHERE job_id=?",
                (
                    time.time(),
                    blob,
                    json.dumps(dict(predicted)),
                    json.dumps(dict(applied)),
                    model_version,
                    model_sha256,
                    json.dumps(dict(result)),
                    job_id,
                ),
            )

    def fail(self, job_id: str, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status='failed', finished_at=?, error=? WHERE job_id=?",
                (time.time(), error, job_id),
            )

    def get(self, job_id: str) -> JobRecord:
        """The job's row; NotFoundError for an unknown id."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            names = [d[0] for d in self._db.execute("SELECT * FROM jobs LIMIT 0").description]
        if row is None:
            raise NotFoundError(f"no mastering job with id {job_id!r}")
        return _record(dict(zip(names, row, strict=True)))

    def recent(self, limit: int = 100, status: str | None = None) -> list[JobRecord]:
        """The newest jobs first, optionally only those with the given status."""
        query = "SELECT * FROM jobs"
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status=?"
            args = (status,)
        query += " ORDER BY created_at DESC LIMIT ?"
        with self._lock:
            cursor = self._db.execute(query, (*args, int(limit)))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [_record(dict(zip(names, row, strict=True))) for row in rows]


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _record(row: dict[str, Any]) -> JobRecord:
    blob = row["features"]
    return JobRecord(
        job_id=row["job_id"],
        kind=row["kind"],
        status=row["status"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        input_sha256=row["input_sha256"],
        settings=json.loads(row["settings"]),
        features=None if blob is None else np.frombuffer(blob, dtype="<f4").tolist(),
        predicted=_json(row["predicted"]),
        applied=_json(row["applied"]),
        model_version=row["model_version"],
        model_sha256=row["model_sha256"],
        result=_json(row["result"]),
        cached=bool(row["cached"]),
        error=row["error"],
    )
