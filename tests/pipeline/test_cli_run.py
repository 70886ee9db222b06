"""`wirelane-sync run` and `backfill` as an operator's scheduler calls them: a process, exit codes,
the summary table, and failures that say why in one line and leave the warehouse as it was."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import duckdb
import pytest

from tests.pipeline.api_equality import (
    LOADED_CONNECTOR_STATUSES,
    assert_equal,
    duckdb_fetch,
    listed_connector_statuses,
)
from tests.pipeline.conftest import Workspace

CLI = [sys.executable, "-m", "pipelines.cli"]
WRONG_PASSWORD = {
    "SOURCES__WIRELANE__CREDENTIALS__CLIENT_ID": "demo-client",
    "SOURCES__WIRELANE__CREDENTIALS__CLIENT_SECRET": "demo-secret",
    "SOURCES__WIRELANE__CREDENTIALS__USERNAME": "analyst@demo.test",
    "SOURCES__WIRELANE__CREDENTIALS__PASSWORD": "s3cret-wrong-Password",
}


def run_cli(
    ws: Workspace, *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in drop}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, check=False, cwd=ws.root, env=environ
    )


def summary_table(stdout: str) -> dict[str, dict[str, int]]:
    """The plain summary table under the `loaded ...` line: table -> column -> number."""
    lines = stdout.splitlines()
    header = lines[1].split()
    assert header == ["table", "rows", "child", "rows", "pages", "requests", "retries"], lines[1]
    table = {}
    for line in lines[2:]:
        if not line.startswith("  ") or line.startswith("  schema:"):
            break
        name, *numbers = line.split()
        table[name] = dict(
            zip(
                ["rows", "child_rows", "pages", "requests", "retries"],
                (int(n.replace(",", "")) for n in numbers),
                strict=True,
            )
        )
    return table


def test_run_loads_and_summarises(workspace: Workspace) -> None:
    partial = run_cli(workspace, "run", "--resources", "sessions,members")
    assert partial.returncode == 0, partial.stderr
    assert partial.stdout.startswith("loaded ")
    table = summary_table(partial.stdout)
    assert set(table) == {"sessions", "members"}
    served = workspace.api.admin("GET", "stats").json()["requests"]["by_operation"]
    for name, operation in (("sessions", "findOrganizationChargingSessions"), ("members", "getMembers")):
        assert table[name]["rows"] == workspace.query(f"select count(*) from wirelane_raw.{name}")[0][0]
        assert table[name]["requests"] == table[name]["pages"] == served[operation], name
    members_children = workspace.query("select count(*) from wirelane_raw.members__member_groups")[0][0]
    assert table["members"]["child_rows"] >= members_children > 0
    first = partial.stdout.splitlines()[0]
    assert first.startswith(f"loaded {sum(t['rows'] + t['child_rows'] for t in table.values()):,} rows in ")
    assert "marts not built: no charging_stations" in partial.stdout
    result = run_cli(workspace, "run")
    assert result.returncode == 0, result.stderr
    assert "dbt build:" in result.stdout and "error" not in result.stdout.split("dbt build:")[1]
    assert workspace.query("select count(*) from marts.fct_charging_sessions")[0][0] > 0
    again = run_cli(workspace, "run", "-r", "sessions", "--no-transform")
    assert again.returncode == 0 and "loaded 0 rows" in again.stdout and "dbt build" not in again.stdout
    assert summary_table(again.stdout)["sessions"]["rows"] == 0, "a resource that loaded nothing still shows"


def test_backfill_and_bad_input(workspace: Workspace) -> None:
    assert run_cli(workspace, "backfill", "--start", "2026-10-20", "--end", "2026-10-22").returncode == 0
    for args, message in (
        (("run", "-r", "nope"), "unknown resource nope"),
        (("run", "-o", "../x"), "does not match the reference's pattern"),
        (("run", "-o", "DEMOTENANT/../../admin"), "does not match the reference's pattern"),
        (("run", "-o", "a%2Fb"), "does not match the reference's pattern"),
        (("run", "-o", "a?page=2"), "does not match the reference's pattern"),
        (("run", "-o", "a#b"), "does not match the reference's pattern"),
        (("run", "-d", "oracle"), "unknown; use duckdb or postgres"),
        (("backfill", "--start", "2026-10-22", "--end", "2026-10-20"), "must be before"),
        (("backfill", "--start", "yesterday", "--end", "2026-10-20"), "bad backfill date"),
    ):
        result = run_cli(workspace, *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)


def fingerprint(ws: Workspace) -> list[tuple[Any, ...]]:
    """Everything a failed run could have changed: every table's rows, the loads, the state."""
    tables = [
        row[0]
        for row in ws.query("select table_name from information_schema.tables where table_schema = 'wirelane_raw'")
    ]
    counts = [(table, ws.query(f'select count(*) from wirelane_raw."{table}"')[0][0]) for table in sorted(tables)]
    return [*counts, *ws.query("select load_id, status from wirelane_raw._dlt_loads order by 1"),
            *ws.query("select version, state from wirelane_raw._dlt_pipeline_state order by 1")]  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_failures_are_one_line_and_change_nothing(workspace: Workspace) -> None:
    assert run_cli(workspace, "run", "--no-transform").returncode == 0
    before = fingerprint(workspace)
    nowhere = f"http://127.0.0.1:{closed_port()}"
    cases: list[tuple[str, tuple[str, ...], dict[str, str], tuple[str, ...], int, str]] = [
        # name, arguments, environment, variables removed, exit code, what the line must say
        (
            "missing secrets",
            ("run", "-r", "members"),
            {"SOURCES__WIRELANE__ENVIRONMENT": "staging"},
            ("SOURCES__WIRELANE__BASE_URL", "SOURCES__WIRELANE__TOKEN_URL"),
            2,
            "no credentials: set sources.wirelane.credentials",
        ),
        ("wrong password", ("run", "-r", "members"), WRONG_PASSWORD, (), 1, "invalid_grant"),
        (
            "organization the account lacks",
            ("run", "-r", "members", "-o", "NO-SUCH-ORG"),
            {},
            (),
            1,
            "answered 403",
        ),
        (
            "organization id outside the reference's pattern",
            ("run", "-o", "DEMO TENANT"),
            {},
            (),
            2,
            "does not match the reference's pattern",
        ),
        (
            "unreachable host",
            ("run", "-r", "sessions"),
            {"SOURCES__WIRELANE__BASE_URL": f"{nowhere}/apis/emc", "SOURCES__WIRELANE__TOKEN_URL": f"{nowhere}/token"},
            (),
            1,
            f"cannot get a token from {nowhere}/token: ConnectError",
        ),
        (
            "incomplete credentials",
            ("run", "-r", "members"),
            {k: v for k, v in WRONG_PASSWORD.items() if not k.endswith(("USERNAME", "PASSWORD"))},
            (),
            2,
            "the password grant needs sources.wirelane.credentials.username and .password",
        ),
        ("unknown resource", ("run", "-r", "sessions,chargers"), {}, (), 2, "unknown resource chargers; choose from"),
        (
            "plain http outside loopback",
            ("run", "-r", "members"),
            {"SOURCES__WIRELANE__BASE_URL": "http://api.wirelane.com/apis/emc"},
            (),
            2,
            "must use https outside loopback",
        ),
        (
            "postgres without a DSN",
            ("run", "-d", "postgres"),
            {},
            ("DESTINATION__POSTGRES__CREDENTIALS",),
            2,
            "set DESTINATION__POSTGRES__CREDENTIALS",
        ),
    ]
    for name, args, env, drop, code, message in cases:
        result = run_cli(workspace, *args, env=env, drop=drop)
        assert result.returncode == code, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (name, result.stderr)
        assert result.stdout == "", name
        assert "s3cret-wrong-Password" not in result.stdout + result.stderr
        assert fingerprint(workspace) == before, f"{name}: the warehouse changed"
    # a secrets file that is not TOML: the file and the place, never its content
    secrets = workspace.root / ".dlt" / "secrets.toml"
    secrets.parent.mkdir(exist_ok=True)
    secrets.write_text('[sources.wirelane.credentials\npassword = "s3cret-wrong-Password"\n')
    for args in (("run",), ("status",), ("transform",)):
        result = run_cli(workspace, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip() == (
            "error: ./.dlt/secrets.toml is not valid TOML (Unexpected character: '\\n' at line 1 col 29); fix the file"
        ), args
        assert "s3cret" not in result.stderr
    secrets.unlink()
    assert fingerprint(workspace) == before
    # the same failure for a log shipper: one JSON object, and no secret even when logging everything
    result = run_cli(
        workspace, "--log-format", "json", "--log-level", "debug", "run", "-r", "members", env=WRONG_PASSWORD
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert (
        records[-1]["level"] == "ERROR" and records[-1]["exit_code"] == 1 and "invalid_grant" in records[-1]["message"]
    )
    assert any(r["logger"].startswith("httpx") for r in records), "debug shows the libraries' own logs"
    assert "s3cret-wrong-Password" not in result.stdout + result.stderr
    assert fingerprint(workspace) == before


def test_sigterm_is_exit_130_recorded_and_changes_nothing(workspace: Workspace) -> None:
    """systemd stops a unit (or its timeout fires) with SIGTERM: the run says so and leaves no trace."""
    assert run_cli(workspace, "run", "-r", "sessions", "--no-transform").returncode == 0
    before = fingerprint(workspace)
    workspace.api.admin("POST", "faults", {"slow": {"every": 1, "delay_s": 0.5, "paths": "/sessions"}})
    process = subprocess.Popen(
        [*CLI, "--progress-interval", "0.2", "run", "-r", "sessions", "--full-refresh", "--no-transform"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=workspace.root,
        env=dict(os.environ),
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until it is paging through sessions
        if "sessions: 1 pages" in line:
            break
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    workspace.api.admin("POST", "faults", {"profile": "none"})
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("error: run interrupted by SIGTERM")
    assert stdout == "" and fingerprint(workspace) == before, "a full refresh cut short drops nothing"
    failure = json.loads(run_cli(workspace, "status", "--json").stdout)["last_failure"]
    assert failure["exit_code"] == 130 and "SIGTERM" in failure["reason"]


def test_a_big_load_goes_on_in_a_new_image_of_the_process(workspace: Workspace) -> None:
    """Above WIRELANE_SYNC_NEW_IMAGE_ABOVE_BYTES of normalized data the load runs in a new image
    of the same process (pipelines/handoff.py): to its caller one process and one run, with the
    first image's requests in its summary, the listings' deletion marks and statuses written by
    the second, the warehouse equal to the API, and no handoff file left behind."""
    every_load = {
        "WIRELANE_SYNC_NEW_IMAGE_ABOVE_BYTES": "0",
        "SOURCES__WIRELANE__PSEUDONYMIZE": "false",
    }  # to compare with the API
    first = run_cli(workspace, "--log-level", "info", "run", "--no-transform", env=every_load)
    assert first.returncode == 0, first.stderr
    assert "loading in a new image of this process" in first.stderr
    table = summary_table(first.stdout)
    served = workspace.api.admin("GET", "stats").json()["requests"]["by_operation"]
    assert table["sessions"]["requests"] == served["findOrganizationChargingSessions"] > 0
    for name in ("sessions", "members"):
        assert table[name]["rows"] == workspace.query(f"select count(*) from wirelane_raw.{name}")[0][0], name
    org = workspace.api.organizations[0]
    member = workspace.api.get(f"/organizations/id/{org}/members", {"page_size": 1}).json()[0]
    account = member["account"]["account_id"]
    workspace.api.admin("POST", "remove", {"organization": org, "members": [account], "stations": []})
    workspace.api.admin("POST", "advance", {"minutes": 90})
    second = run_cli(workspace, "--log-level", "info", "run", "--no-transform", env=every_load)
    assert second.returncode == 0, second.stderr
    assert "loading in a new image of this process" in second.stderr
    assert workspace.query("select account_id from wirelane_raw.members where _wl_deleted_at is not null") == [
        (account,)
    ]
    assert_equal(duckdb_fetch(str(workspace.duckdb_file)), workspace.api)
    assert set(workspace.query(LOADED_CONNECTOR_STATUSES)) == listed_connector_statuses(workspace.api)
    assert not list(workspace.root.rglob("handoff-*.pickle"))
    recorded = json.loads(run_cli(workspace, "status", "--json").stdout)["last_success"]
    assert recorded["requests"] == sum(row["requests"] for row in summary_table(second.stdout).values()) > 0
    refused = run_cli(workspace, "run", "--no-transform", env={"WIRELANE_SYNC_NEW_IMAGE_ABOVE_BYTES": "lots"})
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: WIRELANE_SYNC_NEW_IMAGE_ABOVE_BYTES must be a whole number of bytes, not 'lots'"
    )
    lost = run_cli(workspace, "run", "--no-transform", env={"WIRELANE_SYNC_HANDOFF": str(workspace.root / "gone")})
    assert lost.returncode == 1
    assert "does not hold a run's handoff (FileNotFoundError); run again" in lost.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_runbook_backfill_a_gap_then_rebuild_the_marts(workspace: Workspace) -> None:
    """The runbook's "backfill a range": sessions that never arrived are loaded by `backfill`, and
    `transform --full-refresh` puts them in the marts (an incremental build only revisits the
    last few days)."""
    assert run_cli(workspace, "run").returncode == 0
    # what the API's date picker selects: the start, or the creation of a session not started
    started = "coalesce(session_begin, creation_date)"
    gap = f"{started} >= timestamptz '2026-10-15 00:00:00+00' and {started} < timestamptz '2026-10-17 00:00:00+00'"
    missing = workspace.query(f"select count(*) from wirelane_raw.sessions where {gap}")[0][0]
    assert missing > 0
    with duckdb.connect(str(workspace.duckdb_file)) as con:  # as if these had never been loaded
        con.execute(
            f"delete from marts.fct_charging_sessions where session_id in (select session_id from wirelane_raw.sessions where {gap})"
        )
        con.execute(f"delete from wirelane_raw.sessions where {gap}")
    backfill = run_cli(workspace, "backfill", "--start", "2026-10-15", "--end", "2026-10-17")
    assert backfill.returncode == 0, backfill.stderr
    assert summary_table(backfill.stdout)["sessions"]["rows"] == missing
    assert workspace.query(f"select count(*) from wirelane_raw.sessions where {gap}")[0][0] == missing
    rebuilt = run_cli(workspace, "transform", "--full-refresh")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (
        workspace.query("select count(*) from marts.fct_charging_sessions")[0][0]
        == (workspace.query("select count(*) from wirelane_raw.sessions")[0][0])
    )
