"""voidline.memory: freed signal-sized arrays stay in the process for the next job.

Each case runs in a fresh interpreter, so the allocator settings never touch pytest's own.
What is measured is the number of page faults the second of two 160 MB arrays costs, not
time: with glibc's defaults every page of it faults in again, with the setting almost none.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the setting is for glibc on Linux"
)

CHILD = """
import json, resource, sys
from voidline.memory import keep_freed_memory
applied = keep_freed_memory({"VOIDLINE_KEEP_FREED_MEMORY": sys.argv[1]})
import numpy as np
size = 20_000_000  # 160 MB of float64: far above glibc's 32 MB mmap ceiling
first = np.ones(size)
del first
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
second = np.ones(size)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "sum": float(second.sum())}))
"""

PAGES = 20_000_000 * 8 // 4096  # 4 KiB pages in one array


def _second_array(setting: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, setting], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    assert result["sum"] == 20_000_000.0
    return result


def test_freed_arrays_are_reused_without_page_faults() -> None:
    kept = _second_array("1")
    if not kept["applied"]:
        pytest.skip("not glibc: the setting does not apply")
    assert kept["faults"] < PAGES / 100, kept


def test_opting_out_leaves_the_default_which_faults_every_page_again() -> None:
    default = _second_array("0")
    assert not default["applied"]
    # Huge pages (numpy advises them) fault 2 MiB at a time: at least one fault per 2 MiB.
    assert default["faults"] >= PAGES / 512 * 0.9, default
