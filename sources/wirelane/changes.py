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
some resources never leaves another table's fingerprints claiming a read it did not make. A
record is remembered as two 8-byte numbers, a digest of its key and the digest of its row, held
in arrays while a run uses them and saved as one base64 string per organization (`Fingerprints`).
As a dict of key and digest strings they cost about 160 bytes a record while a run held them
(216,000 records in seven tables at 3,000,000 sessions; tests/pipeline/test_fingerprints.py
measures 4.9 MB against 1.1 MB for 30,000), and as `digest key` lines 6.5 MB of state there,
which dlt parses, copies and encodes again in every process that loads; saved now, 4.6 MB.

Tables fed by one listing remember the same rows whenever they run together: the four station
tables one set per organization, the member payment methods and subscriptions another. So a
table's state holds a reference (the digest of its set) and the source's state one copy of
each distinct set (`FingerprintSets`): three sets per organization instead of seven, about 1.0
instead of 1.6 MB of state at 1,000,000 sessions (tests/pipeline/test_change_detection.py). A
reference is only ever to content, so a table that a run did not select never points at another
table's newer set; one whose set is missing (the source's state edited or dropped) sweeps.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Set
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


COMPACT = "v2:"  # marks the saved form: base64 of big-endian (key digest, row digest) pairs, by key
REFERENCE = "v3:"  # marks a table's reference to a set in the source's `FingerprintSets`
SETS_KEY = "fingerprint_sets"  # where the source's state holds them


def key_digest(key: str) -> int:
    """A record key as its fingerprint remembers it. Two keys of one table and organization with
    the same digest (one chance in 2**64 a pair) share a slot: whichever was listed last wins and
    the other is read again every run, which costs a request and never skips a change."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class Fingerprints:
    """One organization's fingerprints in a detail table's state while a run uses them: the
    remembered pairs sorted by key digest (looked up by bisection) and this run's pairs as they
    come, 16 bytes a record each. dlt's JSON encoder calls `asdict` for what it cannot encode
    itself, so the string is written once, when dlt saves the state at the end of the
    extraction, after the last detail of the organization ran.

    A row is compared with what the last run remembered, not with what this run already saw: a
    record listed twice in one run (a page shifting under the listing) may be read twice, and
    the merge keeps one."""

    __slots__ = ("_digests", "_keys", "_new_digests", "_new_keys", "_saved")

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()) -> None:
        ordered = sorted(dict(pairs).items())
        self._keys = array("Q", (key for key, _ in ordered))
        self._digests = array("Q", (digest for _, digest in ordered))
        self._new_keys = array("Q")
        self._new_digests = array("Q")
        self._saved: tuple[str, str] | None = None  # (compact, reference) until the pairs change

    @classmethod
    def of(cls, stored: Any) -> Fingerprints:
        """An organization's fingerprints from how the state holds them: in use in this run
        (itself), saved (a string), or saved by an earlier version (`digest key` lines or a dict)."""
        if isinstance(stored, Fingerprints):
            return stored
        if isinstance(stored, str) and stored.startswith(COMPACT):  # saved sorted and unique: taken as is
            prints = cls()
            flat = _saved_pairs(stored)
            prints._keys, prints._digests = flat[0::2], flat[1::2]
            return prints
        return cls(stored_fingerprints(stored).items())

    def remembered(self, key: int) -> int | None:
        at = bisect_left(self._keys, key)
        return self._digests[at] if at < len(self._keys) and self._keys[at] == key else None

    def remember(self, key: int, digest: int) -> None:
        self._new_keys.append(key)
        self._new_digests.append(digest)
        self._saved = None

    def keep_only(self, keys: set[int]) -> None:
        """Forgets the remembered records whose key is not among `keys`; this run's are all
        from the listing that gave `keys`."""
        kept = [(key, digest) for key, digest in zip(self._keys, self._digests, strict=True) if key in keys]
        self._keys = array("Q", (key for key, _ in kept))
        self._digests = array("Q", (digest for _, digest in kept))
        self._saved = None

    def pairs(self) -> dict[int, int]:
        """Every record's (key digest, row digest) as the next run will remember it."""
        merged = dict(zip(self._keys, self._digests, strict=True))
        merged.update(zip(self._new_keys, self._new_digests, strict=True))  # this run's, the last seen winning
        return merged

    def _saved_forms(self) -> tuple[str, str]:
        if self._saved is None:
            flat = array("Q", (number for pair in sorted(self.pairs().items()) for number in pair))
            if sys.byteorder == "little":
                flat.byteswap()
            compact = COMPACT + base64.b64encode(flat.tobytes()).decode("ascii")
            self._saved = compact, REFERENCE + hashlib.blake2b(compact.encode("ascii"), digest_size=16).hexdigest()
        return self._saved

    def compact(self) -> str:
        """The saved form on its own: `v2:` and base64 of the big-endian pairs, sorted by key."""
        return self._saved_forms()[0]

    def reference(self) -> str:
        """`v3:` and the digest of `compact()`: what the table's state holds."""
        return self._saved_forms()[1]

    def asdict(self) -> str:
        """dlt's JSON encoder asks: the table's state holds the reference, the source's one copy
        of the set (`FingerprintSets.asdict`). Both are computed once per change of the pairs,
        however often dlt encodes the state (hash, file, load package)."""
        return self.reference()


class FingerprintSets:
    """The source's one copy of each distinct set of fingerprints the detail tables refer to.

    Lives in the source's state (`SETS_KEY`) from the first time a run touches fingerprints;
    when dlt encodes the state it writes the sets that some table's state still refers to,
    those in use in this run from their `Fingerprints`, the others as they were saved, so a set
    no table refers to any more is gone."""

    def __init__(self, saved: dict[str, str], resources: dict[str, Any]) -> None:
        self._saved = saved  # reference digest -> compact form, as the state held them
        self._resources = resources  # the source's resource states, where the references are

    @classmethod
    def installed(cls, source_state: dict[str, Any]) -> FingerprintSets:
        """The source's sets, put in place of their saved form the first time."""
        found = source_state.get(SETS_KEY)
        if isinstance(found, FingerprintSets):
            return found
        sets = cls(found if isinstance(found, dict) else {}, source_state.setdefault("resources", {}))
        source_state[SETS_KEY] = sets
        return sets

    def resolve(self, stored: Any) -> Any:
        """A table's saved fingerprints in a form `Fingerprints.of` reads: a reference becomes
        its set's compact form, or None when the set is missing."""
        return resolve(stored, self._saved)

    def asdict(self) -> dict[str, str]:
        kept: dict[str, str] = {}
        for resource in self._resources.values():
            if not isinstance(resource, dict):
                continue
            for stored in resource.get("fingerprints", {}).values():
                if isinstance(stored, Fingerprints):
                    kept[stored.reference()[len(REFERENCE) :]] = stored.compact()
                elif isinstance(stored, str) and stored.startswith(REFERENCE):
                    digest = stored[len(REFERENCE) :]
                    if digest in self._saved:  # a table this run did not touch: its set as saved
                        kept[digest] = self._saved[digest]
        return kept


def resolve(stored: Any, sets: dict[str, str]) -> Any:
    """`stored` as `Fingerprints.of` reads it, a reference looked up in the saved `sets`; None
    for a reference whose set is missing."""
    if isinstance(stored, str) and stored.startswith(REFERENCE):
        return sets.get(stored[len(REFERENCE) :])
    return stored


def stored_fingerprints(stored: Any, sets: dict[str, str] | None = None) -> dict[int, int]:
    """An organization's fingerprints, key digest to row digest, from any form the state held
    (a reference looked up in the source's saved `sets`)."""
    stored = resolve(stored, sets or {})
    if stored is None:
        return {}
    if isinstance(stored, Fingerprints):
        return stored.pairs()
    if isinstance(stored, dict):  # an earlier version's: key to hex digest
        return {key_digest(key): int(digest, 16) for key, digest in stored.items()}
    if stored.startswith(COMPACT):
        flat = _saved_pairs(stored)
        return dict(zip(flat[0::2], flat[1::2], strict=True))
    lines = (line.partition(" ") for line in stored.split("\n") if line)  # an earlier version's `digest key`
    return {key_digest(key): int(digest, 16) for digest, _, key in lines}


def _saved_pairs(stored: str) -> array[int]:
    """The compact form's (key digest, row digest) numbers, one after the other, as `asdict` wrote them."""
    flat = array("Q")
    flat.frombytes(base64.b64decode(stored[len(COMPACT) :]))
    if sys.byteorder == "little":
        flat.byteswap()
    return flat


@dataclass
class DetailRun:
    """What one detail table did in this run, for marking what disappeared afterwards."""

    swept: set[str] = field(default_factory=set)  # organizations whose records were all read
    fetched: dict[str, set[str]] = field(default_factory=dict)  # organization -> keys read, unless swept
    listed: dict[str, Set[str]] = field(default_factory=dict)  # organization -> keys listed

    def settled(self) -> SettledRun:
        """The run once its extraction is over: what the load step marks by, held compact."""
        return SettledRun(
            swept=frozenset(self.swept),
            fetched={org: KeySet(keys) for org, keys in self.fetched.items()},
            listed={org: keys if isinstance(keys, KeySet) else KeySet(keys) for org, keys in self.listed.items()},
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
        self._sets: FingerprintSets | None = None
        self._decided: set[str] = set()

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            self._state = dlt.current.resource_state(self.table)
            self._sets = FingerprintSets.installed(dlt.current.source_state())
        return self._state

    def _saved(self, org: str) -> Any:
        """The organization's saved fingerprints as `Fingerprints.of` reads them; None when it
        has none (or refers to a set that is gone)."""
        stored = self.state.get("fingerprints", {}).get(org)
        assert self._sets is not None  # installed with the state
        return self._sets.resolve(stored)

    def _begin(self, org: str) -> None:
        if org in self._decided:
            return
        self._decided.add(org)
        prints: dict[str, Any] = self.state.setdefault("fingerprints", {})
        swept_at: dict[str, str] = self.state.setdefault("swept_at", {})
        if self._sweep_due(org):
            self.run.swept.add(org)
            prints[org] = Fingerprints()  # rebuilt from what this sweep lists: the gone are forgotten
            swept_at[org] = self.now.isoformat()
        else:
            prints[org] = Fingerprints.of(self._saved(org))

    def _sweep_due(self, org: str) -> bool:
        last = self.state.get("swept_at", {}).get(org)
        return (
            self.refresh_h <= 0
            or self._saved(org) is None
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
        prints: Fingerprints = self.state["fingerprints"][org]
        remembered, value = key_digest(key), int(digest, 16)
        swept = org in self.run.swept
        changed = swept or prints.remembered(remembered) != value
        prints.remember(remembered, value)
        if changed and not swept:  # a swept organization's records were all read: no list needed
            self.run.fetched.setdefault(org, set()).add(key)
        return changed

    def forget_unlisted(self, org: str, listed: Iterable[str]) -> None:
        """Forgets the rows of records that the organization's listing no longer has: one that
        comes back is then read (and loaded) again even with an unchanged row, which it must be,
        since it was marked gone meanwhile. Called once the listing is through."""
        store: dict[str, Any] = self.state.get("fingerprints", {})
        saved = self._saved(org)
        if saved is None:
            store.pop(org, None)  # a set that is gone: the next run sweeps
            return
        store[org] = Fingerprints.of(saved)
        store[org].keep_only({key_digest(key) for key in listed})

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
