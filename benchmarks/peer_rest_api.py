"""The peer of the pipeline benchmark: dlt's declarative `rest_api` source for the same endpoints.

What a user who follows dlt's REST API source documentation would write for the Wirelane API
instead of this project, with dlt's defaults everywhere else (no tuning of workers, file
formats or parallelism; `parallelized` is off by default):

* Client: the API's base URL, the page-number paginator (`page`, first page 1, `page_size`
  as a query parameter; the API gives the total only in the `X-Total-Count` header, which
  rest_api cannot read, so the paginator stops at the first empty page: one extra request per
  list), and OAuth2 through the built-in `oauth2_client_credentials` auth with
  `access_token_request_data` switching the grant to `password`, which the organization
  endpoints need (its request data is sent after, and so overrides, the default grant).
* Organizations are a small parent resource; every list is its child
  (`{resources.organizations.id}` in the path) and every detail endpoint a child of its list
  (`{resources.members.account.account_id}`, `{resources.station_list.id}`, ...).
  `include_from_parent` carries the organization down, and a `map` processing step renames
  it to `organization_id`, the key column.
* Detail endpoints answer one object: `data_selector: "$"` and the single-page paginator
  (the auto-detection would otherwise pick a list inside the document, e.g. a station's
  connectors). A 404 (a member without payment method or subscription) is ignored via
  `response_actions`. Price models hang off each tariff's `prices`: a non-selected resource
  reads each tariff's detail a second time with `data_selector: "prices"`, because a child
  resource binds one value per parent item.
* Sessions: one resource per organization (a loop in the configuration), ordered by
  `updateDate` descending and incremental on `update_date` with `row_order: "desc"`, so dlt
  stops paging at the first session older than the stored cursor. The API has no "changed
  since" filter to pass as `start_param`. (As a child of `organizations` the incremental
  would not stop early: dlt closes only top-level resources.)
* Merge on the primary keys (`organization_id` + `id`, `session_id` for sessions); the lists
  without ids (a station's connection chain and maintenance windows) are replaced.

The same page size as the project (1,000) so that both make the same list requests.

    .venv/bin/python -m benchmarks.peer_rest_api --base-url URL --token-url URL --destination duckdb
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltSource
from dlt.sources.rest_api import rest_api_source

from simulator.auth import DemoCredentials

Row = dict[str, Any]
PAGE_SIZE = 1000
PIPELINE_NAME = "wirelane_peer"
DATASET = "wirelane_peer"
ORG = "organizations/id"


def _organization_from(field: str) -> dict[str, Callable[[Row], Row]]:
    """A processing step renaming the organization carried from the parent to `organization_id`."""

    def rename(row: Row) -> Row:
        row["organization_id"] = row.pop(field)
        return row

    return {"map": rename}


def _tag(org: str) -> dict[str, Callable[[Row], Row]]:
    def tag(row: Row) -> Row:
        row["organization_id"] = org
        return row

    return {"map": tag}


PAGED: dict[str, Any] = {"type": "page_number", "base_page": 1, "page_param": "page", "total_path": None}
SINGLE: dict[str, Any] = {"paginator": "single_page", "data_selector": "$"}
MERGE: dict[str, Any] = {"write_disposition": "merge", "primary_key": ["organization_id", "id"]}


def peer_config(base_url: str, token_url: str, organizations: list[str]) -> dict[str, Any]:
    """The rest_api configuration (a plain dict, as in dlt's documentation)."""
    demo = DemoCredentials()

    @dlt.resource(name="organizations", selected=False)
    def organization_ids() -> Iterator[list[Row]]:
        yield [{"id": org} for org in organizations]

    def per_organization_list(name: str, suffix: str, **extra: Any) -> dict[str, Any]:
        params = {"page_size": PAGE_SIZE, **extra.pop("params", {})}
        return {
            "name": name,
            "endpoint": {"path": f"{ORG}/{{resources.organizations.id}}/{suffix}", "params": params},
            "include_from_parent": ["id"],
            "processing_steps": [_organization_from("_organizations_id")],
            **extra,
        }

    def child(parent: str, name: str, path: str, endpoint: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "endpoint": {"path": f"{ORG}/{{resources.{parent}.organization_id}}/{path}", **endpoint},
            "include_from_parent": ["organization_id", *extra.pop("include", [])],
            "processing_steps": [_organization_from(f"_{parent}_organization_id")],
            **extra,
        }

    ignore_404 = {"response_actions": [{"status_code": 404, "action": "ignore"}]}
    member = "members/aid/{resources.members.account.account_id}"
    station = "stations/id/{resources.station_list.id}"
    paged = {"params": {"page_size": PAGE_SIZE}}
    resources: list[Any] = [
        organization_ids,
        per_organization_list("members", "members", **MERGE),
        child("members", "member_payment_methods", f"{member}/payment_method", SINGLE | ignore_404, **MERGE),
        child("members", "member_subscriptions", f"{member}/subscription", SINGLE | ignore_404, **MERGE),
        per_organization_list("station_list", "stations", params={"include_roaming": "true"}, selected=False),
        child("station_list", "charging_stations", station, SINGLE, **MERGE),
        child("station_list", "station_cases", f"{station}/cases", paged, include=["id"], **MERGE),
        child(
            "station_list",
            "station_connection_chains",
            f"{station}/connection",
            SINGLE,
            include=["id"],
            write_disposition="replace",
        ),
        child(
            "station_list",
            "station_maintenance_windows",
            f"{station}/maintenance",
            paged,
            include=["id"],
            write_disposition="replace",
        ),
        per_organization_list("tariff_list", "tariffs", selected=False),
        child("tariff_list", "tariffs", "tariffs/id/{resources.tariff_list.id}", SINGLE, **MERGE),
        child(
            "tariff_list",
            "tariff_prices",
            "tariffs/id/{resources.tariff_list.id}",
            {"paginator": "single_page", "data_selector": "prices"},
            include=["id"],
            selected=False,
        ),
        child(
            "tariff_prices",
            "price_models",
            "tariffs/id/{resources.tariff_prices._tariff_list_id}/prices/id/{resources.tariff_prices.id}",
            SINGLE,
            **MERGE,
        ),
    ]
    for org in organizations:
        resources.append(
            {
                "name": f"sessions_{org.lower().replace('-', '_')}",
                "table_name": "sessions",
                "primary_key": "session_id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": f"{ORG}/{org}/sessions",
                    "params": {"page_size": PAGE_SIZE, "order_by": "updateDate", "order_direction": "desc"},
                    "incremental": {
                        "cursor_path": "update_date",
                        "initial_value": "1970-01-01T00:00:00+0000",
                        "row_order": "desc",
                    },
                },
                "processing_steps": [_tag(org)],
            }
        )
    return {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "paginator": PAGED,
            "auth": {
                "type": "oauth2_client_credentials",
                "access_token_url": token_url,
                "client_id": demo.client_id,
                "client_secret": demo.client_secret,
                "access_token_request_data": {
                    "grant_type": "password",
                    "username": demo.username,
                    "password": demo.password,
                },
            },
        },
        "resources": resources,
    }


def peer_source(base_url: str, token_url: str, organizations: list[str]) -> DltSource:
    config: Any = peer_config(base_url, token_url, organizations)
    return rest_api_source(config, name="wirelane_peer")


def session_resources(source: DltSource) -> list[str]:
    return [name for name in source.resources if name.startswith("sessions_")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--organizations", nargs="+", default=["DEMOTENANT", "BORNES-ATLANTIQUE"])
    parser.add_argument("--destination", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--duckdb-file", default="peer.duckdb")
    parser.add_argument("--dsn", help="Postgres DSN (for --destination postgres)")
    parser.add_argument("--pipelines-dir", default=None, help="dlt's working folder (default: DLT_DATA_DIR)")
    parser.add_argument("--sessions-only", action="store_true", help="load only the sessions (the hourly schedule)")
    parser.add_argument(
        "--loader-file-format", default=None, help="e.g. parquet (default: the destination's, insert_values)"
    )
    args = parser.parse_args()
    destination: Any = (
        dlt.destinations.duckdb(credentials=str(Path(args.duckdb_file).resolve()))
        if args.destination == "duckdb"
        else dlt.destinations.postgres(credentials=args.dsn)
    )
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME, destination=destination, dataset_name=DATASET, pipelines_dir=args.pipelines_dir
    )
    source = peer_source(args.base_url, args.token_url, args.organizations)
    if args.sessions_only:
        source = source.with_resources(*session_resources(source))
    info = pipeline.run(source, loader_file_format=args.loader_file_format)
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    rows = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    print(json.dumps({"rows": {k: v for k, v in sorted(rows.items()) if not k.startswith("_dlt")}}))


if __name__ == "__main__":
    main()
