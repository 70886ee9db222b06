"""Keep dlt's history of a pipeline bounded: the state rows in the warehouse and the load packages
in the working folder of loads long superseded.

dlt appends the whole pipeline state to `_dlt_pipeline_state` on every load that changed it,
and keeps every loaded package's folder with the state inside; it never removes either (its
filesystem destination keeps the newest 100 state files, its SQL destinations keep all). Ours
changes on every run (the session cursor) and holds the detail fingerprints (1.0 MB at
1,000,000 sessions). dlt's restore at the start of every run (`sync_destination`) picks the
newest state with an ORDER BY ... LIMIT 1 that DuckDB sorts with every state string in it: at
1,000,000 sessions each run's peak grew by about 1.4 MiB a state kept, and from the 70th run on
every run failed, out of DuckDB's 160MB limit (`benchmarks/state_history.py`).

So once a load has completed, only the states of the newest `state_history` completed loads of
the pipeline are kept (and any newer, of loads not completed), which is all dlt's restore ever
reads, and only their packages. It runs on the load step's own connection, so the checkpoint
that closes the load writes it too (a checkpoint of its own cost 0.2 s a run). On DuckDB a
DELETE leaves the deleted strings in the row group, where that sort still reads them, so the
table is rewritten instead: the kept rows copied out, every row deleted, the kept rows put back,
all in one transaction; the checkpoint drops the emptied row group. On Postgres a DELETE is
enough (the sort carries TOAST pointers, and vacuum takes the rest). A restore that fails (a
history grown by an earlier version, or with `state_history = 0`) prunes and tries again.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException
from dlt.common.schema.utils import normalize_schema_name
from dlt.common.storages import LoadStorage
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

from pipelines import failures
from sources.wirelane.errors import WirelaneConfigError

STATE_HISTORY_KEY = "sources.wirelane.state_history"
DEFAULT_STATE_HISTORY = 1
STATE_TABLE = "_dlt_pipeline_state"
LOADS_TABLE = "_dlt_loads"
log = logging.getLogger("wirelane_sync.load")


@dataclass(frozen=True)
class Pruned:
    states: int  # rows deleted from the warehouse's state table
    packages: int  # loaded packages deleted from the working folder


def configured_state_history() -> int:
    """`state_history` from the configuration: how many completed loads keep their state; 0 keeps all."""
    problem = f"{STATE_HISTORY_KEY} must be a whole number of loads, 0 or more (0 keeps every state)"
    try:
        value = dlt.config.get(STATE_HISTORY_KEY, int)
    except ConfigValueCannotBeCoercedException:
        raise WirelaneConfigError(problem) from None
    keep = DEFAULT_STATE_HISTORY if value is None else int(value)
    if keep < 0:
        raise WirelaneConfigError(f"{problem}; got {keep}")
    return keep


def prune_or_explain(pipeline: dlt.Pipeline, keep: int, what: str) -> Pruned:
    """`prune`, a failure in one line that says what to do (`what`: what had happened by then);
    the data is untouched, the rewrite being one transaction."""
    try:
        return prune(pipeline, keep)
    except failures.DESTINATION_ERRORS as error:
        raise failures.explain(error, f"{what}, but deleting dlt's superseded states failed", True) from None


def prune(pipeline: dlt.Pipeline, keep: int) -> Pruned:
    """Deletes the states and loaded packages older than the newest `keep` completed loads; `keep`
    0 deletes nothing."""
    if keep <= 0:
        return Pruned(0, 0)
    return Pruned(prune_states(pipeline, keep), prune_packages(pipeline, keep))


def prune_states(pipeline: dlt.Pipeline, keep: int) -> int:
    """The warehouse's part of `prune`: how many state rows it deleted."""
    if pipeline.default_schema_name is None and normalize_schema_name(pipeline.pipeline_name) != pipeline.pipeline_name:
        # a pipeline new to this working folder has no schema, and dlt's client would name one
        # after the pipeline, which an organization's Dagster pipeline (`wirelane_BORNES-ATLANTIQUE`)
        # cannot be; its next run, once dlt restored the schema, prunes
        return 0
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return 0  # a first run: nothing loaded yet
        state = client.make_qualified_table_name(STATE_TABLE)
        loads = client.make_qualified_table_name(LOADS_TABLE)
        try:
            newest = client.execute_sql(
                f"SELECT l.load_id FROM {state} AS s JOIN {loads} AS l ON l.load_id = s._dlt_load_id "  # noqa: S608
                "WHERE s.pipeline_name = %s AND l.status = 0 ORDER BY l.load_id DESC LIMIT %s",
                pipeline.pipeline_name,
                keep,
            )
        except DatabaseUndefinedRelation:
            return 0  # the dataset holds no state yet
        if not newest or len(newest) < keep:
            return 0
        oldest_kept = newest[-1][0]
        counted = client.execute_sql(
            f"SELECT count(*) FROM {state} WHERE _dlt_load_id < %s AND pipeline_name = %s",  # noqa: S608
            oldest_kept,
            pipeline.pipeline_name,
        )
        count = int(counted[0][0]) if counted else 0
        if not count:
            return 0
        if isinstance(client, DuckDbSqlClient):
            _rewrite_from(client, state, oldest_kept, pipeline.pipeline_name)
        else:
            client.execute_sql(
                f"DELETE FROM {state} WHERE _dlt_load_id < %s AND pipeline_name = %s",  # noqa: S608
                oldest_kept,
                pipeline.pipeline_name,
            )
    log.info("deleted %d superseded dlt states from the warehouse", count)
    return count


def _rewrite_from(client: Any, state: str, oldest_kept: str, pipeline_name: str) -> None:
    """DuckDB: the table rewritten without this pipeline's states older than `oldest_kept`, so
    that no deleted string stays behind. The kept rows are copied one by one by row id: a scan
    that filters on a column it also returns (any `SELECT *` with a WHERE) read every state into
    one vector, and at 100 states of 1.6 MB asked for 256 MiB of a 160MB limit."""
    kept = "wl_kept_states"
    with client.begin_transaction():
        rows = client.execute_sql(
            f"SELECT rowid FROM {state} WHERE NOT (_dlt_load_id < %s AND pipeline_name = %s)",  # noqa: S608
            oldest_kept,
            pipeline_name,
        )
        client.execute_sql(f"CREATE TEMP TABLE {kept} AS SELECT * FROM {state} LIMIT 0")  # noqa: S608
        for (rowid,) in rows or ():
            client.execute_sql(f"INSERT INTO {kept} SELECT * FROM {state} WHERE rowid = %s", rowid)  # noqa: S608
        client.execute_sql(f"DELETE FROM {state}")  # noqa: S608
        client.execute_sql(f"INSERT INTO {state} SELECT * FROM {kept}")  # noqa: S608
        client.execute_sql(f"DROP TABLE {kept}")


def prune_packages(pipeline: dlt.Pipeline, keep: int) -> int:
    """The working folder's part of `prune`: how many loaded packages it deleted (the newest
    `keep` stay, for `dlt pipeline wirelane info` and its kin)."""
    loaded = sorted(pipeline.list_completed_load_packages())
    folder = Path(pipeline.working_dir) / "load" / LoadStorage.LOADED_FOLDER
    stale = loaded[: max(0, len(loaded) - keep)]
    for load_id in stale:
        shutil.rmtree(folder / load_id, ignore_errors=True)
    return len(stale)
