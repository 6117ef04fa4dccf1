"""Keep freed signal buffers in the process instead of handing them back to the kernel.

A mastering or analysis job works on signal-sized float64 arrays (127 MB each for 3 minutes of
stereo at 44.1 kHz) and frees them when it ends. glibc serves every allocation above 32 MB
with its own mmap and returns it with munmap on free, so the next job faults each page in
again: about 200 000 page faults and 0.8 s of kernel time per warm 3-minute mastering job on
the project's VM (numpy's transparent-huge-page advice trades them for fewer faults that
sometimes stall for far longer while the kernel compacts memory).

`keep_freed_memory` turns glibc's mmap path off and raises its trim threshold, so large
arrays come from the heap, and freed ones stay there for the next job to reuse without a
fault. The cost: the process keeps its peak footprint between jobs (about 1.1 GB after a
3-minute stereo master) instead of shrinking back. Long-running services want that trade;
short commands do not need it. Set VOIDLINE_KEEP_FREED_MEMORY=0 to leave glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping

ENV_VAR = "VOIDLINE_KEEP_FREED_MEMORY"

# mallopt parameters (glibc's <malloc.h>).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# Largest trim threshold mallopt takes (an int): free memory at the heap's top up to 2 GiB
# stays in the process.
KEEP_UP_TO_BYTES = 2**31 - 1


def keep_freed_memory(env: Mapping[str, str] | None = None) -> bool:
    """Make freed large allocations stay in this process (see the module docstring).

    Returns True when glibc took the settings; False on other C libraries (musl, macOS,
    Windows: nothing is changed) or when VOIDLINE_KEEP_FREED_MEMORY is "0". Call it once at
    process start, before the first large allocation.
    """
    env = os.environ if env is None else env
    if env.get(ENV_VAR, "1").strip() == "0" or not sys.platform.startswith("linux"):
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
