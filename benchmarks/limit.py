"""The limit of the pipeline benchmark: what no loader of this API can beat.

Reads every endpoint `sources/wirelane/source.py` reads, the same pages and detail documents,
with nothing but httpx (a shared keep-alive client, 8 threads, no rate limit, no retries) and
orjson, in four separate commands so that each is timed on its own by the harness:

    fetch     every page and document, parsed, then discarded (HTTP + JSON parsing only)
    save      the same requests again, writing the response bytes as they came to a folder
    duckdb    those bytes into DuckDB tables with DuckDB's own JSON reader (`read_json_auto`)
    postgres  those bytes into Postgres `jsonb` tables with COPY (Postgres's own JSON input)

The limit of a load is `fetch` plus `duckdb` (or `postgres`); `save` is bookkeeping.

What the pipeline reads, per organization: the members list, each member's payment method
and subscription (a 404 is an answer: the member has none); the sessions list ordered by
`updateDate` descending; the stations list (`include_roaming=true`), each station's detail,
cases, connection chain and maintenance windows; the tariffs list, each tariff's detail and
each price model of its prices. Sessions that stay open for a day are re-fetched one by one
by the pipeline; no load can avoid the list scan, so the limit skips those.

Incremental (`--incremental`): the API has no "changed since" filter, so any loader must scan
the sessions by `updateDate` descending until it reaches what it loaded before; the limit
stops after the first page that reaches the previous newest `update_date` (kept in `--state`
by `save --write-state`). The other endpoints have no change marker a loader could trust
(a member's payment method changes without touching the member), so they are read in full,
as the pipeline does. `--only sessions` reads the sessions alone (the hourly schedule).

Into DuckDB incrementally, the changed sessions are merged (delete + insert on `session_id`,
read with the columns of the loaded table) and the fully re-read lists replace their tables.

    .venv/bin/python -m benchmarks.limit fetch --base-url URL --token-url URL --organizations A B
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from simulator.auth import DemoCredentials

ORG = "/organizations/id/{org}"
# the tables a load writes -> whether their saved files hold JSON arrays (list pages) or one
# document a line (detail documents); the station and tariff lists only give ids to fetch
LOADED = {
    "members": True,
    "member_payment_methods": False,
    "member_subscriptions": False,
    "sessions": True,
    "charging_stations": False,
    "station_cases": True,
    "station_connection_chains": True,
    "station_maintenance_windows": True,
    "tariffs": False,
    "price_models": False,
}


@dataclass
class Counters:
    """What one pass read; shared by the threads of the pass."""

    requests: int = 0
    records: int = 0
    bytes: int = 0
    changed_sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, records: int, size: int) -> None:
        with self.lock:
            self.requests += 1
            self.records += records
            self.bytes += size


class Sink:
    """Where response bodies go: nowhere (`fetch`) or files under `out` (`save`).

    Detail documents of one endpoint and organization are appended to one newline-delimited
    file (so DuckDB reads a handful of files, not thousands); each list page is its own file,
    a JSON array, exactly as the API sent it. Lists only read for their ids (stations and
    tariffs, whose details are loaded) are not kept.
    """

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def array(self, table: str, name: str, body: bytes) -> None:
        if self.out is not None and table in LOADED:
            folder = self.out / table
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.json").write_bytes(body)

    def document(self, table: str, org: str, body: bytes) -> None:
        if self.out is None or table not in LOADED:
            return
        path = self.out / table / f"{org}.ndjson"
        with self._guard:
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as file:
                file.write(body + b"\n")


class Reader:
    """Every page and document of one organization, parsed, handed to the sink."""

    def __init__(
        self,
        http: httpx.Client,
        pool: ThreadPoolExecutor,
        sink: Sink,
        counters: Counters,
        page_size: int,
    ) -> None:
        self.http, self.pool, self.sink, self.counters, self.page_size = http, pool, sink, counters, page_size

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        response = self.http.get(path, params=params)
        if response.status_code not in (200, 404):
            response.raise_for_status()
        return response

    def document(self, table: str, org: str, path: str) -> Any:
        """A detail document (None for a 404), parsed; its bytes go to the sink."""
        response = self._get(path)
        if response.status_code == 404:
            self.counters.add(0, len(response.content))
            return None
        body = orjson.loads(response.content)
        self.counters.add(1, len(response.content))
        self.sink.document(table, org, response.content)
        return body

    def plain_list(self, table: str, name: str, path: str) -> list[Any]:
        """An unpaged list (a station's connection chain)."""
        response = self._get(path)
        items: list[Any] = orjson.loads(response.content) if response.status_code == 200 else []
        self.counters.add(len(items), len(response.content))
        if items:
            self.sink.array(table, name, response.content)
        return items

    def _page(self, table: str, name: str, path: str, params: dict[str, Any], page: int) -> tuple[list[Any], int]:
        response = self._get(path, {**params, "page": page, "page_size": self.page_size})
        items: list[Any] = orjson.loads(response.content) if response.status_code == 200 else []
        self.counters.add(len(items), len(response.content))
        if items:
            self.sink.array(table, f"{name}-{page:06d}", response.content)
        total = response.headers.get("x-total-count", "")
        return items, int(total) if total.isdigit() else -1

    def pages(
        self,
        table: str,
        name: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        parallel: bool = False,
        keep: bool = True,
    ) -> list[Any]:
        """Every item of a list: the first page tells the total; with `parallel` the other pages
        are fetched at once (only from the caller's thread: a pool worker waiting on its own
        pool could deadlock it). Without `keep` only the first page is returned and the others
        are dropped once parsed, as a loader streaming them would."""
        params = params or {}
        first, total = self._page(table, name, path, params, 1)
        items = list(first)
        last = -(-total // self.page_size) if total >= 0 else None

        def fetch(page: int) -> list[Any]:
            batch = self._page(table, name, path, params, page)[0]
            return batch if keep else []  # parsed and counted; dropped unless kept

        if parallel and last is not None:
            for batch in self.pool.map(fetch, range(2, last + 1)):
                items.extend(batch)
            return items
        page, size = 1, len(first)
        while size == self.page_size and (last is None or page < last):
            page += 1
            batch, _ = self._page(table, name, path, params, page)
            size = len(batch)
            if keep:
                items.extend(batch)
        return items

    def sessions_since(self, org: str, path: str, cursor: datetime) -> tuple[datetime | None, int]:
        """Sessions newest first down to `cursor`: one page at a time, as any loader must."""
        params = {"order_by": "updateDate", "order_direction": "desc"}
        newest: datetime | None = None
        changed, page = 0, 1
        while True:
            items, _ = self._page("sessions", org, path, params, page)
            if not items:
                break
            stamps = [datetime.fromisoformat(item["update_date"]) for item in items]
            newest = newest or stamps[0]
            changed += sum(1 for stamp in stamps if stamp > cursor)
            if stamps[-1] <= cursor or len(items) < self.page_size:
                break
            page += 1
        return newest, changed

    def fan_out(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return list(self.pool.map(fn, items))


def read_organization(reader: Reader, org: str, cursor: datetime | None, only: str | None) -> datetime | None:
    """Reads one organization; returns the newest session `update_date` it saw."""
    base = ORG.format(org=org)
    by_update = {"order_by": "updateDate", "order_direction": "desc"}
    if cursor is None:
        sessions = reader.pages("sessions", org, f"{base}/sessions", by_update, parallel=True, keep=False)
        newest = datetime.fromisoformat(sessions[0]["update_date"]) if sessions else None
    else:
        newest, changed = reader.sessions_since(org, f"{base}/sessions", cursor)
        with reader.counters.lock:
            reader.counters.changed_sessions += changed
        newest = newest or cursor
    if only == "sessions":
        return newest

    members = reader.pages("members", org, f"{base}/members", parallel=True)
    member = f"{base}/members/aid"
    accounts = [m["account"]["account_id"] for m in members if (m.get("account") or {}).get("account_id")]
    reader.fan_out(lambda a: reader.document("member_payment_methods", org, f"{member}/{a}/payment_method"), accounts)
    reader.fan_out(lambda a: reader.document("member_subscriptions", org, f"{member}/{a}/subscription"), accounts)

    stations = reader.pages("station_list", org, f"{base}/stations", {"include_roaming": "true"}, parallel=True)
    ids = [s["id"] for s in stations]
    station = f"{base}/stations/id"
    reader.fan_out(lambda i: reader.document("charging_stations", org, f"{station}/{i}"), ids)
    reader.fan_out(lambda i: reader.pages("station_cases", f"{org}-{i}", f"{station}/{i}/cases"), ids)
    chains, windows = "station_connection_chains", "station_maintenance_windows"
    reader.fan_out(lambda i: reader.plain_list(chains, f"{org}-{i}", f"{station}/{i}/connection"), ids)
    reader.fan_out(lambda i: reader.pages(windows, f"{org}-{i}", f"{station}/{i}/maintenance"), ids)

    tariffs = reader.pages("tariff_list", org, f"{base}/tariffs", parallel=True)
    details = reader.fan_out(lambda t: reader.document("tariffs", org, f"{base}/tariffs/id/{t['id']}"), tariffs)
    prices = [(d["id"], p["id"]) for d in details if d for p in d.get("prices") or []]
    reader.fan_out(
        lambda tp: reader.document("price_models", org, f"{base}/tariffs/id/{tp[0]}/prices/id/{tp[1]}"), prices
    )
    return newest


def token(token_url: str) -> str:
    """A password-grant token with the simulator's documented demo account."""
    demo = DemoCredentials()
    form = {
        "grant_type": "password",
        "client_id": demo.client_id,
        "client_secret": demo.client_secret,
        "username": demo.username,
        "password": demo.password,
    }
    response = httpx.post(token_url, data=form, timeout=60)
    response.raise_for_status()
    return str(response.json()["access_token"])


def read_api(args: argparse.Namespace, out: Path | None) -> dict[str, Any]:
    state_file = Path(args.state) / "limit-state.json"
    cursors: dict[str, str] = json.loads(state_file.read_text()) if args.incremental else {}
    counters = Counters()
    headers = {"Authorization": f"Bearer {token(args.token_url)}", "Accept": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency * 2)
    newest: dict[str, str] = {}
    with (
        httpx.Client(base_url=args.base_url, headers=headers, timeout=300, limits=limits) as http,
        ThreadPoolExecutor(max_workers=args.concurrency) as pool,
        ThreadPoolExecutor(max_workers=len(args.organizations)) as orgs,
    ):
        reader = Reader(http, pool, Sink(out), counters, args.page_size)

        def one(org: str) -> None:
            cursor = datetime.fromisoformat(cursors[org]) if org in cursors else None
            seen = read_organization(reader, org, cursor, args.only)
            if seen is not None:
                newest[org] = seen.isoformat()

        list(orgs.map(one, args.organizations))
    if args.write_state:
        state_file.write_text(json.dumps(newest))
    return {
        "requests": counters.requests,
        "records": counters.records,
        "mib": round(counters.bytes / 2**20, 1),
        "changed_sessions": counters.changed_sessions if args.incremental else None,
    }


# -- loading the saved bytes -------------------------------------------------------------------
def _files(folder: Path) -> tuple[str, bool] | None:
    """The glob of a table's saved files and whether they are arrays, or None when it has none."""
    if any(folder.glob("*.json")):
        return str(folder / "*.json"), True
    if any(folder.glob("*.ndjson")):
        return str(folder / "*.ndjson"), False
    return None


def _tables(pages: Path, only: str | None) -> Iterator[tuple[str, str, bool]]:
    for table in LOADED:
        if only and table != only:
            continue
        found = _files(pages / table)
        if found is not None:
            yield table, *found


def load_duckdb(pages: Path, database: Path, incremental: bool, only: str | None) -> dict[str, Any]:
    import duckdb

    rows: dict[str, int] = {}
    with duckdb.connect(str(database)) as con:
        for table, pattern, arrays in _tables(pages, only):
            fmt = "array" if arrays else "newline_delimited"
            if incremental and table == "sessions":
                described = con.execute("DESCRIBE sessions").fetchall()
                columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind, *_ in described) + "}"
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE delta AS SELECT * FROM read_json('{pattern}', "  # noqa: S608
                    f"format='{fmt}', columns={columns})"
                )
                con.execute("DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM delta)")
                con.execute("INSERT INTO sessions SELECT * FROM delta")
            else:
                con.execute(
                    f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_json_auto('{pattern}', format='{fmt}')"  # noqa: S608
                )
            count = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            rows[table] = int(count[0]) if count else 0
    return {"rows": rows}


def load_postgres(pages: Path, dsn: str, incremental: bool, only: str | None) -> dict[str, Any]:
    """COPY each saved line (a page array or one document) as `jsonb`, then one row a record.

    CSV with a quote and a delimiter that JSON text never contains raw (orjson escapes
    control characters) passes every line through unchanged.
    """
    import psycopg2

    copy = "COPY {} FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    rows: dict[str, int] = {}
    connection = psycopg2.connect(dsn)
    try:
        with connection, connection.cursor() as cursor:
            for table, pattern, arrays in _tables(pages, only):
                cursor.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (doc jsonb)")
                cursor.execute("TRUNCATE incoming")
                for path in sorted(Path(pattern).parent.glob(Path(pattern).name)):
                    with path.open("rb") as file:
                        cursor.copy_expert(copy.format("incoming (doc)"), file)
                records = (
                    "SELECT jsonb_array_elements(doc) AS doc FROM incoming" if arrays else "SELECT doc FROM incoming"
                )
                cursor.execute(f"CREATE TABLE IF NOT EXISTS {table} (doc jsonb)")
                if incremental and table == "sessions":
                    cursor.execute(f"CREATE TEMP TABLE delta AS {records}")
                    cursor.execute(
                        "DELETE FROM sessions WHERE doc->>'session_id' IN (SELECT doc->>'session_id' FROM delta)"
                    )
                    cursor.execute("INSERT INTO sessions SELECT * FROM delta")
                    cursor.execute("DROP TABLE delta")
                else:
                    cursor.execute(f"TRUNCATE {table}")
                    cursor.execute(f"INSERT INTO {table} {records}")
                cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
                found = cursor.fetchone()
                rows[table] = int(found[0]) if found else 0
    finally:
        connection.close()
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["fetch", "save", "duckdb", "postgres"])
    parser.add_argument("--base-url")
    parser.add_argument("--token-url")
    parser.add_argument("--organizations", nargs="+", default=[])
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--state", default=".", help="folder of limit-state.json (the newest update_date per org)")
    parser.add_argument("--write-state", action="store_true")
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--only", choices=["sessions"], default=None)
    parser.add_argument("--pages", help="folder of saved bodies (save writes it, duckdb/postgres read it)")
    parser.add_argument("--database", help="DuckDB file")
    parser.add_argument("--dsn", help="Postgres DSN")
    args = parser.parse_args()
    if args.mode == "fetch":
        result = read_api(args, None)
    elif args.mode == "save":
        result = read_api(args, Path(args.pages))
    elif args.mode == "duckdb":
        result = load_duckdb(Path(args.pages), Path(args.database), args.incremental, args.only)
    else:
        result = load_postgres(Path(args.pages), args.dsn, args.incremental, args.only)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
