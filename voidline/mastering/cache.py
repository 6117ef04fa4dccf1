"""Result cache: the same input with the same settings is served without processing again.

The key is the sha256 of the input's bytes as received plus a canonical JSON of everything
that changes the result (target, ceiling, intensity, style, output format, reference, model
sha256, chain version). An entry is two files under the cache folder: the encoded master and
the caller's serialised report. Writes go to a temporary name and are renamed into place, so
a reader never sees half an entry. The folder is kept under a size budget by removing the
least recently used entries (a hit touches the files).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUDIO_SUFFIX = ".audio"
REPORT_SUFFIX = ".report"


def cache_key(input_sha256: str, settings: Mapping[str, Any]) -> str:
    """sha256 hex of the input's hash and the settings as canonical JSON."""
    canonical = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{input_sha256}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    audio: bytes
    report: bytes


class ResultCache:
    """Encoded masters and their reports on disk, least recently used out first."""

    def __init__(self, folder: Path | str, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: str) -> CacheEntry | None:
        if not self.enabled:
            return None
        audio_path, report_path = self._paths(key)
        with self._lock:
            try:
                entry = CacheEntry(audio_path.read_bytes(), report_path.read_bytes())
            except FileNotFoundError:
                return None
            for path in (audio_path, report_path):
                os.utime(path)
        return entry

    def put(self, key: str, audio: bytes, report: bytes) -> None:
        if not self.enabled or len(audio) + len(report) > self.max_bytes:
            return
        with self._lock:
            for path, data in zip(self._paths(key), (audio, report), strict=True):
                temporary = path.with_name(path.name + ".tmp")
                temporary.write_bytes(data)
                os.replace(temporary, path)
            self._evict()

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def _paths(self, key: str) -> tuple[Path, Path]:
        if not all(c in "0123456789abcdef" for c in key) or len(key) != 64:
            raise ValueError(f"cache keys are sha256 hex digests, got {key!r}")
        return self.folder / f"{key}{AUDIO_SUFFIX}", self.folder / f"{key}{REPORT_SUFFIX}"

    def _evict(self) -> None:
        entries: dict[str, list[os.stat_result]] = {}
        for path in self.folder.iterdir():
            if path.suffix in (AUDIO_SUFFIX, REPORT_SUFFIX):
                entries.setdefault(path.stem, []).append(path.stat())
        total = sum(s.st_size for stats in entries.values() for s in stats)
        oldest_first = sorted(entries, key=lambda k: max(s.st_mtime for s in entries[k]))
        for key in oldest_first:
            if total <= self.max_bytes:
                break
            total -= sum(s.st_size for s in entries[key])
            for path in self._paths(key):
                path.unlink(missing_ok=True)
