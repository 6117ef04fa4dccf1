"""The durable feedback store (SQLite, WAL, synchronous=FULL), on real files.

The durability tests kill a writer process with SIGKILL mid-stream and check that every item it
acknowledged is in the file exactly once.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.support import feedback_writer
from voidline.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from voidline.feedback import store as store_module
from voidline.feedback.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    FeedbackStore,
    Migration,
    NewFeedback,
    StoredFeedback,
    SubmitResult,
)
from voidline.mastering.parameters import PARAMETER_NAMES

REPO = Path(__file__).resolve().parent.parent


def feedback(key: str = "k-1", /, **changes: object) -> NewFeedback:
    item = NewFeedback(job_id="job-a", rating=4, idempotency_key=key)
    return replace(item, **changes)  # type: ignore[arg-type]


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, as another program would open the file."""
    return sqlite3.connect(str(path), isolation_level=None)


# -- round trip and validation -----------------------------------------------------------------


def test_every_field_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    item = NewFeedback(
        job_id="0123456789abcdef0123456789abcdef",
        rating=5,
        idempotency_key="client-7f3a",
        preferred_job_id="0123456789abcdef0123456789abcdef",
        other_job_id="fedcba9876543210fedcba9876543210",
        corrected={PARAMETER_NAMES[0]: 1.25, PARAMETER_NAMES[5]: -3, PARAMETER_NAMES[9]: 0.1},
        comment="warmer please, less limiting ✓",
        model_version="pm-20260101-abc",
    )
    before = time.time()
    with FeedbackStore(path) as store:
        result = store.submit(item)
    after = time.time()
    assert result == SubmitResult(feedback_id=1, duplicate=False)

    with FeedbackStore(path) as store:  # a new connection reads what was committed
        stored = store.get(result.feedback_id)
    assert before <= stored.received_at <= after
    assert stored == StoredFeedback(
        feedback_id=1,
        job_id=item.job_id,
        rating=5,
        idempotency_key="client-7f3a",
        preferred_job_id=item.preferred_job_id,
        other_job_id=item.other_job_id,
        corrected={PARAMETER_NAMES[0]: 1.25, PARAMETER_NAMES[5]: -3.0, PARAMETER_NAMES[9]: 0.1},
        comment="warmer please, less limiting ✓",
        model_version="pm-20260101-abc",
        received_at=stored.received_at,
        update_id=None,
    )
    assert stored.corrected is not None
    assert all(type(v) is float for v in stored.corrected.values())


def test_optional_fields_default_and_empty_corrections_are_none(tmp_path: Path) -> None:
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        plain = store.get(store.submit(feedback("a")).feedback_id)
        empty = store.get(store.submit(feedback("b", corrected={})).feedback_id)
        numpy_value = store.get(
            store.submit(feedback("c", corrected={PARAMETER_NAMES[1]: np.float32(0.5)})).feedback_id
        )
        with pytest.raises(NotFoundError, match="no feedback with id 99"):
            store.get(99)
    assert (plain.preferred_job_id, plain.other_job_id, plain.corrected) == (None, None, None)
    assert (plain.comment, plain.model_version) == ("", "")
    assert empty.corrected is None
    assert numpy_value.corrected == {PARAMETER_NAMES[1]: 0.5}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": 4.0}, "rating"),
        ({"job_id": ""}, "job_id"),
        ({"job_id": "j" * 129}, "job_id"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"corrected": {"no_such_parameter": 1.0}}, "corrected"),
        ({"corrected": {PARAMETER_NAMES[0]: math.nan}}, "corrected"),
        ({"corrected": {PARAMETER_NAMES[0]: math.inf}}, "corrected"),
        ({"corrected": {PARAMETER_NAMES[0]: "1.0"}}, "corrected"),
        ({"preferred_job_id": "job-a"}, "preferred_job_id"),
        ({"other_job_id": "job-b"}, "other_job_id"),
        ({"preferred_job_id": "job-a", "other_job_id": "job-a"}, "different jobs"),
        ({"preferred_job_id": "", "other_job_id": "job-b"}, "preferred_job_id"),
        ({"comment": "x" * 2001}, "comment"),
        ({"model_version": "v" * 129}, "model_version"),
    ],
)
def test_invalid_feedback_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, object], field: str
) -> None:
    item = feedback(**changes)
    with pytest.raises(InvalidInputError, match=field):
        item.check()
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        with pytest.raises(InvalidInputError, match=field):
            store.submit(item)
        assert store.count() == 0


def test_limits_are_inclusive() -> None:
    feedback("k" * 128, comment="x" * 2000, job_id="j" * 128).check()
    feedback(rating=1).check()
    feedback(preferred_job_id="job-x", other_job_id="job-y").check()  # neither is job_id: fine


# -- idempotency -------------------------------------------------------------------------------


def test_the_same_key_twice_stores_one_row(tmp_path: Path) -> None:
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        first = store.submit(feedback("retry-me", corrected={PARAMETER_NAMES[2]: 1.0}))
        # Same content (an int equal to the float, the service's model_version refilled).
        again = store.submit(
            feedback("retry-me", corrected={PARAMETER_NAMES[2]: 1}, model_version="pm-x")
        )
        assert first == SubmitResult(1, duplicate=False)
        assert again == SubmitResult(1, duplicate=True)
        assert store.count() == 1
        assert store.get(1).model_version == ""  # the duplicate stored nothing


@pytest.mark.parametrize(
    "changes",
    [
        {"rating": 2},
        {"job_id": "job-b"},
        {"comment": "changed my mind"},
        {"corrected": {PARAMETER_NAMES[0]: 0.5}},
        {"preferred_job_id": "job-a", "other_job_id": "job-b"},
    ],
)
def test_the_same_key_with_different_content_is_refused(
    tmp_path: Path, changes: dict[str, object]
) -> None:
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        store.submit(feedback("k"))
        with pytest.raises(InvalidInputError, match="'k' was already used for different feedback"):
            store.submit(feedback("k", **changes))
        assert store.count() == 1
        assert store.get(1).rating == 4


def test_a_batch_is_one_transaction_with_duplicates_inside(tmp_path: Path) -> None:
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        store.submit(feedback("old"))
        results = store.submit_many(
            [feedback("a"), feedback("b", rating=1), feedback("a"), feedback("old")]
        )
        assert [(r.feedback_id, r.duplicate) for r in results] == [
            (2, False),
            (3, False),
            (2, True),
            (1, True),
        ]
        assert store.count() == 3
        assert store.submit_many([]) == []

        # All or nothing: a conflicting key or an invalid item anywhere stores none of the batch.
        with pytest.raises(InvalidInputError, match="already used for different feedback"):
            store.submit_many([feedback("c"), feedback("d"), feedback("c", rating=5)])
        with pytest.raises(InvalidInputError, match="feedback item 1: rating"):
            store.submit_many([feedback("e"), feedback("f", rating=9)])
        assert store.count() == 3
        assert {f.idempotency_key for f in store.recent(10)} == {"old", "a", "b"}


# -- durability: SIGKILL right after acknowledgements ------------------------------------------


def run_writer_until_killed(
    path: Path, first: int, acks_wanted: int
) -> list[tuple[str, int, bool]]:
    """Start the writer, read its acknowledgements until `acks_wanted`, SIGKILL it mid-stream
    and return every acknowledgement it printed (including those still in the pipe)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.feedback_writer", str(path), str(first), "1000000"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acks: list[tuple[str, int, bool]] = []
    enough = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.endswith("\n"):  # a torn last line was never a complete acknowledgement
                key, feedback_id, duplicate = line.split()
                acks.append((key, int(feedback_id), duplicate == "1"))
                if len(acks) >= acks_wanted:
                    enough.set()
        enough.set()  # end of output: the writer ended, maybe early

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        enough.wait(timeout=30)
        assert process.poll() is None, f"the writer ended early: {process.communicate()[1]}"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        reader.join(timeout=10)
        assert not reader.is_alive()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(acks) >= acks_wanted
    return acks


def check_file_holds_a_prefix_of_the_writer(path: Path, acked: int) -> int:
    """The file holds items 0..n-1 of the writer, each exactly once, with n the acknowledged
    count or one more (the item committed just before the kill, not yet printed)."""
    with raw(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with FeedbackStore(path) as store:
        rows = store.pending()
        assert store.count() == len(rows)
    assert acked <= len(rows) <= acked + 1
    assert [row.idempotency_key for row in rows] == [
        feedback_writer.key(i) for i in range(len(rows))
    ]
    for index, row in enumerate(rows):
        expected = feedback_writer.item(index)
        assert (row.job_id, row.rating, row.corrected, row.comment) == (
            expected.job_id,
            expected.rating,
            expected.corrected,
            expected.comment,
        )
        assert (row.preferred_job_id, row.other_job_id) == (
            expected.preferred_job_id,
            expected.other_job_id,
        )
    return len(rows)


def test_acknowledged_feedback_survives_sigkill_and_retries_do_not_double_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feedback.sqlite3"
    acks = run_writer_until_killed(path, first=0, acks_wanted=200)
    assert [key for key, _, _ in acks] == [feedback_writer.key(i) for i in range(len(acks))]
    assert not any(duplicate for _, _, duplicate in acks)
    stored = check_file_holds_a_prefix_of_the_writer(path, len(acks))
    ids = {key: feedback_id for key, feedback_id, _ in acks}
    with FeedbackStore(path) as store:
        assert all(store.get(ids[key]).idempotency_key == key for key in ids)

    # A restarted writer resubmits everything from the start, then goes on with new items.
    again = run_writer_until_killed(path, first=0, acks_wanted=stored + 100)
    for key, feedback_id, duplicate in again[:stored]:
        assert duplicate and feedback_id == ids.get(key, feedback_id)
    assert not any(duplicate for _, _, duplicate in again[stored:])
    check_file_holds_a_prefix_of_the_writer(path, len(again))


# -- schema versions ---------------------------------------------------------------------------


def test_a_fresh_file_gets_the_current_schema_and_durable_settings(tmp_path: Path) -> None:
    path = tmp_path / "new" / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        # Per-connection settings can only be read on the store's own connection.
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"feedback", "updates"} <= tables


def test_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        store.submit(feedback("a"))
    for _ in range(3):
        with FeedbackStore(path) as store:
            assert store.count() == 1
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_from_a_newer_voidline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    FeedbackStore(path).close()
    with raw(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(FailedPreconditionError, match="written by a newer Voidline"):
        FeedbackStore(path)


def test_files_that_are_not_feedback_stores_are_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "jobs.sqlite3"
    with raw(other) as db:
        db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY)")
    with pytest.raises(FailedPreconditionError, match="not a feedback store"):
        FeedbackStore(other)
    with raw(other) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched
        assert db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == [
            ("jobs",)
        ]

    versioned = tmp_path / "other-app.sqlite3"
    with raw(versioned) as db:
        db.execute("CREATE TABLE t (x)")
        db.execute("PRAGMA user_version=1")
    with pytest.raises(FailedPreconditionError, match="application_id"):
        FeedbackStore(versioned)

    text = tmp_path / "notes.txt"
    text.write_text("not a database, but long enough to have a header of sorts\n" * 20)
    with pytest.raises(FailedPreconditionError, match="not a usable feedback store"):
        FeedbackStore(text)


V2 = Migration(
    "listener region",
    (
        "ALTER TABLE feedback ADD COLUMN region TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX feedback_region ON feedback (region)",
    ),
)


def test_a_v1_file_is_upgraded_by_a_new_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        store.submit(feedback("old", rating=2))
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, V2))

    with FeedbackStore(path) as store:
        assert store.get(1).rating == 2  # the old row reads as before
        assert store.submit(feedback("new")).feedback_id == 2
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert db.execute("SELECT region FROM feedback ORDER BY feedback_id").fetchall() == [
            ("",),
            ("",),
        ]
    FeedbackStore(path).close()  # upgrading again is a no-op

    # The code without V2 now meets a file from a "newer Voidline".
    monkeypatch.undo()
    with pytest.raises(FailedPreconditionError, match="newer Voidline"):
        FeedbackStore(path)


def test_a_failing_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        store.submit(feedback("old"))
    broken = Migration("half-written", ("ALTER TABLE feedback ADD COLUMN region TEXT", "NOT SQL"))
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(FailedPreconditionError, match=r"version 2 \(half-written\) failed"):
        FeedbackStore(path)
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
        assert "region" not in columns  # the first statement was rolled back with the second
    monkeypatch.undo()
    with FeedbackStore(path) as store:
        assert store.count() == 1


# -- learner: pending items and updates --------------------------------------------------------


def test_record_update_consumes_exactly_the_listed_items(tmp_path: Path) -> None:
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        ids = [r.feedback_id for r in store.submit_many([feedback(f"k{i}") for i in range(10)])]
        assert [f.feedback_id for f in store.pending()] == ids
        assert [f.feedback_id for f in store.pending(limit=3)] == ids[:3]

        first = store.record_update(
            "pm-1", "pm-2", "promoted", "held-out loss improved", {"loss": 0.25}, ids[:4]
        )
        assert (first.update_id, first.state, first.items) == (1, "promoted", 4)
        assert store.pending_count() == 6
        assert [f.feedback_id for f in store.pending()] == ids[4:]
        assert [store.get(i).update_id for i in ids] == [1] * 4 + [None] * 6

        # Already consumed or unknown: refused, and nothing of the update is written.
        with pytest.raises(FailedPreconditionError, match=f"feedback {ids[3]} was already"):
            store.record_update("pm-2", "pm-3", "rejected", "", {}, [ids[4], ids[3]])
        with pytest.raises(NotFoundError, match="no feedback with id 999"):
            store.record_update("pm-2", "pm-3", "rejected", "", {}, [ids[5], 999])
        assert store.update_count() == 1
        assert store.pending_count() == 6

        second = store.record_update(
            "pm-2", "pm-3", "rejected", "gate: LUFS error grew", {"loss": 0.3}, ids[4:6]
        )
        failed = store.record_update("pm-2", "", "failed", "diverged", {"loss": math.nan}, [])
        assert store.pending_count() == 4
        listed = store.updates()
        assert [u.update_id for u in listed] == [failed.update_id, second.update_id, 1]
        assert listed[1] == second
        assert math.isnan(listed[0].metrics["loss"]) and listed[0].items == 0
        assert listed[2].metrics == {"loss": 0.25} and listed[2].candidate_version == "pm-2"
        assert [u.update_id for u in store.updates(limit=1)] == [failed.update_id]
        assert store.update_count() == 3

        with pytest.raises(InvalidInputError, match="state"):
            store.record_update("pm-2", "pm-3", "accepted", "", {}, [])
        with pytest.raises(InvalidInputError, match="candidate_version"):
            store.record_update("pm-2", "", "promoted", "", {}, [])
        with pytest.raises(InvalidInputError, match="more than once"):
            store.record_update("pm-2", "pm-3", "rejected", "", {}, [ids[6], ids[6]])
        assert store.update_count() == 3


def test_reads_recent_since_and_rating_counts(tmp_path: Path) -> None:
    with FeedbackStore(tmp_path / "f.sqlite3") as store:
        store.submit_many([feedback(f"a{i}", rating=5) for i in range(3)])
        cut = store.recent(1)[0].received_at
        time.sleep(0.01)
        store.submit(feedback("b", rating=1))
        store.submit(feedback("c", rating=5))
        assert [f.idempotency_key for f in store.recent(2)] == ["c", "b"]
        assert [f.idempotency_key for f in store.since(cut)] == ["b", "c"]
        assert store.since(time.time() + 60) == []
        assert store.rating_counts() == {1: 1, 2: 0, 3: 0, 4: 0, 5: 4}
        assert store.count() == 5
        with pytest.raises(InvalidInputError, match="limit"):
            store.pending(limit=-1)


def test_a_closed_or_busy_store_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    store = FeedbackStore(path, busy_timeout_s=0.2)
    blocker = raw(path)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(UnavailableError, match="busy"):
            store.submit(feedback("a"))
        assert store.count() == 0  # WAL: reads go on while a writer holds the lock
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.submit(feedback("a")).duplicate is False  # the retry goes through
    store.close()
    store.close()
    with pytest.raises(UnavailableError, match="closed"):
        store.count()


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_writers_lose_nothing_and_count_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    stores = [FeedbackStore(path), FeedbackStore(path)]  # two connections: SQLite's lock too
    threads_n, per_thread, stride = 8, 40, 30  # neighbours share 10 keys
    start = threading.Barrier(threads_n)
    results: dict[int, list[tuple[str, SubmitResult]]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        store = stores[t % 2]
        items = [feedback_writer.item(i) for i in range(t * stride, t * stride + per_thread)]
        out: list[tuple[str, SubmitResult]] = []
        try:
            start.wait()
            if t % 4 < 2:
                out = [(item.idempotency_key, store.submit(item)) for item in items]
            else:
                for i in range(0, len(items), 8):
                    batch = items[i : i + 8]
                    pairs = zip(batch, store.submit_many(batch), strict=True)
                    out += [(item.idempotency_key, result) for item, result in pairs]
        except BaseException as exc:
            errors.append(exc)
        results[t] = out

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()
    assert not errors, errors

    keys = (threads_n - 1) * stride + per_thread
    by_key: dict[str, set[int]] = {}
    fresh: dict[str, int] = {}
    for out in results.values():
        for key, result in out:
            by_key.setdefault(key, set()).add(result.feedback_id)
            fresh[key] = fresh.get(key, 0) + (not result.duplicate)
    assert len(by_key) == keys
    assert all(len(ids) == 1 for ids in by_key.values())  # everyone got the same id for a key
    assert set(fresh.values()) == {1}  # exactly one submit per key stored it
    with FeedbackStore(path) as store:
        assert store.count() == keys
        assert {f.idempotency_key for f in store.pending()} == set(by_key)
