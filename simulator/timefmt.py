"""Timestamps the way the Wirelane API writes them: local time with a basic offset (`+0200`).

The API renders every instant in Europe/Berlin wall-clock time with the offset in force at
that instant (`2017-10-15T16:44:40+0200`, `2015-11-25T10:43:02+0100`). The simulator keeps
instants as integer epoch seconds and converts at the edge. Offsets come from the IANA
database (zoneinfo); a transition table makes the conversion vectorisable for numpy arrays.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

API_ZONE = ZoneInfo("Europe/Berlin")
_FIRST_YEAR, _LAST_YEAR = 1990, 2060

# The reference's date-time query pattern: `[\040+-]` accepts a space for `+`, because an
# unencoded `+` in a query string arrives as a space.
API_DATETIME_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})[\040+-](\d{4})$")

IntArray = npt.NDArray[np.int64]


@functools.cache
def _transitions() -> tuple[IntArray, IntArray]:
    """Instants (epoch s) at which the zone's UTC offset changes, and the offset from then on."""
    start = int(datetime(_FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(_LAST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    instants = [start]
    offsets = [_offset_at(start)]
    step = 86400  # offsets change at most twice a year, never twice within a day
    t = start
    while t < end:
        t += step
        off = _offset_at(t)
        if off != offsets[-1]:
            # the change happened within the last day: find the exact second
            lo, hi = t - step, t
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            instants.append(hi)
            offsets.append(off)
    return np.asarray(instants, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


def _offset_at(epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, API_ZONE).utcoffset() or timedelta(0)
    return int(offset.total_seconds())


def offsets(epochs: IntArray) -> IntArray:
    """UTC offsets in seconds of Europe/Berlin at each instant."""
    instants, offs = _transitions()
    idx = np.searchsorted(instants, epochs, side="right") - 1
    result: IntArray = offs[np.clip(idx, 0, len(offs) - 1)]
    return result


def offset(epoch: int) -> int:
    instants, offs = _transitions()
    idx = int(np.searchsorted(instants, epoch, side="right")) - 1
    return int(offs[max(idx, 0)])


def format_api(epoch: int) -> str:
    """`2017-10-15T16:44:40+0200` for an epoch second."""
    off = offset(epoch)
    sign = "+" if off >= 0 else "-"
    hours, minutes = divmod(abs(off) // 60, 60)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch + off))
    return f"{stamp}{sign}{hours:02d}{minutes:02d}"


def format_api_many(epochs: IntArray, missing: int) -> list[str | None]:
    """Vectorised `format_api`; entries equal to `missing` become None."""
    offs = offsets(epochs)
    local = (epochs + offs).astype("datetime64[s]")
    stamps = np.datetime_as_string(local, unit="s")
    minutes = np.abs(offs) // 60
    suffix = np.char.add(
        np.where(offs >= 0, "+", "-"),
        np.char.zfill((minutes // 60 * 100 + minutes % 60).astype(str), 4),
    )
    texts = np.char.add(stamps, suffix).tolist()
    return [None if e == missing else t for e, t in zip(epochs.tolist(), texts, strict=True)]


def parse_api(text: str) -> int:
    """Epoch seconds of an API timestamp; raises ValueError with the expected format."""
    match = API_DATETIME_PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a date-time like 2017-10-15T16:44:40+0200")
    year, month, day, hour, minute, second, off = match.groups()
    sign = -1 if text[19] == "-" else 1
    off_seconds = sign * (int(off[:2]) * 3600 + int(off[2:]) * 60)
    naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    return int(naive.timestamp()) - off_seconds


def parse_iso(text: str) -> int:
    """Epoch seconds of an ISO 8601 timestamp with an offset (used by admin routes and CLI)."""
    value = datetime.fromisoformat(text.replace(" ", "+") if text[-5] == " " else text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return int(value.timestamp())


def local_parts(epochs: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Local minute of day, ISO weekday (0 = Monday) and day number (days since epoch)."""
    local = epochs + offsets(epochs)
    day = local // 86400
    minute_of_day = (local % 86400) // 60
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    return minute_of_day, weekday, day
