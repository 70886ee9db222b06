"""The `wirelane-sync` command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="wirelane-sync",
    help="Incremental ELT from the Wirelane API 2.0 into DuckDB or Postgres, with dbt marts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Incremental ELT from the Wirelane API 2.0 into DuckDB or Postgres, with dbt marts."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """One clear line on stderr and a non-zero exit."""
    typer.echo(f"error: {message}", err=True)
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
    settings = server.SimulatorSettings(
        host=host,
        port=port,
        seed=seed,
        sizes=SimulatorSizes(organizations, stations, members, sessions, days),
        now=now,
        faults=fault_settings,
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
        f"  Admin:     {base_url}/_simulator/stats | /_simulator/advance | /_simulator/faults\n"
        f"  Orgs:      {', '.join(info['organizations'])}\n"
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
    str, typer.Option("--destination", "-d", help="duckdb (the file wirelane.duckdb here) or postgres.")
]
Resources = Annotated[
    list[str] | None,
    typer.Option("--resources", "-r", help="Only these resources (repeat or comma-separate); default all."),
]
Organizations = Annotated[
    list[str] | None,
    typer.Option("--organizations", "-o", help="Only these organization ids; default sources.wirelane.organizations."),
]


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _load(destination: str, **kwargs: object) -> set[str]:
    """Runs the load and prints its summary; returns the data tables the warehouse has."""
    from pipelines import load
    from sources.wirelane.errors import WirelaneConfigError, WirelaneError

    if destination not in ("duckdb", "postgres"):
        raise fail(f"--destination {destination!r} is unknown; use duckdb or postgres")
    try:
        summary = load.run(destination, **kwargs)  # type: ignore[arg-type]
    except WirelaneConfigError as error:
        raise fail(str(error), 2) from None
    except WirelaneError as error:
        raise fail(str(error), 1) from None
    width = max((len(t) for t in summary.rows), default=5)
    typer.echo(
        f"loaded {sum(summary.rows.values()):,} rows in {summary.seconds} s "
        f"({summary.requests:,} requests, {summary.retries:,} retries, {summary.token_requests} tokens)"
    )
    for table, count in summary.rows.items():
        if "__" not in table:
            typer.echo(f"  {table:<{width}}  {count:>9,}")
    if len(summary.schema_changes) > 5:
        typer.echo(f"  schema: {len(summary.schema_changes)} tables created or extended")
    for change in summary.schema_changes if len(summary.schema_changes) <= 5 else []:
        typer.echo(f"  schema: {change}")
    return summary.tables


@app.command()
def run(
    destination: Destination = "duckdb",
    resources: Resources = None,
    organizations: Organizations = None,
    full_refresh: Annotated[bool, typer.Option(help="Drop the loaded tables and state first, then load all.")] = False,
    no_transform: Annotated[
        bool, typer.Option("--no-transform", help="Load only; skip `dbt build` afterwards.")
    ] = False,
) -> None:
    """Load the Wirelane API into the warehouse (sessions incrementally, the rest in full),
    then build the dbt marts unless --no-transform."""
    tables = _load(
        destination, resources=_split(resources), organizations=_split(organizations), full_refresh=full_refresh
    )
    if no_transform:
        return
    from pipelines.transform import REQUIRED_TABLES

    missing = sorted(REQUIRED_TABLES - tables)
    if missing:
        typer.echo(
            f"marts not built: no {', '.join(missing)} loaded yet; run once without --resources to load everything"
        )
        return
    transform(destination)


@app.command()
def backfill(
    start: Annotated[str, typer.Option(help="First day (ISO date or date-time), inclusive.")],
    end: Annotated[str, typer.Option(help="Last boundary (ISO date or date-time), exclusive.")],
    destination: Destination = "duckdb",
    organizations: Organizations = None,
) -> None:
    """Reload the sessions that started in [start, end), without moving the incremental cursor."""
    _load(destination, organizations=_split(organizations), backfill=(start, end))


@app.command()
def transform(destination: Destination = "duckdb") -> None:
    """Run `dbt build` (models and tests) on the warehouse the pipeline loads."""
    from pipelines.transform import run_dbt
    from sources.wirelane.errors import WirelaneConfigError, WirelaneError

    if destination not in ("duckdb", "postgres"):
        raise fail(f"--destination {destination!r} is unknown; use duckdb or postgres")
    try:
        summary = run_dbt(destination)  # type: ignore[arg-type]
    except WirelaneConfigError as error:
        raise fail(str(error), 2) from None
    except WirelaneError as error:
        raise fail(str(error), 1) from None
    typer.echo("dbt build: " + ", ".join(f"{count} {status}" for status, count in sorted(summary.results.items())))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
