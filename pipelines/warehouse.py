"""Where the warehouse is, from the pipeline's own settings, and read-only access to it.

`status` must be safe to run at any time, next to a scheduled load: DuckDB is opened read-only
and closed again after a handful of queries (a read-only connection still takes a shared
lock, so it is kept short), and a Postgres session is read-only. Neither goes through dlt,
which would create working folders or sync state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dlt
from dlt.common.configuration.specs import ConnectionStringCredentials

from pipelines.destinations import DEFAULT_DUCKDB_FILE, Destination
from sources.wirelane.errors import WirelaneConfigError, WirelaneError


class WarehouseBusy(WirelaneError):
    """The DuckDB file is locked by a writer (a load or dbt is running)."""


class WarehouseMissing(WirelaneError):
    """Nothing was loaded yet: the DuckDB file does not exist."""


@dataclass(frozen=True)
class Warehouse:
    destination: Destination
    label: str  # for people and records: a path, or postgres://host:port/db (never a password)
    duckdb_path: Path | None = None
    dsn: str | None = None

    @property
    def key(self) -> str:
        """Identifies this warehouse in the run record (several may share one machine)."""
        return f"{self.destination}:{self.label}"


def locate(destination: Destination) -> Warehouse:
    """The warehouse `wirelane-sync run -d destination` loads, resolved like `pipelines.load`."""
    if destination == "duckdb":
        path = Path(dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB_FILE).resolve()
        return Warehouse("duckdb", str(path), duckdb_path=path)
    if destination == "postgres":
        dsn = dlt.secrets.get("destination.postgres.credentials", str)
        if not dsn:
            raise WirelaneConfigError("set DESTINATION__POSTGRES__CREDENTIALS (a postgresql:// DSN) for Postgres")
        credentials = ConnectionStringCredentials(dsn)
        label = f"postgres://{credentials.host or 'localhost'}:{credentials.port or 5432}/{credentials.database or ''}"
        return Warehouse("postgres", label, dsn=dsn)
    raise WirelaneConfigError(f"--destination {destination!r} is unknown; use duckdb or postgres")


class Reader(Protocol):
    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...


class _DuckDBReader:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = self._connection.execute(sql).fetchall()
        return result


class _PostgresReader:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._connection.cursor() as cursor:
            cursor.execute(sql)
            result: list[tuple[Any, ...]] = cursor.fetchall()
            return result


@contextlib.contextmanager
def connection(warehouse: Warehouse, application: str = "wirelane-sync status") -> Iterator[tuple[Any, str]]:
    """A read-only DB-API connection for the block, with its parameter placeholder (`?` on
    DuckDB, `%s` on Postgres); WarehouseMissing, WarehouseBusy or WirelaneError (unreachable,
    refused) when there is none to be had."""
    if warehouse.duckdb_path is not None:
        import duckdb

        if not warehouse.duckdb_path.exists():
            raise WarehouseMissing(f"no DuckDB file at {warehouse.duckdb_path} yet; run `wirelane-sync run` first")
        try:
            duck = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise WarehouseBusy(
                    f"{warehouse.duckdb_path} is open for writing by another process (a load or dbt running?)"
                ) from None
            raise WirelaneError(f"cannot open {warehouse.duckdb_path}: {error}") from None
        try:
            yield duck, "?"
        finally:
            duck.close()
        return
    import psycopg2

    try:
        pg_connection = psycopg2.connect(
            warehouse.dsn,
            connect_timeout=10,
            options="-c default_transaction_read_only=on",
            application_name=application,
        )
    except psycopg2.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WirelaneError(f"cannot connect to {warehouse.label}: {first}") from None
    try:
        yield pg_connection, "%s"
    finally:
        pg_connection.close()


@contextlib.contextmanager
def read_only(warehouse: Warehouse) -> Iterator[Reader]:
    """A read-only reader for the block (see `connection`)."""
    with connection(warehouse) as (opened, placeholder):
        yield _DuckDBReader(opened) if placeholder == "?" else _PostgresReader(opened)


def quote(identifier: str) -> str:
    """An SQL identifier, quoted the same way on DuckDB and Postgres."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """An SQL string literal (for names read from our own configuration and catalog)."""
    return "'" + value.replace("'", "''") + "'"
