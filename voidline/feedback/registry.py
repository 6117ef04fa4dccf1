"""The versioned model registry: every parameter model there is, and which one is served.

The feedback service adds the versions it trains and promotes the ones that pass validation;
an operator may promote, reject or roll back from the CLI; the mastering service polls
`current_version()` and loads the new folder when the name changes. Layout under the root:

    versions/<version>/   a complete model folder (see `voidline.mastering.inference`): both
                          ONNX files, model_card.json, MODEL_CARD.md, plus whatever the caller
                          put next to them (reference_distributions.json).
                          Written once, never changed or deleted by this module.
    registry.json         the version list (state, created, parent, validation metrics, reason,
                          sha256 of both ONNX files, promoted_at) and the name of the current one
    CURRENT               one line: the name of the version the mastering service serves
    .lock                 writers hold an exclusive flock on it; readers never take it

States: "current" (exactly one once seeded), "previous" (the one a rollback returns to, at most
one), "candidate" (added, not served), "rejected" (failed validation or refused by a person;
promotable only with force) and "retired" (served once, superseded twice or rolled back).

What is atomic and why:
- Every file is written to a temporary file in the same folder, fsynced, moved over the old
  one with `os.replace` and the folder fsynced, so a reader sees the old bytes or the new
  ones, never a mixture, and a crash leaves one of the two on disk.
- A new version is copied into `versions/.tmp-<random>/`, verified, fsynced and renamed to
  `versions/<version>/` in one step, so a folder under its version name is always complete.
- A switch (promote, rollback) writes registry.json first and CURRENT second. registry.json
  is the decision; CURRENT follows it. If a process dies between the two writes, the next
  writer to take the lock finishes the switch (rewrites CURRENT from registry.json). Every name
  CURRENT ever holds is therefore listed in registry.json, with a complete folder.
- Writers serialise on the flock of `.lock` (per open file, so it also separates two
  registries or threads in one process); a writer that finds temporary files or folders left
  by a dead writer removes them, because only a lock holder ever makes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from voidline.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from voidline.hashing import sha256_file
from voidline.mastering.inference import (
    CARD_FILE,
    MODEL_FILES,
    PRECISIONS,
    ParameterModel,
    Precision,
    read_card,
)

logger = logging.getLogger(__name__)

VersionState = Literal["current", "previous", "candidate", "rejected", "retired"]
STATES: tuple[VersionState, ...] = get_args(VersionState)
ADD_STATES: tuple[VersionState, ...] = ("candidate", "rejected")
REGISTRY_FORMAT = "voidline-model-registry/1"
VERSIONS_DIR = "versions"
REGISTRY_FILE = "registry.json"
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
STAGING_PREFIX = ".tmp-"
# A version name becomes a folder name: no separators, no leading dot (staging folders use it).
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_LOCK_POLL_S = 0.01
_FOLDER_MODE = 0o755  # mkdtemp makes 0700: the mastering service may run as another user
_FILE_MODE = 0o644


@dataclass(frozen=True)
class VersionInfo:
    """One registry entry. `path` is derived from the root; everything else is stored."""

    version: str
    state: VersionState
    created: float  # unix seconds when added
    parent: str  # the version it was trained from, "" for a seed
    validation: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    sha256: str = ""  # of parameter_model.onnx (fp32)
    sha256_int8: str = ""  # of parameter_model.int8.onnx
    promoted_at: float | None = None  # unix seconds of its latest promotion
    path: Path = Path()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, for `voidline models status --json` and logs."""
        return {
            "version": self.version,
            "state": self.state,
            "created": self.created,
            "parent": self.parent,
            "validation": dict(self.validation),
            "reason": self.reason,
            "sha256": self.sha256,
            "sha256_int8": self.sha256_int8,
            "promoted_at": self.promoted_at,
            "path": str(self.path),
        }


@dataclass
class _Registry:
    """registry.json in memory: the intended current version and all entries, oldest first."""

    current: str | None
    entries: list[VersionInfo]

    def find(self, version: str) -> VersionInfo | None:
        return next((info for info in self.entries if info.version == version), None)

    def with_state(self, state: VersionState) -> VersionInfo | None:
        return next((info for info in self.entries if info.state == state), None)


# --- atomic file operations ----------------------------------------------------------------


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically: temp file in the same folder, fsync, replace.

    A concurrent reader opens either the old file or the new one, never a partial one;
    after a crash the disk holds one of the two.
    """
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), _FILE_MODE)
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_dir(path.parent)


def _fsync_tree(folder: Path) -> None:
    """fsync every file and folder below `folder` (bottom up), then `folder` itself."""
    for directory, _, files in os.walk(folder, topdown=False):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(directory))


# --- checks --------------------------------------------------------------------------------


def check_version_name(version: str) -> str:
    """`version` if it is usable as a folder name, else InvalidInputError."""
    if not isinstance(version, str) or not _VERSION_NAME.fullmatch(version):
        raise InvalidInputError(
            f"model version {version!r} is not a valid name: use 1-128 letters, digits, "
            "'.', '_', '+' or '-', starting with a letter or digit"
        )
    return version


def _clean_validation(validation: Mapping[str, float]) -> dict[str, float]:
    """Validation metrics as a plain dict of finite floats (JSON cannot hold NaN)."""
    cleaned: dict[str, float] = {}
    for name, value in validation.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"validation metric names must be strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"validation metric {name!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidInputError(f"validation metric {name!r} must be finite, got {value!r}")
        cleaned[name] = float(value)
    return cleaned


def _card_metrics(card: Mapping[str, Any]) -> dict[str, float]:
    """The scalar validation metrics of a trained card (`metrics.model`), for a seed version."""
    model = card.get("metrics", {}).get("model", {})
    if not isinstance(model, dict):
        return {}
    return {
        name: float(value)
        for name, value in model.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _card_version(folder: Path) -> tuple[str, dict[str, Any]]:
    """The version name a model folder's card gives, and the card."""
    card = read_card(folder)
    version = card.get("version")
    if not isinstance(version, str):
        raise FailedPreconditionError(
            f"{folder / CARD_FILE} has no version string; retrain with `voidline train`"
        )
    return check_version_name(version), card


def verify_model_folder(
    folder: Path, version: str, expected: Mapping[Precision, str] | None = None
) -> dict[Precision, str]:
    """Check a model folder before it is added or served; return each ONNX file's sha256.

    The card must name `version`; each ONNX file's sha256 must equal the card's and, when
    given, `expected` (what registry.json recorded, so a card rewritten to match changed files
    is caught too); and both files must load in onnxruntime with this code's feature layout,
    i.e. `ParameterModel.load` accepts them. FailedPreconditionError otherwise.
    """
    name, card = _card_version(folder)
    if name != version:
        raise FailedPreconditionError(
            f"{folder / CARD_FILE} names version {name!r}, but the registry expects "
            f"{version!r}: the folder was replaced; restore it or add it as a new version"
        )
    files = card.get("files")
    hashes: dict[Precision, str] = {}
    for precision in PRECISIONS:
        entry = files.get(precision) if isinstance(files, dict) else None
        promised = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(promised, str):
            raise FailedPreconditionError(
                f"{folder / CARD_FILE} lists no sha256 for the {precision} model; "
                "retrain with `voidline train`"
            )
        path = folder / MODEL_FILES[precision]
        if not path.is_file():
            raise FailedPreconditionError(f"{path} is missing; the model folder is incomplete")
        actual = sha256_file(path)
        if actual != promised:
            raise FailedPreconditionError(
                f"{path} has sha256 {actual}, but its model card says {promised}: the file was "
                "changed or corrupted; restore it or export the model again"
            )
        if expected is not None and actual != expected[precision]:
            raise FailedPreconditionError(
                f"{path} has sha256 {actual}, but the registry recorded {expected[precision]} "
                f"when version {version} was added: the folder was changed after it was added"
            )
        # Layout and onnxruntime checks: exactly what the mastering service will run.
        ParameterModel.load(folder, precision)
        hashes[precision] = actual
    return hashes


# --- the registry --------------------------------------------------------------------------


class ModelRegistry:
    """A registry rooted at a folder, shared by processes through the file system.

    Construction touches nothing on disk; the first write creates the folders. Readers
    (`current_version`, `current`, `get`, `versions`, `path_of`) never lock: every file they
    read is replaced atomically. Writers (`ensure_seeded`, `add_version`, `promote`,
    `rollback`, `reject`) hold an exclusive flock on `root/.lock` for their whole
    read-modify-write and raise UnavailableError if it stays taken for `lock_timeout_s`.
    """

    def __init__(self, root: Path | str, *, lock_timeout_s: float = 30.0) -> None:
        self.root = Path(root)
        self.lock_timeout_s = lock_timeout_s

    @property
    def versions_dir(self) -> Path:
        return self.root / VERSIONS_DIR

    # --- reading (no lock) -------------------------------------------------------------------

    def current_version(self) -> str:
        """The served version's name: one small file read, cheap enough to poll every second."""
        path = self.root / CURRENT_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FailedPreconditionError(
                f"the model registry at {self.root} has no current version yet; the feedback "
                "service seeds it with the packaged model when it starts"
            ) from None
        version = text.strip()
        if not _VERSION_NAME.fullmatch(version):
            raise FailedPreconditionError(
                f"{path} holds {version!r}, not a version name; restore it from registry.json "
                "(any registry write does) or roll back"
            )
        return version

    def current(self) -> VersionInfo:
        """The served version's entry (its state is "current" except during a crash repair)."""
        return self.get(self.current_version())

    def current_path(self) -> Path:
        """The served version's folder."""
        return self.versions_dir / self.current_version()

    def get(self, version: str) -> VersionInfo:
        """One version's entry; NotFoundError for an unknown name."""
        info = self._read().find(version)
        if info is None:
            raise NotFoundError(self._unknown(version))
        return info

    def path_of(self, version: str) -> Path:
        """A known version's folder; NotFoundError for an unknown name."""
        return self.get(version).path

    def versions(self) -> list[VersionInfo]:
        """Every version, newest first (by created; ties by the order they were added)."""
        entries = self._read().entries
        order = sorted(range(len(entries)), key=lambda i: (entries[i].created, i), reverse=True)
        return [entries[i] for i in order]

    # --- writing (under the lock) -----------------------------------------------------------

    def ensure_seeded(self, seed_dir: Path) -> VersionInfo:
        """Make sure there is a current version; the first time, install `seed_dir` as it.

        Idempotent: with a current version already, nothing changes and it is returned. The
        seed's validation metrics are its card's validation metrics (`metrics.model`).
        """
        seed_dir = Path(seed_dir)
        with self._locked():
            registry = self._read()
            if registry.current is not None:
                current = registry.find(registry.current)
                if current is not None:
                    return current
            version, card = _card_version(seed_dir)
            existing = registry.find(version)
            if existing is None:
                existing = self._install(
                    registry,
                    seed_dir,
                    version,
                    parent="",
                    validation=_card_metrics(card),
                    state="candidate",
                    reason=f"seeded from {seed_dir}",
                )
            return self._switch_to(registry, existing.version, reason=None)

    def add_version(
        self,
        source_dir: Path,
        *,
        parent: str,
        validation: Mapping[str, float],
        state: str = "candidate",
        reason: str = "",
    ) -> VersionInfo:
        """Copy a model folder into the registry as a new version (not served yet).

        The name is the card's "version". Refused: a state other than candidate or rejected,
        non-finite metrics or a name already present (InvalidInputError); an unknown parent
        (NotFoundError); a folder whose files differ from its card or that the mastering
        service could not load (FailedPreconditionError). The copy is verified, not the source,
        so a source changed while it is copied is caught too.
        """
        if state not in ADD_STATES:
            raise InvalidInputError(
                f"a new version's state must be one of {', '.join(ADD_STATES)}, got {state!r}; "
                "promote it afterwards to serve it"
            )
        metrics = _clean_validation(validation)
        source_dir = Path(source_dir)
        version, _ = _card_version(source_dir)
        with self._locked():
            registry = self._read()
            if registry.find(version) is not None:
                raise InvalidInputError(
                    f"model version {version} is already in the registry at {self.root}; "
                    "export the new model under a new version name"
                )
            if parent and registry.find(parent) is None:
                raise NotFoundError(self._unknown(parent, what="parent version"))
            return self._install(
                registry,
                source_dir,
                version,
                parent=parent,
                validation=metrics,
                state=state,
                reason=reason,
            )

    def promote(self, version: str, *, force: bool = False) -> VersionInfo:
        """Serve `version`: verify its folder again, then switch CURRENT to it atomically.

        The old current becomes "previous" and an older "previous" becomes "retired".
        Promoting the current version changes nothing. A rejected version needs `force=True`
        (FailedPreconditionError otherwise).
        """
        with self._locked():
            registry = self._read()
            target = registry.find(version)
            if target is None:
                raise NotFoundError(self._unknown(version))
            if target.state == "current":
                return target
            reason: str | None = None
            if target.state == "rejected":
                if not force:
                    raise FailedPreconditionError(
                        f"model version {version} was rejected ({target.reason or 'no reason'}); "
                        "promote it with force to serve it anyway"
                    )
                reason = f"promoted with force after rejection: {target.reason}"
            self._verify(target)
            return self._switch_to(registry, version, reason=reason)

    def rollback(self) -> VersionInfo:
        """Serve the "previous" version again; the version rolled back from becomes "retired".

        FailedPreconditionError when there is no previous version (none was promoted over
        another yet, or a rollback already used it).
        """
        with self._locked():
            registry = self._read()
            previous = registry.with_state("previous")
            if previous is None:
                raise FailedPreconditionError(
                    f"the model registry at {self.root} has no previous version to roll back "
                    "to; promote a specific version by name instead"
                )
            self._verify(previous)
            now = time.time()
            entries = []
            for info in registry.entries:
                if info.version == previous.version:
                    info = dataclasses.replace(info, state="current", promoted_at=now)
                elif info.state == "current":
                    info = dataclasses.replace(info, state="retired", reason="rolled back")
                entries.append(info)
            return self._commit(_Registry(previous.version, entries))

    def reject(self, version: str, reason: str) -> VersionInfo:
        """Mark a version rejected with a reason. The current version cannot be rejected."""
        if not reason.strip():
            raise InvalidInputError("give a reason when rejecting a model version")
        with self._locked():
            registry = self._read()
            target = registry.find(version)
            if target is None:
                raise NotFoundError(self._unknown(version))
            if target.state == "current":
                raise FailedPreconditionError(
                    f"model version {version} is being served; roll back or promote another "
                    "version before rejecting it"
                )
            entries = [
                dataclasses.replace(info, state="rejected", reason=reason)
                if info.version == version
                else info
                for info in registry.entries
            ]
            self._write_registry(_Registry(registry.current, entries))
            return self.get(version)

    # --- internals ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the writers' flock; on entry, clean up after a writer that died."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        try:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UnavailableError(
                            f"the model registry at {self.root} has been locked by another "
                            f"writer for {self.lock_timeout_s:g} s; try again later"
                        ) from None
                    time.sleep(_LOCK_POLL_S)
            self._recover()
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _recover(self) -> None:
        """Remove a dead writer's temporaries and finish a switch it left half done."""
        for staging in self.versions_dir.glob(f"{STAGING_PREFIX}*"):
            logger.warning("removing an unfinished version copy %s", staging)
            shutil.rmtree(staging, ignore_errors=True)
        for temporary in self.root.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        registry = self._read()
        if registry.current is None:
            return
        try:
            pointer: str | None = (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pointer = None
        if pointer != registry.current:
            logger.warning(
                "finishing an interrupted switch: %s now points to %s (was %s)",
                CURRENT_FILE,
                registry.current,
                pointer,
            )
            atomic_write_text(self.root / CURRENT_FILE, registry.current + "\n")

    def _read(self) -> _Registry:
        """registry.json, or an empty registry when there is none yet."""
        path = self.root / REGISTRY_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _Registry(None, [])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise FailedPreconditionError(
                f"{path} is not readable ({error}); restore it from a backup"
            ) from error
        try:
            if data["format"] != REGISTRY_FORMAT:
                raise ValueError(f"format is {data['format']!r}, not {REGISTRY_FORMAT!r}")
            current = data["current"]
            if current is not None and not isinstance(current, str):
                raise ValueError("current must be a version name or null")
            entries = [self._entry(record) for record in data["versions"]]
        except (KeyError, TypeError, ValueError) as error:
            raise FailedPreconditionError(
                f"{path} is not a {REGISTRY_FORMAT} file ({error}); restore it from a backup"
            ) from error
        return _Registry(current, entries)

    def _entry(self, record: Mapping[str, Any]) -> VersionInfo:
        state = record["state"]
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        version = record["version"]
        if not isinstance(version, str) or not _VERSION_NAME.fullmatch(version):
            raise ValueError(f"bad version name {version!r}")
        promoted_at = record["promoted_at"]
        return VersionInfo(
            version=version,
            state=state,
            created=float(record["created"]),
            parent=str(record["parent"]),
            validation={str(k): float(v) for k, v in dict(record["validation"]).items()},
            reason=str(record["reason"]),
            sha256=str(record["sha256"]),
            sha256_int8=str(record["sha256_int8"]),
            promoted_at=None if promoted_at is None else float(promoted_at),
            path=self.versions_dir / version,
        )

    def _write_registry(self, registry: _Registry) -> None:
        records = []
        for info in registry.entries:
            record = info.to_dict()
            del record["path"]  # derived from the root, so the folder can move
            records.append(record)
        data = {"format": REGISTRY_FORMAT, "current": registry.current, "versions": records}
        atomic_write_text(self.root / REGISTRY_FILE, json.dumps(data, indent=2) + "\n")

    def _commit(self, registry: _Registry) -> VersionInfo:
        """Write a switch: registry.json (the decision) first, then CURRENT (the pointer)."""
        assert registry.current is not None
        self._write_registry(registry)
        atomic_write_text(self.root / CURRENT_FILE, registry.current + "\n")
        current = registry.find(registry.current)
        assert current is not None
        return current

    def _switch_to(self, registry: _Registry, version: str, reason: str | None) -> VersionInfo:
        """Make `version` current: old current -> previous, old previous -> retired."""
        now = time.time()
        entries = []
        for info in registry.entries:
            if info.version == version:
                info = dataclasses.replace(info, state="current", promoted_at=now)
                if reason is not None:
                    info = dataclasses.replace(info, reason=reason)
            elif info.state == "current":
                info = dataclasses.replace(info, state="previous")
            elif info.state == "previous":
                info = dataclasses.replace(info, state="retired")
            entries.append(info)
        return self._commit(_Registry(version, entries))

    def _verify(self, info: VersionInfo) -> None:
        recorded: dict[Precision, str] = {"fp32": info.sha256, "int8": info.sha256_int8}
        verify_model_folder(info.path, info.version, recorded)

    def _install(
        self,
        registry: _Registry,
        source_dir: Path,
        version: str,
        *,
        parent: str,
        validation: dict[str, float],
        state: VersionState,
        reason: str,
    ) -> VersionInfo:
        """Copy, verify and rename a folder into versions/<version>; append it to registry.json.

        Appends the new entry to `registry.entries` too, so the caller can go on with it.
        """
        if not source_dir.is_dir():
            raise FailedPreconditionError(f"model folder {source_dir} does not exist")
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.versions_dir))
        try:
            shutil.copytree(
                source_dir,
                staging,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(".staging-*", "__pycache__"),
            )
            hashes = verify_model_folder(staging, version)
            os.chmod(staging, _FOLDER_MODE)
            _fsync_tree(staging)
            target = self.versions_dir / version
            if target.exists():
                # Not in registry.json, so a writer died after its rename: nobody serves it.
                logger.warning("replacing %s left by an interrupted add", target)
                shutil.rmtree(target)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.versions_dir)
        info = VersionInfo(
            version=version,
            state=state,
            created=time.time(),
            parent=parent,
            validation=validation,
            reason=reason,
            sha256=hashes["fp32"],
            sha256_int8=hashes["int8"],
            promoted_at=None,
            path=target,
        )
        registry.entries.append(info)
        self._write_registry(registry)
        return info

    def _unknown(self, version: str, what: str = "model version") -> str:
        return (
            f"{what} {version!r} is not in the model registry at {self.root}; "
            "`voidline models status` lists the versions"
        )
