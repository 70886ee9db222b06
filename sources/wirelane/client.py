"""HTTP to the Wirelane API: keep-alive, timeouts, retries, a shared rate limit, pagination.

Retries (tenacity) cover what a retry can fix: 429 and 5xx (honouring `Retry-After`, capped),
connection and read errors, dropped connections and malformed JSON bodies; exponential backoff
with jitter otherwise. A 401 is handled by the auth flow. Other 4xx end the run with a clear
message. Every request first takes a token from the shared rate limiter.

Observers (`observe`) hear about every attempt of every client in the process: that is how the
command line shows progress without the source printing anything.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
import tenacity

from sources.wirelane import observers
from sources.wirelane import settings as defaults
from sources.wirelane.auth import WirelaneAuth
from sources.wirelane.errors import PaginationLimitError, WirelaneApiError
from sources.wirelane.ratelimit import TokenBucket

log = logging.getLogger("wirelane_sync")
T = TypeVar("T")
R = TypeVar("R")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Retryable(Exception):
    """A response or failure worth another attempt."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _count_items(body: Any) -> int:
    if isinstance(body, dict):
        return 1
    return len(body) if isinstance(body, Sized) and not isinstance(body, str) else 0


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, template: str, retry: bool) -> None:
        with self._lock:
            self.requests += 1
            self.retries += int(retry)
            self.by_path[template] = self.by_path.get(template, 0) + 1


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    timeout_s: float = defaults.DEFAULT_TIMEOUT_S
    max_attempts: int = defaults.DEFAULT_MAX_ATTEMPTS
    max_backoff_s: float = defaults.DEFAULT_MAX_BACKOFF_S
    requests_per_second: float = defaults.DEFAULT_REQUESTS_PER_SECOND
    concurrency: int = defaults.DEFAULT_CONCURRENCY
    page_size: int = defaults.DEFAULT_PAGE_SIZE
    max_pages: int = defaults.DEFAULT_MAX_PAGES


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to backoff


class WirelaneClient:
    def __init__(self, settings: ClientSettings, auth: WirelaneAuth, http: httpx.Client | None = None) -> None:
        self.settings = settings
        limits = httpx.Limits(
            max_connections=settings.concurrency * 2, max_keepalive_connections=settings.concurrency * 2
        )
        self.http = http or httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            auth=auth,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=limits,
            headers={"Accept": "application/json", "User-Agent": "wirelane-sync"},
        )
        self.auth = auth
        self.rate = TokenBucket(settings.requests_per_second)
        self.stats = ClientStats()
        # detail requests in flight across every fan_out at once (transformers fan out in
        # parallel: sources/wirelane/source.py, `_fetched`)
        self._fan_out_slots = threading.BoundedSemaphore(settings.concurrency)
        self._backoff = tenacity.wait_exponential_jitter(multiplier=0.5, max=settings.max_backoff_s)

    def close(self) -> None:
        self.http.close()

    # -- single requests -----------------------------------------------------------------
    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, self.settings.max_backoff_s)
        return float(self._backoff(state))

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        template: str | None = None,
        parse: Callable[[bytes], Any] = orjson.loads,
    ) -> tuple[Any, httpx.Response]:
        """The body as `parse` read it (a ValueError from it: a malformed body, retried) and the
        response of a GET; retried as the module docstring says."""
        template = template or path
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=tenacity.stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            reraise=True,
            before_sleep=lambda state: log.info(
                "retrying %s after %s (attempt %d)",
                template,
                state.outcome.exception() if state.outcome else "?",
                state.attempt_number,
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(path, params, template, parse, retry=attempt.retry_state.attempt_number > 1)
        except _Retryable as error:
            raise WirelaneApiError(
                f"GET {template} still failing after {self.settings.max_attempts} attempts: {error}"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        path: str,
        params: dict[str, Any] | None,
        template: str,
        parse: Callable[[bytes], Any],
        *,
        retry: bool,
    ) -> tuple[Any, httpx.Response]:
        self.rate.acquire()
        self.stats.count(template, retry)
        page = params.get("page") if params else None
        started = time.monotonic()

        def notify(status: int | None, failed: bool, body: Any = None) -> None:
            if observers.watched():
                seconds = time.monotonic() - started
                observers.notify(
                    observers.RequestEvent(template, status, retry, failed, _count_items(body), page, seconds)
                )

        try:
            response = self.http.get(path, params=params)
        except (httpx.TransportError, httpx.DecodingError) as error:
            notify(None, failed=True)
            raise _Retryable(type(error).__name__) from None
        if response.status_code in RETRY_STATUSES:
            notify(response.status_code, failed=True)
            retry_after = _retry_after(response)
            if retry_after is not None:
                self.rate.pause(min(retry_after, self.settings.max_backoff_s))
            raise _Retryable(f"HTTP {response.status_code}", retry_after)
        if response.status_code >= 400:
            notify(response.status_code, failed=False)  # an answer, if not the one hoped for
            return None, response
        try:
            body = parse(response.content)
        except ValueError:  # orjson.JSONDecodeError is one
            notify(response.status_code, failed=True)
            raise _Retryable("malformed JSON body") from None
        notify(response.status_code, failed=False, body=body)
        return body, response

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, template: str | None = None) -> Any:
        """The JSON body, or WirelaneApiError for a 4xx."""
        data, response = self.get(path, params, template=template)
        if response.status_code >= 400:
            raise WirelaneApiError(_describe(response, template or path))
        return data

    def get_optional(self, path: str, *, template: str | None = None) -> Any | None:
        """The JSON body, or None for a 404 (a member without payment method, say)."""
        data, response = self.get(path, template=template)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise WirelaneApiError(_describe(response, template or path))
        return data

    # -- lists ---------------------------------------------------------------------------
    def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        template: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, stopping on the total or on a short page."""
        pages = self.numbered_pages(path, params, template=template, parse=orjson.loads, page_size=page_size)
        for _, items, _more in pages:
            yield items

    def numbered_pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        template: str | None = None,
        parse: Callable[[bytes], Any],
        page_size: int | None = None,
        first_page: int = 1,
    ) -> Iterator[tuple[int, Any, bool]]:
        """Every page of a list endpoint from `first_page` on as `parse` reads its body (a list,
        or something with a length that stands for one), with its number and whether more
        follow, stopping on the total or on a short page: a scan that stops part-way (a sliced
        first load) knows where to go on. `page_size` overrides the configured one.

        From the third page read on, the next page is requested (and read) while the caller
        works on this one: a long scan then costs the larger of fetching and processing, not
        their sum; the first two are not prefetched, so an incremental scan that stops early
        asks for nothing extra.
        """
        page_size = page_size or self.settings.page_size

        def fetch(page: int) -> tuple[Any, bool]:
            query = {**(params or {}), "page": page, "page_size": page_size}
            items, response = self.get(path, query, template=template, parse=parse)
            if response.status_code >= 400:
                raise WirelaneApiError(_describe(response, template or path))
            if not isinstance(items, Sized) or isinstance(items, dict | str):
                raise WirelaneApiError(f"GET {template or path} returned {type(items).__name__}, expected a list")
            total = response.headers.get("x-total-count", "")
            final = len(items) < page_size or (total.isdigit() and page * page_size >= int(total))
            return items, not final

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wirelane-page") as pool:
            ahead: Future[tuple[Any, bool]] | None = None
            for page in range(first_page, self.settings.max_pages + 1):
                items, more = ahead.result() if ahead is not None else fetch(page)
                ahead = None
                if more and page >= first_page + 1 and page < self.settings.max_pages:
                    ahead = pool.submit(contextvars.copy_context().run, fetch, page + 1)
                if len(items):
                    yield page, items, more
                if not more:
                    return
        raise PaginationLimitError(
            f"GET {template or path} has more than {self.settings.max_pages} pages of {page_size}; "
            "raise sources.wirelane.max_pages or sources.wirelane.page_size"
        )

    def fan_out(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn over items with bounded concurrency, results in input order: at most
        `concurrency` calls run at once across all the fan-outs of this client, however many
        run side by side.

        Each call runs in a copy of the caller's context variables, so that what the caller's
        context knows (which dlt resource is extracting, for observers) holds in the workers too.
        """

        def call(job: tuple[contextvars.Context, T]) -> R:
            with self._fan_out_slots:
                return job[0].run(fn, job[1])

        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="wirelane") as pool:
            # map() consumes the jobs right away, here in the caller's thread
            yield from pool.map(call, ((contextvars.copy_context(), item) for item in items))


def _describe(response: httpx.Response, template: str) -> str:
    try:
        body = response.json()
        detail = f"{body.get('error_code', '')}: {body.get('error_message', '')}".strip(": ")
    except ValueError:
        detail = response.reason_phrase
    hints = {
        401: "check the credentials",
        403: "check sources.wirelane.organizations and that the account belongs to them",
        404: "the resource does not exist",
    }
    hint = hints.get(response.status_code, "check the request parameters")
    return f"GET {template} answered {response.status_code} ({detail}); {hint}"
