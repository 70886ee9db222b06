"""Charging sessions held column-wise in numpy arrays.

A million sessions as Python dicts would take gigabytes; as typed columns they take about
100 MB, and filters and sorts over them are vectorised. Everything textual about a session
(ids, location, customer) is derived at render time from these columns and from the small
entity tables (stations, connectors, members, tariffs).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from simulator import spec

SESSIONS_PATH = "/organizations/id/{organizationId}/sessions"

STATUSES: tuple[str, ...] = spec.enum("ChargingSessionInfo", "status")
ERROR_CODES: tuple[str, ...] = spec.enum("ChargingSessionInfo", "error_code")
IDENTIFICATION_TYPES: tuple[str, ...] = spec.enum("ChargingSessionInfo", "identification_type")
ROAMING_PROVIDERS: tuple[str, ...] = ("none", "hubject", "eclearing")

STATUS = {name: code for code, name in enumerate(STATUSES)}
ERROR = {name: code for code, name in enumerate(ERROR_CODES)}
IDENT = {name: code for code, name in enumerate(IDENTIFICATION_TYPES)}
ROAMING = {name: code for code, name in enumerate(ROAMING_PROVIDERS)}
OPEN_STATUSES = tuple(
    STATUS[s]
    for s in (
        "initial",
        "authorization_pending",
        "start_accepted",
        "start_pending",
        "started",
        "stop_accepted",
        "stop_pending",
        "stopped",
    )
)
NONE = -1  # missing integer value (no member, no error code, not begun, not ended)
PRICE_COLUMNS = (
    "start_fee_net",
    "energy_net",
    "time_net",
    "total_net",
    "start_fee_tax",
    "energy_tax",
    "time_tax",
    "total_tax",
)  # fmt: skip  (integer cents, as `pricing.PriceBreakdown` names them)


class SessionStore:
    """Growable column store; `n` rows are live, capacity grows by doubling."""

    COLUMNS: ClassVar[dict[str, type[np.generic]]] = {
        "org": np.int16,
        "connector": np.int32,
        "member": np.int32,
        "tariff": np.int32,
        "price_model": np.int32,
        "ident_type": np.int8,
        "roaming": np.int8,
        "status": np.int8,
        "error_code": np.int8,
        "emp": np.int16,  # index into the world's EMP party list
        "id_hi": np.uint64,
        "id_lo": np.uint64,
        "creation": np.int64,  # epoch seconds; NONE where absent
        "begin": np.int64,
        "end": np.int64,
        "planned_end": np.int64,  # when an open session will end (not rendered)
        "planned_wh": np.int64,  # energy it will have delivered by then (not rendered)
        "process_end": np.int64,
        "update": np.int64,
        "energy_wh": np.int64,
        "meter_start": np.int64,
        "start_fee_net": np.int64,  # cents; NONE where the session has no price
        "energy_net": np.int64,
        "time_net": np.int64,
        "total_net": np.int64,
        "start_fee_tax": np.int64,
        "energy_tax": np.int64,
        "time_tax": np.int64,
        "total_tax": np.int64,
        "tax_rate": np.int8,
        "limit_cents": np.int32,  # NONE when no limit
        "flags": np.int8,  # bit 0 maintenance card, bit 1 signed meter values, bit 2 cpo created
    }
    FLAG_MAINTENANCE = 1
    FLAG_SIGNED = 2
    FLAG_CPO_CREATED = 4

    def __init__(self, columns: dict[str, npt.NDArray[Any]], capacity: int = 0) -> None:
        self.n = len(columns["org"])
        capacity = max(16, self.n, capacity)
        self._cols: dict[str, npt.NDArray[Any]] = {}
        for name, dtype in self.COLUMNS.items():
            data = np.full(capacity, NONE, dtype=dtype) if dtype != np.uint64 else np.zeros(capacity, dtype)
            data[: self.n] = columns[name]
            self._cols[name] = data
        self.version = 0
        self._id_index: tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]] | None = None

    def __getattr__(self, name: str) -> npt.NDArray[Any]:
        cols = self.__dict__.get("_cols")
        if cols is None or name not in cols:
            raise AttributeError(name)
        data: npt.NDArray[Any] = cols[name]
        return data[: self.__dict__["n"]]

    def column(self, name: str) -> npt.NDArray[Any]:
        data: npt.NDArray[Any] = self._cols[name]
        return data[: self.n]

    def append(self, rows: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.int64]:
        """Adds rows and returns their indices."""
        count = len(rows["org"])
        needed = self.n + count
        capacity = len(self._cols["org"])
        if needed > capacity:
            new_capacity = max(needed, capacity * 2)
            for name, data in self._cols.items():
                grown = (
                    np.full(new_capacity, NONE, dtype=data.dtype)
                    if data.dtype != np.uint64
                    else np.zeros(new_capacity, data.dtype)
                )
                grown[: self.n] = data[: self.n]
                self._cols[name] = grown
        for name in self.COLUMNS:
            self._cols[name][self.n : needed] = rows[name]
        indices = np.arange(self.n, needed, dtype=np.int64)
        self.n = needed
        self.touch()
        return indices

    def touch(self) -> None:
        """Marks the data changed: cached orderings and pages become stale."""
        self.version += 1
        self._id_index = None

    def session_id(self, i: int) -> str:
        hex32 = f"{int(self._cols['id_hi'][i]):016x}{int(self._cols['id_lo'][i]):016x}"
        return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"

    def find(self, session_id: str) -> int | None:
        """Index of a session by its id, via a sorted index over the id's high half."""
        text = session_id.replace("-", "")
        if len(text) != 32 or len(session_id) != 36:
            return None
        try:
            hi, lo = int(text[:16], 16), int(text[16:], 16)
        except ValueError:
            return None
        if self._id_index is None:
            his = self.column("id_hi")
            order = np.argsort(his, kind="stable")
            self._id_index = (his[order], order.astype(np.int64))
        sorted_hi, order = self._id_index
        pos = int(np.searchsorted(sorted_hi, np.uint64(hi)))
        while pos < len(sorted_hi) and int(sorted_hi[pos]) == hi:
            i = int(order[pos])
            if int(self._cols["id_lo"][i]) == lo:
                return i
            pos += 1
        return None


def new_ids(rng: np.random.Generator, count: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Random UUID v4 halves (version and variant bits set)."""
    hi = rng.integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)
    lo = rng.integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)
    hi = (hi & np.uint64(0xFFFFFFFFFFFF0FFF)) | np.uint64(0x4000)
    lo = (lo & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    return hi, lo
