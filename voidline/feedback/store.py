"""The durable store of listeners' feedback and of the learner's updates, in a SQLite file.

Listeners rate mastering jobs (1 to 5), may say which of two masters they preferred (an A/B
preference) and which parameter values they would have wanted. The feedback service stores each
item here; the online learner reads the pending ones in batches, trains a candidate model and
records the update, which marks the items it consumed.

Guarantees:

- An acknowledged item is durable. `FeedbackStore.submit` and `FeedbackStore.submit_many`
  return only after their COMMIT, and the file runs in WAL mode with ``synchronous=FULL``: every
  commit appends to the write-ahead log and fsyncs it before COMMIT returns. The item therefore
  survives the process being killed (SIGKILL) right after the call returns, and also an OS crash
  or a power cut as far as the disk honours fsync. WAL with ``synchronous=NORMAL`` (the job
  log's setting) survives a killed process but may lose the last commits on power loss; a
  listener's feedback cannot be recomputed, so this store pays one fsync per commit (batch with
  `submit_many` to share it). WAL also lets readers in other processes (the learner, dashboards)
  read while the service writes.
- Idempotency. Every item carries a key chosen by the client, UNIQUE in the table. Resubmitting
  a key with the same content returns the original id with ``duplicate=True`` and stores
  nothing, so a client that lost the answer (or got UNAVAILABLE) can simply retry; the same key
  with different content is refused. The lookup and the insert run in one ``BEGIN IMMEDIATE``
  transaction, so two processes cannot race on a key.
- All or nothing. `submit_many` and `record_update` are one transaction each.
- Versioned schema. `MIGRATIONS` is an ordered list of steps; ``PRAGMA user_version`` records how
  many were applied. Each step runs in its own transaction together with its version bump, so a
  crash or an error mid-step leaves the file at the previous version. A file written by a newer
  Voidline (a version this code does not know) is refused rather than misread, and so is a
  SQLite file that is not a feedback store (``PRAGMA application_id``).

Thread safety: one connection guarded by a lock. SQLite admits one writer at a time anyway and
each write ends in an fsync that dwarfs the indexed reads, so per-thread connections would buy
little; one connection also keeps `close` exact (no connections left behind in the threads of a
gRPC pool). Several stores (in one process or several) may open the same file: writers queue on
SQLite's lock for up to the busy timeout, after which a call raises UnavailableError.
"""

from __future__ import annotations

import json
import math
import numbers
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast, get_args

from voidline.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from voidline.mastering.parameters import PARAMETER_NAMES

MIN_RATING = 1
MAX_RATING = 5
MAX_KEY_CHARS = 128
MAX_ID_CHARS = 128  # job ids are 32 hex digits; this only bounds what a client can make us store
MAX_COMMENT_CHARS = 2000
MAX_VERSION_CHARS = 128

UpdateState = Literal["promoted", "rejected", "failed"]
UPDATE_STATES: tuple[str, ...] = get_args(UpdateState)

# "VlFb" in PRAGMA application_id marks a feedback store, so that a misconfigured path that
# points at another SQLite file (the job log, say) is refused instead of written into.
APPLICATION_ID = 0x566C4662

_PARAMETERS = frozenset(PARAMETER_NAMES)


@dataclass(frozen=True)
class Migration:
    """One schema step. Step i (0-based) takes a file from user_version i to i + 1."""

    description: str
    statements: tuple[str, ...]


# Append a step to change the schema; never edit a released one (files in the field hold it).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "feedback items and learner updates",
        (
            """
            CREATE TABLE updates (
                update_id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_at REAL NOT NULL,             -- unix seconds
                base_version TEXT NOT NULL,           -- the model the learner started from
                candidate_version TEXT NOT NULL,      -- '' when no candidate was produced
                state TEXT NOT NULL CHECK (state IN ('promoted', 'rejected', 'failed')),
                reason TEXT NOT NULL,
                items INTEGER NOT NULL CHECK (items >= 0),
                metrics TEXT NOT NULL                 -- JSON object: name -> number
            )
            """,
            """
            CREATE TABLE feedback (
                feedback_id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
                idempotency_key TEXT NOT NULL UNIQUE,
                job_id TEXT NOT NULL,
                rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
                preferred_job_id TEXT,                -- A/B: preferred over other_job_id
                other_job_id TEXT,
                corrected TEXT,                       -- JSON object: parameter -> value, or NULL
                comment TEXT NOT NULL,
                model_version TEXT NOT NULL,          -- '' when unknown
                received_at REAL NOT NULL,            -- unix seconds
                update_id INTEGER REFERENCES updates (update_id),  -- NULL while pending
                CHECK ((preferred_job_id IS NULL) = (other_job_id IS NULL))
            )
            """,
            # The learner's query (pending items in id order) reads only this small index.
            "CREATE INDEX feedback_pending ON feedback (feedback_id) WHERE update_id IS NULL",
            "CREATE INDEX feedback_received_at ON feedback (received_at)",
            "CREATE INDEX feedback_job_id ON feedback (job_id)",
            "CREATE INDEX feedback_update_id ON feedback (update_id)",
        ),
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class NewFeedback:
    """One listener's feedback on a mastering job, as submitted.

    `preferred_job_id` and `other_job_id` record an A/B preference: the listener preferred the
    first master over the second (any two distinct jobs). `corrected` maps parameter names
    (`voidline.mastering.parameters.PARAMETER_NAMES`) to the values the listener would have
    wanted. `model_version` is the version that produced the job, filled in by the service from
    the job log. `idempotency_key` is chosen by the client: the same key means the same item.
    """

    job_id: str
    rating: int
    idempotency_key: str
    preferred_job_id: str | None = None
    other_job_id: str | None = None
    corrected: Mapping[str, float] | None = None
    comment: str = ""
    model_version: str = ""

    def check(self) -> None:
        """Raise InvalidInputError, naming the field, unless the item can be stored."""
        _check_text("job_id", self.job_id, MAX_ID_CHARS, required=True)
        rating = self.rating
        if isinstance(rating, bool) or not isinstance(rating, int):
            raise InvalidInputError(f"rating must be an integer, got {rating!r}")
        if not MIN_RATING <= rating <= MAX_RATING:
            raise InvalidInputError(
                f"rating must be from {MIN_RATING} to {MAX_RATING}, got {rating}"
            )
        _check_text("idempotency_key", self.idempotency_key, MAX_KEY_CHARS, required=True)
        preferred, other = self.preferred_job_id, self.other_job_id
        if (preferred is None) != (other is None):
            raise InvalidInputError(
                "preferred_job_id and other_job_id must be set together (an A/B preference "
                "names both masters) or both left empty"
            )
        if preferred is not None:
            _check_text("preferred_job_id", preferred, MAX_ID_CHARS, required=True)
            _check_text("other_job_id", other, MAX_ID_CHARS, required=True)
            if preferred == other:
                raise InvalidInputError(
                    f"preferred_job_id and other_job_id must name two different jobs, "
                    f"got {preferred!r} twice"
                )
        if self.corrected is not None:
            if not isinstance(self.corrected, Mapping):
                raise InvalidInputError("corrected must map parameter names to values")
            unknown = [name for name in self.corrected if name not in _PARAMETERS]
            if unknown:
                raise InvalidInputError(
                    f"corrected names unknown parameters {unknown}; the names are listed in "
                    "docs/mastering-parameters.md"
                )
            for name, value in self.corrected.items():
                if not _is_finite_number(value):
                    raise InvalidInputError(
                        f"corrected[{name!r}] must be a finite number, got {value!r}"
                    )
        _check_text("comment", self.comment, MAX_COMMENT_CHARS)
        _check_text("model_version", self.model_version, MAX_VERSION_CHARS)


@dataclass(frozen=True)
class StoredFeedback:
    """A stored item: what was submitted, its id, when it arrived and which update used it.

    An empty `corrected` mapping is stored (and returned) as None. `update_id` is None while
    the item is pending, i.e. not yet consumed by a learner update.
    """

    feedback_id: int
    job_id: str
    rating: int
    idempotency_key: str
    preferred_job_id: str | None
    other_job_id: str | None
    corrected: Mapping[str, float] | None
    comment: str
    model_version: str
    received_at: float
    update_id: int | None


@dataclass(frozen=True)
class SubmitResult:
    """The stored item's id; `duplicate` when the key had already been stored (nothing new)."""

    feedback_id: int
    duplicate: bool


@dataclass(frozen=True)
class UpdateRecord:
    """One run of the online learner: the model it started from, what became of the candidate
    (`promoted`, `rejected` by the quality gate, or `failed`), why, and its metrics."""

    update_id: int
    created_at: float
    base_version: str
    candidate_version: str
    state: UpdateState
    reason: str
    items: int
    metrics: dict[str, float]


class FeedbackStore:
    """Feedback items and learner updates in one SQLite file; safe to share between threads.

    Opening creates the file (and its folder) if needed and applies pending migrations. Every
    method may raise UnavailableError when the store is closed or another writer held the file
    for longer than `busy_timeout_s`; both are worth a retry (the key makes it safe).
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        # isolation_level=None: no implicit transactions; every write below is one explicit
        # BEGIN IMMEDIATE ... COMMIT, so a transaction spans exactly one method call.
        self._db = sqlite3.connect(
            str(self.path),
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            # Refuse a foreign or newer file before changing anything in it (even its journal).
            self._check_version(len(MIGRATIONS))
            self._configure()
            self._migrate(MIGRATIONS)
        except sqlite3.Error as exc:
            self._db.close()
            if _is_busy(exc):
                raise UnavailableError(f"feedback store {self.path} is busy: {exc}") from exc
            raise FailedPreconditionError(
                f"{self.path} is not a usable feedback store: {exc}"
            ) from exc
        except BaseException:
            self._db.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent); later calls raise UnavailableError."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------

    def submit(self, item: NewFeedback) -> SubmitResult:
        """Store one item durably (see the module's guarantees); returns after the COMMIT.

        InvalidInputError for an invalid item, or for a key already used for different feedback.
        """
        return self.submit_many([item])[0]

    def submit_many(self, items: Sequence[NewFeedback]) -> list[SubmitResult]:
        """Store several items in one transaction (one fsync): all of them, or none.

        Results come in the order of `items`. A key repeated inside the batch with the same
        content is stored once (the later ones are duplicates); with different content the
        whole batch is refused.
        """
        items = list(items)
        for index, item in enumerate(items):
            try:
                item.check()
            except InvalidInputError as exc:
                if len(items) == 1:
                    raise
                raise InvalidInputError(f"feedback item {index}: {exc}") from exc
        if not items:
            return []
        received_at = time.time()
        with self._session() as db, self._transaction(db):
            return [self._insert(db, item, received_at) for item in items]

    def record_update(
        self,
        base_version: str,
        candidate_version: str,
        state: str,
        reason: str,
        metrics: Mapping[str, float],
        feedback_ids: Sequence[int],
    ) -> UpdateRecord:
        """Record a learner update and mark `feedback_ids` consumed by it, in one transaction.

        Every listed item must exist (NotFoundError) and still be pending
        (FailedPreconditionError: another update consumed it, e.g. a second learner); then
        nothing is written. The listed items are consumed whatever the state: pass no ids for a
        failed update whose items should stay pending for the next try.
        """
        _check_text("base_version", base_version, MAX_VERSION_CHARS, required=True)
        _check_text("candidate_version", candidate_version, MAX_VERSION_CHARS)
        if state not in UPDATE_STATES:
            raise InvalidInputError(f"state must be one of {UPDATE_STATES}, got {state!r}")
        if state == "promoted" and not candidate_version:
            raise InvalidInputError("a promoted update must name its candidate_version")
        _check_text("reason", reason, MAX_COMMENT_CHARS)
        metric_values: dict[str, float] = {}
        for name, value in metrics.items():
            if not isinstance(name, str) or isinstance(value, bool):
                raise InvalidInputError(f"metrics[{name!r}] must be a number under a text name")
            if not isinstance(value, numbers.Real):
                raise InvalidInputError(f"metrics[{name!r}] must be a number, got {value!r}")
            metric_values[name] = float(value)  # NaN is allowed: a failed run may report one
        ids = [int(feedback_id) for feedback_id in feedback_ids]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("feedback_ids lists an item more than once")
        created_at = time.time()
        with self._session() as db, self._transaction(db):
            cursor = db.execute(
                "INSERT INTO updates (created_at, base_version, candidate_version, state, "
                "reason, items, metrics) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    created_at,
                    base_version,
                    candidate_version,
                    state,
                    reason,
                    len(ids),
                    json.dumps(metric_values, sort_keys=True),
                ),
            )
            update_id = _rowid(cursor)
            for feedback_id in ids:
                cursor = db.execute(
                    "UPDATE feedback SET update_id=? WHERE feedback_id=? AND update_id IS NULL",
                    (update_id, feedback_id),
                )
                if cursor.rowcount != 1:
                    row = db.execute(
                        "SELECT update_id FROM feedback WHERE feedback_id=?", (feedback_id,)
                    ).fetchone()
                    if row is None:
                        raise NotFoundError(f"no feedback with id {feedback_id}")
                    raise FailedPreconditionError(
                        f"feedback {feedback_id} was already consumed by update {row[0]}"
                    )
        return UpdateRecord(
            update_id=update_id,
            created_at=created_at,
            base_version=base_version,
            candidate_version=candidate_version,
            state=cast(UpdateState, state),
            reason=reason,
            items=len(ids),
            metrics=metric_values,
        )

    # -- reads -----------------------------------------------------------------------------

    def get(self, feedback_id: int) -> StoredFeedback:
        """The stored item; NotFoundError for an unknown id."""
        found = self._feedback("WHERE feedback_id=?", (int(feedback_id),))
        if not found:
            raise NotFoundError(f"no feedback with id {feedback_id}")
        return found[0]

    def count(self) -> int:
        """How many items are stored."""
        return self._scalar("SELECT count(*) FROM feedback")

    def pending(self, limit: int | None = None) -> list[StoredFeedback]:
        """Items no update has consumed yet, oldest (lowest id) first; at most `limit`."""
        return self._feedback(
            "WHERE update_id IS NULL ORDER BY feedback_id LIMIT ?", (_limit(limit),)
        )

    def pending_count(self) -> int:
        """How many items no update has consumed yet."""
        return self._scalar("SELECT count(*) FROM feedback WHERE update_id IS NULL")

    def recent(self, limit: int = 100) -> list[StoredFeedback]:
        """The newest items first (by id: the order of their commits, whatever the clock did)."""
        return self._feedback("ORDER BY feedback_id DESC LIMIT ?", (_limit(limit),))

    def since(self, received_after: float, limit: int | None = None) -> list[StoredFeedback]:
        """Items received strictly after `received_after` (unix seconds), oldest first."""
        return self._feedback(
            "WHERE received_at > ? ORDER BY feedback_id LIMIT ?",
            (float(received_after), _limit(limit)),
        )

    def rating_counts(self) -> dict[int, int]:
        """How many items gave each rating; every rating from 1 to 5 is a key (0 if none)."""
        counts = dict.fromkeys(range(MIN_RATING, MAX_RATING + 1), 0)
        with self._session() as db:
            rows = db.execute("SELECT rating, count(*) FROM feedback GROUP BY rating").fetchall()
        counts.update({int(rating): int(n) for rating, n in rows})
        return counts

    def updates(self, limit: int | None = None) -> list[UpdateRecord]:
        """Recorded learner updates, newest first; at most `limit`."""
        with self._session() as db:
            rows = db.execute(
                "SELECT update_id, created_at, base_version, candidate_version, state, reason, "
                "items, metrics FROM updates ORDER BY update_id DESC LIMIT ?",
                (_limit(limit),),
            ).fetchall()
        return [
            UpdateRecord(
                update_id=row[0],
                created_at=row[1],
                base_version=row[2],
                candidate_version=row[3],
                state=cast(UpdateState, row[4]),
                reason=row[5],
                items=row[6],
                metrics={str(k): float(v) for k, v in json.loads(row[7]).items()},
            )
            for row in rows
        ]

    def update_count(self) -> int:
        """How many learner updates are recorded."""
        return self._scalar("SELECT count(*) FROM updates")

    # -- internals -------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        """The connection, held under the lock; SQLite's busy errors become UnavailableError."""
        with self._lock:
            if self._closed:
                raise UnavailableError("the feedback store is closed")
            try:
                yield self._db
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise UnavailableError(
                        "the feedback store is busy (another writer holds it); retry"
                    ) from exc
                raise

    @staticmethod
    @contextmanager
    def _transaction(db: sqlite3.Connection) -> Iterator[None]:
        """One write transaction. IMMEDIATE takes the write lock up front, so what the body
        reads (an idempotency key, a schema version) cannot change before it writes."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may already have rolled back (e.g. a full disk)
                db.execute("ROLLBACK")
            raise

    def _configure(self) -> None:
        db = self._db
        # WAL persists in the file; synchronous and foreign_keys are per connection.
        mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        if mode != "wal":
            raise FailedPreconditionError(
                f"{self.path}: SQLite could not use WAL mode (got {mode!r}); the feedback store "
                "needs a file on a local file system"
            )
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        """Bring the file to len(migrations), one step per transaction."""
        db = self._db
        target = len(migrations)
        while True:
            version = self._check_version(target)
            if version == target:
                return
            with self._transaction(db):
                if self._check_version(target) != version:
                    continue  # another process applied this step meanwhile; look again
                step = migrations[version]
                try:
                    for statement in step.statements:
                        db.execute(statement)
                except sqlite3.Error as exc:
                    raise FailedPreconditionError(
                        f"{self.path}: the migration to feedback schema version {version + 1} "
                        f"({step.description}) failed and was rolled back: {exc}"
                    ) from exc
                if version == 0:
                    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                # Inside the transaction: the step and its version commit or vanish together.
                db.execute(f"PRAGMA user_version={version + 1}")

    def _check_version(self, target: int) -> int:
        """The file's schema version, after checking that this code can use the file."""
        db = self._db
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > target:
            raise FailedPreconditionError(
                f"{self.path} has feedback schema version {version} but this Voidline knows "
                f"versions up to {target}: it was written by a newer Voidline; upgrade, or "
                "point the feedback service at another file"
            )
        if version == 0:
            tables = int(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
            if tables:
                raise FailedPreconditionError(
                    f"{self.path} is a SQLite database but not a feedback store (it has a "
                    "schema and no feedback schema version); point the service at another file"
                )
        elif int(db.execute("PRAGMA application_id").fetchone()[0]) != APPLICATION_ID:
            raise FailedPreconditionError(
                f"{self.path} is a SQLite database but not a feedback store (wrong "
                "application_id); point the service at another file"
            )
        return version

    def _insert(
        self, db: sqlite3.Connection, item: NewFeedback, received_at: float
    ) -> SubmitResult:
        corrected = _corrected(item.corrected)
        row = db.execute(
            "SELECT feedback_id, job_id, rating, preferred_job_id, other_job_id, corrected, "
            "comment FROM feedback WHERE idempotency_key=?",
            (item.idempotency_key,),
        ).fetchone()
        if row is not None:
            stored = (row[1], row[2], row[3], row[4], _loads_corrected(row[5]), row[6])
            submitted = (
                item.job_id,
                item.rating,
                item.preferred_job_id,
                item.other_job_id,
                corrected,
                item.comment,
            )
            # model_version is left out: the service fills it, the listener did not send it.
            if stored != submitted:
                raise InvalidInputError(
                    f"idempotency key {item.idempotency_key!r} was already used for different "
                    f"feedback (feedback {row[0]}); use a new key for new feedback"
                )
            return SubmitResult(feedback_id=int(row[0]), duplicate=True)
        cursor = db.execute(
            "INSERT INTO feedback (idempotency_key, job_id, rating, preferred_job_id, "
            "other_job_id, corrected, comment, model_version, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.idempotency_key,
                item.job_id,
                item.rating,
                item.preferred_job_id,
                item.other_job_id,
                None if corrected is None else json.dumps(corrected, sort_keys=True),
                item.comment,
                item.model_version,
                received_at,
            ),
        )
        return SubmitResult(feedback_id=_rowid(cursor), duplicate=False)

    def _feedback(self, tail: str, args: tuple[Any, ...]) -> list[StoredFeedback]:
        with self._session() as db:
            rows = db.execute(
                "SELECT feedback_id, job_id, rating, idempotency_key, preferred_job_id, "
                "other_job_id, corrected, comment, model_version, received_at, update_id "
                f"FROM feedback {tail}",
                args,
            ).fetchall()
        return [
            StoredFeedback(
                feedback_id=row[0],
                job_id=row[1],
                rating=row[2],
                idempotency_key=row[3],
                preferred_job_id=row[4],
                other_job_id=row[5],
                corrected=_loads_corrected(row[6]),
                comment=row[7],
                model_version=row[8],
                received_at=row[9],
                update_id=row[10],
            )
            for row in rows
        ]

    def _scalar(self, query: str) -> int:
        with self._session() as db:
            return int(db.execute(query).fetchone()[0])


def _check_text(field: str, value: object, max_chars: int, required: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be text, got {type(value).__name__}")
    if required and not value:
        raise InvalidInputError(f"{field} must not be empty")
    if len(value) > max_chars:
        raise InvalidInputError(
            f"{field} is {len(value)} characters long; at most {max_chars} are allowed"
        )


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))


def _corrected(corrected: Mapping[str, float] | None) -> dict[str, float] | None:
    """The canonical form: plain floats by name; no corrections at all is None."""
    if not corrected:
        return None
    return {name: float(corrected[name]) for name in sorted(corrected)}


def _loads_corrected(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    return {str(name): float(value) for name, value in json.loads(text).items()}


def _limit(limit: int | None) -> int:
    """A LIMIT argument: SQLite reads -1 as no limit."""
    if limit is None:
        return -1
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInputError(f"limit must be a non-negative integer, got {limit!r}")
    return limit


def _rowid(cursor: sqlite3.Cursor) -> int:
    rowid = cursor.lastrowid
    if rowid is None:  # cannot happen after a successful INSERT; keeps the type exact
        raise RuntimeError("SQLite returned no row id for an insert")
    return int(rowid)


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
