"""The pipeline benchmark (issue 7): this project side by side with dlt's rest_api peer and the limit.

Per size (sessions; stations and members in proportion, as `simulator_scale` does), against
the simulator on loopback (its own process, fixed seed), three variants each get a fresh
simulator (the same seeded world, so the same data and the same changes) and a fresh working
folder (DLT_DATA_DIR, warehouse file or Postgres database), and go through the same steps:

    full                   the first load of everything
    incremental            after `POST /_simulator/advance` changed ~1 % of the sessions
    incremental_sessions   after a second, equal advance, only the sessions (the hourly job)

The variants:

    limit  `benchmarks/limit.py`: every page and document with httpx + orjson, discarded
           (`fetch`), plus the same bytes into DuckDB with `read_json_auto` (or into
           Postgres `jsonb` with COPY); its time is fetch + load. Nothing can be faster.
    peer   `benchmarks/peer_rest_api.py`: dlt's declarative rest_api source, dlt's defaults.
    ours   `wirelane-sync run --no-transform` as a process, with the project's
           `.dlt/config.toml`; then `wirelane-sync transform` (dbt build) measured on its own
           after the full load (`dbt_full`) and after the incremental one (`dbt_incremental`).

The limit and ours run every step `--repeat` times (3 by default), taking turns, each
repetition from the state the step started from (warehouse files, dlt's folder, the limit's
cursor, Postgres databases copied as templates) and after the simulator forgot its caches; a
step's row is its median repetition, with every repetition's seconds and requests, and the
highest peak. All simulators are up for the whole run, so a slow minute of a shared machine
falls on the variants alike. The peer runs each step once.

Each step is a separate process: wall time, peak RSS of its process tree (sampled from /proc
every 50 ms), and the HTTP requests it made (the simulator's own count by operation, read
before and after; token requests are listed apart). Rows per second divide the records the
step had to load by its wall time: all records for a full load, the changed sessions plus the
re-listed other records for `incremental`, the changed sessions for `incremental_sessions`.
After every load the warehouse is checked: its sessions (and members) must equal the
simulator's totals.

Writes `benchmarks/results/pipeline.json` and `pipeline.md` (or `--results-dir`); a run
replaces the sizes it measured and keeps the others, each with its own date and machine.

    .venv/bin/python -m benchmarks.pipeline [--sizes 100000 1000000] [--postgres | --postgres-dsn DSN] [--repeat N]
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.proctree import Measured, run_measured
from benchmarks.simulator_process import simulator_process
from benchmarks.simulator_scale import _scaled

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PYTHON = sys.executable
WIRELANE_SYNC = str(Path(sys.executable).with_name("wirelane-sync"))
LOAD_STEPS = ("full", "incremental", "incremental_sessions")
DBT_STEPS = ("dbt_full", "dbt_incremental")
VARIANTS = ("limit", "peer", "ours")
# the records a load writes (the simulator's totals); connectors etc. are nested in them
LOADED_ENTITIES = (
    "sessions", "members", "member_payment_methods", "member_subscriptions", "charging_stations",
    "station_cases", "station_connection_chains", "station_maintenance_windows", "tariffs", "price_models",
)  # fmt: skip
TARGET_CHANGE = 0.0092  # new sessions per advance; open sessions closing or progressing add ~0.1 %


class BenchmarkError(RuntimeError):
    """A step failed: the message names it and ends with its stderr."""


# -- the simulator -----------------------------------------------------------------------------
@dataclass
class Simulator:
    """A simulator process and its admin routes."""

    info: dict[str, Any]
    http: httpx.Client

    @property
    def root(self) -> str:
        return str(self.info["token_url"]).removesuffix("/token")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get(f"{self.root}/_simulator/stats").raise_for_status().json()
        return stats

    def advance(self, minutes: int) -> dict[str, Any]:
        response = self.http.post(f"{self.root}/_simulator/advance", json={"minutes": minutes})
        summary: dict[str, Any] = response.raise_for_status().json()
        return summary

    def forget_caches(self) -> None:
        self.http.post(f"{self.root}/_simulator/forget-caches").raise_for_status()

    def _token(self) -> str:
        form = {k: self.info[k] for k in ("client_id", "client_secret", "username", "password")}
        response = self.http.post(self.info["token_url"], data=form | {"grant_type": "password"})
        return str(response.raise_for_status().json()["access_token"])

    def _sessions_desc(self, org: str, page: int, page_size: int, token: str) -> list[dict[str, Any]]:
        response = self.http.get(
            f"{self.info['base_url']}/organizations/id/{org}/sessions",
            params={"page": page, "page_size": page_size, "order_by": "updateDate", "order_direction": "desc"},
            headers={"Authorization": f"Bearer {token}"},
        )
        items: list[dict[str, Any]] = response.raise_for_status().json()
        return items

    def newest_updates(self) -> dict[str, datetime]:
        """The newest session `update_date` per organization (two small requests)."""
        token = self._token()
        newest = {}
        for org in self.info["organizations"]:
            first = self._sessions_desc(org, 1, 1, token)
            if first:
                newest[org] = datetime.fromisoformat(first[0]["update_date"])
        return newest

    def changed_since(self, cursors: dict[str, datetime]) -> int:
        """Sessions changed after `cursors`; read after a step (another page size than the
        loaders', so it never warms the simulator's page cache for them)."""
        token, changed = self._token(), 0
        for org in self.info["organizations"]:
            page = 1
            while True:
                items = self._sessions_desc(org, page, 500, token)
                newer = [i for i in items if datetime.fromisoformat(i["update_date"]) > cursors[org]]
                changed += len(newer)
                if len(newer) < len(items) or not items:
                    break
                page += 1
        return changed


@contextlib.contextmanager
def simulator(workdir: Path, options: Sequence[str]) -> Iterator[Simulator]:
    workdir.mkdir(parents=True, exist_ok=True)
    with simulator_process(workdir, *options) as (_, info), httpx.Client(timeout=600) as http:
        yield Simulator(info, http)


def requests_between(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, int, dict[str, int]]:
    """API requests, token requests and requests by operation between two stats documents."""
    old, new = before["requests"]["by_operation"], after["requests"]["by_operation"]
    by_operation = {op: n - old.get(op, 0) for op, n in sorted(new.items()) if n - old.get(op, 0)}
    tokens = by_operation.pop("token", 0)
    return sum(by_operation.values()), tokens, by_operation


# -- warehouses ----------------------------------------------------------------------------------
@dataclass
class Warehouse:
    """Where one variant loads: a DuckDB file or a Postgres database of its own."""

    destination: str  # duckdb | postgres
    duckdb_file: Path | None = None
    dsn: str | None = None
    postgres: Postgres | None = None  # the server of `dsn`, to copy the database

    @property
    def database(self) -> str:
        assert self.dsn is not None
        return self.dsn.rpartition("/")[2]

    def snapshot(self) -> None:
        """A copy of a Postgres database to `restore` (a DuckDB file is copied by its lane)."""
        if self.postgres is not None:
            self.postgres.copy_database(self.database, f"{self.database}_snapshot")

    def restore(self) -> None:
        if self.postgres is not None:
            self.postgres.copy_database(f"{self.database}_snapshot", self.database)

    def count(self, table: str, key: str | None = None) -> int:
        """Rows of `table` (distinct `key` values when given; the limit stores JSON documents)."""
        what = f"count(DISTINCT {key})" if key else "count(*)"
        if self.destination == "duckdb":
            import duckdb

            assert self.duckdb_file is not None
            with duckdb.connect(str(self.duckdb_file), read_only=True) as con:
                found = con.execute(f"SELECT {what} FROM {table}").fetchone()  # noqa: S608
        else:
            import psycopg2

            connection = psycopg2.connect(self.dsn)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {what} FROM {table}")  # noqa: S608
                    found = cursor.fetchone()
            finally:
                connection.close()
        return int(found[0]) if found else 0


@dataclass
class Postgres:
    """A Postgres server on which each variant gets a database of its own."""

    admin_dsn: str
    created: list[str] = field(default_factory=list)

    def _dsn(self, database: str) -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def _admin(self, *statements: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.admin_dsn)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def fresh_database(self, name: str) -> str:
        self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self._dsn(name)

    def copy_database(self, source: str, target: str) -> None:
        """`target` becomes a copy of `source` (no one may be connected to either)."""
        self._admin(f'DROP DATABASE IF EXISTS "{target}"', f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
        if target not in self.created:
            self.created.append(target)

    def drop_all(self) -> None:
        self._admin(*(f'DROP DATABASE IF EXISTS "{name}"' for name in self.created))


# -- steps -----------------------------------------------------------------------------------------
@dataclass
class Size:
    """One benchmark size: simulator options, the advance that changes ~1 %, and the records."""

    sessions: int
    options: list[str]
    minutes: int


def _base_env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DLT_DATA_DIR": str(workdir / "dlt"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _check(measured: Measured, what: str) -> Measured:
    if measured.returncode != 0:
        tail = "\n".join((measured.stderr or measured.stdout).strip().splitlines()[-15:])
        raise BenchmarkError(f"{what} exited with {measured.returncode}:\n{tail}")
    return measured


def _row(
    variant: str,
    destination: str,
    step: str,
    measured: Sequence[Measured],
    requests: tuple[int, int, dict[str, int]] | None,
    records: int,
    **extra: Any,
) -> dict[str, Any]:
    seconds = round(sum(m.seconds for m in measured), 2)
    api, tokens, by_operation = requests or (0, 0, {})
    return {
        "variant": variant,
        "destination": destination,
        "step": step,
        "seconds": seconds,
        "records": records,
        "rows_per_s": round(records / seconds) if seconds else None,
        "peak_rss_mib": max(m.peak_rss_mib for m in measured),
        "requests": api,
        "token_requests": tokens,
        "requests_by_operation": by_operation,
        **extra,
    }


def _records(stats: dict[str, Any], step: str, changed: int) -> int:
    totals = stats["totals"]
    others = sum(int(totals[name]) for name in LOADED_ENTITIES if name != "sessions")
    if step == "full":
        return int(totals["sessions"]) + others
    return changed + (others if step == "incremental" else 0)


def _completeness(warehouse: Warehouse, stats: dict[str, Any], sessions: str, members: str) -> dict[str, Any]:
    """The warehouse's sessions and members against the simulator's totals."""
    totals = stats["totals"]
    found = {"sessions": warehouse.count(*sessions.split(":")), "members": warehouse.count(*members.split(":"))}
    expected = {"sessions": int(totals["sessions"]), "members": int(totals["members"])}
    return {"loaded": found, "api": expected, "complete": found == expected}


def _median_row(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The row of the median repetition (the lower middle one of an even count), with every
    repetition's seconds in the order they ran; memory is the worst repetition's, and a step
    is complete only if every repetition was."""
    ordered = sorted(samples, key=lambda row: row["seconds"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["samples_s"] = [sample["seconds"] for sample in samples]
    row["samples_requests"] = [sample["requests"] for sample in samples]  # equal: each from the same state
    row["peak_rss_mib"] = max(sample["peak_rss_mib"] for sample in samples)
    incomplete = [sample for sample in samples if sample.get("complete") is False]
    if incomplete:
        row.update(complete=False, loaded=incomplete[0]["loaded"])
    return row


def _duckdb_files(database: Path) -> list[Path]:
    """A DuckDB database's files: the file and its write-ahead log."""
    return [database, database.with_name(database.name + ".wal")]


class Lane(abc.ABC):
    """One variant with its own simulator and working folder. `load` (and for ours
    `transform`) runs a step once; `snapshot` and `restore` take the lane back to where the
    step started, so the step can be repeated on the same state."""

    repeated = True

    def __init__(
        self, name: str, work: Path, sim: Simulator, files: Sequence[Path], warehouses: Sequence[Warehouse]
    ) -> None:
        self.name, self.work, self.sim = name, work, sim
        self.files, self.warehouses = list(files), list(warehouses)

    def run(self, step: str, repetition: int) -> list[dict[str, Any]]:
        """One repetition of a load step, the simulator's caches forgotten first (it reads as the
        first repetition did): a row per destination the lane loads."""
        self.sim.forget_caches()
        return self.load(step, repetition)

    @abc.abstractmethod
    def load(self, step: str, repetition: int) -> list[dict[str, Any]]: ...

    def snapshot(self) -> None:
        kept = self.work / "snapshot"
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir()
        for path in self.files:
            if path.is_dir():
                shutil.copytree(path, kept / path.name)
            elif path.exists():
                shutil.copy2(path, kept / path.name)
        for warehouse in self.warehouses:
            warehouse.snapshot()

    def restore(self) -> None:
        kept = self.work / "snapshot"
        for path in self.files:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            if (kept / path.name).is_dir():
                shutil.copytree(kept / path.name, path)
            elif (kept / path.name).exists():
                shutil.copy2(kept / path.name, path)
        for warehouse in self.warehouses:
            warehouse.restore()


class LimitLane(Lane):
    """httpx + orjson, then DuckDB's (and Postgres') own JSON loading: `benchmarks/limit.py`."""

    def __init__(self, work: Path, sim: Simulator, warehouses: dict[str, Warehouse]) -> None:
        duckdb_file = warehouses["duckdb"].duckdb_file
        assert duckdb_file is not None
        files = [work / "limit-state.json", *_duckdb_files(duckdb_file)]
        super().__init__("limit", work, sim, files, [w for w in warehouses.values() if w.destination == "postgres"])
        self.by_destination = warehouses
        self.env = _base_env(work)
        self.command = [PYTHON, "-m", "benchmarks.limit"]
        self.api = ["--base-url", sim.info["base_url"], "--token-url", sim.info["token_url"]]
        self.api += ["--organizations", *sim.info["organizations"], "--state", str(work)]
        self.saved_state = b""

    def load(self, step: str, repetition: int) -> list[dict[str, Any]]:
        flags = [] if step == "full" else ["--incremental"]
        flags += ["--only", "sessions"] if step == "incremental_sessions" else []
        before = self.sim.stats()
        fetch = _check(
            run_measured([*self.command, "fetch", *self.api, *flags], cwd=self.work, env=self.env),
            f"limit fetch {step}",
        )
        after = self.sim.stats()
        requests = requests_between(before, after)
        pages, state = self.work / f"pages-{step}", self.work / "limit-state.json"
        if repetition == 0:  # the same pages every repetition: saved once, with the state they leave
            save = [*self.command, "save", *self.api, *flags, "--pages", str(pages), "--write-state"]
            _check(run_measured(save, cwd=self.work, env=self.env), f"limit save {step}")
            self.saved_state = state.read_bytes()
        else:
            state.write_bytes(self.saved_state)
        fetched = json.loads(fetch.stdout)
        rows = []
        for destination, warehouse in self.by_destination.items():
            target = (
                ["--database", str(warehouse.duckdb_file)] if destination == "duckdb" else ["--dsn", str(warehouse.dsn)]
            )
            command = [*self.command, destination, "--pages", str(pages), *target, *flags]
            loaded = _check(run_measured(command, cwd=self.work, env=self.env), f"limit {destination} {step}")
            key = "sessions" if destination == "duckdb" else "sessions:doc->>'session_id'"
            rows.append(
                _row("limit", destination, step, [fetch, loaded], requests, _records(after, step, 0))
                | {"fetch_s": fetch.seconds, "load_s": loaded.seconds}
                | {"fetched_records": fetched["records"], "fetched_mib": fetched["mib"]}
                | _completeness(warehouse, after, key, "members")
            )
        return rows


class PeerLane(Lane):
    """dlt's declarative rest_api source with dlt's defaults (`benchmarks/peer_rest_api.py`)."""

    repeated = False  # far from its line (about 11x), and a sample at 100,000 takes minutes

    def __init__(self, work: Path, sim: Simulator, warehouse: Warehouse) -> None:
        super().__init__(f"peer-{warehouse.destination}", work, sim, [], [])
        self.warehouse, self.env = warehouse, _base_env(work)
        command = [PYTHON, "-m", "benchmarks.peer_rest_api", "--base-url", sim.info["base_url"]]
        command += ["--token-url", sim.info["token_url"], "--organizations", *sim.info["organizations"]]
        command += ["--pipelines-dir", str(work / "dlt"), "--destination", warehouse.destination]
        if warehouse.destination == "duckdb":
            command += ["--duckdb-file", str(warehouse.duckdb_file)]
        else:
            command += ["--dsn", str(warehouse.dsn)]
        self.command = command

    def load(self, step: str, repetition: int) -> list[dict[str, Any]]:
        flags = ["--sessions-only"] if step == "incremental_sessions" else []
        destination = self.warehouse.destination
        before = self.sim.stats()
        measured = _check(
            run_measured([*self.command, *flags], cwd=self.work, env=self.env), f"peer {destination} {step}"
        )
        after = self.sim.stats()
        requests = requests_between(before, after)
        return [
            _row("peer", destination, step, [measured], requests, _records(after, step, 0))
            | _completeness(self.warehouse, after, "wirelane_peer.sessions", "wirelane_peer.members")
        ]


class OursLane(Lane):
    """`wirelane-sync run --no-transform`, then `wirelane-sync transform`, with the project's
    settings but no client-side rate limit."""

    def __init__(self, work: Path, sim: Simulator, warehouse: Warehouse) -> None:
        (work / ".dlt").mkdir(exist_ok=True)
        shutil.copy(REPO / ".dlt" / "config.toml", work / ".dlt" / "config.toml")  # the project's settings
        duckdb_file = work / "wirelane.duckdb"
        files = [work / "dlt", *_duckdb_files(duckdb_file)]
        postgres = [warehouse] if warehouse.destination == "postgres" else []
        super().__init__(f"ours-{warehouse.destination}", work, sim, files, postgres)
        self.warehouse, self.sessions = warehouse, 0  # the simulator's sessions after the last load
        self.env = _base_env(work) | {
            "SOURCES__WIRELANE__BASE_URL": sim.info["base_url"],
            "SOURCES__WIRELANE__TOKEN_URL": sim.info["token_url"],
            "SOURCES__WIRELANE__ORGANIZATIONS": json.dumps(sim.info["organizations"]),
            "DESTINATION__DUCKDB__CREDENTIALS": str(duckdb_file),
            # as the peer and the limit run: no client-side rate limit (the API's 429s still govern)
            "SOURCES__WIRELANE__REQUESTS_PER_SECOND": "0",
        }
        if warehouse.destination == "postgres":
            self.env["DESTINATION__POSTGRES__CREDENTIALS"] = str(warehouse.dsn)
        self.where = ["--destination", warehouse.destination]

    def load(self, step: str, repetition: int) -> list[dict[str, Any]]:
        flags = ["--resources", "sessions"] if step == "incremental_sessions" else []
        destination = self.warehouse.destination
        before = self.sim.stats()
        command = [WIRELANE_SYNC, "run", "--no-transform", *self.where, *flags]
        measured = _check(run_measured(command, cwd=self.work, env=self.env), f"ours {destination} {step}")
        after = self.sim.stats()
        self.sessions = int(after["totals"]["sessions"])
        return [
            _row("ours", destination, step, [measured], requests_between(before, after), _records(after, step, 0))
            | _completeness(self.warehouse, after, "wirelane_raw.sessions", "wirelane_raw.members")
        ]

    def run(self, step: str, repetition: int) -> list[dict[str, Any]]:
        """A load step, or the dbt build after one (`dbt_<step>`)."""
        if step.startswith("dbt_"):
            return self.transform(step.removeprefix("dbt_"))
        return super().run(step, repetition)

    def transform(self, step: str) -> list[dict[str, Any]]:
        destination = self.warehouse.destination
        command = [WIRELANE_SYNC, "transform", *self.where]
        built = _check(run_measured(command, cwd=self.work, env=self.env), f"ours {destination} dbt after {step}")
        return [_row("ours", destination, f"dbt_{step}", [built], None, self.sessions if step == "full" else 0)]


class Run:
    """Runs the variants of one size side by side: every variant's simulator is up for the whole
    run, and each step is repeated `repeat` times, the variants taking turns within each
    repetition, so a minute in which the shared machine is slow touches all of them."""

    def __init__(
        self,
        size: Size,
        workroot: Path,
        postgres: Postgres | None,
        destinations: list[str],
        repeat: int = 1,
        dbt_repeat: int | None = None,
    ) -> None:
        self.size, self.workroot, self.postgres, self.destinations = size, workroot, postgres, destinations
        self.repeat = repeat
        self.dbt_repeat = repeat if dbt_repeat is None else dbt_repeat
        self.rows: list[dict[str, Any]] = []
        self.changes: dict[str, list[dict[str, Any]]] = {}

    def _warehouse(self, destination: str, duckdb_file: Path, database: str) -> Warehouse:
        if destination == "duckdb":
            return Warehouse("duckdb", duckdb_file=duckdb_file)
        assert self.postgres is not None
        return Warehouse("postgres", dsn=self.postgres.fresh_database(database), postgres=self.postgres)

    def lanes(self, stack: contextlib.ExitStack, variants: Sequence[str]) -> list[Lane]:
        """Every variant's simulator started, in the order they take turns."""

        def started(name: str) -> tuple[Path, Simulator]:
            work = self.workroot / name
            return work, stack.enter_context(simulator(work, self.size.options))

        lanes: list[Lane] = []
        sessions = self.size.sessions
        if "limit" in variants:
            work, sim = started("limit")
            warehouses = {d: self._warehouse(d, work / "limit.duckdb", f"limit_{sessions}") for d in self.destinations}
            lanes.append(LimitLane(work, sim, warehouses))
        for variant, lane in (("peer", PeerLane), ("ours", OursLane)):
            if variant not in variants:
                continue
            for destination in self.destinations:
                work, sim = started(f"{variant}-{destination}")
                duckdb_file = work / ("peer.duckdb" if variant == "peer" else "wirelane.duckdb")
                lanes.append(lane(work, sim, self._warehouse(destination, duckdb_file, f"{variant}_{sessions}")))
        return lanes

    def measure(self, lanes: Sequence[Lane]) -> None:
        """full, advance, incremental, advance, incremental_sessions, on every lane; the dbt
        builds after the first two. The sessions a step had to load are counted afterwards."""
        for step in LOAD_STEPS:
            cursors: dict[str, dict[str, datetime]] = {}
            if step != "full":
                for lane in lanes:
                    cursors[lane.name] = lane.sim.newest_updates()
                    before = lane.sim.stats()["totals"]["sessions"]
                    change = {"step": step, "sessions_before": before, "advance": lane.sim.advance(self.size.minutes)}
                    self.changes.setdefault(lane.name, []).append(change)
            rows = self._repeated(lanes, step, self.repeat)
            if step in ("full", "incremental"):
                builders = [lane for lane in lanes if isinstance(lane, OursLane)]
                rows += self._repeated(builders, f"dbt_{step}", self.dbt_repeat)
            changed_lanes = [] if step == "full" else lanes  # a full load has no change to count
            for lane in changed_lanes:
                changed = lane.sim.changed_since(cursors[lane.name])
                change = self.changes[lane.name][-1]
                change.update(changed_sessions=changed, share=round(changed / change["sessions_before"], 4))
                for row in rows:
                    if row["lane"] == lane.name:
                        row["records"] += changed
                        row["rows_per_s"] = round(row["records"] / row["seconds"]) if row["seconds"] else None
            for row in rows:
                row.pop("lane")
            self.rows += rows

    def _repeated(self, lanes: Sequence[Lane], step: str, times: int) -> list[dict[str, Any]]:
        """Runs `step` on every lane `times` times, in turns, each repetition from the state the
        first started from (and a load with the simulator's caches forgotten, `Lane.run`); one row
        per lane and destination: its median repetition."""
        repeated = [lane for lane in lanes if lane.repeated and times > 1]
        for lane in repeated:
            lane.snapshot()
        samples: dict[str, list[list[dict[str, Any]]]] = {lane.name: [] for lane in lanes}
        for repetition in range(times):
            for lane in lanes if repetition == 0 else repeated:
                if repetition:
                    lane.restore()
                samples[lane.name].append(lane.run(step, repetition))
        return [
            _median_row(per_destination) | {"lane": lane.name}
            for lane in lanes
            for per_destination in zip(*samples[lane.name], strict=True)
        ]


def advance_minutes(sessions: int, days: int = 365) -> int:
    """The advance that adds TARGET_CHANGE new sessions: the simulator adds sessions at 1.25x
    its average rate (simulator/advance.py); open sessions closing or progressing and late
    corrections come on top, which is why the target is a little under 1 %."""
    return max(1, round(TARGET_CHANGE * days * 1440 / 1.25))


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    import dlt
    import duckdb

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "dlt": dlt.__version__,
        "duckdb": duckdb.__version__,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def code_version() -> str:
    """The commit measured, and whether the code the variants run (sources/, pipelines/,
    dbt_project/, .dlt/) had uncommitted changes: the report must say what it measured."""
    git = shutil.which("git")
    if git is None:
        return "unknown (no git)"
    head = subprocess.run(  # noqa: S603 (git with fixed arguments)
        [git, "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(  # noqa: S603
        [git, "status", "--porcelain", "--", "sources", "pipelines", "dbt_project", ".dlt", "simulator"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    changed = len(dirty.stdout.splitlines())
    return head.stdout.strip() + (f" + {changed} uncommitted files" if changed else "")


def measure_size(
    sessions: int,
    options: list[str],
    postgres: Postgres | None,
    destinations: list[str],
    variants: Sequence[str],
    keep: Path | None,
    repeat: int = 1,
    dbt_repeat: int | None = None,
) -> dict[str, Any]:
    size = Size(sessions, options, advance_minutes(sessions))
    meta: dict[str, Any] = {
        "code": code_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "simulator": options,
        "advance_minutes": size.minutes,
        "repeat": repeat,
    }
    with tempfile.TemporaryDirectory(prefix="wirelane-bench-") as tmp:
        root = keep / f"size-{sessions}" if keep else Path(tmp)
        run = Run(size, root, postgres, destinations, repeat, dbt_repeat)
        meta["dbt_repeat"] = run.dbt_repeat
        started = time.perf_counter()
        try:
            with contextlib.ExitStack() as stack:
                run.measure(run.lanes(stack, variants))
        finally:
            if postgres:
                postgres.drop_all()
    meta["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["total_s"] = round(time.perf_counter() - started)
    return {"sessions": sessions, "meta": meta, "changes": run.changes, "rows": run.rows}


# -- the report ----------------------------------------------------------------------------------
def _lookup(rows: list[dict[str, Any]], variant: str, destination: str, step: str) -> dict[str, Any] | None:
    return next((r for r in rows if (r["variant"], r["destination"], r["step"]) == (variant, destination, step)), None)


def _ratio(value: float, base: dict[str, Any] | None) -> str:
    if base is None or not base["seconds"]:
        return ""
    return f"{value / base['seconds']:.2f}x"


def table(run: dict[str, Any], destination: str) -> str:
    rows = run["rows"]
    lines = [
        "| step | variant | wall | repetitions | rows/s | peak RSS | requests | vs limit | vs peer | complete |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for step in (*LOAD_STEPS, *DBT_STEPS):
        for variant in VARIANTS:
            row = _lookup(rows, variant, destination, step)
            if row is None:
                continue
            wall = f"{row['seconds']} s"
            if variant == "limit":
                wall += f" ({row['fetch_s']} + {row['load_s']})"
            limit = _lookup(rows, "limit", destination, step) if variant != "limit" else None
            peer = _lookup(rows, "peer", destination, step) if variant == "ours" else None
            if step == "dbt_incremental":
                peer = None
            complete = "" if "complete" not in row else ("yes" if row["complete"] else f"**no** {row['loaded']}")
            requests = f"{row['requests']:,}" if not step.startswith("dbt") else "-"
            repetitions = ", ".join(f"{seconds}" for seconds in row.get("samples_s", [row["seconds"]]))
            lines.append(
                f"| {step} | {variant} | {wall} | {repetitions} | {row['rows_per_s'] or 0:,} "
                f"| {row['peak_rss_mib']:.0f} MiB "
                f"| {requests} | {_ratio(row['seconds'], limit)} | {_ratio(row['seconds'], peer)} | {complete} |"
            )
    return "\n".join(lines)


def targets(run: dict[str, Any], destination: str) -> list[str]:
    """The issue's targets as measured (ratios from the same run)."""
    rows, found = run["rows"], []
    ours, peer, limit = (_lookup(rows, v, destination, "full") for v in VARIANTS[::-1])
    incremental = _lookup(rows, "ours", destination, "incremental")
    hourly = _lookup(rows, "ours", destination, "incremental_sessions")
    dbt_full, dbt_incr = (_lookup(rows, "ours", destination, s) for s in DBT_STEPS)
    if ours and peer:
        found.append(
            f"full load, speed-up over the peer: {peer['seconds']} s / {ours['seconds']} s = "
            f"{peer['seconds'] / ours['seconds']:.2f}x (target >= 5x)"
        )
    if ours and limit:
        found.append(
            f"full load, time over the limit: {ours['seconds']} s / {limit['seconds']} s = "
            f"{ours['seconds'] / limit['seconds']:.2f}x (target <= 2x)"
        )
    if ours and incremental:
        share = incremental["seconds"] / ours["seconds"]
        found.append(f"incremental (all resources) / full: {share:.1%} of the time (target <= 5 % at 1M)")
    if ours and hourly:
        found.append(f"incremental (sessions only) / full: {hourly['seconds'] / ours['seconds']:.1%} of the time")
    loads = [r for r in rows if r["variant"] == "ours" and r["destination"] == destination and r["step"] in LOAD_STEPS]
    if loads:
        peak = max(loads, key=lambda r: r["peak_rss_mib"])
        found.append(
            f"peak memory of ours' loads: {peak['peak_rss_mib']:.0f} MiB in `{peak['step']}` "
            "(target < 500 MB at 1M, flat in size; dbt's own peak is in its rows)"
        )
    if dbt_full and dbt_incr:
        found.append(f"dbt incremental / full build: {dbt_incr['seconds'] / dbt_full['seconds']:.1%} (target <= 20 %)")
    return found


def markdown(runs: list[dict[str, Any]]) -> str:
    parts = ["# Pipeline benchmark: this project, dlt's rest_api peer and the limit", ""]
    parts.append(
        "Each variant runs against its own simulator (same seed, same changes) in a fresh working folder; "
        "every step is its own process. The limit and ours repeat each step (`--repeat`, 3 by default), taking "
        "turns, each repetition from the state the step started from and with the simulator's caches "
        "forgotten; `wall` is the median repetition (its fetch + load for the limit), `repetitions` every "
        "one in the order they ran, and peak RSS the highest. The peer runs each step once (it is about ten "
        "times slower, far from its line, and takes minutes a sample). "
        "`vs limit` and `vs peer` are ratios of those walls within one run "
        "(> 1: slower). Rows/s: records the step had to load per second "
        "(full: all records; incremental: changed sessions plus the re-listed other records; "
        "incremental_sessions: changed sessions; dbt: sessions). Peak RSS: the step's process tree "
        "(a Postgres server's own memory is not in it)."
    )
    parts += [
        "",
        "As configured: **limit** 8 threads, no rate limit, page size 1,000; its load is DuckDB's "
        "`read_json_auto` into tables (incremental: changed sessions merged on `session_id`), or on Postgres "
        "COPY into `jsonb` tables. **peer** dlt's defaults: no rate limit, detail requests one at a time, "
        "`insert_values` files (DuckDB and Postgres), page-number paginator that stops on an empty page. "
        "**ours** the project's `.dlt/config.toml` (`concurrency = 8`, page size 1,000, parquet into DuckDB) "
        "but `requests_per_second = 0`, no client-side rate limit, as the others run (the default 50 would make "
        "5,367 requests take 107 s by itself). `incremental` re-reads every list and detail but the sessions "
        "(the API has no change filter for them); `incremental_sessions` is `--resources sessions`.",
    ]
    for run in sorted(runs, key=lambda r: r["sessions"]):
        meta, m = run["meta"], run["meta"]["machine"]
        parts += [
            "",
            f"## {run['sessions']:,} sessions ({meta['date']})",
            "",
            f"Machine: {m['cpus']} CPUs, {m['cpu_model']}, {m['ram_gib']} GiB RAM; load average "
            f"{m['loadavg_start']} at the start, {m.get('loadavg_end')} at the end (a shared machine: "
            f"expect noise). Python {m['python']}, dlt {m['dlt']}, DuckDB {m['duckdb']}. Simulator "
            f"`{' '.join(meta['simulator'])}`; advance {meta['advance_minutes']} minutes per incremental step; "
            f"{meta.get('repeat', 1)} repetition(s) a load step, {meta.get('dbt_repeat', meta.get('repeat', 1))} "
            "a dbt build; "
            f"whole run {meta['total_s']} s. Code: {meta.get('code', '?')}. Command: `{meta.get('command', '?')}`.",
            "",
        ]
        shares = {
            f"{c['step']}: {c['changed_sessions']:,} of {c['sessions_before']:,} sessions ({c['share']:.2%})"
            for changes in run["changes"].values()
            for c in changes
        }
        parts.append("Changed by each advance: " + "; ".join(sorted(shares)) + ".")
        missing = [v for v in VARIANTS if not any(r["variant"] == v for r in run["rows"])]
        if missing:
            parts.append(f"Not run at this size: {', '.join(missing)} (`--variants`).")
        for destination in sorted({r["destination"] for r in run["rows"]}):
            parts += ["", f"### {destination}", "", table(run, destination), ""]
            parts += [f"- {line}" for line in targets(run, destination)]
    command = ".venv/bin/python -m benchmarks.pipeline [--sizes 100000 1000000] [--postgres | --postgres-dsn DSN]"
    command += " [--repeat N]"
    parts += ["", f"Command: `{command}` (`--help` lists the options)", ""]
    return "\n".join(parts)


def write_results(directory: Path, new_runs: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pipeline.json"
    kept = json.loads(path.read_text())["runs"] if path.exists() else []
    measured = {run["sessions"] for run in new_runs}
    runs = sorted([r for r in kept if r["sessions"] not in measured] + new_runs, key=lambda r: r["sessions"])
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    (directory / "pipeline.md").write_text(markdown(runs))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="sessions per run")
    parser.add_argument("--stations", type=int, help="stations (default: in proportion, at least 300)")
    parser.add_argument("--members", type=int, help="members (default: in proportion, at least 2,000)")
    parser.add_argument("--seed", type=int, default=42)
    pg = parser.add_mutually_exclusive_group()
    pg.add_argument("--postgres", action="store_true", help="also load into a throwaway PostgreSQL it starts")
    pg.add_argument("--postgres-dsn", help="also load into this server (a role that may CREATE DATABASE)")
    parser.add_argument(
        "--postgres-sizes", type=int, nargs="+", help="sizes also loaded into Postgres (default: the smallest)"
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of each step for the limit and ours; the median counts"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="keep the working folders here (for inspection)")
    parser.add_argument("--dbt-repeat", type=int, help="repetitions of each dbt build (default: --repeat)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or (args.dbt_repeat is not None and args.dbt_repeat < 1):
        parser.error("--repeat and --dbt-repeat must be at least 1")
    command = ".venv/bin/python -m benchmarks.pipeline " + " ".join(sys.argv[1:] if argv is None else argv)
    server: Any = None
    postgres: Postgres | None = None
    if args.postgres:
        sys.path.insert(0, str(REPO))
        from tests.postgres_server import start_postgres

        server = start_postgres()
        postgres = Postgres(server.dsn)
    elif args.postgres_dsn:
        postgres = Postgres(args.postgres_dsn)
    pg_sizes = set(args.postgres_sizes or [min(args.sizes)]) if postgres else set()
    try:
        for sessions in args.sizes:
            options = _scaled(sessions)
            if args.stations:
                options[options.index("--stations") + 1] = str(args.stations)
            if args.members:
                options[options.index("--members") + 1] = str(args.members)
            options += ["--seed", str(args.seed)]
            destinations = ["duckdb", "postgres"] if sessions in pg_sizes else ["duckdb"]
            print(f"== {sessions:,} sessions into {', '.join(destinations)}", flush=True)
            run = measure_size(
                sessions, options, postgres, destinations, args.variants, args.keep, args.repeat, args.dbt_repeat
            )
            run["meta"]["command"] = command
            write_results(args.results_dir, [run])
            for destination in destinations:
                print(f"\n{destination}\n{table(run, destination)}", flush=True)
    finally:
        if server is not None:
            from tests.postgres_server import remove

            remove(server)


if __name__ == "__main__":
    main()
