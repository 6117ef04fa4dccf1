"""The same audio split three ways, for the tests that chunking never changes a result."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Frames = NDArray[np.float64]


def chunkings(x: Frames, fs: int = 48_000, seed: int = 0) -> list[list[Frames]]:
    """x as one chunk, as 100 ms chunks, and as random chunks of 1 frame to 1 s (many tiny)."""
    rng = np.random.default_rng(seed)
    random_chunks, i = [], 0
    while i < len(x):
        size = int(rng.integers(1, 64)) if rng.random() < 0.3 else int(rng.integers(1, fs + 1))
        random_chunks.append(x[i : i + size])
        i += size
    hop = fs // 10
    return [[x], [x[i : i + hop] for i in range(0, len(x), hop)], random_chunks]
