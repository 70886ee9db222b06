"""Progress while a load runs: the counts per resource are the real traffic, shown live on a
terminal and as log lines elsewhere; an observer can never break a load."""

from __future__ import annotations

import itertools
import json
import math
import os
import pty
import select
import subprocess
import sys
import time

from pipelines import load, progress
from sources.wirelane.observers import RequestEvent, observe
from tests.pipeline.conftest import Workspace

CLI = [sys.executable, "-m", "pipelines.cli"]
PAGE_SIZE = 200  # the workspace's SOURCES__WIRELANE__PAGE_SIZE


def test_counts_per_resource_are_what_the_api_served(workspace: Workspace) -> None:
    workspace.api.admin("POST", "faults", {"server_error": {"every": 9, "paths": "/members/aid/"}})
    with progress.track("off") as tracker:
        summary = load.run("duckdb", resources=["members", "member_payment_methods", "charging_stations"])
    workspace.api.admin("POST", "faults", {"profile": "none"})
    counts = tracker.snapshot()
    stats = workspace.api.admin("GET", "stats").json()
    served: dict[str, int] = stats["requests"]["by_operation"]
    per_org = stats["counts"]
    assert set(counts) == {"members", "member_payment_methods", "charging_stations"}, "attributed to resources"
    # every request the simulator answered is counted once, under the resource that made it
    assert counts["members"].requests == served["getMembers"]
    assert counts["member_payment_methods"].requests == served["getOrganizationMemberPaymentMethod"]
    assert counts["charging_stations"].requests == (
        served["organizationFindChargingStations"] + served["organizationFindChargingStation"]
    )
    assert sum(c.requests for c in counts.values()) == summary.requests
    # the injected 503s were retried, and counted where they happened
    assert counts["member_payment_methods"].retries == summary.retries > 0
    assert counts["member_payment_methods"].failed == summary.retries, "each failed attempt was retried once"
    assert counts["members"].retries == counts["charging_stations"].retries == 0
    # pages: every organization's member list in pages of PAGE_SIZE; rows: the records served
    assert counts["members"].pages == sum(max(1, math.ceil(c["members"] / PAGE_SIZE)) for c in per_org.values())
    assert counts["members"].rows == stats["totals"]["members"]
    assert counts["charging_stations"].rows == stats["totals"]["charging_stations"]
    assert counts["member_payment_methods"].rows == stats["totals"]["member_payment_methods"]


class Exploding:
    def request_done(self, event: RequestEvent) -> None:
        raise RuntimeError("a broken progress display")


def test_a_failing_observer_cannot_fail_a_load(workspace: Workspace) -> None:
    with observe(Exploding()):
        summary = load.run("duckdb", resources=["members"])
    assert summary.rows["members"] == workspace.api.admin("GET", "stats").json()["totals"]["members"]


def cli_env() -> dict[str, str]:
    return {**os.environ, "TERM": "xterm", "COLUMNS": "120"}


def test_log_lines_when_not_a_terminal(workspace: Workspace) -> None:
    workspace.api.admin("POST", "faults", {"slow": {"every": 3, "delay_s": 0.3, "paths": "/sessions"}})
    result = subprocess.run(
        [*CLI, "--log-format", "json", "--progress-interval", "0.2", "run", "-r", "sessions,members", "--no-transform"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=workspace.root,
        env=cli_env(),
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    ticks = [r for r in records if r.get("event") == "progress"]
    assert ticks, "a progress line at least every 0.2 s of a run that takes longer"
    seen = [r for r in ticks if r["resources"]]
    assert seen and set(seen[-1]["resources"]) <= {"sessions", "members"}
    assert all(r["requests"] <= later["requests"] for r, later in itertools.pairwise(ticks)), "monotonic"
    finished = [r for r in records if r.get("event") == "run_finished"]
    assert len(finished) == 1
    served = workspace.api.admin("GET", "stats").json()["requests"]["by_operation"]
    assert finished[0]["requests"] == served["findOrganizationChargingSessions"] + served["getMembers"]
    assert finished[0]["rows"]["members"] == workspace.query("select count(*) from wirelane_raw.members")[0][0]
    assert result.stdout.startswith(f"loaded {finished[0]['rows_total']:,} rows in ")


def run_in_terminal(ws: Workspace, *args: str, timeout: float = 300) -> tuple[int, str]:
    """The command with stdout and stderr on a pseudo-terminal, as a person at a shell runs it."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*CLI, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ws.root, env=cli_env()
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed: the process is done
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    return process.wait(timeout=30), output.decode(errors="replace")


def test_live_display_on_a_terminal(workspace: Workspace) -> None:
    workspace.api.admin("POST", "faults", {"slow": {"every": 2, "delay_s": 0.5, "paths": "/sessions"}})
    code, output = run_in_terminal(workspace, "run", "-r", "sessions", "--no-transform")
    assert code == 0, output
    assert "run: loading the Wirelane API into duckdb" in output, "the live display's title"
    assert "\x1b[2K" in output, "redrawn in place"
    frames = output.split("run: loading the Wirelane API into duckdb")
    assert len(frames) > 2, "redrawn several times"
    assert any("sessions" in frame and "requests" in frame for frame in frames)
    summary = output.rsplit("loaded ", 1)[1]
    assert "┃" in summary and "sessions" in summary, "the summary as a rich table on a terminal"
