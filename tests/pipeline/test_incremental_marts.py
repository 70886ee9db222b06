"""Incremental builds at their edges: the tests a build runs, and tables built by a version
that did not have the columns incremental builds rely on (`built_at`, `loaded_in`)."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import load
from pipelines.transform import BUILD, run_dbt
from sources.wirelane.errors import WirelaneError
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_transform import INCREMENTAL, every_mart


def test_a_build_checks_the_rows_it_wrote_and_dbt_test_checks_them_all(workspace: Workspace) -> None:
    """The expensive tests of the incremental marts are scoped to the rows the build wrote
    (`where: __rows_built_this_run__`); rows an earlier build wrote stay as that build checked
    them, which is why a duplicate slipped in behind dbt's back is `dbt test`'s to find."""
    load.run("duckdb")
    run_dbt("duckdb")
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        con.execute(
            "insert into marts.fct_evse_hourly select * from marts.fct_evse_hourly "
            "where hour_start = (select min(hour_start) from marts.fct_evse_hourly) limit 1"
        )
    workspace.api.admin("POST", "advance", {"minutes": 60})
    load.run("duckdb")
    run_dbt("duckdb")  # the duplicate is in an hour this build did not rewrite
    with pytest.raises(WirelaneError, match=r"unique_combination_fct_evse_hourly_evse_id__hour_start"):
        run_dbt("duckdb", ("test", "--select", "fct_evse_hourly"))


def test_tables_built_before_the_build_columns_are_caught_up_by_an_incremental_build(workspace: Workspace) -> None:
    """Marts built by a version without `built_at` / `loaded_in`: the next incremental build
    adds the columns, treats every row as unseen, and ends equal to a full refresh."""
    load.run("duckdb")
    run_dbt("duckdb")
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        for mart in sorted(INCREMENTAL):
            con.execute(f"alter table marts.{mart} drop column built_at")
        con.execute("alter table marts.fct_charging_sessions drop column loaded_in")
    workspace.api.admin("POST", "advance", {"minutes": 12 * 60})
    load.run("duckdb")
    run_dbt("duckdb")
    caught_up = every_mart(workspace)
    missing = workspace.query("select count(*) from marts.fct_charging_sessions where loaded_in is null")
    assert missing == [(0,)]
    run_dbt("duckdb", (*BUILD, "--full-refresh"))
    assert every_mart(workspace) == caught_up
