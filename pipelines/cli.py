"""The `wirelane-sync` command line.

Exit codes, for every command: 0 done; 1 the work failed (the API, refused credentials, an
unreachable host, the destination, a dbt model or test); 2 bad configuration or arguments (a
missing secret, an unknown resource, a malformed date, a taken port); 130 interrupted. A
failure prints one line on stderr saying why (`error: ...`, or a JSON object with
`--log-format json`).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines import allocator, collector, import_guard, logs

if TYPE_CHECKING:
    from pipelines.dbt_process import DbtProcess
    from pipelines.load_step import RunSummary
    from pipelines.warehouse import Warehouse

app = typer.Typer(
    name="wirelane-sync",
    help="Incremental ELT from the Wirelane API 2.0 into DuckDB or Postgres, with dbt marts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs wrap to the terminal, `code` shows as code
)
log = logging.getLogger("wirelane_sync.cli")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class ProgressMode(StrEnum):
    auto = "auto"
    live = "live"
    log = "log"
    off = "off"


@dataclass
class _Options:
    """The global options, for the commands (set once by the callback, per process)."""

    progress: ProgressMode = ProgressMode.auto
    progress_interval_s: float = 30.0


OPTIONS = _Options()


@app.callback()
def _root(
    log_format: Annotated[
        LogFormat,
        typer.Option(
            envvar="WIRELANE_SYNC_LOG_FORMAT",
            help="Log lines on stderr as text, or as one JSON object per line (time, level, logger, "
            "message and fields) for log shippers.",
        ),
    ] = LogFormat.text,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            envvar="WIRELANE_SYNC_LOG_LEVEL",
            case_sensitive=False,
            help="Least severe level logged. info shows retries and, when stderr is not a terminal, "
            "progress lines; debug adds dlt's and every HTTP request's own logs. Secrets are always masked.",
        ),
    ] = LogLevel.info,
    progress: Annotated[
        ProgressMode,
        typer.Option(
            envvar="WIRELANE_SYNC_PROGRESS",
            help="How loads show progress: auto (a live table when stderr is a terminal, log lines "
            "otherwise), live, log, or off.",
        ),
    ] = ProgressMode.auto,
    progress_interval: Annotated[
        float,
        typer.Option(min=0.1, envvar="WIRELANE_SYNC_PROGRESS_INTERVAL", help="Seconds between progress log lines."),
    ] = 30.0,
) -> None:
    """Incremental ELT from the Wirelane API 2.0 into DuckDB or Postgres, with dbt marts.

    Start a local API with `simulate`, load it with `run`, see what is loaded with `status`.
    Global options go before the command: `wirelane-sync --log-format json run`.
    """
    logs.setup(log_format.value, log_level.value)
    OPTIONS.progress, OPTIONS.progress_interval_s = progress, progress_interval


def fail(message: str, code: int = 2) -> typer.Exit:
    """One clear line on stderr (secrets masked) and a non-zero exit."""
    typer.echo(logs.error_line(message, exit_code=code), err=True)
    return typer.Exit(code)


def _fault_settings(value: str | None) -> dict[str, object] | None:
    from simulator import faults

    if not value:
        return None
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    settings: object = json.loads(text) if text.lstrip().startswith("{") else {"profile": text}
    if not isinstance(settings, dict):
        raise ValueError("fault settings must be a profile name or a JSON object")
    faults.parse(settings)  # validate now, fail before building the world
    return settings


@app.command()
def simulate(
    host: Annotated[str, typer.Option(help="Interface to listen on (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated data: same seed, same bytes.")] = 42,
    organizations: Annotated[int, typer.Option(min=1, max=50, help="Number of organizations.")] = 2,
    stations: Annotated[int, typer.Option(min=0, help="Charging stations in total.")] = 300,
    members: Annotated[int, typer.Option(min=0, help="Organization members in total.")] = 2000,
    sessions: Annotated[int, typer.Option(min=0, help="Charging sessions in total.")] = 100_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history before the clock.")] = 365,
    now: Annotated[
        str, typer.Option(help="The simulated clock at start (ISO 8601 with offset).")
    ] = "2026-11-01T00:00:00+00:00",
    faults: Annotated[
        str | None,
        typer.Option(help="Fault profile (none, chaos), a JSON object, or @file.json."),
    ] = None,
    ready_file: Annotated[
        Path | None,
        typer.Option(help="Write the base URL and credentials as JSON here once serving."),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(help="POST an EventLog here for every change `advance` makes (docs/webhooks.md)."),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="WIRELANE_WEBHOOK_SECRET",
            show_envvar=True,
            help="The shared secret the events are signed with (HMAC-SHA256); the environment keeps it out of `ps`.",
        ),
    ] = None,
) -> None:
    """Serve a local Wirelane API 2.0 with realistic, seeded data and optional faults."""
    from simulator import server, timefmt
    from simulator.auth import DemoCredentials
    from simulator.world import SimulatorSizes

    try:
        fault_settings = _fault_settings(faults)
        timefmt.parse_iso(now)
    except (ValueError, OSError) as error:
        raise fail(f"bad --faults or --now: {error}") from error
    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise fail(f"--webhook-url {webhook_url!r} is not an http(s) URL")
    if webhook_url is not None and not webhook_secret:
        raise fail("--webhook-url needs --webhook-secret (or WIRELANE_WEBHOOK_SECRET) to sign the events with")
    settings = server.SimulatorSettings(
        host=host,
        port=port,
        seed=seed,
        sizes=SimulatorSizes(organizations, stations, members, sessions, days),
        now=now,
        faults=fault_settings,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret if webhook_url else None,
    )
    try:
        sock = server.bind(host, port)
    except OSError as error:
        raise fail(f"{error}; choose another --port (0 picks a free one)") from error
    started = time.monotonic()
    world = server.build(settings)
    actual_port = sock.getsockname()[1]
    base_url = f"http://{host}:{actual_port}"
    creds = DemoCredentials()
    info = {
        "base_url": f"{base_url}/apis/emc",
        "token_url": f"{base_url}/token",
        "openapi_url": f"{base_url}/openapi.json",
        "organizations": [org.id for org in world.organizations],
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "username": creds.username,
        "password": creds.password,
    }
    typer.echo(
        f"Wirelane API simulator ready in {time.monotonic() - started:.1f} s "
        f"({world.sessions.n:,} sessions, seed {seed})\n"
        f"  API:       {info['base_url']}\n"
        f"  OAuth:     {info['token_url']}\n"
        f"  OpenAPI:   {info['openapi_url']}\n"
        f"  Admin:     {base_url}/_simulator/stats | /_simulator/advance | /_simulator/faults | /_simulator/webhooks\n"
        + (f"  Webhooks:  every change POSTed to {webhook_url}, signed\n" if webhook_url else "")
        + f"  Orgs:      {', '.join(info['organizations'])}\n"
        f"  Client:    {creds.client_id} / {creds.client_secret}\n"
        f"  User:      {creds.username} / {creds.password}\n"
        f"Try:\n"
        f"  TOKEN=$(curl -s -d grant_type=password -d client_id={creds.client_id} "
        f"-d client_secret={creds.client_secret} -d username={creds.username} "
        f"-d password={creds.password} {info['token_url']} "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -s -H "Authorization: Bearer $TOKEN" '
        f"'{info['base_url']}/organizations/id/{world.organizations[0].id}/sessions?page_size=2'"
    )
    if ready_file is not None:
        ready_file.write_text(json.dumps(info, indent=2))
    sys.stdout.flush()
    server.serve_forever(settings, world, sock)


Destination = Annotated[
    str,
    typer.Option(
        "--destination",
        "-d",
        help="duckdb (the file in destination.duckdb.credentials, default ./wirelane.duckdb) or postgres "
        "(DESTINATION__POSTGRES__CREDENTIALS).",
    ),
]
Resources = Annotated[
    list[str] | None,
    typer.Option(
        "--resources",
        "-r",
        help="Only these resources, repeated or comma-separated (sessions, members, member_payment_methods, "
        "member_subscriptions, charging_stations, station_cases, station_connection_chains, "
        "station_maintenance_windows, tariffs, price_models); default all.",
    ),
]
Organizations = Annotated[
    list[str] | None,
    typer.Option("--organizations", "-o", help="Only these organization ids; default sources.wirelane.organizations."),
]


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _warehouse(destination: str) -> Warehouse:
    """The warehouse a command works on, or exit 2 when the configuration names none."""
    from dlt.common.configuration.exceptions import ConfigProviderException

    from pipelines.warehouse import locate
    from sources.wirelane.errors import WirelaneConfigError

    if destination not in ("duckdb", "postgres"):
        raise fail(f"--destination {destination!r} is unknown; use duckdb or postgres")
    try:
        return locate(destination)  # type: ignore[arg-type]
    except WirelaneConfigError as error:
        raise fail(str(error), 2) from None
    except ConfigProviderException as error:  # dlt reads .dlt/*.toml at the first setting asked for
        raise fail(_unreadable_settings(error), 2) from None


def _unreadable_settings(error: Exception) -> str:
    """A config.toml or secrets.toml that is not TOML: which file, where, and nothing of its
    content but what the parser quotes (one character)."""
    paths = [path for path in getattr(error, "full_paths", []) if Path(path).is_file()]
    where = " or ".join(paths) or getattr(error, "file_name", "a settings file")
    detail = str(error).strip().splitlines()[-1]
    return f"{where} is not valid TOML ({detail}); fix the file"


def _failed(where: Warehouse, command: str, error: BaseException, signals: _Signals) -> typer.Exit:
    """Records the failure for `status`, then the one line and the exit code it deserves."""
    from dlt.common.configuration.exceptions import ConfigurationException

    from pipelines import runlog
    from sources.wirelane.errors import WirelaneConfigError

    if signals.received or isinstance(error, KeyboardInterrupt):
        code_received = getattr(error, "signal_code", None)  # dlt's SignalReceivedException
        name = signals.received.name if signals.received else signal.Signals(code_received or signal.SIGINT).name
        code, message = 130, f"{command} interrupted by {name}; the next run starts again from the last completed load"
    elif isinstance(error, WirelaneConfigError | ConfigurationException):
        code, message = 2, _first_line(error)  # dlt's configuration errors span many lines
    else:
        code, message = 1, _first_line(error)
    runlog.record_failure(where.key, command, code, message)
    return fail(message, code)


def _record_unexpected(where: Warehouse, command: str, error: Exception) -> None:
    """A bug, not an operating condition: recorded for `status`; the traceback follows."""
    from pipelines import runlog

    runlog.record_failure(where.key, command, 1, f"unexpected {type(error).__name__}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _expected() -> tuple[type[BaseException], ...]:
    """What ends a command with one line rather than a traceback: our errors, dlt's
    configuration errors, an interrupt."""
    from dlt.common.configuration.exceptions import ConfigurationException

    from sources.wirelane.errors import WirelaneError

    return (WirelaneError, ConfigurationException, KeyboardInterrupt)


class _Signals:
    """SIGINT (Ctrl-C) and SIGTERM (systemd stopping the unit, a timeout) end the work as an
    interrupt, remembered here: dlt reports an interrupt inside a step as that step's failure,
    and the exit must still be 130 with the failure recorded, not 1, nor a silent death."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.received = signal.Signals(signum)
        raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _load(command: str, destination: str, **kwargs: Any) -> RunSummary:
    """Runs the load with progress, prints its summary, records the outcome for `status`.

    A big load goes on in a new image of this process once the API has been read
    (pipelines/handoff.py); that image runs this function again and picks up from the handoff."""
    from pipelines import handoff, load_step, progress, progress_mode, report, runlog

    where = _warehouse(destination)
    with_log_lines = progress_mode.resolve_mode(OPTIONS.progress.value, logs.is_json()) == "log"
    signals = _Signals()
    resumed: handoff.Handoff | None = None
    continuation: tuple[Path, str] | None = None
    summary: RunSummary | None = None
    try:
        resumed = handoff.take()
        earlier = resumed.earlier if resumed else None
        started = resumed.started if resumed else None
        handed = resumed.extracted if resumed else None
        if earlier is not None:
            kwargs = load_step.next_slice(kwargs)  # the command line again, which asked for the first slice
        with (
            signals,
            progress.track(
                OPTIONS.progress.value,
                OPTIONS.progress_interval_s,
                json_logs=logs.is_json(),
                title=f"{command}: loading the Wirelane API into {destination}",
                earlier=resumed.resources if resumed else None,
                elapsed_s=resumed.elapsed_s if resumed else 0.0,
            ) as tracker,
        ):
            while True:
                work: load_step.Extracted | RunSummary
                if handed is None:
                    from pipelines import load  # the source, its HTTP client, Arrow: not for an image that only loads

                    work = load.extract(where.destination, started=started, **kwargs)
                else:
                    work = handed  # the image before read it
                if isinstance(work, load_step.RunSummary):
                    summary = work  # an empty webhook queue: nothing to load
                    break
                if handed is None and _NEW_IMAGE_ALLOWED and handoff.worth_it(work):
                    image = handoff.Handoff(work, tracker.snapshot(), tracker.elapsed(), earlier, work.started)
                    continuation = handoff.write(image), "extracted; loading"
                    break
                loaded = load_step.then(earlier, load_step.load_extracted(work))
                if not work.more_sessions:
                    summary = loaded
                    break
                if _NEW_IMAGE_ALLOWED:
                    image = handoff.Handoff(None, tracker.snapshot(), tracker.elapsed(), loaded, work.started)
                    continuation = handoff.write(image), "a slice of the sessions loaded; reading the next"
                    break
                earlier, started, handed, kwargs = loaded, work.started, None, load_step.next_slice(kwargs)
    except _expected() as error:
        raise _failed(where, command, error, signals) from None
    except Exception as error:
        _record_unexpected(where, command, error)
        raise  # the traceback is what a bug report needs
    if continuation is not None:
        handoff.continue_in_new_image(*continuation)  # the progress display and the signal handlers are closed
    assert summary is not None
    resources = tracker.snapshot()
    report.print_summary(summary, resources)
    details = {
        "load_id": summary.load_id,
        "rows_total": sum(summary.rows.values()),
        "rows": {table: count for table, count in summary.rows.items() if "__" not in table},
        "seconds": summary.seconds,
        "requests": summary.requests,
        "retries": summary.retries,
        "resources": [name for name in resources if name != progress.OUTSIDE],
    }
    if summary.webhooks is not None:
        details["webhooks"] = summary.webhooks
    runlog.record_success(where.key, command, details)
    if with_log_lines:
        log.info(
            "%s finished: %s", command, report.first_line(summary), extra={"event": f"{command}_finished", **details}
        )
    return summary


@app.command()
def run(
    destination: Destination = "duckdb",
    resources: Resources = None,
    organizations: Organizations = None,
    full_refresh: Annotated[
        bool, typer.Option(help="Drop the loaded tables and the state (cursors) first, then load everything again.")
    ] = False,
    no_transform: Annotated[
        bool, typer.Option("--no-transform", help="Load only; skip `dbt build` afterwards.")
    ] = False,
    from_webhooks: Annotated[
        bool,
        typer.Option(
            "--from-webhooks",
            help="Load the events `webhooks serve` queued and read again exactly the sessions and stations they "
            "name (a tariff event: the tariffs); no listings. Regular runs stay the safety net.",
        ),
    ] = False,
) -> None:
    """Load the Wirelane API into the warehouse, then build the dbt marts.

    Sessions load incrementally (from each organization's cursor), everything else as a full
    listing. Shows progress while it runs and a summary table at the end; `status` tells
    later what was loaded.
    """
    if from_webhooks and (resources or organizations or full_refresh):
        raise fail(
            "--from-webhooks loads what the queued events name: drop --resources, --organizations, --full-refresh"
        )
    summary = _load(
        "run",
        destination,
        resources=_split(resources),
        organizations=_split(organizations),
        full_refresh=full_refresh,
        from_webhooks=from_webhooks,
    )
    tables = summary.tables
    if no_transform or (summary.webhooks is not None and not summary.webhooks["events"]):
        return  # nothing new to build from
    from pipelines.transform import REQUIRED_TABLES

    missing = sorted(REQUIRED_TABLES - tables)
    if missing:
        typer.echo(
            f"marts not built: no {', '.join(missing)} loaded yet; run once without --resources to load everything"
        )
        return
    _transform("run", destination)


@app.command()
def backfill(
    start: Annotated[
        str, typer.Option(help="First day (ISO date or date-time, UTC unless an offset is given), inclusive.")
    ],
    end: Annotated[str, typer.Option(help="Last boundary (ISO date or date-time), exclusive.")],
    destination: Destination = "duckdb",
    organizations: Organizations = None,
) -> None:
    """Reload the sessions that started in [start, end), without moving the incremental cursor.

    For a gap or a correction in the past; the marts are not rebuilt (run `transform` after).
    """
    _load("backfill", destination, organizations=_split(organizations), backfill=(start, end))


def _transform(command: str, destination: str, full_refresh: bool = False) -> None:
    from pipelines.dbt_process import DbtProcess

    with DbtProcess() as dbt:  # dbt imports itself while this process reads the settings
        _run_transform(command, destination, full_refresh, dbt)


def _run_transform(command: str, destination: str, full_refresh: bool, dbt: DbtProcess) -> None:
    from pipelines import progress_mode, runlog
    from pipelines.transform import BUILD, run_dbt

    where = _warehouse(destination)
    dbt_command = (*BUILD, "--full-refresh") if full_refresh else BUILD
    spinner = progress_mode.resolve_mode(OPTIONS.progress.value, logs.is_json()) == "live"
    signals = _Signals()
    try:
        with signals:
            if spinner:
                from rich.console import Console

                with Console(stderr=True).status(f"dbt {' '.join(dbt_command[:1])} on {destination}…"):
                    summary = run_dbt(where.destination, dbt_command, dbt)
            else:
                summary = run_dbt(where.destination, dbt_command, dbt)
    except _expected() as error:
        raise _failed(where, command, error, signals) from None
    except Exception as error:
        _record_unexpected(where, command, error)
        raise
    results = dict(sorted(summary.results.items()))
    runlog.record_transform(where.key, results)
    typer.echo("dbt build: " + ", ".join(f"{count} {status}" for status, count in results.items()))


@app.command()
def transform(
    destination: Destination = "duckdb",
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild the incremental marts from scratch: after a backfill of sessions older than "
            "the marts' lookback (3 days), which an incremental build does not revisit.",
        ),
    ] = False,
) -> None:
    """Run `dbt build` (the marts and their tests) on the warehouse the pipeline loads."""
    _transform("transform", destination, full_refresh)


@app.command("status")
def status_command(
    destination: Destination = "duckdb",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (for monitors) instead of tables.")
    ] = False,
) -> None:
    """Show what is loaded, how fresh it is, and why the last run failed.

    Per resource: its rows, the last load that brought rows and the stored cursor (sessions:
    one per organization). Then the age of the newest completed load against dbt's freshness
    thresholds, and the last success and last failure of run, backfill and transform.

    Only reads (DuckDB is opened read-only, briefly), so it is safe next to a running load.
    Exits 1 when the warehouse cannot be reached, 0 otherwise (also when nothing is loaded yet).
    """
    from pipelines import report
    from pipelines.status import collect

    where = _warehouse(destination)
    result = collect(where.destination)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        report.print_status(result)
    if result.warehouse_state == "error":
        raise fail(result.problem or "the warehouse cannot be read", 1)


@app.command("postgres-roles")
def postgres_roles(
    admin_dsn: Annotated[
        str,
        typer.Option(
            envvar="WIRELANE_PG_ADMIN_DSN",
            help="A DSN of a role allowed to create roles and schemas in the warehouse database "
            "(or WIRELANE_PG_ADMIN_DSN).",
        ),
    ],
    loader: Annotated[str, typer.Option(help="The role the pipeline and dbt run as.")] = "wirelane_loader",
    bi: Annotated[str, typer.Option(help="The read-only role for BI tools.")] = "wirelane_bi",
) -> None:
    """Create (or update) least-privilege Postgres roles: a loader that owns only the pipeline's
    schemas, and a BI role that reads only `marts`.

    Passwords come from WIRELANE_LOADER_PASSWORD and WIRELANE_BI_PASSWORD (never arguments, so
    they stay out of shell history). Run it again to rotate a password. Afterwards point
    DESTINATION__POSTGRES__CREDENTIALS at the loader role.
    """
    import os

    from pipelines.roles import Role, setup_roles
    from sources.wirelane.errors import WirelaneConfigError, WirelaneError

    passwords = {name: os.environ.get(name, "") for name in ("WIRELANE_LOADER_PASSWORD", "WIRELANE_BI_PASSWORD")}
    missing = [name for name, value in passwords.items() if not value]
    if missing:
        raise fail(f"set {' and '.join(missing)} to the roles' passwords")
    try:
        lines = setup_roles(
            admin_dsn,
            Role(loader, passwords["WIRELANE_LOADER_PASSWORD"]),
            Role(bi, passwords["WIRELANE_BI_PASSWORD"]),
        )
    except WirelaneConfigError as error:
        raise fail(str(error), 2) from None
    except WirelaneError as error:
        raise fail(str(error), 1) from None
    for line in lines:
        typer.echo(line)


@app.command()
def dashboard(
    destination: Destination = "duckdb",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve the dashboard on.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to listen on (keep it on loopback).")] = "127.0.0.1",
) -> None:
    """Serve the BI dashboard over the marts (Streamlit): revenue, sessions, utilization,
    stations, reconciliation and data freshness, with filters.

    Only reads: DuckDB is opened read-only for each refresh, Postgres in read-only sessions.
    Runs until interrupted (Ctrl-C).
    """
    import os
    import socket
    import subprocess

    where = _warehouse(destination)
    try:  # a taken port is a configuration error (2), found before Streamlit starts
        with socket.socket() as probe:
            probe.bind((host, port))
    except OSError as error:
        raise fail(f"cannot listen on {host}:{port} ({error.strerror}); choose another --port") from None
    # the page resolves the warehouse as this command did (pipelines.warehouse.locate): same settings
    env = {**os.environ, "WIRELANE_DASHBOARD_DESTINATION": destination}
    if where.duckdb_path is not None:
        env["DESTINATION__DUCKDB__CREDENTIALS"] = str(where.duckdb_path)
    elif where.dsn is not None:
        env["DESTINATION__POSTGRES__CREDENTIALS"] = where.dsn  # the environment, never the command line
    app_file = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
    arguments = [
        sys.executable, "-m", "streamlit", "run", str(app_file),
        "--server.headless=true", f"--server.port={port}", f"--server.address={host}",
        "--server.fileWatcherType=none", "--browser.gatherUsageStats=false", "--global.developmentMode=false",
    ]  # fmt: skip
    typer.echo(f"dashboard over {where.label}: http://{host}:{port}", err=True)
    process = subprocess.Popen(arguments, env=env)  # noqa: S603 (our own interpreter and file)
    signals = _Signals()
    try:
        with signals:
            code = process.wait()
    except KeyboardInterrupt:
        # a Ctrl-C reached Streamlit too, a SIGTERM (systemd, a supervisor) only this process: pass it on
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        name = signals.received.name if signals.received else "SIGINT"
        raise fail(f"dashboard stopped by {name}", 130) from None
    if code:
        raise fail(f"streamlit exited with {code}", 1)


webhooks_app = typer.Typer(
    name="webhooks",
    help="Receive the API's organization events, for near-real-time loads with `run --from-webhooks`.",
    no_args_is_help=True,
)
app.add_typer(webhooks_app)


@webhooks_app.command("serve")
def webhooks_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (behind your TLS proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")] = 8787,
) -> None:
    """Accept signed events at `POST /webhooks/wirelane` and queue them on disk.

    Verifies each event's `Wirelane-Signature` with `sources.wirelane.webhook_secret`, refuses
    forged, stale and replayed deliveries, and commits the event to the queue
    (`sources.wirelane.webhook_queue`) before answering 200. `GET /healthz` shows the queue.
    Runs until interrupted.
    """
    from pipelines.webhooks import receiver
    from pipelines.webhooks.queue import WebhookQueue, configured_path
    from sources.wirelane.errors import WirelaneConfigError

    try:
        secret, tolerance = receiver.configured_secret(), receiver.configured_tolerance_s()
        queue = WebhookQueue(configured_path())
        sock = receiver.listen(host, port)
    except WirelaneConfigError as error:
        raise fail(str(error)) from None
    bound = sock.getsockname()
    typer.echo(f"webhooks: listening on http://{host}:{bound[1]}{receiver.PATH}, queue {queue.path}", err=True)
    receiver.serve(sock, queue, secret, tolerance)


@webhooks_app.command("status")
def webhooks_status() -> None:
    """The queue: events waiting for `run --from-webhooks`, events drained, the oldest wait."""
    from pipelines.webhooks.queue import WebhookQueue, configured_path
    from sources.wirelane.errors import WirelaneConfigError

    try:
        queue = WebhookQueue(configured_path())
    except WirelaneConfigError as error:
        raise fail(str(error)) from None
    counts = queue.counts()
    queue.close()
    if logs.is_json():
        typer.echo(json.dumps({"queue": str(queue.path), **counts}))
        return
    oldest = "" if counts["oldest_pending_s"] is None else f", the oldest waiting {counts['oldest_pending_s']} s"
    typer.echo(f"webhook queue {queue.path}: {counts['pending']} pending, {counts['done']} drained{oldest}")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the generated data: same seed, same numbers.")] = 42,
    organizations: Annotated[int, typer.Option(min=1, max=50, help="Number of organizations.")] = 2,
    stations: Annotated[int, typer.Option(min=1, help="Charging stations in total.")] = 150,
    members: Annotated[int, typer.Option(min=1, help="Organization members in total.")] = 1000,
    sessions: Annotated[int, typer.Option(min=1, help="Charging sessions in total.")] = 50_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history before the clock.")] = 365,
    advance_hours: Annotated[
        int, typer.Option(min=1, max=8760, help="How far the clock moves before the incremental run.")
    ] = 24,
) -> None:
    """The whole job once against a simulator of its own: load everything into ./wirelane.duckdb,
    build the marts, move the clock, load and build incrementally, then summarise.

    Starts fresh every time (replacing the file of its previous run); leaves .dlt/ and the
    state of your own pipeline alone, and refuses a wirelane.duckdb it did not make."""
    from pipelines.demo import DemoOptions, render, run_demo
    from simulator.world import SimulatorSizes
    from sources.wirelane.errors import WirelaneConfigError, WirelaneError

    options = DemoOptions(
        directory=Path.cwd(),
        seed=seed,
        sizes=SimulatorSizes(organizations, stations, members, sessions, days),
        advance_hours=advance_hours,
    )
    try:
        result = run_demo(options, typer.echo)
    except WirelaneConfigError as error:
        raise fail(str(error), 2) from None
    except WirelaneError as error:
        raise fail(str(error), 1) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the demo's simulator was stopped", 130) from None
    typer.echo(render(result))


# Only the command line, which owns its process, may replace it with a new image
# (pipelines/handoff.py); `app` invoked from other code (tests) keeps one process.
_NEW_IMAGE_ALLOWED = False


def main() -> None:
    global _NEW_IMAGE_ALLOWED
    _NEW_IMAGE_ALLOWED = True
    allocator.tune()  # before any thread starts: arenas are per thread
    collector.tune()
    import_guard.refuse()
    app()


if __name__ == "__main__":
    main()
