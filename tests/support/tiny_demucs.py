"""A small randomly initialised HTDemucs, saved in demucs' repository format (no download).

Reduced width (4 channels) and one transformer layer, with the real architecture's depth and
STFT, so loading, checksums and segment-wise application run through the real code paths in
a fraction of a second per segment.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch
import yaml
from demucs.htdemucs import HTDemucs

SOURCES = ["drums", "bass", "other", "vocals"]


def tiny_htdemucs(
    seed: int = 0, segment: float = 2.0, sources: list[str] | None = None
) -> HTDemucs:
    torch.manual_seed(seed)
    model = HTDemucs(
        sources=list(sources or SOURCES),
        channels=4,
        depth=4,
        nfft=4096,
        t_layers=1,
        t_heads=2,
        t_hidden_scale=1.0,
        dconv_comp=4,
        bottom_channels=0,
        segment=segment,
        samplerate=44100,
    )
    model.eval()
    return model  # type: ignore[no-any-return]


def save_in_repo(model: HTDemucs, folder: Path, signature: str) -> Path:
    """Save as demucs does: `<signature>-<first 8 hex of sha256>.th` holding the package."""
    args, kwargs = model._init_args_kwargs  # type: ignore[misc]  # set by @capture_init
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training_args": {},
    }
    buffer = io.BytesIO()
    torch.save(package, buffer)
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{signature}-{hashlib.sha256(data).hexdigest()[:8]}.th"
    path.write_bytes(data)
    return path


def install_tiny_bag(
    model_dir: Path,
    name: str = "tiny",
    seeds: tuple[int, ...] = (0,),
    weights: list[list[float]] | None = None,
    sources: list[str] | None = None,
) -> list[HTDemucs]:
    """Write `<model_dir>/demucs/<name>.yaml` naming one tiny model per seed; return them."""
    folder = model_dir / "demucs"
    models = [tiny_htdemucs(seed, sources=sources) for seed in seeds]
    signatures = [f"{name}{seed:04d}" for seed in seeds]
    for model, signature in zip(models, signatures, strict=True):
        save_in_repo(model, folder, signature)
    bag: dict[str, object] = {"models": signatures}
    if weights is not None:
        bag["weights"] = weights
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(bag))
    return models
