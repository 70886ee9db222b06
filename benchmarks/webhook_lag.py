"""The webhook benchmark (issue 9): how long from a change in the API to the change in the marts.

Against the simulator in its own process (fixed seed), with `wirelane-sync webhooks serve` in
another, both as an operator runs them. Two warehouses are loaded in full first: one kept up
to date from the events, one by polling. Then, round after round, the simulator's clock
moves (`advance`, the changes of `--minutes` simulated minutes) and each warehouse catches up:

    webhooks  the simulator POSTs the events; once they are all delivered (queued by the
              receiver), `wirelane-sync run --from-webhooks` loads them, reads the named
              sessions and stations again, and builds the marts
    polling   `wirelane-sync run`: the incremental load and the marts

The lag of the webhook path is measured from the advance to the end of the drain, when every
changed session is in `fct_charging_sessions` with the API's `update_date` (checked after each
round); the polling run is the time a scheduled run needs for the same change, on top of the
wait for its schedule. Requests are the simulator's own count.

Writes `benchmarks/results/webhook_lag.json` and `webhook_lag.md` (or `--results-dir`).

    .venv/bin/python -m benchmarks.webhook_lag [--sessions 100000] [--rounds 5] [--minutes 15]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import round_reports
from benchmarks.pipeline import (
    WIRELANE_SYNC,
    BenchmarkError,
    Simulator,
    _base_env,
    _check,
    requests_between,
    simulator,
)
from benchmarks.proctree import Measured, run_measured
from benchmarks.simulator_scale import _scaled

SECRET = secrets.token_hex(24)  # shared by the receiver and the simulator of one run
COMMAND = ".venv/bin/python -m benchmarks.webhook_lag"


class Receiver:
    """`wirelane-sync webhooks serve` on a free port, queueing into the webhook warehouse's folder."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
            [WIRELANE_SYNC, "webhooks", "serve", "--port", "0"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        if "listening on " not in line:
            self.process.kill()
            raise BenchmarkError(f"the webhook receiver did not start: {line}")
        self.url = line.split("listening on ", 1)[1].split(",", 1)[0]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wait_delivered(sim: Simulator, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        report: dict[str, Any] = sim.http.get(f"{sim.root}/_simulator/webhooks").raise_for_status().json()
        if not report["pending"]:
            return report
        if time.monotonic() > deadline:
            raise BenchmarkError(f"webhook deliveries still pending after {timeout_s} s: {report}")
        time.sleep(0.02)


def marts_behind(duckdb_file: Path, sim: Simulator, cursors: dict[str, datetime]) -> int:
    """Sessions changed since `cursors` whose mart row does not have the API's `update_date`."""
    changed: dict[str, datetime] = {}
    token = sim._token()
    for org in sim.info["organizations"]:
        page = 1
        while True:
            items = sim._sessions_desc(org, page, 500, token)
            newer = [i for i in items if datetime.fromisoformat(i["update_date"]) > cursors[org]]
            changed.update({i["session_id"]: datetime.fromisoformat(i["update_date"]) for i in newer})
            if len(newer) < len(items) or not items:
                break
            page += 1
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        con.execute("CREATE TEMP TABLE changed (session_id VARCHAR, updated_at TIMESTAMPTZ)")
        con.executemany("INSERT INTO changed VALUES (?, ?)", list(changed.items()))
        found = con.execute(
            "SELECT count(*) FROM changed c LEFT JOIN marts.fct_charging_sessions f USING (session_id) "
            "WHERE f.updated_at IS DISTINCT FROM c.updated_at"
        ).fetchone()
    return int(found[0]) if found else len(changed)


def _env(workdir: Path) -> dict[str, str]:
    return {
        **_base_env(workdir),
        "SOURCES__WIRELANE__WEBHOOK_SECRET": SECRET,
        "SOURCES__WIRELANE__REQUESTS_PER_SECOND": "0",
        "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "wirelane.duckdb"),
    }


def _measured(command: list[str], workdir: Path, env: dict[str, str], what: str) -> Measured:
    return _check(run_measured(command, cwd=workdir, env=env), what)


def measure(sessions: int, rounds: int, minutes: int, seed: int, entities: Sequence[str] = ()) -> dict[str, Any]:
    options = [*_scaled(sessions), *entities, "--seed", str(seed)]
    meta = round_reports.started(options) | {"minutes_per_round": minutes}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wirelane-webhooks-") as tmp:
        root = Path(tmp)
        hooks_dir, poll_dir = root / "webhooks", root / "polling"
        for folder in (hooks_dir, poll_dir):
            folder.mkdir()
        hooks_env, poll_env = _env(hooks_dir), _env(poll_dir)
        receiver = Receiver(hooks_dir, hooks_env)
        try:
            # the simulator inherits the secret from this process's environment (never in `ps`)
            os.environ["WIRELANE_WEBHOOK_SECRET"] = SECRET
            with simulator(root / "sim", [*options, "--webhook-url", receiver.url]) as sim:
                api = {
                    "SOURCES__WIRELANE__BASE_URL": sim.info["base_url"],
                    "SOURCES__WIRELANE__TOKEN_URL": sim.info["token_url"],
                }
                hooks_env.update(api)
                poll_env.update(api)
                for folder, env in ((hooks_dir, hooks_env), (poll_dir, poll_env)):
                    full = _measured([WIRELANE_SYNC, "--progress", "off", "run"], folder, env, "the full load")
                    meta.setdefault("full_load_s", []).append(full.seconds)
                wait_delivered(sim)  # nothing changed yet: nothing to deliver
                for number in range(1, rounds + 1):
                    rows.append(_round(number, sim, minutes, (hooks_dir, hooks_env), (poll_dir, poll_env)))
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            receiver.stop()
    round_reports.finished(meta)
    return {"sessions": sessions, "meta": meta, "rounds": rows}


def _round(
    number: int, sim: Simulator, minutes: int, hooks: tuple[Path, dict[str, str]], poll: tuple[Path, dict[str, str]]
) -> dict[str, Any]:
    cursors = sim.newest_updates()
    before_hooks = wait_delivered(sim)
    started = time.perf_counter()
    changed = sim.advance(minutes)
    delivered = wait_delivered(sim)
    delivered_s = time.perf_counter() - started
    stats = sim.stats()
    drain = _measured([WIRELANE_SYNC, "--progress", "off", "run", "--from-webhooks"], *hooks, "the webhook drain")
    lag_s = time.perf_counter() - started
    drained = sim.stats()
    behind = marts_behind(hooks[0] / "wirelane.duckdb", sim, cursors)
    if behind:
        raise BenchmarkError(f"round {number}: {behind} changed sessions not in the marts after the drain")
    before_poll = sim.stats()
    polling = _measured([WIRELANE_SYNC, "--progress", "off", "run"], *poll, "the polling run")
    polled = sim.stats()
    behind = marts_behind(poll[0] / "wirelane.duckdb", sim, cursors)
    if behind:
        raise BenchmarkError(f"round {number}: {behind} changed sessions not in the marts after polling")
    events = delivered["published"] - before_hooks["published"]
    return {
        "round": number,
        "changes": {k: v for k, v in changed.items() if isinstance(v, int)},
        "events": events,
        "delivered_s": round(delivered_s, 2),
        "drain_s": drain.seconds,
        "drain_load_s": _load_seconds(drain),
        "lag_s": round(lag_s, 2),
        "drain_requests": requests_between(stats, drained)[0],
        "drain_peak_rss_mib": drain.peak_rss_mib,
        "polling_s": polling.seconds,
        "polling_load_s": _load_seconds(polling),
        "polling_requests": requests_between(before_poll, polled)[0],
        "polling_peak_rss_mib": polling.peak_rss_mib,
    }


def _load_seconds(measured: Measured) -> float | None:
    """The load's own time, from the summary line (`loaded N rows in S s ...`); the rest of the
    command is dbt and the process start."""
    found = re.search(r"^loaded [\d,]+ rows in ([\d.]+) s", measured.stdout, re.MULTILINE)
    return float(found.group(1)) if found else None


def markdown(run: dict[str, Any]) -> str:
    rounds, meta = run["rounds"], run["meta"]
    lines = [
        f"# Webhook lag: {run['sessions']:,} sessions, {meta['minutes_per_round']} simulated minutes per round",
        "",
        round_reports.machine_line(meta),
        "",
        "| round | events | delivered (s) | drain: load (s) | drain + dbt (s) | lag advance to marts (s) "
        "| drain requests | polling: load (s) | polling run + dbt (s) | polling requests |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rounds:
        lines.append(
            f"| {row['round']} | {row['events']:,} | {row['delivered_s']} | {row['drain_load_s']} | {row['drain_s']} "
            f"| {row['lag_s']} | {row['drain_requests']:,} | {row['polling_load_s']} | {row['polling_s']} "
            f"| {row['polling_requests']:,} |"
        )
    keys = ("lag_s", "polling_s", "delivered_s", "drain_load_s", "drain_s", "polling_load_s")
    median = {key: round(statistics.median(r[key] or 0 for r in rounds), 2) for key in keys}
    requests = {key: statistics.median(r[key] for r in rounds) for key in ("drain_requests", "polling_requests")}
    lines += [
        f"| median | {statistics.median(r['events'] for r in rounds):,.0f} | {median['delivered_s']} "
        f"| {median['drain_load_s']} | {median['drain_s']} | {median['lag_s']} | {requests['drain_requests']:,.0f} "
        f"| {median['polling_load_s']} | {median['polling_s']} | {requests['polling_requests']:,.0f} |",
        "",
        f"Command: `{meta['command']}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--minutes", type=int, default=15, help="simulated minutes per round (a polling interval)")
    round_reports.add_world_arguments(parser)
    args = parser.parse_args(argv)
    entities = round_reports.world_options(args)
    run = measure(args.sessions, args.rounds, args.minutes, args.seed, entities)
    round_reports.write_report(args.results_dir, "webhook_lag", COMMAND, argv, run, markdown)


if __name__ == "__main__":
    main()
