"""The outcome of the last runs, per warehouse, in a small JSON file next to dlt's pipelines.

Why a file of our own: a failed run leaves no trace in the warehouse (nothing is committed) and
dlt discards its working folder after a refused package, yet `wirelane-sync status` must say
when and why the last run failed. The file is `<dlt data dir>/wirelane-sync/runs.json`
(`DLT_DATA_DIR`, default `~/.dlt`), outside the pipeline's working folder so that dlt never
deletes it; keyed by warehouse, since one machine may load several. Reasons are stored after
the same redaction as the logs: no secret ends up in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlt.common.pipeline import get_dlt_pipelines_dir

from pipelines.logs import redact


def state_dir() -> Path:
    """`<dlt data dir>/wirelane-sync`: our own files that must outlive dlt's working folders."""
    return Path(get_dlt_pipelines_dir()).parent / "wirelane-sync"


def runs_file() -> Path:
    return state_dir() / "runs.json"


def read() -> dict[str, dict[str, Any]]:
    """Every warehouse's record; empty when there is none yet or it cannot be read."""
    try:
        document = json.loads(runs_file().read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def record_for(key: str) -> dict[str, Any]:
    entry = read().get(key)
    return entry if isinstance(entry, dict) else {}


def _update(key: str, field: str, value: dict[str, Any]) -> None:
    """Read, change one field, write atomically (a reader never sees half a file; two runs
    finishing at the same instant may lose one record, which the next run replaces)."""
    path = runs_file()
    document = read()
    entry = document.setdefault(key, {})
    entry[field] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".runs-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream, indent=2, sort_keys=True, default=str)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_success(key: str, command: str, details: dict[str, Any]) -> None:
    """Best effort, like `record_failure`: the warehouse is the authority on what was loaded."""
    with contextlib.suppress(OSError):
        _update(key, "last_success", {"finished_at": now(), "command": command, **details})


def record_failure(key: str, command: str, exit_code: int, reason: str) -> None:
    """Best effort: a run that failed must still exit with its own reason if this cannot write."""
    with contextlib.suppress(OSError):
        _update(
            key,
            "last_failure",
            {"failed_at": now(), "command": command, "exit_code": exit_code, "reason": redact(reason)},
        )


def record_transform(key: str, results: dict[str, int]) -> None:
    """The last successful `dbt build`: node statuses and their counts."""
    with contextlib.suppress(OSError):
        _update(key, "last_transform", {"finished_at": now(), "results": results})
