"""Progress of a load while it runs: pages, rows and requests per resource.

The numbers come from the HTTP client itself (`sources.wirelane.observers.observe`): every request
attempt is reported with its path template, page number, record count and whether it was a
retry; the dlt resource that asked is read from dlt's context (`dlt.current.resource_name`),
which the client's worker threads inherit. The source prints nothing.

Two ways to show them, chosen by where stderr goes:

* a terminal: a live table that redraws in place (rich), gone when the run ends, since the
  summary that follows says the same thing, finally;
* anything else (cron, systemd, CI): one log line every `interval_s` seconds, which journald
  and log shippers keep, in the log format the operator chose (text or JSON).

"Rows" are the records the API returned for the resource: the items of its list pages or,
when it fetches records one by one (a station's detail for each listed station), those
documents, whichever is more. They can differ from the rows loaded: an incremental scan reads
versions it already has, and nested lists become rows of child tables.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import dlt
from dlt.common.exceptions import ResourceNameNotAvailable
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from pipelines.progress_mode import ProgressMode, resolve_mode
from sources.wirelane.observers import RequestEvent, observe

OUTSIDE = "(outside a resource)"
# Requests count for the table users know: the station list pages serve all station tables,
# and the webhook drain's refreshes (`session`, `station`) load sessions and stations.
REPORTED_AS = {
    "member_listing": "members",
    "station_listing": "charging_stations",
    "station": "charging_stations",
    "session": "sessions",
}
log = logging.getLogger("wirelane_sync.progress")


@dataclass
class ResourceCounts:
    pages: int = 0  # list pages received
    listed: int = 0  # items on those pages
    fetched: int = 0  # records from single requests (details, small lists)
    requests: int = 0  # attempts, retries included
    retries: int = 0
    failed: int = 0  # attempts without a usable answer (no response, 429, 5xx, a malformed body)

    @property
    def rows(self) -> int:
        return max(self.listed, self.fetched)

    def as_dict(self) -> dict[str, int]:
        return {
            "pages": self.pages,
            "rows": self.rows,
            "requests": self.requests,
            "retries": self.retries,
            "failed": self.failed,
        }


def _current_resource() -> str:
    try:
        name = dlt.current.resource_name()
    except ResourceNameNotAvailable:
        return OUTSIDE
    return REPORTED_AS.get(name, name)


class RunProgress:
    """Counts per resource; a `ClientObserver`, called from any thread."""

    def __init__(self, earlier: Mapping[str, ResourceCounts] | None = None, elapsed_s: float = 0.0) -> None:
        """`earlier`: what the run counted before this process took over (pipelines/handoff.py)."""
        self.started = time.monotonic() - elapsed_s
        self._lock = threading.Lock()
        self._resources: dict[str, ResourceCounts] = {name: replace(c) for name, c in (earlier or {}).items()}

    def request_done(self, event: RequestEvent) -> None:
        name = _current_resource()
        with self._lock:
            counts = self._resources.setdefault(name, ResourceCounts())
            counts.requests += 1
            counts.retries += int(event.retry)
            if event.failed:
                counts.failed += 1
            elif event.status is not None and event.status >= 400:
                pass  # a refusal (a member without payment method: 404): no records
            elif event.page is not None:
                counts.pages += 1
                counts.listed += event.items
            else:
                counts.fetched += event.items

    def snapshot(self) -> dict[str, ResourceCounts]:
        """A consistent copy, resources in the order they first asked for something."""
        with self._lock:
            return {name: replace(counts) for name, counts in self._resources.items()}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def totals(self) -> dict[str, int]:
        """pages, rows, requests, retries and failed attempts summed over the resources."""
        total = dict.fromkeys(("pages", "rows", "requests", "retries", "failed"), 0)
        for counts in self.snapshot().values():
            for key, value in counts.as_dict().items():
                total[key] += value
        return total


def progress_line(progress: RunProgress) -> str:
    """One line for logs: totals first, then each resource."""
    resources = progress.snapshot()
    total = progress.totals()
    parts = [
        f"{name}: {c.pages:,} pages, {c.rows:,} rows, {c.requests:,} requests"
        + (f", {c.retries:,} retries" if c.retries else "")
        for name, c in resources.items()
    ]
    head = f"after {progress.elapsed():.0f} s: {total['requests']:,} requests, {total['retries']:,} retries"
    return head + ("; " + "; ".join(parts) if parts else "; waiting for the first answer")


def progress_table(progress: RunProgress) -> Table:
    """The live display's table: a row per resource and the totals."""
    table = Table(box=None, pad_edge=False, show_footer=True)
    resources = progress.snapshot()
    total = progress.totals()
    table.add_column("resource", footer="total", style="bold")
    for column in ("pages", "rows", "requests", "retries"):
        table.add_column(column, justify="right", footer=f"{total[column]:,}")
    for name, counts in resources.items():
        retries = f"[yellow]{counts.retries:,}[/]" if counts.retries else "0"
        table.add_row(name, f"{counts.pages:,}", f"{counts.rows:,}", f"{counts.requests:,}", retries)
    return table


class _LiveView:
    """What rich's Live redraws four times a second: a spinner with the elapsed time (one
    spinner, so that it turns), then the table."""

    def __init__(self, progress: RunProgress, title: str) -> None:
        self.progress = progress
        self.title = title
        self.spinner = Spinner("dots")

    def __rich__(self) -> RenderableType:
        self.spinner.update(text=f"{self.title} · {self.progress.elapsed():.0f} s")
        return Group(self.spinner, progress_table(self.progress))


class _LogReporter:
    """A daemon thread that logs `progress_line` every `interval_s` seconds until stopped."""

    def __init__(self, progress: RunProgress, interval_s: float) -> None:
        self.progress = progress
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wirelane-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            total = self.progress.totals()
            log.info(
                progress_line(self.progress),
                extra={
                    "event": "progress",
                    "elapsed_s": round(self.progress.elapsed(), 1),
                    "requests": total["requests"],
                    "retries": total["retries"],
                    "resources": {name: c.as_dict() for name, c in self.progress.snapshot().items()},
                },
            )

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def track(
    mode: ProgressMode = "auto",
    interval_s: float = 30.0,
    *,
    json_logs: bool = False,
    title: str = "loading",
    earlier: Mapping[str, ResourceCounts] | None = None,
    elapsed_s: float = 0.0,
) -> Iterator[RunProgress]:
    """Counts every request made inside the block and shows the progress as `mode` says;
    yields the counts, which stay readable after the block (for the run's summary). Counting
    goes on from `earlier` counts, `elapsed_s` into the run, when given."""
    progress = RunProgress(earlier, elapsed_s)
    chosen = resolve_mode(mode, json_logs)
    display: contextlib.AbstractContextManager[object]
    if chosen == "live":
        display = Live(_LiveView(progress, title), console=Console(stderr=True), refresh_per_second=4, transient=True)
    elif chosen == "log":
        display = _LogReporter(progress, interval_s)
    else:
        display = contextlib.nullcontext()
    with observe(progress), display:
        yield progress
