"""The destinations' names and the DuckDB default, importable without the loader: `transform`
and `status` need them, not dlt's pipeline, DuckDB's driver or the source."""

from __future__ import annotations

from typing import Literal

Destination = Literal["duckdb", "postgres"]
DEFAULT_DUCKDB_FILE = "wirelane.duckdb"
