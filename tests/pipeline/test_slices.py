"""A sessions scan bigger than `sources.wirelane.sessions_per_slice` loads slice by slice, each
committed before the next is read: the warehouse ends exactly as after one load, and sessions
changed between slices are not lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines import load, load_step, status
from sources.wirelane.errors import WirelaneConfigError
from tests.pipeline.api_equality import assert_equal, duckdb_fetch
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_cli_run import run_cli, summary_table
from tests.pipeline.test_load import SESSIONS_OP, api_sessions, assert_sessions_equal, db_sessions

# the workspace reads pages of 200: a slice is two pages; compared with the API in clear
SLICE = {"SOURCES__WIRELANE__SESSIONS_PER_SLICE": "300", "SOURCES__WIRELANE__PSEUDONYMIZE": "false"}


@pytest.fixture
def sliced(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for name, value in SLICE.items():
        monkeypatch.setenv(name, value)
    return workspace


def _loads(ws: Workspace) -> int:
    return int(ws.query("select count(*) from wirelane_raw._dlt_loads")[0][0])


def _scan_state(ws: Workspace) -> dict[str, dict[str, object]]:
    pipeline = load.make_pipeline("duckdb")
    resources = pipeline.state["sources"]["wirelane"]["resources"]
    organizations: dict[str, dict[str, object]] = resources["sessions"]["organizations"]
    return organizations


def test_a_sliced_first_load_equals_one_load(sliced: Workspace) -> None:
    workspace = sliced
    summary = load.run("duckdb")
    totals = workspace.api.admin("GET", "stats").json()["totals"]
    slices = _loads(workspace)
    assert slices >= totals["sessions"] // 400, "a load per slice of two pages"
    assert summary.rows["sessions"] == totals["sessions"], "every session read once, counted over the slices"
    assert_equal(duckdb_fetch(str(workspace.duckdb_file)), workspace.api)
    state = _scan_state(workspace)
    assert all("resume" not in org for org in state.values()), "every scan finished"
    assert {org: s["cursor"] for org, s in state.items()} == _newest_updates(workspace), "as one load leaves them"
    before = workspace.requests(SESSIONS_OP)
    again = load.run("duckdb", resources=["sessions"])
    assert again.rows.get("sessions", 0) == 0 and _loads(workspace) <= slices + 1, "nothing new, in one run"
    assert workspace.requests(SESSIONS_OP) - before <= 2 * len(state), "a page or two per organization"


def _newest_updates(ws: Workspace) -> dict[str, str]:
    """Each organization's newest session `update_date`, as the state writes it."""
    newest = {}
    for org in ws.api.organizations:
        updates = [s["update_date"] for s in ws.api.get_all(f"/organizations/id/{org}/sessions", {})]
        latest = max(datetime.strptime(update, "%Y-%m-%dT%H:%M:%S%z") for update in updates)
        newest[org] = latest.astimezone(UTC).isoformat()
    return newest


def test_sessions_changed_between_slices_are_not_lost(sliced: Workspace) -> None:
    """The first slice is loaded, then the API moves on (sessions corrected, new ones begun)
    before the next slice is read, and again between every two pages of the rest of the scan."""
    workspace = sliced
    existing = set(api_sessions(workspace))
    first = load.extract("duckdb", resources=["sessions"])
    assert isinstance(first, load_step.Extracted) and first.more_sessions
    load_step.load_extracted(first)
    left = _scan_state(workspace)
    assert any("resume" in org for org in left.values())
    shown = status.cursors(dict(load.make_pipeline("duckdb").state))["sessions"]
    assert any("scan under way in slices: 400 sessions read" in cursor for cursor in shown.values()), shown
    begun = workspace.query("select min(session_begin), max(session_begin) from wirelane_raw.sessions")[0]
    backfill = load.run("duckdb", backfill=(begun[0].date().isoformat(), begun[1].date().isoformat()))
    assert backfill.rows["sessions"] > 0 and _scan_state(workspace) == left, "a backfill leaves the scan where it is"
    workspace.api.admin("POST", "advance", {"minutes": 240})
    workspace.api.admin("POST", "faults", {"page_shift": {"every": 2, "updates": 3, "inserts": 3}})
    load.run("duckdb", resources=["sessions"])  # the next run goes on where the first slice stopped
    workspace.api.admin("POST", "faults", {"profile": "none"})
    assert existing <= set(db_sessions(workspace)), "every session that existed when the load began"
    # versions changed while the last pages were read moved to the already-read front: the next run has them
    load.run("duckdb", resources=["sessions"])
    assert_sessions_equal(workspace)


def test_the_command_line_reads_and_loads_each_slice_in_a_new_image(workspace: Workspace) -> None:
    # two slices, each loaded in an image of its own
    environment = {**SLICE, "SOURCES__WIRELANE__SESSIONS_PER_SLICE": "700", "WIRELANE_SYNC_NEW_IMAGE_ABOVE_BYTES": "0"}
    result = run_cli(workspace, "run", "--no-transform", env=environment)
    assert result.returncode == 0, result.stderr
    table = summary_table(result.stdout)
    totals = workspace.api.admin("GET", "stats").json()["totals"]
    assert table["sessions"]["rows"] == totals["sessions"], "the summary counts every slice"
    assert table["sessions"]["requests"] == workspace.requests(SESSIONS_OP), "and every request"
    assert _loads(workspace) >= 2
    assert_equal(duckdb_fetch(str(workspace.duckdb_file)), workspace.api)


def test_no_slices_with_zero_and_a_clear_error_below(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__SESSIONS_PER_SLICE", "0")
    load.run("duckdb", resources=["sessions"])
    assert _loads(workspace) == 1
    monkeypatch.setenv("SOURCES__WIRELANE__SESSIONS_PER_SLICE", "-1")
    with pytest.raises(WirelaneConfigError, match="sessions_per_slice must be a whole number"):
        load.run("duckdb", resources=["sessions"])


def test_summaries_of_slices_add_up() -> None:
    first = load_step.RunSummary("1", {"sessions": 400, "members": 40}, 3.0, 5, 1, 1, ["sessions: kwh"], {"a"})
    second = load_step.RunSummary("2", {"sessions": 300}, 5.5, 2, 0, 1, [], {"a", "b"})
    both = load_step.then(first, second)
    assert both.rows == {"members": 40, "sessions": 700}
    assert (both.load_id, both.seconds, both.requests, both.retries, both.token_requests) == ("2", 5.5, 7, 1, 2)
    assert both.schema_changes == ["sessions: kwh"] and both.tables == {"a", "b"}
    assert load_step.then(None, second) is second
