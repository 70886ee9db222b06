"""What `wirelane-sync status` reports: cursors, the last load, freshness, the last failure.

Everything is read, nothing written: the warehouse through a short read-only connection
(`pipelines.warehouse`), dlt's state from the destination's `_dlt_pipeline_state` (or the local
working folder when that is newer, e.g. after a run whose load failed), and the run record
(`pipelines.runlog`) for the last failure, which the warehouse cannot know.

Freshness is computed here as dbt would for the `_dlt_loads` source (completed loads only,
`status = 0`), with the thresholds read from the dbt project's sources file. Running
`dbt source freshness` instead would take seconds and open DuckDB for writing, which is exactly
what a status check next to a running load must not do.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.versioned_state import decompress_state

from pipelines import runlog
from pipelines.destinations import Destination
from pipelines.load_step import DEFAULT_DATASET, PIPELINE_NAME
from pipelines.transform import PROJECT_DIR
from pipelines.warehouse import Reader, Warehouse, WarehouseBusy, WarehouseMissing, literal, locate, quote, read_only
from sources.wirelane.errors import WirelaneError

FreshnessStatus = Literal["pass", "warn", "error", "no_loads", "unknown"]
# readable; missing: nothing loaded yet; busy: a writer holds the DuckDB file; error: unreachable
WarehouseState = Literal["readable", "missing", "busy", "error"]
FRESHNESS_TABLE = "_dlt_loads"
_PERIOD_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}


@dataclass
class Freshness:
    status: FreshnessStatus
    loaded_at: str | None = None  # the newest completed load
    age_hours: float | None = None
    warn_after_hours: float | None = None
    error_after_hours: float | None = None


@dataclass
class ResourceStatus:
    name: str
    rows: int  # rows in the table now (root table; nested lists are in child tables)
    last_load_id: str | None  # the newest completed load that left rows in the table
    last_loaded_at: str | None
    last_load_rows: int  # rows that load left in the table
    cursor: dict[str, str] | None  # per organization, for incremental resources
    deleted: int | None = None  # rows marked gone from the API (`_wl_deleted_at`), where tracked


@dataclass
class Status:
    destination: Destination
    warehouse: str
    dataset: str
    checked_at: str
    warehouse_state: WarehouseState
    problem: str | None = None  # why the warehouse could not be read
    last_load: dict[str, Any] | None = None  # load_id, loaded_at, rows per table
    loads: int = 0  # completed loads in the warehouse
    freshness: Freshness = field(default_factory=lambda: Freshness("unknown"))
    state_from: str | None = None  # "destination" or "local working folder"
    resources: list[ResourceStatus] = field(default_factory=list)
    last_success: dict[str, Any] | None = None
    last_failure: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def freshness_thresholds(project_dir: Path = PROJECT_DIR) -> tuple[float | None, float | None]:
    """warn_after and error_after, in hours, of the `_dlt_loads` source in the dbt project."""
    for path in sorted((project_dir / "models").rglob("*.yml")):
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for source in document.get("sources") or []:
            for table in source.get("tables") or []:
                if table.get("name") != FRESHNESS_TABLE:
                    continue
                settings = {
                    **(source.get("freshness") or {}),
                    **(table.get("freshness") or {}),
                    **((table.get("config") or {}).get("freshness") or {}),
                }
                return _hours(settings.get("warn_after")), _hours(settings.get("error_after"))
    return None, None


def _hours(threshold: Any) -> float | None:
    if not isinstance(threshold, dict) or threshold.get("count") is None:
        return None
    return float(threshold["count"]) * _PERIOD_HOURS.get(str(threshold.get("period", "hour")), 1.0)


def judge_freshness(
    loaded_at: datetime | None, now: datetime, warn_h: float | None, error_h: float | None
) -> Freshness:
    if loaded_at is None:
        return Freshness("no_loads", warn_after_hours=warn_h, error_after_hours=error_h)
    age = (now - loaded_at).total_seconds() / 3600
    verdict: FreshnessStatus = "pass"
    if error_h is not None and age >= error_h:
        verdict = "error"
    elif warn_h is not None and age >= warn_h:
        verdict = "warn"
    return Freshness(verdict, _iso(loaded_at), round(age, 3), warn_h, error_h)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _as_utc(datetime.fromisoformat(value))
    return None


def cursors(state: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """resource -> organization -> cursor, from dlt's pipeline state.

    The sessions resource keeps `organizations: {org: {cursor, window}}`, with `resume` while a
    scan loads in slices (sources/wirelane/source.py); a resource using
    dlt's own `dlt.sources.incremental` keeps `incremental: {field: {last_value}}`.
    """
    found: dict[str, dict[str, str]] = {}
    resources = ((state or {}).get("sources") or {}).get("wirelane", {}).get("resources") or {}
    for name, resource_state in resources.items():
        if not isinstance(resource_state, dict):
            continue
        per_org = resource_state.get("organizations")
        if isinstance(per_org, dict):
            found[name] = {org: _cursor(s) for org, s in per_org.items() if isinstance(s, dict)}
        incremental = resource_state.get("incremental")
        if isinstance(incremental, dict):
            for column, s in incremental.items():
                if isinstance(s, dict) and s.get("last_value") is not None:
                    found.setdefault(name, {})[column] = str(s["last_value"])
    return found


def _cursor(org_state: dict[str, Any]) -> str:
    """An organization's cursor, and how far a scan loading in slices has got."""
    resume = org_state.get("resume")
    if not isinstance(resume, dict):
        return str(org_state.get("cursor"))
    return f"{org_state.get('cursor')} (scan under way in slices: {resume.get('rows_read', 0):,} sessions read)"


def local_state() -> dict[str, Any] | None:
    """The pipeline state in dlt's working folder, if there is one."""
    path = Path(get_dlt_pipelines_dir()) / PIPELINE_NAME / "state.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _destination_state(reader: Reader, dataset: str, tables: set[str]) -> dict[str, Any] | None:
    if "_dlt_pipeline_state" not in tables:
        return None
    rows = reader.rows(
        f"select state from {quote(dataset)}._dlt_pipeline_state "  # noqa: S608 (quoted identifiers)
        f"where pipeline_name = {literal(PIPELINE_NAME)} order by version desc, created_at desc limit 1"
    )
    return decompress_state(rows[0][0]) if rows else None


def _read_warehouse(status: Status, reader: Reader, dataset: str, now: datetime) -> dict[str, Any] | None:
    """Fills the warehouse's part of `status`; returns the destination's pipeline state."""
    tables = {
        str(row[0])
        for row in reader.rows(
            f"select table_name from information_schema.tables where table_schema = {literal(dataset)}"  # noqa: S608
        )
    }
    completed: dict[str, datetime] = {}
    if FRESHNESS_TABLE in tables:
        for load_id, inserted_at in reader.rows(
            f"select load_id, inserted_at from {quote(dataset)}._dlt_loads where status = 0"  # noqa: S608
        ):
            moment = _as_utc(inserted_at)
            if moment is not None:
                completed[str(load_id)] = moment
    status.loads = len(completed)
    newest = max(completed, key=lambda load_id: completed[load_id], default=None)
    warn_h, error_h = freshness_thresholds()
    status.freshness = judge_freshness(completed.get(newest) if newest else None, now, warn_h, error_h)
    columns: dict[str, set[str]] = {}
    for table, column in reader.rows(
        "select table_name, column_name from information_schema.columns "  # noqa: S608
        f"where table_schema = {literal(dataset)} and column_name in ('_dlt_load_id', '_wl_deleted_at')"
    ):
        columns.setdefault(str(table), set()).add(str(column))
    last_load_rows: dict[str, int] = {}
    for table in sorted(t for t in tables if not t.startswith("_dlt") and "__" not in t):
        if "_dlt_load_id" not in columns.get(table, set()):
            continue
        per_load = {
            str(load_id): int(count)
            for load_id, count in reader.rows(
                f"select _dlt_load_id, count(*) from {quote(dataset)}.{quote(table)} group by 1"  # noqa: S608
            )
        }
        loaded = [load_id for load_id in per_load if load_id in completed]
        last = max(loaded, key=lambda load_id: completed[load_id], default=None)
        deleted = None
        if "_wl_deleted_at" in columns[table]:
            deleted = int(
                reader.rows(
                    f"select count(*) from {quote(dataset)}.{quote(table)} where _wl_deleted_at is not null"  # noqa: S608
                )[0][0]
            )
        status.resources.append(
            ResourceStatus(
                name=table,
                rows=sum(per_load.values()),
                last_load_id=last,
                last_loaded_at=_iso(completed[last]) if last else None,
                last_load_rows=per_load.get(last, 0) if last else 0,
                cursor=None,
                deleted=deleted,
            )
        )
        if newest is not None and per_load.get(newest):
            last_load_rows[table] = per_load[newest]
    if newest is not None:
        status.last_load = {"load_id": newest, "loaded_at": _iso(completed[newest]), "rows": last_load_rows}
    return _destination_state(reader, dataset, tables)


def collect(destination: Destination, now: datetime | None = None) -> Status:
    """The status of `destination`'s warehouse; never raises for an unreadable warehouse (the
    status says why), only for configuration that names none (WirelaneConfigError)."""
    now = now or datetime.now(UTC)
    warehouse: Warehouse = locate(destination)
    dataset = DEFAULT_DATASET  # the command line always loads into it
    status = Status(destination, warehouse.label, dataset, _iso(now), "error")
    remote_state: dict[str, Any] | None = None
    try:
        with read_only(warehouse) as reader:
            remote_state = _read_warehouse(status, reader, dataset, now)
        status.warehouse_state = "readable"
    except WarehouseMissing as error:
        status.warehouse_state, status.problem = "missing", str(error)
        status.freshness = judge_freshness(None, now, *freshness_thresholds())
    except WarehouseBusy as error:
        status.warehouse_state, status.problem = "busy", str(error)
    except WirelaneError as error:
        status.problem = str(error)
    # the newer of the two states: the local one is ahead after a run whose load failed
    local = local_state()
    if local and not str(local.get("destination_type", "")).endswith(f".{destination}"):
        local = None  # the working folder last loaded the other destination
    state, status.state_from = remote_state, "destination" if remote_state else None
    if local and (not remote_state or local.get("_state_version", 0) > remote_state.get("_state_version", 0)):
        state, status.state_from = local, "local working folder"
    by_name = {resource.name: resource for resource in status.resources}
    for name, cursor in cursors(state).items():
        if name not in by_name:
            by_name[name] = ResourceStatus(name, 0, None, None, 0, None)
            status.resources.append(by_name[name])
        by_name[name].cursor = cursor
    record = runlog.record_for(warehouse.key)
    status.last_success = record.get("last_success")
    status.last_failure = record.get("last_failure")
    return status
