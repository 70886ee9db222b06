"""Which detail requests a run can skip: the list rows that did not change since the last run.

The API has no change filter for members, stations or their sub-resources, and their details
cost one request per record: re-reading them all on every run makes an hourly incremental
cost as much as a full load (at 1,000,000 sessions, 52,000 requests for 1 % of changes). So
each detail table remembers a fingerprint of the list row each of its records came from, and
re-reads a record only when that row is new or changed.

What a list row does not show (a payment method changed, a support case opened) is caught by
a sweep: every `detail_refresh_h` hours each detail table re-reads everything, and a run
without remembered fingerprints (the first, or after `--full-refresh`) is a sweep. A sweep
also forgets the fingerprints of records that are gone.

The fingerprints live in each detail table's own resource state, so a run that selects only
some resources never leaves another table's fingerprints claiming a read it did not make. They
are saved as one string per organization (`Fingerprints`): parsed, a dict of them costs about
140 bytes a record (32 MiB at 3,000,000 sessions), and dlt parses the state in every process
that loads, and holds it twice while loading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import orjson

from sources.wirelane.keysets import KeySet


def fingerprint(document: Any, key: bytes = b"") -> str:
    """A short stable digest of a JSON document (key order does not matter); keyed, when the
    document holds personal data in clear, so that state holds nothing a guess could confirm."""
    encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS, default=str)  # str: Decimals
    return hashlib.blake2b(encoded, digest_size=8, key=key).hexdigest()


class Fingerprints:
    """One organization's fingerprints in a detail table's state while a run uses them: a dict
    to look up and update, saved as one string of `digest key` lines. dlt's JSON encoder calls
    `asdict` for what it cannot encode itself, so the string is written once, when dlt saves
    the state at the end of the extraction, after the last detail of the organization ran."""

    __slots__ = ("rows",)

    def __init__(self, rows: dict[str, str]) -> None:
        self.rows = rows

    def asdict(self) -> str | dict[str, str]:
        if any("\n" in key for key in self.rows):  # no API id has one; kept exact if one did
            return self.rows
        return "\n".join(f"{digest} {key}" for key, digest in self.rows.items())


def stored_fingerprints(stored: Any) -> dict[str, str]:
    """An organization's fingerprints as a dict, from how the state holds them: saved (a
    string), in use in this run (`Fingerprints`), or saved by an earlier version (a dict)."""
    if isinstance(stored, Fingerprints):
        return stored.rows
    if isinstance(stored, dict):
        return dict(stored)
    return {key: digest for digest, _, key in (line.partition(" ") for line in stored.split("\n") if line)}


@dataclass
class DetailRun:
    """What one detail table did in this run, for marking what disappeared afterwards."""

    swept: set[str] = field(default_factory=set)  # organizations whose records were all read
    fetched: dict[str, set[str]] = field(default_factory=dict)  # organization -> keys read
    listed: dict[str, set[str]] = field(default_factory=dict)  # organization -> keys listed

    def settled(self) -> SettledRun:
        """The run once its extraction is over: what the load step marks by, held compact."""
        return SettledRun(
            swept=frozenset(self.swept),
            fetched={org: KeySet(keys) for org, keys in self.fetched.items()},
            listed={org: KeySet(keys) for org, keys in self.listed.items()},
        )


@dataclass(frozen=True)
class SettledRun:
    """A `DetailRun` after the extraction, as `pipelines.load_step.Listings` holds it while the
    load runs (sources/wirelane/keysets.py says why the keys are strings)."""

    swept: frozenset[str] = frozenset()
    fetched: dict[str, KeySet] = field(default_factory=dict)
    listed: dict[str, KeySet] = field(default_factory=dict)


def detail_run(table: str) -> DetailRun:
    return _RUNS.setdefault(table, DetailRun())


# table -> its run; reset for every source built (see `start_run`)
_RUNS: dict[str, DetailRun] = {}


def start_run() -> None:
    _RUNS.clear()


def runs() -> dict[str, DetailRun]:
    """The detail tables of the source built last in this process, and what they read."""
    return dict(_RUNS)


class DetailPlan:
    """One detail table's decisions for this run: which records to read again.

    Created lazily inside the resource (dlt's resource state is only reachable there); one
    decision per organization, taken the first time the organization comes up.
    """

    def __init__(self, table: str, refresh_h: float, now: datetime | None = None) -> None:
        self.table = table
        self.refresh_h = refresh_h
        self.now = now or datetime.now(UTC)
        self.run = detail_run(table)
        self._state: dict[str, Any] | None = None
        self._decided: set[str] = set()

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            self._state = dlt.current.resource_state(self.table)
        return self._state

    def _begin(self, org: str) -> None:
        if org in self._decided:
            return
        self._decided.add(org)
        prints: dict[str, Any] = self.state.setdefault("fingerprints", {})
        swept_at: dict[str, str] = self.state.setdefault("swept_at", {})
        if self._sweep_due(org):
            self.run.swept.add(org)
            prints[org] = Fingerprints({})  # rebuilt from what this sweep lists: the gone are forgotten
            swept_at[org] = self.now.isoformat()
        else:
            prints[org] = Fingerprints(stored_fingerprints(prints[org]))

    def _sweep_due(self, org: str) -> bool:
        last = self.state.get("swept_at", {}).get(org)
        return (
            self.refresh_h <= 0
            or org not in self.state.get("fingerprints", {})
            or last is None
            or datetime.fromisoformat(last) <= self.now - timedelta(hours=self.refresh_h)
        )

    def sweeps(self, org: str) -> bool:
        """Whether this run reads every record of the organization again, without deciding it
        (a listing asks before the table does, and the table may not even be selected)."""
        return org in self.run.swept if org in self._decided else self._sweep_due(org)

    def due(self, org: str, key: str, document: Any) -> bool:
        """Whether to read this record's detail: new, changed, or a sweep; remembers the row."""
        return self.due_digest(org, key, fingerprint(document))

    def due_digest(self, org: str, key: str, digest: str) -> bool:
        """`due` for a row already digested (a member's list row feeds three tables)."""
        self._begin(org)
        prints = self.state["fingerprints"][org].rows
        changed = org in self.run.swept or prints.get(key) != digest
        prints[key] = digest
        if changed:
            self.run.fetched.setdefault(org, set()).add(key)
        return changed

    def forget_unlisted(self, org: str, listed: set[str]) -> None:
        """Forgets the rows of records that the organization's listing no longer has: one that
        comes back is then read (and loaded) again even with an unchanged row, which it must be,
        since it was marked gone meanwhile. Called once the listing is through."""
        store: dict[str, Any] = self.state.get("fingerprints", {})
        if org not in store:
            return
        store[org] = Fingerprints(prints := stored_fingerprints(store[org]))
        for key in prints.keys() - listed:
            del prints[key]

    def select_listed(self, items: Iterable[dict[str, Any]], view: Callable[[Any], Any] | None = None) -> list[Any]:
        """The listed items (`organization_id`, `listed`: the list row) whose detail is due;
        `view` picks what of the row to compare (all of it by default)."""
        return [
            item
            for item in items
            if self.due(
                item["organization_id"],
                str(item["listed"]["id"]),
                item["listed"] if view is None else view(item["listed"]),
            )
        ]
