"""Valid parameter-model folders under new version names, made from the packaged default model.

    folder = make_model_version(tmp_path / "src" / "pm-test-2", "pm-test-2")
    registry.add_version(folder, parent="pm-s1-70375a7c", validation={"unit_mse": 0.03})

The ONNX files are byte copies of the default model's, so the card's sha256s stay valid and
`ParameterModel.load` accepts the folder; only the card's "version" changes (and the extra
files the caller asks for are added). Versions are told apart by name, not by weights.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from voidline.mastering.inference import CARD_FILE, default_model_dir


def make_model_version(
    dest: Path,
    version: str,
    *,
    source: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Copy `source` (the default model) to `dest` with the card's version set to `version`."""
    shutil.copytree(source or default_model_dir(), dest)
    card_path = dest / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["version"] = version
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    for name, data in (extra_files or {}).items():
        (dest / name).write_bytes(data)
    return dest


def default_version() -> str:
    """The packaged default model's version name (what a seeded registry serves first)."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    return str(card["version"])
