"""The versioned model registry on real folders: states, atomic switches, checks, concurrency."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.support.model_versions import default_version, make_model_version
from voidline.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from voidline.feedback.registry import (
    CURRENT_FILE,
    REGISTRY_FILE,
    ModelRegistry,
    VersionInfo,
)
from voidline.hashing import sha256_file
from voidline.mastering.inference import (
    CARD_FILE,
    FP32_FILE,
    INT8_FILE,
    ParameterModel,
    default_model_dir,
    read_card,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = default_version()


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """A registry seeded with the packaged default model."""
    reg = ModelRegistry(tmp_path / "registry")
    reg.ensure_seeded(default_model_dir())
    return reg


def add(reg: ModelRegistry, tmp_path: Path, version: str, parent: str = SEED) -> VersionInfo:
    """Make a valid model folder named `version` and add it as a candidate."""
    source = make_model_version(tmp_path / "sources" / version, version)
    return reg.add_version(source, parent=parent, validation={"unit_mse": 0.03, "score": 1.0})


def states(reg: ModelRegistry) -> dict[str, str]:
    return {info.version: info.state for info in reg.versions()}


def test_an_unseeded_registry_has_no_current_version(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "registry")
    assert reg.versions() == []
    with pytest.raises(FailedPreconditionError, match="no current version"):
        reg.current_version()
    assert not (tmp_path / "registry").exists()  # reading creates nothing


def test_seeding_installs_the_seed_once(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "registry")
    seeded = reg.ensure_seeded(default_model_dir())
    assert seeded.version == SEED and seeded.state == "current" and seeded.parent == ""
    assert seeded.promoted_at is not None
    assert seeded.sha256 == sha256_file(default_model_dir() / FP32_FILE)
    assert seeded.sha256_int8 == sha256_file(default_model_dir() / INT8_FILE)
    card_metrics = read_card(default_model_dir())["metrics"]["model"]
    assert seeded.validation["unit_mse"] == pytest.approx(card_metrics["unit_mse"])
    assert (tmp_path / "registry" / CURRENT_FILE).read_text() == SEED + "\n"
    assert sorted(p.name for p in (tmp_path / "registry" / "versions").iterdir()) == [SEED]
    registry_bytes = (tmp_path / "registry" / REGISTRY_FILE).read_bytes()

    again = reg.ensure_seeded(default_model_dir())
    assert again == seeded
    assert (tmp_path / "registry" / REGISTRY_FILE).read_bytes() == registry_bytes
    # A registry that already serves something keeps it, whatever seed is offered.
    other = make_model_version(tmp_path / "other", "pm-other")
    assert ModelRegistry(tmp_path / "registry").ensure_seeded(other).version == SEED
    assert [info.version for info in reg.versions()] == [SEED]


def test_promote_and_rollback_move_current_previous_retired(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    b = add(registry, tmp_path, "pm-b")
    assert b.state == "candidate" and b.parent == SEED and b.promoted_at is None
    assert registry.current_version() == SEED

    promoted = registry.promote("pm-b")
    assert promoted.state == "current" and promoted.promoted_at is not None
    assert registry.current_version() == "pm-b"
    assert states(registry) == {"pm-b": "current", SEED: "previous"}

    add(registry, tmp_path, "pm-c", parent="pm-b")
    registry.promote("pm-c")
    assert states(registry) == {"pm-c": "current", "pm-b": "previous", SEED: "retired"}
    assert [info.version for info in registry.versions()] == ["pm-c", "pm-b", SEED]

    assert registry.promote("pm-c") == registry.get("pm-c")  # promoting current: no change

    back = registry.rollback()
    assert back.version == "pm-b" and registry.current_version() == "pm-b"
    assert back.promoted_at is not None and back.promoted_at > promoted.promoted_at
    assert states(registry) == {"pm-c": "retired", "pm-b": "current", SEED: "retired"}
    assert registry.get("pm-c").reason == "rolled back"
    assert registry.current_path() == registry.path_of("pm-b")

    with pytest.raises(FailedPreconditionError, match="no previous version"):
        registry.rollback()  # a rollback uses the previous version up

    registry.promote(SEED)  # a retired version can be served again by name
    assert states(registry) == {"pm-c": "retired", "pm-b": "previous", SEED: "current"}


def test_rollback_without_previous_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    add(registry, tmp_path, "pm-b")  # a candidate is not a previous version
    with pytest.raises(FailedPreconditionError, match="no previous version to roll back"):
        registry.rollback()
    assert registry.current_version() == SEED


def test_a_version_folder_is_a_complete_independent_copy(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    source = make_model_version(
        tmp_path / "src",
        "pm-extra",
        extra_files={"parameter_model.pt": b"torch weights", "reference_distributions.json": b"{}"},
    )
    info = registry.add_version(source, parent=SEED, validation={})
    assert info.path == tmp_path / "registry" / "versions" / "pm-extra"
    names = sorted(p.name for p in info.path.iterdir())
    assert names == sorted(
        [
            "MODEL_CARD.md",
            CARD_FILE,
            FP32_FILE,
            INT8_FILE,
            "parameter_model.pt",
            "reference_distributions.json",
        ]
    )
    assert (info.path / "parameter_model.pt").read_bytes() == b"torch weights"
    (source / FP32_FILE).write_bytes(b"changed later")  # the source is not referenced again
    registry.promote("pm-extra")
    assert not [p for p in (tmp_path / "registry" / "versions").iterdir() if p.name[0] == "."]


def test_current_pointer_is_never_empty_or_partial_under_concurrent_promotions(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    add(registry, tmp_path, "pm-b")
    known = {SEED, "pm-b"}
    reader = ModelRegistry(registry.root)  # the mastering service's own object
    seen: set[str] = set()
    reads = 0
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                seen.add(reader.current_version())
                info = reader.current()  # CURRENT always names a listed, complete version
                assert (info.path / CARD_FILE).is_file()
            except BaseException as error:
                errors.append(error)
                return
            reads += 1

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        for _ in range(15):
            registry.promote("pm-b")
            registry.promote(SEED)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert reads > 50
    assert seen == known  # both values seen, nothing else (no "", no half a name)


def test_a_tampered_file_is_refused_on_add(registry: ModelRegistry, tmp_path: Path) -> None:
    before = (tmp_path / "registry" / REGISTRY_FILE).read_bytes()
    source = make_model_version(tmp_path / "src", "pm-bad")
    with (source / INT8_FILE).open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(FailedPreconditionError, match="sha256"):
        registry.add_version(source, parent=SEED, validation={})
    assert (tmp_path / "registry" / REGISTRY_FILE).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "registry" / "versions").iterdir()) == [SEED]
    with pytest.raises(NotFoundError):
        registry.get("pm-bad")

    missing = make_model_version(tmp_path / "src2", "pm-missing")
    (missing / FP32_FILE).unlink()
    with pytest.raises(FailedPreconditionError, match="missing"):
        registry.add_version(missing, parent=SEED, validation={})
    with pytest.raises(FailedPreconditionError, match=r"model_card\.json is missing"):
        registry.add_version(tmp_path / "sources", parent=SEED, validation={})


def test_a_tampered_file_is_refused_on_promote(registry: ModelRegistry, tmp_path: Path) -> None:
    info = add(registry, tmp_path, "pm-b")
    onnx = info.path / FP32_FILE
    original = onnx.read_bytes()
    onnx.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(FailedPreconditionError, match="changed or corrupted"):
        registry.promote("pm-b")
    assert registry.current_version() == SEED
    assert states(registry) == {"pm-b": "candidate", SEED: "current"}

    # Files and card changed together still differ from what the registry recorded.
    card = json.loads((info.path / CARD_FILE).read_text())
    card["files"]["fp32"]["sha256"] = sha256_file(onnx)
    (info.path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(FailedPreconditionError, match="the registry recorded"):
        registry.promote("pm-b")
    assert registry.current_version() == SEED

    onnx.write_bytes(original)  # restored card and file: promotable again
    card["files"]["fp32"]["sha256"] = info.sha256
    (info.path / CARD_FILE).write_text(json.dumps(card))
    assert registry.promote("pm-b").state == "current"


def test_rollback_verifies_the_previous_folder(registry: ModelRegistry, tmp_path: Path) -> None:
    add(registry, tmp_path, "pm-b")
    registry.promote("pm-b")
    with (registry.path_of(SEED) / INT8_FILE).open("ab") as stream:
        stream.write(b"x")
    with pytest.raises(FailedPreconditionError, match="sha256"):
        registry.rollback()
    assert registry.current_version() == "pm-b"


def test_a_duplicate_version_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    add(registry, tmp_path, "pm-b")
    again = make_model_version(tmp_path / "again", "pm-b")
    with pytest.raises(InvalidInputError, match="already in the registry"):
        registry.add_version(again, parent=SEED, validation={})
    with pytest.raises(InvalidInputError, match="already in the registry"):
        registry.add_version(default_model_dir(), parent="", validation={})
    assert len(registry.versions()) == 2


def test_bad_arguments_are_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    source = make_model_version(tmp_path / "src", "pm-b")
    with pytest.raises(NotFoundError, match="parent version 'pm-nope'"):
        registry.add_version(source, parent="pm-nope", validation={})
    with pytest.raises(InvalidInputError, match="state"):
        registry.add_version(source, parent=SEED, validation={}, state="current")
    with pytest.raises(InvalidInputError, match="finite"):
        registry.add_version(source, parent=SEED, validation={"unit_mse": float("nan")})
    with pytest.raises(NotFoundError, match="pm-nope"):
        registry.promote("pm-nope")
    with pytest.raises(NotFoundError):
        registry.path_of("pm-nope")
    bad_name = make_model_version(tmp_path / "bad-name", "../escape")
    with pytest.raises(InvalidInputError, match="not a valid name"):
        registry.add_version(bad_name, parent=SEED, validation={})
    assert [info.version for info in registry.versions()] == [SEED]


def test_a_rejected_version_needs_force(registry: ModelRegistry, tmp_path: Path) -> None:
    source = make_model_version(tmp_path / "src", "pm-r")
    info = registry.add_version(
        source, parent=SEED, validation={"unit_mse": 0.09}, state="rejected", reason="worse"
    )
    assert info.state == "rejected" and info.reason == "worse"
    with pytest.raises(FailedPreconditionError, match="rejected \\(worse\\)"):
        registry.promote("pm-r")
    assert registry.current_version() == SEED
    forced = registry.promote("pm-r", force=True)
    assert forced.state == "current" and "worse" in forced.reason

    add(registry, tmp_path, "pm-c", parent="pm-r")
    rejected = registry.reject("pm-c", "listeners disliked it")
    assert rejected.state == "rejected" and rejected.reason == "listeners disliked it"
    with pytest.raises(FailedPreconditionError, match="being served"):
        registry.reject("pm-r", "too late")
    with pytest.raises(InvalidInputError, match="reason"):
        registry.reject("pm-c", " ")


def test_registry_json_round_trips_after_reopening(registry: ModelRegistry, tmp_path: Path) -> None:
    add(registry, tmp_path, "pm-b")
    registry.promote("pm-b")
    add(registry, tmp_path, "pm-c", parent="pm-b")
    registry.reject("pm-c", "drift")
    before = [info.to_dict() for info in registry.versions()]

    reopened = ModelRegistry(tmp_path / "registry")
    assert [info.to_dict() for info in reopened.versions()] == before
    assert reopened.current().version == "pm-b"
    data = json.loads((tmp_path / "registry" / REGISTRY_FILE).read_text())
    assert data["current"] == "pm-b"
    record = next(r for r in data["versions"] if r["version"] == "pm-c")
    assert set(record) == {
        "version",
        "state",
        "created",
        "parent",
        "validation",
        "reason",
        "sha256",
        "sha256_int8",
        "promoted_at",
    }
    assert record["validation"] == {"unit_mse": 0.03, "score": 1.0}
    assert record["state"] == "rejected" and record["parent"] == "pm-b"
    json.dumps([info.to_dict() for info in reopened.versions()])  # JSON-ready for the CLI


def test_a_second_registry_object_sees_the_first_ones_promotion(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    other = ModelRegistry(registry.root)
    assert other.current_version() == SEED
    add(registry, tmp_path, "pm-b")
    registry.promote("pm-b")
    assert other.current_version() == "pm-b"
    assert other.current().state == "current"
    other.rollback()
    assert registry.current_version() == SEED


def test_parameter_model_loads_from_the_current_path_after_a_promotion(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    add(registry, tmp_path, "pm-b")
    registry.promote("pm-b")
    model = ParameterModel.load(registry.current_path(), "int8")
    assert model.version == "pm-b"
    assert model.sha256 == registry.current().sha256_int8
    fp32 = ParameterModel.load(registry.current_path(), "fp32")
    features = np.zeros(384, dtype=np.float32)
    assert np.abs(model.predict(features) - fp32.predict(features)).max() < 0.05


def test_concurrent_writers_lose_no_version(registry: ModelRegistry, tmp_path: Path) -> None:
    names = [f"pm-w{writer}-{i}" for writer in range(4) for i in range(2)]
    sources = {name: make_model_version(tmp_path / "sources" / name, name) for name in names}
    errors: list[BaseException] = []

    def write(mine: list[str]) -> None:
        own = ModelRegistry(registry.root)  # one object (and lock descriptor) per writer
        try:
            for name in mine:
                own.add_version(sources[name], parent=SEED, validation={})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(names[i : i + 2],)) for i in (0, 2, 4, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(info.version for info in registry.versions()) == sorted([*names, SEED])


def test_two_processes_share_the_registry(registry: ModelRegistry, tmp_path: Path) -> None:
    names = [f"pm-p{process}-{i}" for process in range(2) for i in range(3)]
    for name in names:
        make_model_version(tmp_path / "sources" / name, name)
    script = (
        "import sys; from pathlib import Path\n"
        "from voidline.feedback.registry import ModelRegistry\n"
        "reg = ModelRegistry(Path(sys.argv[1]))\n"
        "for name in sys.argv[4:]:\n"
        "    reg.add_version(Path(sys.argv[2]) / name, parent=sys.argv[3], validation={})\n"
        "    reg.promote(name)\n"
    )
    arguments = [str(registry.root), str(tmp_path / "sources"), SEED]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, *arguments, *mine],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for mine in (names[:3], names[3:])
    ]
    assert [process.wait(timeout=60) for process in processes] == [0, 0]
    found = states(registry)
    assert sorted(found) == sorted([*names, SEED])
    assert list(found.values()).count("current") == 1
    assert list(found.values()).count("previous") == 1
    assert registry.current_version() in names


def test_the_next_writer_finishes_an_interrupted_switch(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    add(registry, tmp_path, "pm-b")
    registry.promote("pm-b")
    root = registry.root
    # A writer died after writing registry.json but before CURRENT, mid-copy of another
    # version, and with a temporary file not yet renamed.
    (root / CURRENT_FILE).write_text(SEED + "\n")
    (root / "versions" / ".tmp-dead").mkdir()
    (root / "versions" / ".tmp-dead" / FP32_FILE).write_bytes(b"half")
    (root / ".registry.json.x.tmp").write_text("{")
    assert registry.current_version() == SEED  # readers see the old pointer until repaired

    registry.ensure_seeded(default_model_dir())  # any write repairs first
    assert registry.current_version() == "pm-b"
    assert not (root / "versions" / ".tmp-dead").exists()
    assert not (root / ".registry.json.x.tmp").exists()

    # A folder renamed into place whose registry entry was never written is replaced.
    orphan = make_model_version(root / "versions" / "pm-orphan", "pm-orphan")
    (orphan / FP32_FILE).write_bytes(b"stale")
    info = add(registry, tmp_path, "pm-orphan")
    assert sha256_file(info.path / FP32_FILE) == info.sha256


def test_a_held_lock_times_out_as_unavailable(registry: ModelRegistry, tmp_path: Path) -> None:
    impatient = ModelRegistry(registry.root, lock_timeout_s=0.1)
    fd = os.open(registry.root / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(UnavailableError, match="locked by another writer"):
            impatient.promote(SEED)
        assert impatient.current_version() == SEED  # readers never wait for the lock
    finally:
        os.close(fd)
    source = make_model_version(tmp_path / "src", "pm-b")
    assert impatient.add_version(source, parent=SEED, validation={}).state == "candidate"
