"""How a DSP service process gets its memory: no huge-page stalls, and optionally no refaults.

A mastering or analysis job works on signal-sized float64 arrays (127 MB each for 3 minutes of
stereo at 44.1 kHz), about 0.8 GB of fresh memory per 3-minute master, and frees them at the
end. Two costs come with fresh memory on Linux, both measured on the project's VM
(docs/benchmarks.md, "Mastering speed and memory"):

1. Huge-page stalls. numpy advises the kernel to back every array above 4 MB with transparent
   huge pages (madvise MADV_HUGEPAGE). Where the kernel's THP defrag setting is `madvise` (a
   common default) and no free huge page is at hand, the first touch of such an array waits
   for synchronous compaction (numpy/numpy#31590): a 127 MB array took 0.02 s or 0.8 s to
   fill depending on the moment, and a cold 3-minute master 4.5 s or 7-8 s. Without the
   advice the kernel maps ordinary pages, a steady 0.07 s per 127 MB. `configure` turns the
   advice off unless the operator set NUMPY_MADVISE_HUGEPAGE themselves (numpy's own switch,
   read when numpy is imported; `configure` sets the same state at run time). This costs no
   memory.
2. Refaults. glibc serves every allocation above 32 MB with its own mmap and returns it with
   munmap, so each job faults all its pages in again: about 200 000 page faults and 0.8 s of
   kernel time per warm 3-minute master. With VOIDLINE_KEEP_FREED_MEMORY=1, `configure`
   turns glibc's mmap path off and raises its trim threshold to 2 GiB, so large arrays come
   from the heap and freed ones stay for the next job (warm jobs about 0.6 s faster). The
   price: the process keeps its footprint between jobs, and the heap fragments: peak memory
   +6 % for a plain 3-minute master, +45 % in reference mode (1.5 to 2.2 GB). So it is
   opt-in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

KEEP_FREED_MEMORY_ENV = "VOIDLINE_KEEP_FREED_MEMORY"
NUMPY_HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"

# mallopt parameters (glibc's <malloc.h>).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# Largest trim threshold mallopt takes (an int): free memory at the heap's top up to 2 GiB
# stays in the process; beyond that (after a very long file) it goes back to the kernel.
KEEP_UP_TO_BYTES = 2**31 - 1


@dataclass(frozen=True)
class MemorySetup:
    """What `configure` changed in this process."""

    hugepage_advice_off: bool  # numpy no longer advises huge pages for new arrays
    freed_memory_kept: bool  # glibc keeps freed large blocks for reuse


def configure() -> MemorySetup:
    """Set this process up for repeated signal-sized jobs (see the module docstring).

    Call it once at process start, before the first large array; the switches are read from
    the environment.
    """
    env = os.environ
    advice_off = NUMPY_HUGEPAGE_ENV not in env and _numpy_hugepage_advice(False)
    kept = env.get(KEEP_FREED_MEMORY_ENV, "0").strip() == "1" and keep_freed_memory()
    return MemorySetup(hugepage_advice_off=advice_off, freed_memory_kept=kept)


def _numpy_hugepage_advice(enabled: bool) -> bool:
    """Switch numpy's madvise(MADV_HUGEPAGE) for new large arrays; True when it took.

    numpy's run-time switch is private (numpy._core.multiarray._set_madvise_hugepage, the
    state NUMPY_MADVISE_HUGEPAGE sets at import); when a numpy release drops it, nothing
    changes and False is returned.
    """
    from numpy._core import multiarray

    setter: Callable[[bool], bool] | None = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is None:
        return False
    setter(enabled)
    return True


def keep_freed_memory() -> bool:
    """Make freed large allocations stay in this process (item 2 of the module docstring).

    Returns True when glibc took the settings; False on other C libraries (musl, macOS,
    Windows), where nothing is changed.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):  # glibc only
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO_BYTES))
