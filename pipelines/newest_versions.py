"""A session staged twice in one load (a scan reads a shifted row again, a webhook's refresh
meets the scan) is merged in its newest version, chosen by a filter rather than dlt's dedup.

dlt deduplicates a merge's staged rows with `ROW_NUMBER()` over a window that carries every
column of the table, and DuckDB's window operator holds what it partitions: the memory it needs
grows with the rows of one load. Measured on the merge of the sessions table alone (77 columns,
2 threads): 1,000,000 staged sessions need more than 128MB and pass at 160MB, the default
limit (pipelines/load_step.py); 3,000,000 run out at 160MB and pass at 240MB. A first load of a
big account would fail at the default, and the limit needed grows with the account.

Duplicates are rare, so the filter looks for them first: an aggregate over the key alone (which
DuckDB spills to disk) finds the keys staged more than once, and only their rows are numbered.
Every other row passes as it is. The same merge of 3,000,000 sessions then passes at 128MB.
The newest `update_date` wins, as the source's `dedup_sort` hint says, with the row key as the
tie-break so that the choice is the same on every engine.

The filter names the staging table, which only the pipeline knows (Dagster's Postgres loads
stage in a dataset per organization), so the pipeline applies it, not the source: the source
on its own keeps dlt's dedup.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.dataset.utils import get_destination_clients
from dlt.destinations.sql_client import WithSqlClient

from sources.wirelane.errors import WirelaneConfigError

# the resources that write the sessions table: the incremental scan and the refresh by id
SESSION_RESOURCES = ("sessions", "session")
SESSION_TABLE = "sessions"
KEY, VERSION, ROW_KEY = "session_id", "update_date", "_dlt_id"


def newest_version_filter(staging_table: str, key: str, version: str, row_key: str) -> str:
    """A condition on a staged row that holds unless another row of its key is newer (or as
    new, with a greater row key). Uncorrelated, so the engine evaluates its subquery once.
    Every name comes escaped from dlt's SQL client, none from input."""
    duplicated = f"SELECT {key} FROM {staging_table} GROUP BY {key} HAVING count(*) > 1"  # noqa: S608
    numbered = (
        f"SELECT {row_key}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {version} DESC, {row_key})"  # noqa: S608
        f" AS _wl_version FROM {staging_table} WHERE {key} IN ({duplicated})"
    )
    return f"{row_key} NOT IN (SELECT {row_key} FROM ({numbered}) AS _wl_versions WHERE _wl_version > 1)"  # noqa: S608


def merge_newest_sessions(source: Any, pipeline: dlt.Pipeline) -> None:
    """Sets the sessions' merge to take the staged rows as deduplicated, through the filter."""
    # the client dlt's load would make, built for names only (no connection is opened); with the
    # source's schema, as `pipeline.sql_client()` would make up one named after the pipeline,
    # which Dagster's `wirelane_<ORGANIZATION>` is not a valid name for
    job_client, _ = get_destination_clients(
        source.schema, destination=pipeline.destination, destination_dataset_name=pipeline.dataset_name
    )
    if not isinstance(job_client, WithSqlClient):
        raise WirelaneConfigError(f"the destination {pipeline.destination.destination_name} has no SQL to merge in")
    client = job_client.sql_client
    with client.with_staging_dataset():
        staging_table = client.make_qualified_table_name(SESSION_TABLE)
    escape = client.escape_column_name
    condition = newest_version_filter(staging_table, escape(KEY), escape(VERSION), escape(ROW_KEY))
    disposition = {
        "disposition": "merge",
        "strategy": "delete-insert",
        "deduplicated": True,
        # dlt formats the filter (with nothing): braces in a dataset's name must stay braces
        "source_filter": condition.replace("{", "{{").replace("}", "}}"),
    }
    # dlt's sort for its own dedup, which the filter replaces: set to nothing (not left out, which
    # would keep a stored schema's), else dlt warns on every load that it is ignored
    unsorted = {VERSION: {"name": VERSION, "dedup_sort": None}}
    for name in SESSION_RESOURCES:
        if name in source.resources:
            source.resources[name].apply_hints(write_disposition=disposition, columns=unsorted)
