"""glibc's allocator, told to hand memory back: for the command line's own process only.

A run's extraction holds pages of a few MB (response bodies, parsed documents, Arrow
batches) for a moment each, from a dozen threads. With glibc's defaults every thread gets an
arena of its own, and the threshold above which a block is mapped (and unmapped when freed)
grows with every large block freed, so those pages end up inside arenas that never shrink.
Measured at 1,000,000 sessions (`wirelane-sync run`, RSS sampled every 0.2 s): a sessions-only
incremental load on copies of one warehouse peaked at 471 and 472 MiB with the settings below,
499 MiB without; a full load's extraction at 464 MiB with them, 484 MiB without (one run each).

These are `mallopt` calls, the same as the MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ environment variables; an operator's own variables win. Elsewhere than
glibc (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys

# glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

SETTINGS = (
    ("MALLOC_ARENA_MAX", M_ARENA_MAX, 2),  # two arenas shared by all threads
    (
        "MALLOC_MMAP_THRESHOLD_",
        M_MMAP_THRESHOLD,
        256 * 1024,
    ),  # fixed: larger blocks are mapped, and unmapped when freed
    ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, 4 * 1024 * 1024),  # free space above this at the heap's top goes back
)


def tune() -> list[str]:
    """Applies the settings the environment does not set itself; returns those applied."""
    libc = _glibc()
    if libc is None:
        return []
    applied = []
    for variable, parameter, value in SETTINGS:
        if variable not in os.environ and libc.mallopt(parameter, value) == 1:
            applied.append(variable)
    return applied


def release() -> None:
    """Hands the memory an extraction freed back to the system, before the load asks for its
    own: Python's garbage, Arrow's pool (when imported), and glibc's free lists."""
    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library this process already has loaded: no search for its file (which runs
    `ldconfig`), once per process."""
    if "glibc" not in (_libc_version() or ""):
        return None
    return ctypes.CDLL(None)


def _libc_version() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):  # no confstr (Windows), or no such name
        return None
