"""A read-only set of record keys held as one string: what a finished extraction hands the load.

The load step marks what the listings no longer have from the keys each listing showed and
each detail read (sources/wirelane/changes.py). As Python sets those cost about 120 bytes a
key, and the load step holds them while DuckDB merges: at 3,000,000 sessions (60,000
members, 9,000 stations) 29 MiB of the load's peak, a third of what its peak grows from
1,000,000 to 3,000,000. One sorted string of newline-separated keys costs the keys' own
characters, about a tenth; the load step only iterates them (in order) and counts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set

SEPARATOR = "\n"


class KeySet(Set[str]):
    """Immutable; iterates in sorted order. A key containing the separator (no API id has one)
    keeps the keys as a sorted tuple instead, so every key survives exactly."""

    __slots__ = ("_count", "_keys")

    def __init__(self, keys: Iterable[str] = ()) -> None:
        ordered = sorted(set(keys))
        self._count = len(ordered)
        self._keys: str | tuple[str, ...]
        if any(SEPARATOR in key for key in ordered):
            self._keys = tuple(ordered)
        else:
            # the separator on both ends: a key is found as SEPARATOR + key + SEPARATOR
            self._keys = SEPARATOR + SEPARATOR.join(ordered) + SEPARATOR if ordered else ""

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        if isinstance(self._keys, tuple):
            return iter(self._keys)
        if not self._keys:
            return iter(())
        return iter(self._keys[1:-1].split(SEPARATOR))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if isinstance(self._keys, tuple):
            return key in self._keys
        return SEPARATOR not in key and f"{SEPARATOR}{key}{SEPARATOR}" in self._keys

    def __repr__(self) -> str:
        return f"KeySet({self._count} keys)"

    def __getstate__(self) -> tuple[int, str | tuple[str, ...]]:
        return self._count, self._keys

    def __setstate__(self, state: tuple[int, str | tuple[str, ...]]) -> None:
        self._count, self._keys = state
