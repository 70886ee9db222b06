"""The Wirelane API 2.0 as a dlt source: one resource per list endpoint, transformers for details.

Every resource walks every configured organization and every row carries `organization_id`.
Sessions load incrementally on `update_date`, with one cursor per organization kept in the
resource's state: the scan asks for `order_by=updateDate` descending and stops at the first
page that reaches back past `cursor - lag`. Records that change while the scan pages move to
the front (already read) or shift back by a few places (read twice): the first case is caught
by the next run, because its new `update_date` is later than anything this run saw; the
second is deduplicated by the merge on `session_id`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final

import dlt
import pyarrow as pa
from dlt.common.configuration.specs import CredentialsConfiguration, configspec
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.common.schema.typing import C_DLT_ID, C_DLT_LOAD_ID
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from sources.wirelane import changes, statuses, webhooks
from sources.wirelane import settings as defaults
from sources.wirelane.arrow_batches import NotTabular, Page, page_table, read_page, replace_strings
from sources.wirelane.auth import OAuthSettings, WirelaneAuth
from sources.wirelane.client import ClientSettings, WirelaneClient
from sources.wirelane.errors import WirelaneConfigError
from sources.wirelane.keysets import KeySet
from sources.wirelane.privacy import PERSONAL_FIELDS, Pseudonymizer, build_pseudonymizer
from sources.wirelane.records import parse_timestamp, shape
from sources.wirelane.tables import SOFT_DELETE_COLUMNS

Row = dict[str, Any]
ORG = "/organizations/id/{organizationId}"
EPOCH = "1970-01-01T00:00:00+00:00"
# Money and kWh arrive as Decimals (records.shape), which dlt stores as decimals; only the keys
# and the cursor are declared here.
SESSION_COLUMNS: dict[str, Any] = {
    "session_id": {"data_type": "text", "nullable": False},
    # a run may read two versions of a session (changed while paging): the newest one wins
    "update_date": {"data_type": "timestamp", "timezone": True, "nullable": False, "dedup_sort": "desc"},
}
REQUIRED_SESSION_COLUMNS = frozenset(name for name, hints in SESSION_COLUMNS.items() if hints.get("nullable") is False)


# resources not chosen by name: targeted refreshes (webhooks), the stations' listing, the events
HIDDEN_RESOURCES = ("session", "station", "station_listing", "member_listing", "webhook_events")


@configspec
class WirelaneCredentials(CredentialsConfiguration):
    """`[sources.wirelane.credentials]` in secrets.toml, or SOURCES__WIRELANE__CREDENTIALS__*."""

    client_id: str = None  # type: ignore[assignment]  # dlt configspec: required, resolved from config
    client_secret: TSecretStrValue = None  # type: ignore[assignment]
    username: str | None = None
    password: TSecretStrValue | None = None


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def resolve_endpoints(environment: str, base_url: str | None, token_url: str | None) -> tuple[str, str]:
    if environment not in defaults.ENVIRONMENTS:
        known = ", ".join(defaults.ENVIRONMENTS)
        raise WirelaneConfigError(f"sources.wirelane.environment {environment!r} is unknown; use one of {known}")
    env_base, env_token = defaults.ENVIRONMENTS[environment]
    base, token = (base_url or env_base).rstrip("/"), token_url or env_token
    for name, url in (("base_url", base), ("token_url", token)):
        if not url.startswith(("http://", "https://")):
            raise WirelaneConfigError(f"sources.wirelane.{name} {url!r} is not an http(s) URL")
        if url.startswith("http://") and not _is_loopback(url):
            raise WirelaneConfigError(f"sources.wirelane.{name} must use https outside loopback (got {url})")
    return base, token


def check_organizations(organizations: list[str] | tuple[str, ...]) -> list[str]:
    if not organizations:
        raise WirelaneConfigError("sources.wirelane.organizations is empty; list at least one organization id")
    for org in organizations:
        if not isinstance(org, str) or not defaults.ID_PATTERN.match(org):
            raise WirelaneConfigError(
                f"organization id {org!r} does not match the reference's pattern ^[a-zA-Z0-9-_]+$"
            )
    return list(organizations)


def build_client(
    base_url: str, token_url: str, grant: str, credentials: WirelaneCredentials | None, client_settings: dict[str, Any]
) -> WirelaneClient:
    if credentials is None or not credentials.client_id:
        if not _is_loopback(base_url):
            raise WirelaneConfigError(
                "no credentials: set sources.wirelane.credentials in .dlt/secrets.toml "
                "or SOURCES__WIRELANE__CREDENTIALS__CLIENT_ID and friends"
            )
        from simulator.auth import DemoCredentials  # the simulator's documented demo account

        demo = DemoCredentials()
        credentials = WirelaneCredentials(demo.client_id, demo.client_secret, demo.username, demo.password)
    if grant not in ("password", "client_credentials"):
        raise WirelaneConfigError(f"sources.wirelane.grant {grant!r} is unknown; use password or client_credentials")
    oauth = OAuthSettings(
        token_url=token_url,
        client_id=str(credentials.client_id),
        client_secret=str(credentials.client_secret or ""),
        grant=grant,  # type: ignore[arg-type]
        username=credentials.username,
        password=None if credentials.password is None else str(credentials.password),
        margin_s=defaults.TOKEN_EXPIRY_MARGIN_S,
    )
    import httpx

    token_http = httpx.Client(timeout=httpx.Timeout(client_settings.get("timeout_s", 60.0)))
    auth = WirelaneAuth(oauth, token_http)
    client = WirelaneClient(ClientSettings(base_url=base_url, **client_settings), auth)
    _CLIENTS[:] = [client]
    return client


_CLIENTS: list[WirelaneClient] = []
_ORGANIZATIONS: list[str] = []


def last_client() -> WirelaneClient | None:
    """The client of the source built last in this process, for run statistics."""
    return _CLIENTS[-1] if _CLIENTS else None


def last_organizations() -> list[str]:
    """The organizations of the source built last in this process."""
    return list(_ORGANIZATIONS)


@dlt.source(name="wirelane", max_table_nesting=2, root_key=True)
def wirelane_source(
    organizations: list[str] | None = None,
    environment: str = defaults.DEFAULT_ENVIRONMENT,
    base_url: str | None = None,
    token_url: str | None = None,
    grant: str = "password",
    credentials: WirelaneCredentials | None = None,
    page_size: int = defaults.DEFAULT_PAGE_SIZE,
    max_pages: int = defaults.DEFAULT_MAX_PAGES,
    concurrency: int = defaults.DEFAULT_CONCURRENCY,
    requests_per_second: float = defaults.DEFAULT_REQUESTS_PER_SECOND,
    timeout_s: float = defaults.DEFAULT_TIMEOUT_S,
    max_attempts: int = defaults.DEFAULT_MAX_ATTEMPTS,
    max_backoff_s: float = defaults.DEFAULT_MAX_BACKOFF_S,
    session_lag_s: int = defaults.DEFAULT_SESSION_LAG_S,
    sessions_per_slice: int = defaults.DEFAULT_SESSIONS_PER_SLICE,
    open_session_refresh_h: float = defaults.DEFAULT_OPEN_SESSION_REFRESH_H,
    detail_refresh_h: float = defaults.DEFAULT_DETAIL_REFRESH_H,
    backfill_start: str | None = None,
    backfill_end: str | None = None,
    pseudonymize: bool = True,
    pseudonymization_key: TSecretStrValue | None = None,
) -> list[DltResource]:
    """All Wirelane resources for the configured organizations (`[sources.wirelane]`)."""
    orgs = check_organizations(list(defaults.DEFAULT_ORGANIZATIONS) if organizations is None else organizations)
    _ORGANIZATIONS[:] = orgs
    base, token = resolve_endpoints(environment, base_url, token_url)
    if page_size < 1 or page_size > 1_000_000:
        raise WirelaneConfigError("sources.wirelane.page_size must be between 1 and 1000000")
    if sessions_per_slice < 0:
        raise WirelaneConfigError(
            "sources.wirelane.sessions_per_slice must be a whole number of sessions, or 0 for no slices"
        )
    if requests_per_second < 0:
        raise WirelaneConfigError(
            "sources.wirelane.requests_per_second must be positive, or 0 for no client-side limit"
        )
    client = build_client(
        base,
        token,
        grant,
        credentials,
        {
            "timeout_s": timeout_s,
            "max_attempts": max_attempts,
            "max_backoff_s": max_backoff_s,
            "requests_per_second": requests_per_second,
            "concurrency": concurrency,
            "page_size": page_size,
            "max_pages": max_pages,
        },
    )
    backfill = _backfill_range(backfill_start, backfill_end)
    privacy = build_pseudonymizer(pseudonymize, pseudonymization_key, simulator=_is_loopback(base))
    changes.start_run()
    statuses.start_run()
    account_plans: list[changes.DetailPlan] = []
    member_listing, members = _members(client, orgs, privacy, detail_refresh_h, account_plans)
    return [
        member_listing,
        members,
        *_member_details(client, member_listing, privacy, detail_refresh_h, account_plans),
        _sessions(client, orgs, session_lag_s, open_session_refresh_h, backfill, privacy, sessions_per_slice),
        _session(client, orgs, privacy),
        *_stations(client, orgs, detail_refresh_h),
        _station(client, orgs),
        *_tariffs(client, orgs),
        _webhook_events(privacy, orgs),
    ]


def _backfill_range(start: str | None, end: str | None) -> tuple[datetime, datetime] | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise WirelaneConfigError("a backfill needs both --start and --end")
    try:
        begin, finish = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError as error:
        raise WirelaneConfigError(f"bad backfill date: {error}; use ISO dates like 2026-01-31") from None
    begin = begin if begin.tzinfo else begin.replace(tzinfo=UTC)
    finish = finish if finish.tzinfo else finish.replace(tzinfo=UTC)
    if begin >= finish:
        raise WirelaneConfigError("the backfill --start must be before --end")
    return begin, finish


def _api_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dlt.defer
def _fetched(client: WirelaneClient, fetch: Callable[[Any], list[Row]], due: list[Any]) -> list[Row] | None:
    """The rows `fetch` reads for each due item, read in dlt's extract pool (`dlt.defer`) while
    the main thread goes on with the next items, the session pages above all; each transformer
    decides what is due first, on the main thread, so the plans' state is only touched there.

    Waiting for the detail requests in the main thread cost a 100,000-session full load 5.8 s
    of its 21 s extraction, during which no session page was read and no row was written. The
    client bounds the detail requests in flight across every transformer (`concurrency`)."""
    rows = [row for found in client.fan_out(fetch, due) for row in found]
    return rows or None


# -- listings of the detail tables -----------------------------------------------------------
# The member and station listings feed their detail tables through dlt transformers, and dlt
# keeps a page alive until every transformer of it has run. In a sweep, which reads every
# detail, that was about five pages at once: at the configured page size (1000, right for
# sessions) 5,000 member rows and 3,000 stations with their connectors at 1,000,000 sessions;
# pages of 200 took 17 to 20 MiB off that full load's peak. Between sweeps only the changed
# rows' details are read, the pages pass quickly, and the 92 more list requests of small pages
# cost that incremental load 0.5 s (4.49 to 4.99 s, 5.3 % of the full load): full pages there.
LISTING_PAGE_SIZE = 200


def _listing_page_size(client: WirelaneClient, sweep: bool) -> int:
    return min(LISTING_PAGE_SIZE, client.settings.page_size) if sweep else client.settings.page_size


# -- members ---------------------------------------------------------------------------------
def _account_id(member: Row) -> Any:
    return (member.get("account") or {}).get("account_id")


def _members(
    client: WirelaneClient,
    orgs: list[str],
    privacy: Pseudonymizer,
    refresh_h: float,
    account_plans: list[changes.DetailPlan],
) -> tuple[DltResource, DltResource]:
    """The listing (hidden) and the `members` table; `account_plans` are the member detail
    tables' plans, keyed by account, which forget the accounts no longer listed."""

    @dlt.resource(name="member_listing", selected=False)
    def member_listing() -> Iterator[list[Row]]:
        """Every listed member as the list returned it, with its row's digest, for the member
        tables to pick from; not loaded itself. The row still holds personal data in clear, so
        the digest kept in state is keyed (`Pseudonymizer.fingerprint`); only the members a
        table picks are shaped and pseudonymized (all 20,000 took 0.45 s of every run)."""
        listed = changes.detail_run("members").listed
        for org in orgs:
            listed[org] = keys = set[str]()
            accounts: set[str] = set()
            path = f"{ORG.format(organizationId=org)}/members"
            page_size = _listing_page_size(client, any(p.sweeps(org) for p in (plan, *account_plans)))
            for page in client.pages(path, template=f"{ORG}/members", page_size=page_size):
                keys.update(str(member["id"]) for member in page)
                accounts.update(account for member in page if (account := _account_id(member)))
                yield [{"organization_id": org, "listed": m, "digest": privacy.fingerprint(m)} for m in page]
            plan.forget_unlisted(org, keys)
            for account_plan in account_plans:
                account_plan.forget_unlisted(org, accounts)
            listed[org] = KeySet(keys)  # held compact from here to the load step

    plan = changes.DetailPlan("members", refresh_h)

    @dlt.transformer(
        data_from=member_listing,
        name="members",
        primary_key=("organization_id", "id"),
        write_disposition="merge",
        columns=SOFT_DELETE_COLUMNS,
    )
    def members(items: list[Row]) -> Iterator[list[Row]]:
        """The new and changed members: a member's list row is its whole record, so an unchanged
        one is not loaded again (at 20,000 members, 70,000 rows with its child tables per run)."""
        changed = [
            privacy.apply(
                "members", shape(item["listed"], item["organization_id"], account_id=_account_id(item["listed"]))
            )
            for item in items
            if plan.due_digest(item["organization_id"], str(item["listed"]["id"]), item["digest"])
        ]
        if changed:
            yield changed

    return member_listing, members


def _member_details(
    client: WirelaneClient,
    member_listing: DltResource,
    privacy: Pseudonymizer,
    refresh_h: float,
    plans: list[changes.DetailPlan],
) -> list[DltResource]:
    """Payment method and subscription of each member whose list row changed (or all, in a
    sweep); their plans are added to `plans`."""

    def detail_transformer(name: str, suffix: str) -> DltResource:
        plan = changes.DetailPlan(name, refresh_h)
        plans.append(plan)

        @dlt.transformer(
            data_from=member_listing,
            name=name,
            primary_key=("organization_id", "account_id"),
            write_disposition="merge",
            columns=SOFT_DELETE_COLUMNS,
        )
        def details(items: list[Row]) -> Iterator[Any]:
            def fetch(due: tuple[str, str]) -> list[Row]:
                org, account = due
                path = f"{ORG.format(organizationId=org)}/members/aid/{account}/{suffix}"
                document = client.get_optional(path, template=f"{ORG}/members/aid/{{accountId}}/{suffix}")
                return [] if document is None else [privacy.apply(name, shape(document, org, account_id=account))]

            due = [
                (item["organization_id"], account)
                for item in items
                if (account := _account_id(item["listed"]))
                and plan.due_digest(item["organization_id"], account, item["digest"])
            ]
            if due:
                yield _fetched(client, fetch, due)

        return details

    return [
        detail_transformer("member_payment_methods", "payment_method"),
        detail_transformer("member_subscriptions", "subscription"),
    ]


# -- sessions --------------------------------------------------------------------------------
def _sessions(
    client: WirelaneClient,
    orgs: list[str],
    lag_s: int,
    refresh_h: float,
    backfill: tuple[datetime, datetime] | None,
    privacy: Pseudonymizer,
    per_slice: int,
) -> DltResource:
    @dlt.resource(
        name="sessions",
        primary_key="session_id",
        write_disposition="merge",
        columns=SESSION_COLUMNS,
    )
    def sessions() -> Iterator[list[Row]]:
        if backfill is not None:
            yield from _backfill_sessions(client, orgs, backfill, privacy)
            return
        state = dlt.current.resource_state()
        per_org: dict[str, dict[str, Any]] = state.setdefault("organizations", {})
        open_sessions: dict[str, list[str]] = state.setdefault("open_sessions", {})
        budget = SliceBudget(per_slice)
        for org in orgs:
            org_state = per_org.setdefault(org, {"cursor": EPOCH, "window": {}})
            if budget.spent:
                # this slice is full: the organization's scan starts in the next one
                org_state.setdefault(RESUME, _scan_start(org_state, lag_s))
                continue
            seen_open = yield from _scan_sessions(client, org, org_state, open_sessions, lag_s, privacy, budget)
            if seen_open is None:
                continue  # the slice filled up part-way: the scan goes on from `resume` in the next one
            api_now = parse_timestamp_iso(org_state["cursor"])
            stale = [
                sid for sid in _stale_open_sessions(open_sessions, org, api_now, refresh_h) if sid not in seen_open
            ]
            refreshed = [doc for doc in client.fan_out(partial(_fetch_session, client, org), stale) if doc]
            for doc in refreshed:
                _track_open_document(open_sessions, doc, org)
            if refreshed:
                yield session_batch(refreshed, org, privacy)

    return sessions


# -- slices ------------------------------------------------------------------------------------
# A first load of millions of sessions goes in slices: each run's scan reads at most about
# `sessions_per_slice` of them, leaves where it stopped in the organization's state (`resume`)
# and lets the caller load what it read before the next slice goes on from there
# (pipelines/load.py; `wirelane-sync run` reads and loads each slice in fresh process images).
# DuckDB keeps about 12 bytes of bookkeeping for every session a process loads, and the reading
# process's heap grows with the scan, so a process that handles at most one slice keeps its peak
# memory whatever the number of sessions.
RESUME: Final = "resume"


class SliceBudget:
    """How many more sessions this run's scans may read; 0 set: no limit."""

    def __init__(self, per_slice: int) -> None:
        self.left: int | None = per_slice or None

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0

    def spend(self, sessions: int) -> None:
        if self.left is not None:
            self.left -= sessions


def sessions_unfinished(pipeline_state: dict[str, Any], organizations: list[str]) -> bool:
    """Whether a sessions scan of `organizations` stopped part-way at the end of a slice."""
    resources = pipeline_state.get("sources", {}).get("wirelane", {}).get("resources", {})
    per_org = resources.get("sessions", {}).get("organizations", {})
    return any(RESUME in per_org.get(org, {}) for org in organizations)


def _scan_start(org_state: dict[str, Any], lag_s: int) -> dict[str, Any]:
    """Where an organization's scan starts: newest first down to its cursor less the lag, the
    versions already loaded inside the lag window known."""
    cursor = parse_timestamp_iso(org_state["cursor"])
    return {
        "since": (cursor - timedelta(seconds=lag_s)).isoformat(),
        "newest": cursor.isoformat(),
        "rows_read": 0,
        "loaded": dict(org_state["window"]),
        "versions": {},
        "seen_open": [],
    }


CATCH_UP_PASSES = 5


def session_table(documents: list[Row] | pa.StructArray, org: str, privacy: Pseudonymizer) -> pa.Table | None:
    """Session documents (parsed into Python, or Arrow's reading of a page) as an Arrow table,
    personal fields pseudonymized on its columns, the documents themselves left as the API
    sent them; or None when the page holds something only dlt's dict path models (a list, a
    key of mixed types)."""
    try:
        table = page_table(documents, {"organization_id": org}, REQUIRED_SESSION_COLUMNS)
    except NotTabular:
        return None
    return replace_strings(table, PERSONAL_FIELDS["sessions"], privacy.tokens) if privacy.enabled else table


def session_batch(documents: list[Row], org: str, privacy: Pseudonymizer) -> Any:
    """Session documents as one item for dlt: their `session_table` (the fast path), or shaped,
    pseudonymized dicts."""
    table = session_table(documents, org, privacy)
    if table is None:
        return _session_rows(documents, org, privacy)
    return with_dlt_columns(table, dlt.current.load_package_state()["load_id"])


def _session_rows(documents: list[Row], org: str, privacy: Pseudonymizer) -> list[Row]:
    """Session documents for dlt's dict path: pseudonymized in place, then shaped."""
    return [shape(privacy.apply("sessions", document), org) for document in documents]


def _fresh_sessions(
    page: Page, fresh: list[int], org: str, privacy: Pseudonymizer, gathered: _Gathered
) -> Iterator[Any]:
    """The page's fresh sessions (by position) for dlt: gathered as a table, or as dicts. A
    table of some of a page's rows is made from those rows' documents, not from Arrow's
    reading of the whole page, whose columns a smaller page might not have."""
    whole = len(fresh) == len(page)
    documents = page.python() if not whole or page.arrow is None else None
    if documents is not None and not whole:
        documents = [documents[i] for i in fresh]
    table = session_table(page.arrow if documents is None else documents, org, privacy)
    if table is not None:
        yield from gathered.add(table)
        return
    yield from gathered.flush()
    yield _session_rows(documents or page.python(), org, privacy)


class _Gathered:
    """Session pages' tables gathered into items of at least ITEM_ROWS rows.

    dlt's extract spends a few milliseconds on every Arrow item whatever its size: it infers
    the item's table schema, validates it and compares it with the pipeline's. Pages whose
    columns cannot be put together (one key of two types) go as they are."""

    ITEM_ROWS: Final = 10_000

    def __init__(self) -> None:
        self._tables: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> Iterator[pa.Table]:
        self._tables.append(table)
        self._rows += table.num_rows
        if self._rows >= self.ITEM_ROWS:
            yield from self.flush()

    def flush(self) -> Iterator[pa.Table]:
        # dlt's extract leaves each Arrow item it took in a reference cycle (the exceptions its
        # schema validation catches keep its frames): freed here, not when the collector next
        # gets round to the young generations, which kept 30 to 100 MiB of earlier items
        tables, self._tables, self._rows = self._tables, [], 0
        if not tables:
            return
        gc.collect(1)
        if len(tables) > 1:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError):
                tables = [pa.concat_tables(tables, promote_options="default")]  # a page's missing columns: nulls
        load_id = dlt.current.load_package_state()["load_id"]
        for table in tables:
            yield with_dlt_columns(table, load_id)


def with_dlt_columns(table: pa.Table, load_id: str) -> pa.Table:
    """The table with the two columns dlt's normalizer gives the dict path's rows: the load id
    (staging's lineage) and a random unique row key, neither null, in the order dlt's schema
    has them.

    dlt adds them to Arrow items itself when asked (`normalize.parquet_normalizer.add_dlt_id`,
    `add_dlt_load_id`), but then its normalize step rewrites every session file to add the row
    key (0.8 s of a 100,000-session load, growing with the sessions), and its extract appends
    the load id after columns that a later page brought, so that the files no longer match the
    schema's order and are rewritten anyway. Present in the table, they are written once and
    imported as they are."""
    rows = table.num_rows
    table = table.append_column(pa.field(C_DLT_LOAD_ID, pa.string(), nullable=False), pa.repeat(load_id, rows))
    return table.append_column(
        pa.field(C_DLT_ID, pa.string(), nullable=False), pa.array(generate_dlt_ids(rows), type=pa.string())
    )


def _scan_sessions(
    client: WirelaneClient,
    org: str,
    org_state: dict[str, Any],
    open_sessions: dict[str, list[str]],
    lag_s: int,
    privacy: Pseudonymizer,
    budget: SliceBudget,
) -> Generator[Any, None, set[str] | None]:
    """Newest first down to `cursor - lag`, then catch-up passes from the top; returns the ids
    of the open sessions the scan saw, or None when `budget` ran out before the list did.

    Versions already loaded inside the lag window (kept in `window` as session_id ->
    update_date) are not loaded again, so a run without changes loads nothing while late
    commits inside the window are still caught. Sessions changed while the scan paged moved
    to the front, which was already read: each catch-up pass reads the front again down to the
    newest `update_date` seen so far, until a pass finds nothing newer.

    A scan the budget stops keeps its place in `resume` (the rows read, the newest version seen,
    what the window knows) and goes on there in the next run, the cursor unchanged until the
    scan is done. The pause between slices is like a slow page: a session changed meanwhile
    moves to the front, which the catch-up passes read, and the rows it jumps shift back by one
    and are read twice (the merge keeps one).

    Memory stays flat in the number of sessions: only versions within the lag of the newest
    one are remembered (the next window, and what a catch-up pass may meet again); older ones
    can be neither, as the newest only grows.
    """
    lag = timedelta(seconds=lag_s)
    point = org_state.pop(RESUME, None) or _scan_start(org_state, lag_s)
    loaded: dict[str, str] = point["loaded"]
    recent_versions = {sid: parse_timestamp_iso(ts) for sid, ts in point["versions"].items()}
    seen_open: set[str] = set(point["seen_open"])
    newest = parse_timestamp_iso(point["newest"])
    path = f"{ORG.format(organizationId=org)}/sessions"
    params = {"order_by": "updateDate", "order_direction": "desc"}
    page_size = client.settings.page_size

    def scan(since: datetime, inclusive: bool, rows_read: int = 0, sliced: bool = False) -> Iterator[Any]:
        """Yields the fresh sessions' batches; sliced, stops when the budget runs out and leaves
        `resume` behind."""
        nonlocal newest
        gathered = _Gathered()
        # Arrow reads the pages (in the client's prefetching thread, without the interpreter lock);
        # the scan reads the four keys it needs from Arrow's columns
        pages = client.numbered_pages(
            path, params, template=f"{ORG}/sessions", parse=read_page, first_page=rows_read // page_size + 1
        )
        for number, page, more in pages:
            ids, updates = page.column("session_id"), page.column("update_date")
            statuses, created = page.column("status"), page.column("creation_date")
            stamped = [parse_timestamp(update) for update in updates]
            recent = [i for i, update in enumerate(stamped) if update > since or (inclusive and update == since)]
            fresh = [i for i in recent if loaded.get(ids[i]) != stamped[i].isoformat()] if loaded else recent
            newest = max([newest, *(stamped[i] for i in recent)])
            keep_from = newest - lag
            for i in fresh:
                _track_open(open_sessions, org, ids[i], statuses[i], created[i] or updates[i])
            for i in recent:
                sid, update = ids[i], stamped[i]
                if sid in open_sessions:
                    seen_open.add(sid)
                if update >= keep_from:
                    recent_versions[sid] = max(update, recent_versions.get(sid, update))
            for i in fresh:
                if stamped[i] >= keep_from:
                    loaded[ids[i]] = stamped[i].isoformat()
            if fresh:
                yield from _fresh_sessions(page, fresh, org, privacy, gathered)
            if len(recent) < len(stamped):
                break  # the rest of the list is older
            if sliced:
                budget.spend(len(stamped))
                if more and budget.spent:
                    org_state[RESUME] = {
                        "since": point["since"],
                        "newest": newest.isoformat(),
                        "rows_read": number * page_size,
                        "loaded": loaded,
                        "versions": {sid: ts.isoformat() for sid, ts in recent_versions.items()},
                        "seen_open": sorted(seen_open & open_sessions.keys()),
                    }
                    break
        yield from gathered.flush()

    yield from scan(parse_timestamp_iso(point["since"]), inclusive=True, rows_read=point["rows_read"], sliced=True)
    if RESUME in org_state:
        return None
    for _ in range(CATCH_UP_PASSES):
        batches = yield from _count(scan(newest, inclusive=False))
        if not batches:
            break
    org_state["cursor"] = newest.isoformat()
    org_state["window"] = {sid: ts.isoformat() for sid, ts in recent_versions.items() if ts >= newest - lag}
    return seen_open


def _count(batches: Iterator[Any]) -> Generator[Any, None, list[int]]:
    """Re-yields batches (tables or lists) and returns their sizes."""
    sizes = []
    for batch in batches:
        sizes.append(len(batch))
        yield batch
    return sizes


def parse_timestamp_iso(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _track_open(open_sessions: dict[str, list[str]], org: str, session_id: str, status: Any, created: str) -> None:
    """Remembers open sessions by their creation (as the API writes timestamps; the update
    date where a session has no creation date)."""
    if status in defaults.FINAL_SESSION_STATUSES:
        open_sessions.pop(session_id, None)
    else:
        open_sessions[session_id] = [org, parse_timestamp(created).isoformat()]


def _track_open_document(open_sessions: dict[str, list[str]], document: Row, org: str) -> None:
    created = document.get("creation_date") or document["update_date"]
    _track_open(open_sessions, org, document["session_id"], document.get("status"), created)


def _stale_open_sessions(
    open_sessions: dict[str, list[str]], org: str, api_now: datetime, refresh_h: float
) -> list[str]:
    """Sessions open for longer than `refresh_h` hours (by their creation, measured on the API's
    clock: the newest update it has shown): the single-session endpoint tells whether they
    closed without the list scan seeing it."""
    limit = api_now - timedelta(hours=refresh_h)
    return [
        sid for sid, (owner, created) in open_sessions.items() if owner == org and parse_timestamp_iso(created) < limit
    ]


def _fetch_session(client: WirelaneClient, org: str, session_id: str) -> Row | None:
    document: Row | None = client.get_optional(
        f"{ORG.format(organizationId=org)}/sessions/id/{session_id}", template=f"{ORG}/sessions/id/{{sessionId}}"
    )
    return document


def _backfill_sessions(
    client: WirelaneClient, orgs: list[str], window: tuple[datetime, datetime], privacy: Pseudonymizer
) -> Iterator[Any]:
    """Sessions that started in the window (the API's date picker), without touching cursors."""
    params = {
        "date_picker_since": _api_time(window[0]),
        "date_picker_until": _api_time(window[1]),
        "order_by": "sessionBegin",
        "order_direction": "asc",
    }
    for org in orgs:
        for page in client.pages(f"{ORG.format(organizationId=org)}/sessions", params, template=f"{ORG}/sessions"):
            yield session_batch(page, org, privacy)


def _targets(items: list[str], orgs: list[str], what: str) -> dict[str, list[str]]:
    """ORGANIZATION/ID strings as ids per configured organization; anything else is refused."""
    per_org: dict[str, list[str]] = {org: [] for org in orgs}
    for item in items:
        org, _, key = item.partition("/")
        if org not in per_org or not defaults.ID_PATTERN.match(key):
            raise WirelaneConfigError(f"{what} {item!r} is not ORGANIZATION/ID of a configured organization")
        per_org[org].append(key)
    return per_org


def _session(client: WirelaneClient, orgs: list[str], privacy: Pseudonymizer) -> DltResource:
    """One session by id, for targeted refreshes: `session_ids` of the form ORG/SESSION_ID."""

    @dlt.resource(
        name="session",
        table_name="sessions",
        primary_key="session_id",
        write_disposition="merge",
        selected=False,
        columns=SESSION_COLUMNS,
    )
    def session(session_ids: list[str] = dlt.config.value) -> Iterator[Any]:
        for org, ids in _targets(session_ids, orgs, "session").items():
            # a session the API no longer has (404) is left as loaded
            documents = [d for d in client.fan_out(partial(_fetch_session, client, org), ids) if d]
            if documents:
                yield session_batch(documents, org, privacy)

    return session


# -- stations --------------------------------------------------------------------------------
# Live connector status changes all day; the rest of a station rarely does. A status change
# alone reads nothing again: the statuses are written from the listing (statuses.py).
STATION_TEMPLATE = f"{ORG}/stations/id/{{stationId}}"


def _station_path(org: str, station_id: Any) -> str:
    return f"{ORG.format(organizationId=org)}/stations/id/{station_id}"


def _stations(client: WirelaneClient, orgs: list[str], refresh_h: float) -> list[DltResource]:
    plans: list[changes.DetailPlan] = []  # of the station tables, which forget unlisted stations

    @dlt.resource(name="station_listing", selected=False)
    def station_listing() -> Iterator[list[Row]]:
        """Every listed station as the list returned it, for the station tables to pick from;
        not loaded itself."""
        listed = changes.detail_run("charging_stations").listed
        for org in orgs:
            listed[org] = keys = set[str]()
            base = ORG.format(organizationId=org)
            for page in client.pages(
                f"{base}/stations",
                {"include_roaming": "true"},
                template=f"{ORG}/stations",
                page_size=_listing_page_size(client, any(p.sweeps(org) for p in plans)),
            ):
                keys.update(str(station["id"]) for station in page)
                statuses.record([one for station in page for one in statuses.listed_statuses(org, station)])
                yield [{"organization_id": org, "listed": station} for station in page]
            for plan in plans:
                plan.forget_unlisted(org, keys)
            listed[org] = KeySet(keys)  # held compact from here to the load step

    plan = changes.DetailPlan("charging_stations", refresh_h)
    plans.append(plan)

    @dlt.transformer(
        data_from=station_listing,
        name="charging_stations",
        primary_key=("organization_id", "id"),
        write_disposition="merge",
        columns=SOFT_DELETE_COLUMNS,
    )
    def charging_stations(items: list[Row]) -> Iterator[Any]:
        """The detail of every new or changed station (it carries opening hours and the full
        connectors); a change of connector status alone is written from the listing instead
        (sources/wirelane/statuses.py)."""
        due = plan.select_listed(items, statuses.without_status)

        def detail(item: Row) -> list[Row]:
            org, station = item["organization_id"], item["listed"]
            document = client.get_json(_station_path(org, station["id"]), template=STATION_TEMPLATE)
            return [shape(document, org)]

        if due:
            yield _fetched(client, detail, due)

    def per_station(name: str, suffix: str, paged: bool) -> DltResource:
        sub_plan = changes.DetailPlan(name, refresh_h)
        plans.append(sub_plan)

        @dlt.transformer(
            data_from=station_listing,
            name=name,
            merge_key=("organization_id", "station_id"),
            write_disposition="merge",
        )
        def sub(items: list[Row]) -> Iterator[Any]:
            """Each changed station's full list replaces the previous one (delete-insert per station)."""

            def fetch(item: Row) -> list[Row]:
                org, station = item["organization_id"], item["listed"]
                path = f"{ORG.format(organizationId=org)}/stations/id/{station['id']}/{suffix}"
                template = f"{ORG}/stations/id/{{stationId}}/{suffix}"
                found = (
                    [i for page in client.pages(path, template=template) for i in page]
                    if paged
                    else client.get_json(path, template=template)
                )
                return [shape(one, org, station_id=station["id"], position=n) for n, one in enumerate(found)]

            due = sub_plan.select_listed(items, statuses.without_status)
            if due:
                yield _fetched(client, fetch, due)

        return sub

    return [
        station_listing,
        charging_stations,
        per_station("station_cases", "cases", paged=True),
        per_station("station_connection_chains", "connection", paged=False),
        per_station("station_maintenance_windows", "maintenance", paged=True),
    ]


def _station(client: WirelaneClient, orgs: list[str]) -> DltResource:
    """Stations by id, for targeted refreshes: `station_ids` of the form ORG/STATION_ID.

    Only the station's detail (its connectors and their status, what a station event is
    about); its cases, connection chain and maintenance windows are left to the listing runs."""

    @dlt.resource(
        name="station",
        table_name="charging_stations",
        primary_key=("organization_id", "id"),
        write_disposition="merge",
        selected=False,
        columns=SOFT_DELETE_COLUMNS,
    )
    def station(station_ids: list[str] = dlt.config.value) -> Iterator[list[Row]]:
        for org, ids in _targets(station_ids, orgs, "station").items():

            def detail(station_id: str, org: str = org) -> Row | None:
                document = client.get_optional(_station_path(org, station_id), template=STATION_TEMPLATE)
                return None if document is None else shape(document, org)  # gone: the next listing marks it

            rows = [row for row in client.fan_out(detail, ids) if row]
            if rows:
                yield rows

    return station


# -- tariffs and price models ----------------------------------------------------------------
# Versioned (SCD2) with a full listing per organization: a changed record closes its old
# version (`_dlt_valid_to`), a vanished one is closed without a successor.
SCD2: Any = {"disposition": "merge", "strategy": "scd2"}


def _tariffs(client: WirelaneClient, orgs: list[str]) -> list[DltResource]:
    @dlt.resource(name="tariffs", write_disposition=SCD2, merge_key="organization_id")
    def tariffs() -> Iterator[list[Row]]:
        """Tariff details (plans, prices, member groups), versioned: a change closes the old row."""
        for org in orgs:
            base = ORG.format(organizationId=org)
            for page in client.pages(f"{base}/tariffs", template=f"{ORG}/tariffs"):

                def detail(tariff: Row, org: str = org, base: str = base) -> Row:
                    document = client.get_json(
                        f"{base}/tariffs/id/{tariff['id']}", template=f"{ORG}/tariffs/id/{{tariffId}}"
                    )
                    return shape(document, org)

                yield list(client.fan_out(detail, page))

    @dlt.transformer(data_from=tariffs, name="price_models", write_disposition=SCD2, merge_key="organization_id")
    def price_models(page: list[Row]) -> Iterator[Any]:
        """Every price model of every tariff, with elements and autoDescription, versioned."""
        targets = [(t, price) for t in page for price in t.get("prices") or []]

        def fetch(target: tuple[Row, Row]) -> list[Row]:
            tariff, price = target
            org = tariff["organization_id"]
            path = f"{ORG.format(organizationId=org)}/tariffs/id/{tariff['id']}/prices/id/{price['id']}"
            document = client.get_json(path, template=f"{ORG}/tariffs/id/{{tariffId}}/prices/id/{{priceModelId}}")
            return [shape(document, org, tariff_id=tariff["tariff_id"], tariff_internal_id=tariff["id"])]

        if targets:
            yield _fetched(client, fetch, targets)

    return [tariffs, price_models]


# -- webhook events ----------------------------------------------------------------------------
def _webhook_events(privacy: Pseudonymizer, orgs: list[str]) -> DltResource:
    @dlt.resource(name="webhook_events", primary_key="id", write_disposition="merge", selected=False)
    def webhook_events(events: list[Row] = dlt.config.value) -> Iterator[list[Row]]:
        """Received events (`{"event": EventLog, "received_at": epoch seconds}`), merged on
        their id: a batch drained twice (a crash before it was marked done) loads them once."""
        if events:
            yield [webhooks.event_row(item["event"], item["received_at"], privacy, orgs) for item in events]

    return webhook_events


__all__ = ["WirelaneCredentials", "parse_timestamp", "wirelane_source"]
