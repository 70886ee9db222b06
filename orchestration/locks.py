"""Machine-wide exclusive locks for the two things that allow one user at a time.

A dlt pipeline's working folder belongs to one process at a time: two runs of the same
organization's pipeline (the hourly sessions load meeting the daily reference load, or a manual
materialization) would load each other's packages and overwrite each other's state. And a DuckDB
file has a single writer: a second process opening it fails at once instead of waiting. Dagster
starts each run in its own process, so the runs queue here, on an advisory `flock` the kernel
releases when a process dies. Across machines these locks do not reach: there, Dagster's tag
concurrency limits (one run per `dagster/partition`) and Postgres take their place.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "wirelane-sync-locks"


def lock_path(key: str) -> Path:
    """The lock file of a key (a folder or a database file's absolute path)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return LOCK_DIR / f"{digest}.lock"


@contextmanager
def exclusive(key: str, what: str, log: logging.Logger | None = None) -> Iterator[None]:
    """Holds the lock of `key` for the block, waiting (and saying so) while another process has it."""
    path = lock_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is not None:
                log.info("waiting for %s (%s), which another run is using", what, key)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
