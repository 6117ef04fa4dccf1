"""Which reference distributions a model version's drift is measured against.

A version folder may carry its own `reference_distributions.json` (the registry copies it
along, and fine-tuned versions inherit their parent's). The packaged default model was
trained on generated examples that are not shipped, so its reference comes from a fresh
sample of the same generator, shipped as `data/reference_distributions.json`: 512 examples
(`python -m voidline.mastering.dataset --examples 512 --seed 7002 --seconds 6 --out F.npz`),
then `ReferenceDistribution.from_features(TrainingSet.load(F.npz).features, key_sample=512,
exclude=sorted(voidline.mastering.model.FORMAT_AND_DEFECT_FEATURES))` (the features the
network ignores are left out). No torch here: the mastering service reads this too.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from voidline.feedback.drift import REFERENCE_FILE, ReferenceDistribution

PACKAGED_REFERENCE = Path(__file__).resolve().parent / "data" / REFERENCE_FILE


@functools.lru_cache(maxsize=1)
def packaged_reference() -> ReferenceDistribution:
    return ReferenceDistribution.from_json(json.loads(PACKAGED_REFERENCE.read_text("utf-8")))


def reference_for(version_dir: Path) -> ReferenceDistribution:
    """The version folder's own reference, else the packaged one."""
    path = version_dir / REFERENCE_FILE
    if path.is_file():
        return ReferenceDistribution.from_json(json.loads(path.read_text("utf-8")))
    return packaged_reference()
