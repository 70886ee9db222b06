"""Python's cyclic garbage collector, run less often: for the command line's own process only.

An extraction allocates containers by the hundred thousand (a 1,000-session page parses into
about 8,000 dicts), so at CPython's default threshold of 700 the collector ran about 2,000
times during a 100,000-session full load's extraction, and each of its 14 full collections
walked everything dlt, pyarrow, DuckDB and httpx keep alive: 100 to 120 ms each, 1.9 s of
collecting in all, in a process whose interpreter lock is its bottleneck (measured with
`gc.callbacks`).

At 10,000 allocations it collected 0.43 s, and the extraction took 1.3 to 1.9 s less in
alternating runs with the same peak (355 MiB at 100,000). Not higher: at 20,000 the peak rose
to 467 MiB, because what dies in reference cycles waits longer for a collection, and an httpx
response (with its body, 1.9 MB for a session page) and each Arrow page dlt validates sit in
such cycles.
"""

from __future__ import annotations

import gc

FIRST_GENERATION_THRESHOLD = 10_000


def tune() -> None:
    """Collects the youngest generation every 10,000 net allocations instead of 700; the
    older generations keep their ratios to it."""
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)
