"""Where Voidline looks for locally installed model weights (Demucs, Whisper)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

MODEL_DIR_ENV = "VOIDLINE_MODEL_DIR"


def default_model_dir(env: Mapping[str, str] = os.environ) -> Path:
    """`$VOIDLINE_MODEL_DIR`, else ~/.voidline/models."""
    configured = env.get(MODEL_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".voidline" / "models"
