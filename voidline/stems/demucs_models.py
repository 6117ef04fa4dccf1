"""Demucs models from a local folder, checksums verified before anything is unpickled.

The folder is `<model dir>/demucs/` in demucs' own repository format:

- a bag `<name>.yaml` (for example `htdemucs.yaml`) lists model signatures under `models`,
  with optional per-source `weights` and a `segment` override;
- each model is `<signature>-<checksum>.th`, where the checksum is the first hex digits of
  the file's sha256 (demucs writes 8).

A `.th` file is a pickle, and unpickling runs code. So a file is hashed first and loaded
only if its sha256 starts with the checksum in its name; a file without a checksum in its
name is refused. Even a verified file goes through torch's restricted unpickler
(`weights_only=True`) that admits only the demucs model classes and `fractions.Fraction`
(HTDemucs stores its segment as one).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from voidline.errors import FailedPreconditionError, InvalidInputError, NotFoundError
from voidline.hashing import sha256_file
from voidline.stems.backend import FloatArray
from voidline.stems.streaming import BagMember

WEIGHT_FILE = re.compile(r"^(?P<sig>[A-Za-z0-9_]+)-(?P<checksum>[0-9a-f]{8,64})\.th$")
MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class WeightFile:
    signature: str
    path: Path
    checksum: str  # the hex prefix in the file name; empty when the name carries none
    size_bytes: int


@dataclass(frozen=True)
class InstalledModel:
    """One name `voidline models` lists: a bag (yaml) or a single signature."""

    name: str
    kind: str  # "bag" or "single"
    signatures: tuple[str, ...]
    missing: tuple[str, ...]  # signatures with no weight file
    unchecked: tuple[str, ...]  # weight files without a checksum in their name (refused)
    size_bytes: int
    segment: float | None = None

    @property
    def usable(self) -> bool:
        return not self.missing and not self.unchecked

    @property
    def problem(self) -> str:
        if self.missing:
            return "missing weight files for " + ", ".join(self.missing)
        if self.unchecked:
            return "weight files without a checksum in their name: " + ", ".join(self.unchecked)
        return ""


def demucs_folder(model_dir: Path) -> Path:
    return model_dir / "demucs"


def _weight_files(folder: Path) -> dict[str, WeightFile]:
    files: dict[str, WeightFile] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.glob("*.th")):
        match = WEIGHT_FILE.match(path.name)
        signature, checksum = (
            (match["sig"], match["checksum"]) if match else (path.stem.split("-")[0], "")
        )
        if signature in files:
            raise FailedPreconditionError(
                f"two weight files for signature {signature} in {folder}: "
                f"{files[signature].path.name} and {path.name}; delete one"
            )
        files[signature] = WeightFile(signature, path, checksum, path.stat().st_size)
    return files


def _read_bag(path: Path) -> dict[str, Any]:
    try:
        bag = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FailedPreconditionError(f"cannot read the bag file {path}: {exc}") from exc
    models = bag.get("models") if isinstance(bag, dict) else None
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise FailedPreconditionError(
            f"{path} is not a demucs bag: it needs a non-empty 'models' list of signatures"
        )
    checked: dict[str, Any] = bag
    return checked


def list_installed(model_dir: Path) -> list[InstalledModel]:
    """Every bag, and every weight file no bag names, in `<model_dir>/demucs`."""
    folder = demucs_folder(model_dir)
    files = _weight_files(folder)
    installed = []
    in_bags: set[str] = set()
    for bag_path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            bag = _read_bag(bag_path)
        except FailedPreconditionError:
            continue
        signatures = tuple(bag["models"])
        in_bags.update(signatures)
        installed.append(_describe(bag_path.stem, "bag", signatures, files, bag.get("segment")))
    for signature in sorted(set(files) - in_bags):
        installed.append(_describe(signature, "single", (signature,), files, None))
    return installed


def _describe(
    name: str, kind: str, signatures: tuple[str, ...], files: dict[str, WeightFile], segment: Any
) -> InstalledModel:
    return InstalledModel(
        name=name,
        kind=kind,
        signatures=signatures,
        missing=tuple(s for s in signatures if s not in files),
        unchecked=tuple(s for s in signatures if s in files and not files[s].checksum),
        size_bytes=sum(files[s].size_bytes for s in signatures if s in files),
        segment=float(segment) if isinstance(segment, int | float) else None,
    )


def verified_weight_file(folder: Path, signature: str) -> Path:
    """The weight file of `signature`, after its sha256 matched the checksum in its name."""
    files = _weight_files(folder)
    if signature not in files:
        raise FailedPreconditionError(
            f"no weight file for signature {signature} in {folder}; expected "
            f"{signature}-<first 8 hex digits of its sha256>.th"
        )
    weight = files[signature]
    if not weight.checksum:
        raise FailedPreconditionError(
            f"{weight.path.name} has no checksum in its name, so it is not loaded; rename it "
            f"{signature}-<first 8 hex digits of its sha256>.th"
        )
    actual = sha256_file(weight.path)
    if not actual.startswith(weight.checksum):
        raise FailedPreconditionError(
            f"checksum mismatch for {weight.path}: its name says {weight.checksum}, its sha256 "
            f"starts {actual[: len(weight.checksum)]}; the file is damaged or not the model it "
            "claims to be, so nothing was loaded. Reinstall it"
        )
    return weight.path


def _load_checked(path: Path) -> Any:
    """A demucs model from a verified .th file, through torch's restricted unpickler."""
    import torch
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    from demucs.states import set_state

    allowed = [HTDemucs, HDemucs, Demucs, Fraction]
    try:
        with torch.serialization.safe_globals(allowed):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError or RuntimeError variants
        raise FailedPreconditionError(
            f"{path.name} passed its checksum but is not a plain demucs model package "
            f"(the restricted loader refused it: {str(exc).splitlines()[0][:300]})"
        ) from exc
    if not isinstance(package, dict) or package.get("klass") not in allowed[:3]:
        raise FailedPreconditionError(f"{path.name} is not a demucs model package")
    if isinstance(package.get("state"), dict) and package["state"].get("__quantized"):
        raise FailedPreconditionError(
            f"{path.name} is a diffq-quantised model, which needs the diffq package; use an "
            "unquantised model (htdemucs, htdemucs_ft, htdemucs_6s)"
        )
    model = package["klass"](*package["args"], **package["kwargs"])
    set_state(model, package["state"])  # type: ignore[no-untyped-call]
    return model


@dataclass
class DemucsSegmentModel:
    """One demucs network as a SegmentSeparator (voidline.stems.backend)."""

    network: Any  # a demucs Demucs / HDemucs / HTDemucs torch module
    bag_name: str
    device: str = "cpu"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.network.to(self.device)
        self.network.eval()

    @property
    def name(self) -> str:
        return f"demucs:{self.bag_name}"

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.network.sources)

    @property
    def samplerate(self) -> int:
        return int(self.network.samplerate)

    @property
    def audio_channels(self) -> int:
        return int(self.network.audio_channels)

    @property
    def segment_s(self) -> Fraction | float:
        segment: Fraction | float = self.network.segment
        return segment

    def valid_length(self, frames: int, segment_frames: int) -> int:
        """apply_model's padding: HTDemucs always gets the segment length."""
        from demucs.htdemucs import HTDemucs

        if isinstance(self.network, HTDemucs):
            return segment_frames
        if hasattr(self.network, "valid_length"):
            return int(self.network.valid_length(frames))
        return frames

    def separate_segment(self, segment: FloatArray) -> FloatArray:
        import torch

        mix = torch.from_numpy(np.ascontiguousarray(segment.T))[None].to(self.device)
        # One segment at a time per network: torch modules are not re-entrant on one device.
        with self._lock, torch.no_grad():
            out = self.network(mix)
        stems: FloatArray = out[0].to("cpu").numpy().transpose(0, 2, 1)
        return stems.astype(np.float32, copy=False)


def load_bag(model_dir: Path, name: str, device: str = "cpu") -> list[BagMember]:
    """The named bag (or single signature) as bag members, every file verified first."""
    from demucs.apply import BagOfModels

    if not MODEL_NAME.match(name):
        raise InvalidInputError(f"model name {name!r} has characters a model name cannot have")
    folder = demucs_folder(model_dir)
    installed = {m.name: m for m in list_installed(model_dir)}
    if name not in installed:
        names = ", ".join(sorted(installed)) or "none"
        raise NotFoundError(
            f"demucs model {name!r} is not installed in {folder} (installed: {names}); "
            "`voidline models` says how to install one"
        )
    bag_path = folder / f"{name}.yaml"
    bag = _read_bag(bag_path) if bag_path.is_file() else {"models": [name]}
    paths = [verified_weight_file(folder, signature) for signature in bag["models"]]
    networks = [_load_checked(path) for path in paths]
    try:
        # BagOfModels applies the bag's segment override and checks the models agree.
        weights: Any = bag.get("weights")
        segment: Any = bag.get("segment")
        combined = BagOfModels(networks, weights, segment)
    except AssertionError as exc:
        raise FailedPreconditionError(
            f"the models of bag {name} do not agree on sources, rate or channels"
        ) from exc
    return [
        BagMember(DemucsSegmentModel(net, name, device), tuple(float(w) for w in weights))
        for net, weights in zip(combined.models, combined.weights, strict=True)
    ]
