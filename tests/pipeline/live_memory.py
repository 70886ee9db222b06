"""How much memory what a function builds keeps alive, for the tests that compare the compact
forms a run holds (key sets, fingerprints, listed statuses) with the ones they replaced."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable


def held_by(build: Callable[[], object]) -> int:
    """Bytes of Python allocations alive after `build()` returned, while its result is held."""
    tracemalloc.start()
    try:
        held = build()
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del held
    return size
