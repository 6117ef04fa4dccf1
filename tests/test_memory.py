"""voidline.memory: a DSP service's memory set-up (huge-page advice, freed arrays kept).

Each case runs in a fresh interpreter, so the settings never touch pytest's own process.
What is measured is the number of page faults the second of two 160 MB arrays costs, not
time: with glibc's defaults every page of it faults in again, with freed memory kept almost
none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from voidline import memory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the settings are for Linux and glibc"
)

CHILD = """
import json, resource
from voidline import memory
setup = memory.configure()
import numpy as np
from numpy._core import multiarray
size = 20_000_000  # 160 MB of float64: far above glibc's 32 MB mmap ceiling
first = np.ones(size)
del first
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
second = np.ones(size)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({
    "advice_off": setup.hugepage_advice_off,
    "kept": setup.freed_memory_kept,
    "numpy_advises": multiarray._get_madvise_hugepage(),
    "faults": faults,
    "sum": float(second.sum()),
}))
"""

SWITCHES = (memory.NUMPY_HUGEPAGE_ENV, memory.KEEP_FREED_MEMORY_ENV)
PAGES = 20_000_000 * 8 // 4096  # 4 KiB pages in one array


def _child(env: dict[str, str]) -> dict[str, Any]:
    """Run CHILD with env on top of this process's environment (the switches left unset)."""
    base = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
        env={**base, **env},
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["sum"] == 20_000_000.0
    return result


def test_default_turns_the_huge_page_advice_off_and_leaves_the_allocator() -> None:
    default = _child({})
    assert default["advice_off"] and not default["numpy_advises"]
    assert not default["kept"]
    # glibc's own behaviour: the freed array's pages are faulted in again, one by one.
    assert default["faults"] >= PAGES * 0.9, default


def test_the_operators_numpy_switch_wins() -> None:
    chosen = _child({"NUMPY_MADVISE_HUGEPAGE": "1"})
    assert not chosen["advice_off"]
    assert chosen["numpy_advises"]  # as numpy set it from the variable at import


def test_kept_freed_memory_is_reused_without_page_faults() -> None:
    kept = _child({"VOIDLINE_KEEP_FREED_MEMORY": "1"})
    if not kept["kept"]:
        pytest.skip("not glibc: freed memory cannot be kept")
    assert kept["faults"] < PAGES / 100, kept
