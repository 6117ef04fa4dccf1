"""Uploaded references, kept as measured profiles (not audio) under a folder.

An upload's id is the sha256 of its bytes, so uploading the same file twice gives the same
id and one file. Profiles are small JSON files (`ReferenceProfile.to_dict`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from voidline.errors import InvalidInputError, NotFoundError
from voidline.mastering.reference import ReferenceProfile

ID_LENGTH = 64


class ReferenceStore:
    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, reference_id: str) -> Path:
        if len(reference_id) != ID_LENGTH or any(c not in "0123456789abcdef" for c in reference_id):
            raise InvalidInputError(
                f"reference id {reference_id!r} is not one UploadReference returned "
                "(64 lowercase hex digits)"
            )
        return self.folder / f"{reference_id}.json"

    def save(self, reference_id: str, profile: ReferenceProfile) -> None:
        path = self._path(reference_id)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(profile.to_dict()), encoding="utf-8")
        os.replace(temporary, path)

    def load(self, reference_id: str) -> ReferenceProfile:
        path = self._path(reference_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(
                f"no uploaded reference with id {reference_id}; upload it with UploadReference"
            ) from None
        return ReferenceProfile.from_dict(data)
