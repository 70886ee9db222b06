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

# every test here loads and builds twice or more (30 to 50 s each): scheduled first (tests/conftest.py)
pytestmark = pytest.mark.slow


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


def test_daily_marts_sum_again_the_days_sessions_left(workspace: Workspace) -> None:
    """fct_charging_sessions rewrites sessions onto another day (as a corrected date would):
    the daily marts sum again the days they joined and left, and delete a day left with no
    sessions, ending equal to a full refresh. The simulator never moves a started session's
    day, so the rows are moved here, with the `built_at` a rewrite gives them."""
    load.run("duckdb")
    run_dbt("duckdb")
    daily = ("mart_revenue_daily", "mart_sessions_daily")
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        busiest = con.execute(
            "select local_end_date from marts.fct_charging_sessions "
            "where status = 'closed' and price_excl_vat is not null group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()
        assert busiest is not None
        (day,) = busiest
        # every session that started or ended that day moves a year on: the day's revenue
        # goes with them, and the neighbouring days lose the sessions that crossed midnight
        moved = con.execute(
            "update marts.fct_charging_sessions set local_start_date = local_start_date + interval 366 day, "
            "local_end_date = local_end_date + interval 366 day, built_at = now() "
            "where local_start_date = ? or local_end_date = ?",
            [day, day],
        ).fetchone()
        assert moved is not None and moved[0] > 1
    run_dbt("duckdb", (*BUILD, "--select", *daily))
    incremental = {mart: rows for mart, rows in every_mart(workspace).items() if mart in daily}
    left = workspace.query(f"select count(*) from marts.mart_revenue_daily where local_end_date = '{day}'")
    assert left == [(0,)]
    run_dbt("duckdb", (*BUILD, "--select", *daily, "--full-refresh"))
    assert incremental == {mart: rows for mart, rows in every_mart(workspace).items() if mart in daily}


def test_sessions_on_an_evse_loaded_late_are_rebuilt_without_a_new_version(workspace: Workspace) -> None:
    """A session built while its EVSE was not loaded is flagged `dq_unknown_evse`; once the
    connector is there, the next incremental build rebuilds the session although dlt loaded no
    new version of it (fct_charging_sessions' second branch), ending equal to a full refresh."""
    load.run("duckdb")
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        busiest = con.execute(
            "select location__evse_id from wirelane_raw.sessions group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()
        assert busiest is not None
        (evse,) = busiest
        con.execute(
            "create table main.held_back as select * from wirelane_raw.charging_stations__connectors where evseid = ?",
            [evse],
        )
        con.execute("delete from wirelane_raw.charging_stations__connectors where evseid = ?", [evse])
    run_dbt("duckdb")
    flagged = workspace.query(
        f"select count(*) from marts.fct_charging_sessions where evse_id = '{evse}' and dq_unknown_evse"
    )
    assert flagged[0][0] > 1
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        con.execute("insert into wirelane_raw.charging_stations__connectors select * from main.held_back")
    run_dbt("duckdb")
    assert workspace.query("select count(*) from marts.fct_charging_sessions where dq_unknown_evse") == [(0,)]
    incremental = every_mart(workspace)
    run_dbt("duckdb", (*BUILD, "--full-refresh"))
    assert every_mart(workspace) == incremental


def test_the_hours_of_an_evse_are_replaced_from_its_first_rebuilt_hour_onward(workspace: Workspace) -> None:
    """fct_evse_hourly's `replace_tail` strategy (macros/replace_tail.sql): an EVSE rebuilt from
    some hour loses every old row from that hour on, including rows its new ones no longer
    reach, as a full build would not write them. delete+insert kept such a row."""
    load.run("duckdb")
    run_dbt("duckdb")
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        busiest = con.execute(
            "select evse_id, max(session_id) from marts.fct_charging_sessions "
            "where evse_id is not null and started_at is not null group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()
        assert busiest is not None
        evse, session = busiest
        # an hour past the data's clock, as no build writes: the EVSE's last hour, a month later
        con.execute(
            "insert into marts.fct_evse_hourly "
            "select * replace (hour_start + interval 30 day as hour_start, -1 as sessions_started) "
            "from marts.fct_evse_hourly where evse_id = ? order by hour_start desc limit 1",
            [evse],
        )
        # one of its sessions rewritten, as a new version would: the EVSE is rebuilt from that session's day
        con.execute("update marts.fct_charging_sessions set built_at = now() where session_id = ?", [session])
    beyond = "select count(*) from marts.fct_evse_hourly where sessions_started = -1"
    assert workspace.query(beyond) == [(1,)]
    run_dbt("duckdb", (*BUILD, "--select", "fct_evse_hourly"))
    assert workspace.query(beyond) == [(0,)]
    incremental = every_mart(workspace)["fct_evse_hourly"]
    run_dbt("duckdb", (*BUILD, "--select", "fct_evse_hourly", "--full-refresh"))
    assert every_mart(workspace)["fct_evse_hourly"] == incremental
