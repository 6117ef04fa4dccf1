"""`voidline models`: what separation and transcription models are installed, and how to add one.

Reads the local model folder ($VOIDLINE_MODEL_DIR, else ~/.voidline/models) directly, the
folder the stems service loads from; nothing is downloaded, ever. --verify also hashes every
Demucs weight file against the checksum in its name (the check the service does on load).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from voidline.errors import FailedPreconditionError
from voidline.stems import demucs_models
from voidline.stems.model_folder import MODEL_DIR_ENV, default_model_dir
from voidline.stems.transcribe import WHISPER_SUBDIR, installed_whisper_models

INSTALL_DEMUCS = """\
Demucs weights go in {folder}, in demucs' own repository format:
  - the bag file <name>.yaml (for example htdemucs.yaml from demucs' remote/ folder), which
    lists the model signatures under `models:`;
  - each weight file it names, as <signature>-<checksum>.th (for example 955717e8-8726e21a.th).
  A weight file loads only if its sha256 starts with the checksum in its name, and then only
  through torch's restricted unpickler (demucs model classes only); a file without a checksum
  in its name is refused. Without weights the stems service separates with the DSP backend."""

INSTALL_WHISPER = """\
Whisper models go in {folder}/<name>/, one CTranslate2 Whisper model per folder:
  model.bin, config.json, tokenizer.json and vocabulary.json (preprocessor_config.json too for
  large-v3), for example a Systran/faster-whisper-small snapshot copied from another machine.
  A folder without tokenizer.json is refused (faster-whisper would try to download one)."""


def resolve_model_dir(flag: str | None, env: Mapping[str, str]) -> Path:
    """--model-dir, else the folder the stems service reads by default."""
    return Path(flag).expanduser() if flag else default_model_dir(env)


def _verify(model_dir: Path, model: demucs_models.InstalledModel) -> str:
    """The problem hashing finds, or ""."""
    folder = demucs_models.demucs_folder(model_dir)
    for signature in model.signatures:
        try:
            demucs_models.verified_weight_file(folder, signature)
        except FailedPreconditionError as error:
            return str(error)
    return ""


def inventory(model_dir: Path, verify: bool) -> dict[str, Any]:
    """What `--json` prints: the folder, the Demucs and the Whisper models."""
    demucs = []
    for model in demucs_models.list_installed(model_dir):
        problem = model.problem or (_verify(model_dir, model) if verify else "")
        demucs.append(
            {
                "name": model.name,
                "kind": model.kind,
                "signatures": list(model.signatures),
                "size_bytes": model.size_bytes,
                "usable": not problem,
                "verified": verify and not problem,
                "problem": problem or None,
            }
        )
    whisper = [
        {
            "name": model.name,
            "size_bytes": model.size_bytes,
            "usable": model.complete,
            "problem": None if model.complete else "missing " + ", ".join(model.missing),
        }
        for model in installed_whisper_models(model_dir)
    ]
    return {
        "model_dir": str(model_dir),
        "demucs_dir": str(demucs_models.demucs_folder(model_dir)),
        "whisper_dir": str(model_dir / WHISPER_SUBDIR),
        "demucs": demucs,
        "whisper": whisper,
    }


def _mb(size: int) -> str:
    return f"{size / 1e6:7.1f} MB"


def format_inventory(data: dict[str, Any]) -> str:
    lines = [f"model folder  {data['model_dir']}  (set {MODEL_DIR_ENV} to use another)", ""]
    lines.append(f"separation (demucs)  {data['demucs_dir']}")
    for model in data["demucs"]:
        state = "verified" if model["verified"] else "ready" if model["usable"] else "unusable"
        lines.append(
            f"  {model['name']:<16} {model['kind']:<6} {len(model['signatures'])} model(s) "
            f"{_mb(model['size_bytes'])}  {state}"
            + (f": {model['problem']}" if model["problem"] else "")
        )
    if not data["demucs"]:
        lines.append("  none installed: the stems service separates with the DSP backend")
    lines += ["", f"transcription (faster-whisper)  {data['whisper_dir']}"]
    for model in data["whisper"]:
        state = "ready" if model["usable"] else f"unusable: {model['problem']}"
        lines.append(f"  {model['name']:<16} {_mb(model['size_bytes'])}  {state}")
    if not data["whisper"]:
        lines.append("  none installed: Transcribe answers FAILED_PRECONDITION until one is")
    lines += [
        "",
        INSTALL_DEMUCS.format(folder=data["demucs_dir"]),
        "",
        INSTALL_WHISPER.format(folder=data["whisper_dir"]),
    ]
    return "\n".join(lines) + "\n"


def models(model_dir: Path, verify: bool, as_json: bool, stdout: TextIO) -> int:
    data = inventory(model_dir, verify)
    if as_json:
        stdout.write(json.dumps(data) + "\n")
    else:
        stdout.write(format_inventory(data))
    unusable = [m for m in data["demucs"] + data["whisper"] if not m["usable"]]
    return 1 if verify and unusable else 0
