"""Why a run failed, in one line an operator can act on.

dlt wraps what went wrong in its own step errors; the reason is somewhere in the chain, and the
chain's text runs to many lines. This finds our own errors, says machine conditions as such (a
full disk, a DuckDB file another process holds, a lost database connection) with what to do,
and otherwise gives dlt's first line.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator

import duckdb
import psycopg2
from dlt.destinations.exceptions import DatabaseException, DestinationConnectionError
from dlt.pipeline.exceptions import PipelineStepFailed

from sources.wirelane.errors import WirelaneError

# what a destination raises when it is down, locked, full or refuses a statement
DESTINATION_ERRORS = (DatabaseException, DestinationConnectionError, OSError, psycopg2.Error, duckdb.Error)


def explain(failure: BaseException, what: str, destination_step: bool) -> Exception:
    """One line for a failure: our own error, a machine condition (a full disk, a DuckDB file
    another process holds, a lost database connection) said as such, or dlt's own message."""
    chain = list(_causes(failure))
    for error in chain:
        if isinstance(error, WirelaneError):
            return error
    full = [message for error in chain if (message := _disk_full(error))]
    if full:
        return WirelaneError(f"{what}: {full[-1]}; the next run starts again from the last completed load")
    for error in chain:
        if locked := _DUCKDB_LOCK.search(str(error)):
            path, holder, pid = locked.groups()
            return WirelaneError(
                f"{what}: the DuckDB file {path} is in use by another process (PID {pid}, {holder}); close it "
                "there (a BI tool, a duckdb shell, a notebook) or wait for it to finish, then run again"
            )
    lost = [error for error in chain if _is_connection_error(error)]
    if lost:
        return WirelaneError(
            f"{what}: the connection to the destination failed ({_one_line(lost[-1])}); check that the destination "
            "is up and its credentials (DESTINATION__...__CREDENTIALS); the next run starts again from the last "
            "completed load"
        )
    inner = getattr(failure, "exception", failure)
    message = _one_line(inner)
    hint = ""
    if destination_step and "connect" in message.lower():
        hint = "; check that the destination is up and its credentials (DESTINATION__...__CREDENTIALS)"
    return WirelaneError(f"{what}: {message}{hint}")


# DuckDB's words when another process has the file open: `Could not set lock on file "…":
# Conflicting lock is held in /usr/bin/python3 (PID 123)`
_DUCKDB_LOCK = re.compile(r'Could not set lock on file "([^"]+)": Conflicting lock is held in (.+?) \(PID (\d+)\)')
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _causes(failure: BaseException) -> Iterator[BaseException]:
    """The failure and everything it wraps (causes, contexts, dlt's `exception`), once each."""
    pending, seen = [failure], set()
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending += [e for e in (error.__cause__, error.__context__, getattr(error, "exception", None)) if e is not None]


def _disk_full(error: BaseException) -> str | None:
    """What a write that found no room says (an OSError, or DuckDB's own words), or None.
    The innermost such error in a chain is the most precise (an errno, a file name)."""
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
        where = error.filename or os.environ.get("DLT_DATA_DIR") or "the pipeline's working folder"
        reason = error.strerror or os.strerror(error.errno)
    elif not isinstance(error, PipelineStepFailed) and re.search(
        "No space left on device|Disk quota exceeded", str(error)
    ):
        where, reason = "the warehouse or the pipeline's working folder", _one_line(error)
    else:
        return None
    return (
        f"no space left to write in {where} ({reason}); free space on that disk (DLT_DATA_DIR holds the "
        "pipeline's working files, destination.duckdb.credentials the warehouse), then run again"
    )


def _is_connection_error(error: BaseException) -> bool:
    """Postgres gone or unreachable: psycopg2's errors without a SQLSTATE are the connection's."""
    if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError):
        return error.pgcode is None
    return isinstance(error, DestinationConnectionError)


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
