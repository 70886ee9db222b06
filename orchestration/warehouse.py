"""The warehouse Dagster writes to, found from the pipeline's own settings.

`wirelane-sync` picks the destination with `-d`; here dlt's own key for a pipeline's
destination, `destination_type` (`DESTINATION_TYPE=postgres`, or `destination_type = "postgres"`
at the top of `.dlt/config.toml`), picks it, and DuckDB is the default as on the command line.
Where the warehouse is (the DuckDB file, the Postgres DSN) stays in dlt's configuration: dbt
receives it through `pipelines.transform`, exactly as `wirelane-sync transform` passes it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import get_args

import dlt

from orchestration.locks import exclusive
from pipelines.destinations import Destination
from pipelines.transform import _destination_env as profile_variables
from sources.wirelane.errors import WirelaneConfigError

DESTINATIONS: tuple[Destination, ...] = get_args(Destination)


def configured_destination() -> Destination:
    """`destination_type` from dlt's configuration, DuckDB when unset."""
    value = dlt.config.get("destination_type", str) or "duckdb"
    for destination in DESTINATIONS:
        if value == destination:
            return destination
    raise WirelaneConfigError(f"destination_type {value!r} is not supported here; use {' or '.join(DESTINATIONS)}")


@contextmanager
def profile_environment(destination: Destination) -> Iterator[None]:
    """dbt's profile (`dbt_project/profiles.yml`) reads the warehouse from environment variables;
    dagster-dbt hands dbt a copy of `os.environ`, so they are set for the block and restored after."""
    variables = profile_variables(destination)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def warehouse_writer(destination: Destination, log: logging.Logger | None = None) -> Iterator[None]:
    """One writer at a time on a DuckDB file (its single-writer lock fails instead of waiting);
    Postgres takes concurrent loads, so nothing is held there."""
    if destination != "duckdb":
        yield
        return
    path = profile_variables("duckdb")["WIRELANE_DUCKDB_PATH"]
    with exclusive(f"duckdb:{path}", "the DuckDB warehouse", log):
        yield
