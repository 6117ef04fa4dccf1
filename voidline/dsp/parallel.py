"""Run independent, GIL-free jobs on the CPU's cores: the DSP stages' one shared thread pool.

The stages cut their work into jobs that share no output: one per channel, per band, or per
half of a signal. Each job's heavy part is compiled code that releases the GIL (numba kernels
compiled with nogil=True), so threads run them on separate cores. A job computes the same
numbers whichever thread runs it and whatever runs beside it, so results are bit for bit
those of running the jobs one after the other.

A pool lives for one stage call (`Pool`, or `run_parallel` for a single batch): starting
threads costs a fraction of a millisecond, and no thread outlives the work (nothing to leak
into forked processes). A stage that runs many short batches keeps one `Pool` open for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Pool:
    """Threads, one per core (none on a single core), for batches of jobs; a context manager."""

    def __init__(self) -> None:
        cores = cpu_cores()
        self._executor = ThreadPoolExecutor(max_workers=cores) if cores > 1 else None

    def run(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run a batch of jobs and wait for all; their results in order (exceptions re-raised)."""
        if self._executor is None or len(jobs) <= 1:
            return [job() for job in jobs]
        return list(self._executor.map(lambda job: job(), jobs))

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown()


def run_parallel(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Run one batch of jobs on up to one thread per core; their results in order."""
    if len(jobs) <= 1 or cpu_cores() <= 1:
        return [job() for job in jobs]
    with Pool() as pool:
        return pool.run(jobs)
