"""The simulated Wirelane tenant landscape: organizations and everything they own.

Entities other than sessions are few (thousands at most), so they are plain dataclasses
holding the API document they render to, plus the few fields the simulator reasons about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.sessions import SessionStore

JSON = dict[str, Any]


@dataclass(frozen=True)
class SimulatorSizes:
    organizations: int = 2
    stations: int = 300
    members: int = 2000
    sessions: int = 100_000
    days: int = 365


@dataclass
class Organization:
    index: int
    id: str  # matches ^[a-zA-Z0-9-_]+$, e.g. DEMOTENANT
    tenant: str  # short lowercase tenant code, e.g. dewln
    country: str
    station_indices: list[int] = field(default_factory=list)
    member_indices: list[int] = field(default_factory=list)
    tariff_indices: list[int] = field(default_factory=list)
    member_groups: list[JSON] = field(default_factory=list)


@dataclass
class Station:
    index: int
    org: int
    id: int  # internal integer id used in paths
    station_id: str  # human-readable label, e.g. DE*WLN*7966
    document: JSON  # everything but `connectors`, rendered as the detail endpoint shows it
    connector_indices: list[int]
    roaming: bool
    onboarded: bool
    latitude: float
    longitude: float
    timezone: str
    onboarded_at: int = 0
    scm_id: str = ""  # 32-hex backend id, the session's `charging_station_id`
    cases: list[JSON] = field(default_factory=list)
    connection_chain: list[JSON] = field(default_factory=list)
    maintenance: list[JSON] = field(default_factory=list)
    maintenance_epochs: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Connector:
    index: int
    station: int
    number: int  # connector_id as seen from the station (1-based)
    charging_type: str
    power_kw: float
    document: JSON  # the full `Connector` document without status fields
    status: str = "FREE"
    status_update: int = 0
    location_fragment: bytes = b""  # pre-serialised session `location`
    session_parts: dict[str, Any] | None = None  # per-connector session fields, cached by render


@dataclass
class Member:
    index: int
    org: int
    id: int
    account_id: str
    created: int
    document: JSON
    payment_method: JSON | None
    subscription: JSON | None
    group_ids: list[str]
    is_employee: bool
    customer_fragment: bytes = b""  # pre-serialised session `customer`
    rfid: str = ""  # RFID card UID used as the session `identification`
    app_id: str = ""  # app installation id used as the session `identification`


@dataclass
class PriceModel:
    index: int
    tariff: int
    id: int
    price_id: str
    charging_type: str
    valid_from: int
    valid_until: int | None  # None while active
    document: JSON  # full PriceModel document (with elements and autoDescription)


@dataclass
class Tariff:
    index: int
    org: int
    id: int
    tariff_id: str
    tariff_type: str
    roaming_platform: str
    document: JSON  # everything but `prices`
    price_model_indices: list[int] = field(default_factory=list)


@dataclass
class World:
    seed: int
    sizes: SimulatorSizes
    now: int  # the simulated clock, epoch seconds
    organizations: list[Organization]
    stations: list[Station]
    connectors: list[Connector]
    members: list[Member]
    tariffs: list[Tariff]
    price_models: list[PriceModel]
    sessions: SessionStore
    emp_parties: list[str]
    advance_count: int = 0
    # mutation counters, so clients and tests can see what `advance` did
    changes: dict[str, int] = field(default_factory=dict)
    station_version: int = 0
    tariff_version: int = 0
    busy_until: list[int] = field(default_factory=list)  # per connector: free again at
    meter_base: Any = None  # per connector: next meter reading (numpy int64 array)
    cache: dict[str, Any] = field(default_factory=dict)  # derived indexes, rebuilt on demand
    builder: Any = None  # the generator, kept so `advance` creates entities the same way

    def org_by_id(self, organization_id: str) -> Organization | None:
        for org in self.organizations:
            if org.id == organization_id:
                return org
        return None

    def station_by_id(self, org: Organization, station_id: int) -> Station | None:
        for index in org.station_indices:
            if self.stations[index].id == station_id:
                return self.stations[index]
        return None

    def member_by_account(self, org: Organization, account_id: str) -> Member | None:
        for index in org.member_indices:
            if self.members[index].account_id == account_id:
                return self.members[index]
        return None

    def tariff_by_id(self, org: Organization, tariff_id: int) -> Tariff | None:
        for index in org.tariff_indices:
            if self.tariffs[index].id == tariff_id:
                return self.tariffs[index]
        return None

    def connector_station(self) -> npt.NDArray[np.int32]:
        return np.asarray([c.station for c in self.connectors], dtype=np.int32)
