"""Builds a deterministic, believable world from a seed.

Same seed and sizes, same world, byte for byte. Sessions follow hour-of-day and weekday curves
in local time and grow over the year; energy, duration and power fit the connector and the car;
sessions never overlap on a connector nor fall into a maintenance window; meter readings are
continuous per connector; and every price is what `pricing.price_sessions` gives for the
session's price model.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from faker import Faker

from simulator import pricing, timefmt
from simulator.reference_data import (
    CASE_STATUSES,
    CASE_TITLES,
    FRENCH_CITIES,
    FRENCH_STREETS,
    GERMAN_CITIES,
    GERMAN_STREETS,
    HARDWARE,
    SUBSCRIPTION_PLANS,
    TARIFF_NAMES,
    City,
)
from simulator.sessions import (
    ERROR,
    IDENT,
    NONE,
    PRICE_COLUMNS,
    ROAMING,
    STATUS,
    SessionStore,
    new_ids,
)
from simulator.world import (
    JSON,
    Connector,
    Member,
    Organization,
    PriceModel,
    SimulatorSizes,
    Station,
    Tariff,
    World,
)

IntArray = npt.NDArray[np.int64]

ORGANIZATION_IDS = (
    ("DEMOTENANT", "demo", "DE"),
    ("BORNES-ATLANTIQUE", "batl", "FR"),
    ("STADTWERKE-NORD", "swnord", "DE"),
    ("AZUR-MOBILITE", "azur", "FR"),
    ("RHEIN-CHARGE", "rhch", "DE"),
)
ROAMING_EMPS = ("deenb", "dembr", "nltnm", "deshl", "frelc", "atsmt", "desgd", "chmov")
DEFAULT_NOW = "2026-11-01T00:00:00+00:00"

# Relative session starts per local hour (AC: commuters and overnight; DC: daytime travel)
AC_HOURLY = (0.6, 0.4, 0.3, 0.2, 0.2, 0.4, 1.2, 2.6, 3.4, 2.6, 1.8, 1.6,
             1.7, 1.6, 1.6, 1.8, 2.4, 3.0, 2.8, 2.2, 1.6, 1.2, 1.0, 0.8)  # fmt: skip
DC_HOURLY = (0.3, 0.2, 0.15, 0.1, 0.15, 0.3, 0.8, 1.5, 2.0, 2.4, 2.7, 3.0,
             3.2, 3.0, 2.8, 2.9, 3.2, 3.4, 3.0, 2.4, 1.8, 1.3, 0.9, 0.5)  # fmt: skip
AC_WEEKDAY = (1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.6)
DC_WEEKDAY = (1.0, 1.0, 1.0, 1.05, 1.15, 1.1, 0.95)

# identification type mix: (type, share)
IDENTIFICATION_MIX = (
    ("rfid", 0.30), ("customer_id", 0.24), ("customer_rfid", 0.05), ("contract_id", 0.20),
    ("contactless_payment", 0.10), ("direct_payment", 0.04), ("local_payment", 0.01),
    ("access_token", 0.015), ("auth_token", 0.005), ("none_access_token", 0.005),
    ("admin_remotestart", 0.015), ("local_authorization", 0.01),
)  # fmt: skip
MEMBER_IDENTIFICATIONS = ("rfid", "customer_id", "customer_rfid", "access_token", "auth_token")
START_ERRORS = (
    "authorization_timeout", "charge_point_offline", "remote_start_failed",
    "remote_start_rejected", "start_timeout", "charge_point_not_operative", "customer_not_found",
)  # fmt: skip
RUN_ERRORS = (
    "invalid_meter_values", "consumption_too_high", "invalid_timestamps", "stop_timeout",
    "remote_stop_failed", "remote_stop_rejected", "internal_error",
)  # fmt: skip
TARIFF_PLAN = (
    # tariff_type, roaming platform, priority, AC net per kWh, DC net per kWh
    ("customer", "none", 100, 0.4202, 0.5798),
    ("member", "none", 200, 0.2521, 0.3361),
    ("marketplace", "none", 150, 0.4538, 0.6218),
    ("contactless_payment", "none", 120, 0.5042, 0.6639),
    ("direct_payment", "none", 110, 0.5042, 0.6639),
    ("cpo_roaming", "hubject", 130, 0.4622, 0.6050),
    ("cpo_roaming", "eclearing", 130, 0.4622, 0.6050),
    ("direct_charging_cpo", "none", 50, 0.0, 0.0),
)


def _hash_hex(*parts: object, length: int = 32) -> str:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=32).hexdigest()
    return digest[:length]


def _hash_uuid(*parts: object) -> str:
    return str(uuid.UUID(_hash_hex(*parts), version=4))


def _display(en: str, local: str, country: str) -> list[JSON]:
    lang = "de" if country == "DE" else "fr"
    return [{"language": "en", "text": en}, {"language": lang, "text": local}]


class _Builder:
    def __init__(self, seed: int, sizes: SimulatorSizes, now: int) -> None:
        self.seed = seed
        self.sizes = sizes
        self.now = now
        self.start = now - sizes.days * 86400
        self.rng = np.random.default_rng(seed)
        self.fakers = {"DE": Faker("de_DE"), "FR": Faker("fr_FR")}
        for offset, fake in enumerate(self.fakers.values()):
            fake.seed_instance(seed * 7 + offset)
        self.orgs: list[Organization] = []
        self.stations: list[Station] = []
        self.connectors: list[Connector] = []
        self.members: list[Member] = []
        self.tariffs: list[Tariff] = []
        self.price_models: list[PriceModel] = []
        self.emps: list[str] = []
        self.station_popularity: npt.NDArray[np.float64] = np.zeros(0)

    # -- organizations -------------------------------------------------------------------
    def organizations(self) -> None:
        for i in range(self.sizes.organizations):
            if i < len(ORGANIZATION_IDS):
                org_id, tenant, country = ORGANIZATION_IDS[i]
            else:
                country = "DE" if i % 2 == 0 else "FR"
                org_id, tenant = f"TENANT-{i:03d}", f"t{i:03d}"
            org = Organization(index=i, id=org_id, tenant=tenant, country=country)
            org.member_groups = self._member_groups(org)
            self.orgs.append(org)
        self.emps = [org.tenant for org in self.orgs] + list(ROAMING_EMPS)

    def _member_groups(self, org: Organization) -> list[JSON]:
        groups: tuple[tuple[str, str, list[str]], ...] = (
            ("employees", "Employees", ["charge_free_of_charge"]),
            ("fleet", "Fleet drivers", ["charge", "view_sessions"]),
            ("admins", "Administrators", ["admin", "manage_stations", "manage_tariffs"]),
            ("customers", "Customers", []),
        )
        return [
            {
                "id": f"{org.tenant}-{key}",
                "tenant": org.tenant,
                "name": name,
                "rights": rights,
                "all_organizations": key == "admins",
                "organization_groups": [
                    {
                        "id": str(100 + org.index),
                        "name": f"{org.id} sites",
                        "organizations": [org.id],
                    }
                ],
            }
            for key, name, rights in groups
        ]

    @staticmethod
    def _split(total: int, parts: int) -> list[int]:
        base, extra = divmod(total, parts)
        return [base + (1 if i < extra else 0) for i in range(parts)]

    # -- stations and connectors ---------------------------------------------------------
    def stations_and_connectors(self) -> None:
        rng = self.rng
        counts = self._split(self.sizes.stations, len(self.orgs))
        for org, count in zip(self.orgs, counts, strict=True):
            cities = GERMAN_CITIES if org.country == "DE" else FRENCH_CITIES
            streets = GERMAN_STREETS if org.country == "DE" else FRENCH_STREETS
            weights = np.array([1 / (rank + 1) ** 0.7 for rank in range(len(cities))])
            weights /= weights.sum()
            site: tuple[str, str, JSON, City, float, float] | None = None
            site_left = 0
            for _ in range(count):
                if site_left == 0:
                    city = cities[int(rng.choice(len(cities), p=weights))]
                    site = self._new_site(org, city, streets)
                    site_left = int(rng.choice([1, 1, 1, 2, 2, 3]))
                assert site is not None
                self._new_station(org, site)
                site_left -= 1

    def _new_site(
        self, org: Organization, city: City, streets: tuple[str, ...]
    ) -> tuple[str, str, JSON, City, float, float]:
        rng = self.rng
        street = streets[int(rng.integers(len(streets)))]
        number = str(int(rng.integers(1, 180)))
        if rng.random() < 0.15:
            number += "abc"[int(rng.integers(3))]
        # within ~6 km of the centre
        lat = round(city.latitude + float(rng.normal(0, 0.025)), 6)
        lon = round(city.longitude + float(rng.normal(0, 0.035)), 6)
        site_id = _hash_uuid(self.seed, "site", len(self.stations))
        kind = (
            ["Parkhaus", "Supermarkt", "Rathaus", "Bahnhof", "Depot"]
            if org.country == "DE"
            else ["Parking", "Supermarché", "Mairie", "Gare", "Dépôt"]
        )
        site_name = f"{kind[int(rng.integers(len(kind)))]} {city.name} {street}"
        address = {
            "id": 50000 + len(self.stations),
            "street": street,
            "house_number": number,
            "zip_code": city.zip_code,
            "city": city.name,
            "country": city.country,
        }
        return site_id, site_name, address, city, lat, lon

    def _new_station(self, org: Organization, site: tuple[str, str, JSON, City, float, float]) -> None:
        rng = self.rng
        site_id, site_name, address, city, lat, lon = site
        index = len(self.stations)
        is_dc = rng.random() < 0.3
        choices = [h for h in HARDWARE if (h.charging_type == "DC") == is_dc]
        hardware = choices[int(rng.integers(len(choices)))]
        n_connectors = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.5, 0.1, 0.2]))
        roaming = len(org.station_indices) % 20 == 7  # 5 %, and present in any organization of 8+
        onboarded = bool(rng.random() > 0.03)
        station_number = 7000 + index
        station_label = f"{org.country}*WLN*{station_number}"
        # most stations were onboarded before the simulated year; some during it
        if rng.random() < 0.12:
            onboarded_at = self.start + int(rng.integers(0, self.sizes.days * 86400 * 3 // 4))
        else:
            onboarded_at = self.start - int(rng.integers(30, 900)) * 86400
        auth_types = ["card", "remote"] + (["nfc_terminal"] if is_dc or rng.random() < 0.3 else [])
        if rng.random() < 0.2:
            auth_types.append("direct")
        station_scm = _hash_hex(self.seed, "station", index)
        lat_j = round(lat + float(rng.normal(0, 0.0003)), 6)
        lon_j = round(lon + float(rng.normal(0, 0.0003)), 6)
        doc: JSON = {
            "station_id": station_label,
            "charging_provider": "hubject" if roaming else "emc",
            "owner": org.tenant,
            "cpo": "dewln" if org.country == "DE" else "frwln",
            "cpo_name": "Wirelane GmbH" if org.country == "DE" else "Wirelane France SAS",
            "cpo_logo": "https://www.wirelane.com/logo.png",
            "vendor": hardware.vendor,
            "model": hardware.model,
            "address": address,
            "availability": self._opening_hours(),
            "timezone": city.timezone,
            "service_hotline": "0800557788" if org.country == "DE" else "0805080808",
            "coordinates": {"latitude": lat_j, "longitude": lon_j},
            "roaming": roaming,
            "accessibility": "public" if rng.random() < 0.85 else "private",
            "accessibility_location_type": str(
                rng.choice(
                    [
                        "on-street",
                        "parking-garage",
                        "underground-garage",
                        "parking-lot",
                        "private",
                        "other",
                    ],
                    p=[0.35, 0.2, 0.1, 0.25, 0.07, 0.03],
                )
            ),
            "authentication_types": auth_types,
            "energy_resource_type": str(rng.choice(["renewable", "mixed", "nonrenewable"], p=[0.6, 0.35, 0.05])),
            "id": 1000 + index,
            "solution_type": str(
                rng.choice(["caas_public", "business_solution", "bmvi", "hardware_software", "caas_smb"])
            ),
            "onboarding": "done" if onboarded else str(rng.choice(["ocpp", "connectors", "router"])),
            "charging_site_id": site_id,
            "charging_site_name": site_name,
        }
        if onboarded:
            doc["onboardingCompletedAt"] = timefmt.format_api(onboarded_at)
        station = Station(
            index=index,
            org=org.index,
            id=1000 + index,
            station_id=station_label,
            document=doc,
            connector_indices=[],
            roaming=roaming,
            onboarded=onboarded,
            latitude=lat_j,
            longitude=lon_j,
            timezone=city.timezone,
            scm_id=station_scm,
        )
        station.onboarded_at = onboarded_at if onboarded else self.now + 10 * 365 * 86400
        for number in range(1, n_connectors + 1):
            self._new_connector(org, station, hardware, number, onboarded_at)
        self._station_extras(org, station)
        self.stations.append(station)
        org.station_indices.append(index)

    def _opening_hours(self) -> JSON:
        rng = self.rng
        if rng.random() < 0.8:
            return {"label": "24/7", "open247": True}
        week = [["0700", "2200"]]
        return {
            "label": "Mon-Sat 07:00-22:00, Sun CLOSED",
            "open247": False,
            "monday": week,
            "tuesday": week,
            "wednesday": week,
            "thursday": week,
            "friday": week,
            "saturday": week,
            "sunday": [],
            "exceptionalOpenings": {"*-12-25": [], "*-12-26": []},
        }

    def _new_connector(
        self, org: Organization, station: Station, hardware: Any, number: int, onboarded_at: int
    ) -> None:
        rng = self.rng
        index = len(self.connectors)
        cc = org.country
        evseid = f"{cc}WLNE{station.id:06d}{number}"
        plug_types = list(hardware.plug_types)
        doc: JSON = {
            "evseid": evseid,
            "plug_types": plug_types,
            "charging_type": hardware.charging_type,
            "power": hardware.power_kw,
            "label_code": f"{cc}WLNET{station.id:07d}-{number}",
            "connector_id": number,
        }
        if "nfc_terminal" in station.document["authentication_types"]:
            doc["payment_url"] = f"https://pay.wirelane.com/{evseid}"
        detail: JSON = {
            "scm_id": _hash_hex(self.seed, "connector", index),
            "charging_groups": [
                {
                    "id": 10 + station.org * 3 + (0 if hardware.charging_type == "AC" else 1),
                    "name": f"{hardware.charging_type} Chargers",
                    "owner": org.id,
                }
            ]
            if rng.random() < 0.7
            else [],
            "dlm_role": str(rng.choice(["primary", "secondary", "none"], p=[0.2, 0.2, 0.6])),
            "asset_id": _hash_uuid(self.seed, "asset", index),
            "current": hardware.current_a,
            "voltage": hardware.voltage_v,
            "serial_number": f"{hardware.vendor[:3].upper()}{int(rng.integers(10**7, 10**8))}",
            "public_key": "3059301306072A8648CE3D020106082A8648CE3D030107"
            + _hash_hex(self.seed, "pk", index, length=16).upper(),
            "sf_asset_id": f"02i{_hash_hex(self.seed, 'sfa', index, length=15)}",
            "sf_cp_id": f"a0B{_hash_hex(self.seed, 'sfc', index, length=15)}",
        }
        connector = Connector(
            index=index,
            station=station.index,
            number=number,
            charging_type=hardware.charging_type,
            power_kw=hardware.power_kw,
            document={**doc, **detail},
            status="FREE" if station.onboarded else "UNAVAILABLE",
            status_update=onboarded_at,
        )
        location = {
            "evse_id": evseid,
            "owner": org.tenant,
            "cpo": station.document["cpo"],
            "plug_type": plug_types[0],
            "charging_type": hardware.charging_type,
            "address": {k: v for k, v in station.document["address"].items() if k != "id"},
        }
        connector.location_fragment = orjson.dumps(location)
        self.connectors.append(connector)
        station.connector_indices.append(index)

    def _station_extras(self, org: Organization, station: Station) -> None:
        rng = self.rng
        fake = self.fakers[org.country]
        for n in range(int(rng.poisson(1.2))):
            created = self.start + int(rng.integers(0, self.sizes.days * 86400))
            status = CASE_STATUSES[int(rng.choice(len(CASE_STATUSES), p=[0.05, 0.05, 0.05, 0.08, 0.04, 0.03, 0.70]))]
            case_id = f"5003X{_hash_hex(self.seed, 'case', station.index, n, length=13)}"
            case: JSON = {
                "id": case_id,
                "url": f"https://wirelane.my.salesforce.com/{case_id}",
                "caseNumber": 10_000_000 + station.index * 10 + n,
                "caseOwnerName": fake.name(),
                "title": CASE_TITLES[int(rng.integers(len(CASE_TITLES)))],
                "status": status,
                "createdAt": timefmt.format_api(created),
            }
            if status == "Closed":
                case["closedAt"] = timefmt.format_api(min(self.now, created + int(rng.integers(3600, 14 * 86400))))
            station.cases.append(case)
        chain = [
            {"type": "station", "label": station.station_id, "status": "connected",
             "id": _hash_uuid(self.seed, "chain-station", station.index), "tenant": org.tenant},
            {"type": "router", "label": f"10.{station.org}.{station.index // 250}.{station.index % 250 + 2}",
             "status": "connected", "id": _hash_uuid(self.seed, "chain-router", station.index), "tenant": org.tenant},
            {"type": "cellular" if rng.random() < 0.6 else "wan",
             "label": "Vodafone LTE" if org.country == "DE" else "Orange 4G", "status": "connected"},
            {"type": "ocpp_server", "label": "ocpp.wirelane.com", "status": "connected"},
        ]  # fmt: skip
        if "nfc_terminal" in station.document["authentication_types"]:
            chain.insert(1, {"type": "payment_terminal", "label": f"TID {int(rng.integers(10**7, 10**8))}",
                             "status": "connected", "tenant": org.tenant})  # fmt: skip
        if station.roaming:
            chain.append({"type": "roaming", "label": "Hubject OICP 2.3", "status": "connected"})
        if rng.random() < 0.04:
            chain[1]["status"] = str(rng.choice(["disconnected", "unknown"]))
        station.connection_chain = chain
        for _ in range(int(rng.poisson(0.8))):
            begin = self.start + int(rng.integers(0, self.sizes.days * 86400 + 30 * 86400))
            begin -= begin % 1800
            planned = int(rng.choice([2, 4, 6, 8])) * 3600
            window: JSON = {
                "stationId": station.id,
                "chargingStationId": station.station_id,
                "start": timefmt.format_api(begin),
                "end": timefmt.format_api(begin + planned),
            }
            actual_end = begin + planned + int(rng.integers(-3600, 5400)) // 60 * 60
            if actual_end <= self.now:
                window["actualEnd"] = timefmt.format_api(actual_end)
            station.maintenance.append(window)
            station.maintenance_epochs.append((begin, max(actual_end, begin + 600)))
        station.maintenance.sort(key=lambda w: (w["start"], w["end"]))
        station.maintenance_epochs.sort()

    # -- members -------------------------------------------------------------------------
    def members_(self) -> None:
        rng = self.rng
        counts = self._split(self.sizes.members, len(self.orgs))
        for org, count in zip(self.orgs, counts, strict=True):
            fake = self.fakers[org.country]
            plans = self._plans(org)
            for _ in range(count):
                index = len(self.members)
                first, last = fake.first_name(), fake.last_name()
                email = f"{first}.{last}{index}@example.com".lower().replace(" ", "")
                email = email.encode("ascii", "ignore").decode()
                created = self.start - int(rng.integers(0, 3 * 365 * 86400))
                account_id = f"{org.tenant.upper()[:5]}-{10**9 + index * 7919 % 9 * 10**8 + index:010d}"
                status = str(rng.choice(["active", "pending", "revoked", "terminated"], p=[0.86, 0.05, 0.04, 0.05]))
                account_status = {"active": "ACTIVE", "pending": "PENDING"}.get(
                    status, str(rng.choice(["INACTIVE", "BLOCKED"]))
                )
                roll = rng.random()
                group_keys = (
                    ["customers"]
                    if roll < 0.7
                    else ["employees"]
                    if roll < 0.88
                    else ["fleet"]
                    if roll < 0.97
                    else ["admins", "employees"]
                )
                groups = [g for g in org.member_groups if g["id"].split("-", 1)[1] in group_keys]
                business = rng.random() < 0.15
                address = {
                    "street": fake.street_name(),
                    "house_number": fake.building_number(),
                    "zip_code": fake.postcode(),
                    "city": fake.city(),
                    "country": org.country,
                    "name": f"{first} {last}",
                }
                account: JSON = {
                    "account_type": "business" if business else "personal",
                    "language": "de" if org.country == "DE" else "fr",
                    "name": f"{first} {last}",
                    "address": address,
                    "account_id": account_id,
                    "tenant": org.tenant,
                    "email": email,
                    "status": account_status,
                    "billable": bool(rng.random() > 0.03),
                    "created": timefmt.format_api(created),
                    "updated": timefmt.format_api(created + int(rng.integers(0, 86400 * 200))),
                    "authDate": timefmt.format_api(self.now - int(rng.integers(0, 86400 * 60))),
                    "anonymized": False,
                    "transactional_invoicing": bool(rng.random() < 0.1),
                }
                if business:
                    account["company_name"] = fake.company()
                    account["vat_number"] = f"{org.country}{int(rng.integers(10**8, 10**9))}"
                    account["invoice_email_address"] = f"invoices+{index}@example.com"
                if account_status == "BLOCKED":
                    account["blocked_reasons"] = [
                        str(rng.choice(["UNPAID_INVOICE", "NO_ACTIVE_SUBSCRIPTION", "MANUALLY_BLOCKED"]))
                    ]
                    if account["blocked_reasons"] == ["MANUALLY_BLOCKED"]:
                        account["blocked_manually_reason"] = "Customer violated the ToS."
                doc: JSON = {
                    "id": 20000 + index,
                    "account": account,
                    "email": email,
                    "status": status,
                    "member_groups": groups,
                }
                member = Member(
                    index=index,
                    org=org.index,
                    id=20000 + index,
                    account_id=account_id,
                    created=created,
                    document=doc,
                    payment_method=self._payment_method(index, first, last, email) if rng.random() < 0.85 else None,
                    subscription=self._subscription(org, index, account_id, created, plans)
                    if rng.random() < 0.7
                    else None,
                    group_ids=[g["id"] for g in groups],
                    is_employee="employees" in group_keys,
                    rfid=_hash_hex(self.seed, "rfid", index, length=14).upper(),
                    app_id=_hash_uuid(self.seed, "app", index),
                )
                customer = {
                    "account_id": account_id,
                    "email": email,
                    "card_number": f"{org.tenant.upper()}{100000 + index}",
                    "card_short_reference": f"{first[:3]}{last[:3]}".upper(),
                    "language": account["language"],
                }
                member.customer_fragment = orjson.dumps(customer)
                self.members.append(member)
                org.member_indices.append(index)

    def _payment_method(self, index: int, first: str, last: str, email: str) -> JSON:
        rng = self.rng
        kind = str(
            rng.choice(
                ["visa", "mastercard", "sepa_debit", "paypal", "amex"],
                p=[0.35, 0.3, 0.2, 0.1, 0.05],
            )
        )
        last4 = f"{int(rng.integers(0, 10000)):04d}"
        expires = f"{int(rng.integers(2025, 2031))}-{int(rng.integers(1, 13)):02d}"
        expired = expires < timefmt.format_api(self.now)[:7] and kind not in (
            "sepa_debit",
            "paypal",
        )
        status = "ACTIVE" if not expired and rng.random() > 0.03 else str(rng.choice(["INACTIVE", "BLOCKED"]))
        doc: JSON = {
            "id": _hash_uuid(self.seed, "payment", index),
            "status": status,
            "processor": "stripe" if kind != "paypal" else "paypal",
            "type": kind,
            "label": email
            if kind == "paypal"
            else f"DE89 **** **** {last4}"
            if kind == "sepa_debit"
            else f"**** **** **** {last4}",
            "is_useable": status == "ACTIVE",
            "is_expired": bool(expired),
            "metadata": [{"key": "holder", "value": f"{first} {last}"}],
        }
        if kind not in ("sepa_debit", "paypal"):
            doc["expires"] = expires
        if kind == "sepa_debit":
            doc["metadata"].append({"key": "mandate_reference", "value": f"WLN-{index:08d}"})
        return doc

    def _plans(self, org: Organization) -> list[JSON]:
        plans = []
        for n, (suffix, name, amount, interval, count) in enumerate(SUBSCRIPTION_PLANS):
            plans.append(
                {
                    "id": 300 + org.index * 10 + n,
                    "plan_key": f"{org.tenant.upper()}-ABO-{suffix}",
                    "name": name,
                    "amount": amount,
                    "currency": "EUR",
                    "interval_type": interval,
                    "interval_count": count,
                    "properties": {"seats": 1},
                    "plan_group": "PUBLIC",
                    "default_tax_rate": 19.0 if org.country == "DE" else 20.0,
                    "tax_rate_invoice_text": [{"language": "en", "text": "incl. VAT"}],
                    "activation_date": timefmt.format_api(self.start - 400 * 86400),
                    "service_levels": [
                        {"id": 1, "key": f"{org.tenant}_ac_01", "title": "AC charging",
                         "description": "per kWh as in the tariff", "tariff": f"{org.tenant.upper()}_AC_01"}
                    ],
                    "subscription_count": 0,
                }
            )  # fmt: skip
        return plans

    def _subscription(self, org: Organization, index: int, account_id: str, created: int, plans: list[JSON]) -> JSON:
        rng = self.rng
        plan = plans[int(rng.choice(len(plans), p=[0.45, 0.25, 0.2, 0.1]))]
        plan["subscription_count"] += 1
        months = int(plan["interval_count"])
        begin = max(created, self.start - 200 * 86400) + int(rng.integers(0, 86400 * 30))
        period_len = months * 30 * 86400
        periods_done = max(0, (self.now - begin) // period_len)
        period_begin = begin + periods_done * period_len
        doc: JSON = {
            "id": _hash_uuid(self.seed, "subscription", index),
            "current_period": {
                "plan": plan,
                "currency": "EUR",
                "amount": plan["amount"] / 100,
                "uid": _hash_uuid(self.seed, "period", index, periods_done),
                "begin": timefmt.format_api(period_begin),
                "end": timefmt.format_api(period_begin + period_len),
                "quantity": 1,
                "tax_rate": plan["default_tax_rate"],
            },
            "plan_key": plan["plan_key"],
            "begin": timefmt.format_api(begin),
            "account_id": account_id,
        }
        if rng.random() < 0.1:
            doc["end"] = timefmt.format_api(period_begin + period_len)
        elif rng.random() < 0.1:
            upgrade = plans[min(len(plans) - 1, plans.index(plan) + 1)]
            doc["upcoming_subscription"] = {
                "plan": upgrade,
                "quantity": 1,
                "tax_rate": upgrade["default_tax_rate"],
            }
        return doc

    # -- tariffs and price models --------------------------------------------------------
    def tariffs_(self) -> None:
        rng = self.rng
        for org in self.orgs:
            tax = 19 if org.country == "DE" else 20
            for ttype, platform, priority, ac_kwh, dc_kwh in TARIFF_PLAN:
                index = len(self.tariffs)
                tariff_id = f"{org.tenant}-{1111000 + index * 37:07d}"
                en, local = TARIFF_NAMES[ttype]
                if platform != "none":
                    en, local = f"{en} {platform}", f"{local} {platform}"
                created = self.start - int(rng.integers(60, 400)) * 86400
                doc: JSON = {
                    "id": 1000 + index,
                    "tariff_id": tariff_id,
                    "tenant": org.tenant,
                    "name": _display(en, local, org.country),
                    "priority": priority,
                    "creation_date": timefmt.format_api(created),
                    "update_date": timefmt.format_api(created),
                    "active_from_date": timefmt.format_api(created - created % 86400),
                    "active_until_date": timefmt.format_api(self.now + int(rng.integers(1, 4)) * 365 * 86400),
                    "tariff_type": ttype,
                    "roaming_platform": platform,
                    "for_unregistered_customers": ttype in ("contactless_payment", "direct_payment"),
                    "for_marketplace": ttype == "marketplace",
                    "for_customer": ttype == "customer",
                    "for_member": ttype == "member",
                    "marketplace_ids": [1, 2] if ttype in ("marketplace", "member") else [],
                    "member_groups": [f"{org.tenant}-employees"] if ttype == "member" else [],
                    "organization_eligibility_list": {
                        "blacklist": [],
                        "whitelist": [org.id] if ttype == "member" else [],
                    },
                    "reservation_duration": 0 if ttype != "customer" else 15,
                    "plans": [
                        {"plan_key": f"{org.tenant.upper()}-ABO-{s[0]}", "plan_name": s[1]} for s in SUBSCRIPTION_PLANS
                    ]
                    if ttype == "customer"
                    else [],
                    "active": True,
                }
                if ttype in ("contactless_payment", "direct_payment"):
                    doc["authorization_url"] = "https://www.wirelane.com/directpayment"
                tariff = Tariff(
                    index=index, org=org.index, id=1000 + index, tariff_id=tariff_id,
                    tariff_type=ttype, roaming_platform=platform, document=doc,
                )  # fmt: skip
                self.tariffs.append(tariff)
                org.tariff_indices.append(index)
                for charging_type, kwh_price in (("AC", ac_kwh), ("DC", dc_kwh)):
                    self.new_price_model(
                        tariff,
                        charging_type,
                        kwh_price,
                        tax,
                        created,
                        order=len(tariff.price_model_indices),
                    )
                # a price change during the simulated year for some tariffs
                if ttype != "direct_charging_cpo" and rng.random() < 0.4:
                    # always before the clock: a change after it would already show as retired
                    first = min(60, self.sizes.days // 2)
                    last = max(first + 1, self.sizes.days - 30 if self.sizes.days > 90 else self.sizes.days)
                    change_at = self.start + int(rng.integers(first, last)) * 86400
                    for pm_index in list(tariff.price_model_indices):
                        old = self.price_models[pm_index]
                        old_energy = old.document["elements"][-1]["price_components"][0]["price"]
                        self.retire_price_model(old, change_at)
                        self.new_price_model(
                            tariff, old.charging_type, round(old_energy * 1.08, 4), tax, change_at,
                            order=len(tariff.price_model_indices),
                        )  # fmt: skip
                    doc["update_date"] = timefmt.format_api(change_at)

    def retire_price_model(self, model: PriceModel, at: int) -> None:
        model.valid_until = at
        model.document["active"] = False
        model.document["update_date"] = timefmt.format_api(at)

    def new_price_model(
        self,
        tariff: Tariff,
        charging_type: str,
        energy_price: float,
        tax: int,
        created: int,
        order: int,
    ) -> PriceModel:
        index = len(self.price_models)
        org = self.orgs[tariff.org]
        free = tariff.tariff_type == "direct_charging_cpo"
        dc = charging_type == "DC"
        elements: list[JSON] = []
        connection_fee = 0.0
        tolerance = 0
        if not free:
            if tariff.tariff_type == "customer":
                # night discount from 22:00 to 06:00 local time
                elements.append({
                    "price_components": [{"type": "ENERGY", "price": round(energy_price * 0.85, 4), "step_size": 1}],
                    "restrictions": [{"start_time": "22:00", "end_time": "06:00"}],
                })  # fmt: skip
            if tariff.tariff_type == "cpo_roaming":
                elements.append({
                    "price_components": [{"type": "ENERGY", "price": round(energy_price * 0.9, 4), "step_size": 1}],
                    "restrictions": [{"day_of_week": ["SATURDAY", "SUNDAY"]}],
                })  # fmt: skip
                elements.append(
                    {"price_components": [{"type": "TIME", "price": 0.0168 if not dc else 0.0, "step_size": 60}]}
                )
            if tariff.tariff_type in ("contactless_payment", "direct_payment"):
                connection_fee, tolerance = (0.84, 120)
            # blocking fee after a grace period: 4 h on AC, 45 min on DC
            elements.append({
                "price_components": [{"type": "PARKING_TIME", "price": 0.084 if not dc else 0.1681, "step_size": 60}],
                "restrictions": [{"min_duration": 2700 if dc else 14400, "max_duration": 8100 if dc else 23400}],
            })  # fmt: skip
            elements.append(
                {"price_components": [{"type": "ENERGY", "price": energy_price, "step_size": 1 if dc else 100}]}
            )
        gross = round(energy_price * (1 + tax / 100), 2)
        description = "Free of charge" if free else f"{gross:.2f}".replace(".", ",") + f" EUR/kWh incl. {tax}% VAT"
        doc: JSON = {
            "id": str(5000 + index),
            "price_id": _hash_hex(self.seed, "price", index, length=13),
            "currency": "EUR",
            "free": free,
            "point_groups": [],
            "rule": f"poi['charging_type'] == '{charging_type}'",
            "tolerance_duration": tolerance,
            "price_order_within_tariff": order,
            "connection_fee": connection_fee,
            "rounding_mode_time": "UP",
            "rounding_mode_energy": "UP" if not dc else "EXACT",
            "tariff_alt_url": [{"language": "en", "text": "https://www.wirelane.com/tariffs"}],
            "tariff_alt_text": _display(f"{charging_type} charging", f"{charging_type}-Laden", org.country),
            "tax_rate": float(tax),
            "tax_rate_invoice_text": [{"language": "en", "text": f"incl. {tax}% VAT"}],
            "active": True,
            "creation_date": timefmt.format_api(created),
            "update_date": timefmt.format_api(created),
            "owner": org.id,
            "rule_cpos_allowed": [],
            "rule_cpos_not_allowed": [],
            "rule_external_emps_allowed": list(ROAMING_EMPS) if tariff.tariff_type == "cpo_roaming" else [],
            "rule_pois_allowed": [],
            "rule_pois_not_allowed": [],
            "rule_external_point_groups_allowed": [],
            "rule_external_point_groups_not_allowed": [],
            "rule_charging_type": charging_type,
            "elements": elements,
            "autoDescription": [{"language": "en", "text": description}],
        }
        model = PriceModel(
            index=index, tariff=tariff.index, id=5000 + index, price_id=doc["price_id"],
            charging_type=charging_type, valid_from=created, valid_until=None, document=doc,
        )  # fmt: skip
        self.price_models.append(model)
        tariff.price_model_indices.append(index)
        return model

    # -- sessions ------------------------------------------------------------------------


def _slot_weights(
    start: int, end: int, hourly: tuple[float, ...], weekday: tuple[float, ...], trend_span: tuple[int, int]
) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """Hourly slots in [start, end) weighted by local hour, weekday and a growth trend.

    The trend grows from 0.75 at `trend_span[0]` to 1.25 at `trend_span[1]` (later: 1.25).
    """
    slots = np.arange(start - start % 3600, end, 3600, dtype=np.int64)
    minute, dow, _ = timefmt.local_parts(slots)
    first, last = trend_span
    trend = 0.75 + 0.5 * np.clip((slots - first) / max(1, last - first), 0.0, 1.0)
    weights = np.asarray(hourly)[minute // 60] * np.asarray(weekday)[dow] * trend
    return slots, weights / weights.sum()


def generate_sessions(b: Any, count: int, start: int, now: int) -> SessionStore:
    """The initial history: `count` sessions whose first event falls in [start, now).

    Generated in time windows of about 100,000 sessions each (the same code path as `advance`,
    carrying connector occupancy and meter readings across windows), so memory stays bounded
    at any size.
    """
    chunks = max(1, -(-count // 100_000))
    slots, weights = _slot_weights(start, now, AC_HOURLY, AC_WEEKDAY, (start, now))
    cumulative = np.cumsum(weights)
    edges = [start] + [int(slots[np.searchsorted(cumulative, k / chunks)]) for k in range(1, chunks)] + [now]
    counts = [count // chunks + (1 if k < count % chunks else 0) for k in range(chunks)]
    busy = [0] * len(b.connectors)
    meter = np.asarray([_meter_base(b.seed, c) for c in range(len(b.connectors))], dtype=np.int64)
    store = SessionStore({name: np.zeros(0, dtype) for name, dtype in SessionStore.COLUMNS.items()}, capacity=count)
    for k in range(chunks):
        rows = generate_rows(b, b.rng, counts[k], edges[k], edges[k + 1], clock=now, busy=busy, meter_base=meter)
        store.append(rows)
        del rows
    store.version = 0
    return store


def generate_rows(
    b: Any,
    rng: np.random.Generator,
    count: int,
    start: int,
    end: int,
    *,
    clock: int,
    busy: list[int],
    meter_base: IntArray,
) -> dict[str, npt.NDArray[Any]]:
    """Sessions whose first event falls in [start, end), seen at the world's `clock`.

    `busy` (per connector: free again at) and `meter_base` (per connector: next meter reading)
    carry occupancy and meter continuity from earlier sessions and are updated in place.
    """
    connectors: list[Connector] = b.connectors
    stations: list[Station] = b.stations
    n_conn = len(connectors)
    empty = {name: np.zeros(0, dtype=dtype) for name, dtype in SessionStore.COLUMNS.items()}
    if count <= 0 or n_conn == 0:
        return empty

    # -- where: connector weights (popular stations, DC busier per connector)
    station_pop = b.station_popularity
    conn_station = np.asarray([c.station for c in connectors], dtype=np.int64)
    is_dc = np.asarray([c.charging_type == "DC" for c in connectors])
    onboarded_at = np.asarray([stations[c.station].onboarded_at for c in connectors], dtype=np.int64)
    online = onboarded_at < end  # only stations in service during the window take sessions
    weights = station_pop[conn_station] * np.where(is_dc, 2.5, 1.0) * online
    if weights.sum() == 0:
        return empty
    weights = weights / weights.sum()

    candidates = int(count * 1.06) + 8
    conn = rng.choice(n_conn, size=candidates, p=weights).astype(np.int64)

    # -- when: hour-of-day and weekday curves in local time, growing over the period
    t0 = np.zeros(candidates, dtype=np.int64)
    for dc_flag, hourly, weekday in ((False, AC_HOURLY, AC_WEEKDAY), (True, DC_HOURLY, DC_WEEKDAY)):
        idx = np.flatnonzero(is_dc[conn] == dc_flag)
        if len(idx) == 0:
            continue
        slots, p = _slot_weights(start, end, hourly, weekday, (b.start, b.now))
        chosen = slots[rng.choice(len(slots), size=len(idx), p=p)]
        t0[idx] = chosen + rng.integers(0, 3600, size=len(idx))
    t0 = np.clip(t0, start, end - 1)
    late = t0 < onboarded_at[conn]
    if late.any():
        span = np.maximum(end - onboarded_at[conn[late]], 1)
        t0[late] = onboarded_at[conn[late]] + (rng.random(int(late.sum())) * span).astype(np.int64)

    # -- who and how: identification, outcome, energy and duration
    ident_names = [name for name, _ in IDENTIFICATION_MIX]
    ident_p = np.asarray([share for _, share in IDENTIFICATION_MIX])
    ident = np.asarray([IDENT[name] for name in ident_names], dtype=np.int8)[
        rng.choice(len(ident_names), size=candidates, p=ident_p / ident_p.sum())
    ]
    outcome = rng.choice(5, size=candidates, p=[0.948, 0.025, 0.01, 0.015, 0.002])
    # 0 ok, 1 failed start, 2 failed while running, 3 canceled, 4 consecutive start
    power = np.asarray([c.power_kw for c in connectors])[conn]
    dc = is_dc[conn]
    car_ac = rng.choice([3.7, 7.4, 11.0, 22.0], size=candidates, p=[0.05, 0.25, 0.55, 0.15])
    car_dc = rng.choice([50.0, 100.0, 150.0, 250.0], size=candidates, p=[0.15, 0.35, 0.3, 0.2])
    eff_power = np.where(
        dc,
        np.minimum(power, car_dc) * rng.uniform(0.45, 0.7, candidates),
        np.minimum(power, car_ac) * rng.uniform(0.85, 0.97, candidates),
    )
    need_kwh = np.where(
        dc,
        np.clip(rng.lognormal(math.log(28), 0.4, candidates), 3, 90),
        np.clip(rng.lognormal(math.log(14), 0.6, candidates), 1.5, 75),
    )
    charge_s = need_kwh / eff_power * 3600
    local_minute, _, _ = timefmt.local_parts(t0)
    evening = (local_minute >= 17 * 60) & (local_minute < 23 * 60)
    morning_gap = ((24 * 60 - local_minute) + 7 * 60 + rng.integers(0, 150, candidates)) * 60
    idle_s = np.where(
        dc,
        rng.lognormal(math.log(180), 0.8, candidates),
        np.where(
            evening,
            np.maximum(morning_gap - charge_s, 0),
            rng.lognormal(math.log(2400), 0.9, candidates),
        ),
    )
    plug_s = np.minimum(charge_s + idle_s, 20 * 3600).astype(np.int64) + 60
    energy_wh = np.round(np.minimum(need_kwh, eff_power * plug_s / 3600) * 1000).astype(np.int64)
    auth_delay = rng.integers(5, 40, candidates)
    started = (outcome == 0) | (outcome == 2) | (outcome == 4)
    span = np.where(
        started,
        auth_delay + plug_s + rng.integers(3, 10, candidates),
        rng.integers(60, 300, candidates),
    )
    energy_wh = np.where((outcome == 0) | (outcome == 2), energy_wh, 0)
    energy_wh = np.where((outcome == 2) & (rng.random(candidates) < 0.4), 0, energy_wh)  # invalid meter values
    gaps = rng.integers(120, 1800, candidates)

    # -- occupancy: no overlaps per connector, nothing inside maintenance windows
    conn_l = conn.tolist()
    t0_l = t0.tolist()
    span_l = span.tolist()
    gaps_l = gaps.tolist()
    siblings: list[list[int]] = []
    for c in connectors:
        siblings.append(
            [o for o in stations[c.station].connector_indices if connectors[o].charging_type == c.charging_type]
        )
    maintenance = [s.maintenance_epochs for s in stations]
    busy_until = busy
    keep = np.zeros(candidates, dtype=np.bool_)
    for i in np.argsort(t0, kind="stable").tolist():
        c, s, d = conn_l[i], t0_l[i], span_l[i]
        if busy_until[c] > s:
            best = min(siblings[c], key=busy_until.__getitem__)
            c = best
            if busy_until[c] > s:
                s = busy_until[c] + gaps_l[i]
        for m_start, m_end in maintenance[connectors[c].station]:
            if s < m_end and s + d > m_start:
                s = m_end + gaps_l[i]
        if s >= end:
            continue
        busy_until[c] = s + d
        conn_l[i], t0_l[i] = c, s
        keep[i] = True
    kept = np.flatnonzero(keep)
    if len(kept) > count:
        kept = np.sort(rng.choice(kept, size=count, replace=False))
    conn = np.asarray(conn_l, dtype=np.int64)[kept]
    t0 = np.asarray(t0_l, dtype=np.int64)[kept]
    n = len(kept)
    ident, outcome, energy_wh, auth_delay = (
        ident[kept],
        outcome[kept],
        energy_wh[kept],
        auth_delay[kept],
    )
    plug_s, span, started = plug_s[kept], span[kept], started[kept]
    org = np.asarray([stations[c.station].org for c in connectors], dtype=np.int16)[conn]

    # -- members, tariffs, price models
    member = np.full(n, NONE, dtype=np.int32)
    is_member_ident = np.isin(ident, [IDENT[x] for x in MEMBER_IDENTIFICATIONS])
    roaming = np.zeros(n, dtype=np.int8)
    roaming_ident = ident == IDENT["contract_id"]
    roaming[roaming_ident] = np.where(
        rng.random(int(roaming_ident.sum())) < 0.6, ROAMING["hubject"], ROAMING["eclearing"]
    )
    for o in b.orgs:
        in_org = np.flatnonzero((org == o.index) & is_member_ident)
        candidates_m = [
            m for m in o.member_indices if b.members[m].document["status"] in ("active", "terminated", "revoked")
        ]
        if not candidates_m:
            ident[in_org] = IDENT["contactless_payment"]
            continue
        activity = rng.lognormal(0, 1.0, len(candidates_m))
        member[in_org] = np.asarray(candidates_m, dtype=np.int32)[
            rng.choice(len(candidates_m), size=len(in_org), p=activity / activity.sum())
        ]
    is_employee = np.asarray([m.is_employee for m in b.members] + [False], dtype=np.bool_)[member]
    ttype = np.full(n, "customer", dtype=object)
    ttype[is_member_ident & is_employee] = "member"
    ttype[np.isin(ident, [IDENT["contactless_payment"], IDENT["local_payment"]])] = "contactless_payment"
    ttype[np.isin(ident, [IDENT["direct_payment"], IDENT["none_access_token"]])] = "direct_payment"
    ttype[np.isin(ident, [IDENT["admin_remotestart"], IDENT["local_authorization"]])] = "direct_charging_cpo"
    ttype[roaming_ident] = "cpo_roaming"
    tariff = np.full(n, NONE, dtype=np.int32)
    price_model = np.full(n, NONE, dtype=np.int32)
    conn_type = np.asarray([c.charging_type for c in connectors], dtype=object)[conn]
    for t in b.tariffs:
        platform_code = ROAMING.get(t.roaming_platform, 0)
        sel = (org == t.org) & (ttype == t.tariff_type)
        if t.tariff_type == "cpo_roaming":
            sel &= roaming == platform_code
        idx = np.flatnonzero(sel)
        if len(idx) == 0:
            continue
        tariff[idx] = t.index
        for charging_type in ("AC", "DC"):
            versions = sorted(
                (b.price_models[p] for p in t.price_model_indices if b.price_models[p].charging_type == charging_type),
                key=lambda p: p.valid_from,
            )
            sub = idx[conn_type[idx] == charging_type]
            starts = np.asarray([p.valid_from for p in versions], dtype=np.int64)
            pos = np.clip(np.searchsorted(starts, t0[sub], side="right") - 1, 0, len(versions) - 1)
            price_model[sub] = np.asarray([p.index for p in versions], dtype=np.int32)[pos]

    emp = np.asarray(org, dtype=np.int16).copy()
    emp[roaming_ident] = len(b.orgs) + rng.integers(0, len(ROAMING_EMPS), int(roaming_ident.sum()))

    # -- times and statuses
    creation = t0
    begin = np.where(started, t0 + auth_delay, NONE)
    end_at = np.where(started, t0 + auth_delay + plug_s, NONE)
    process_end = t0 + span
    status = np.full(n, STATUS["closed"], dtype=np.int8)
    error_code = np.full(n, NONE, dtype=np.int8)
    start_err = np.flatnonzero(outcome == 1)
    status[start_err] = STATUS["error"]
    error_code[start_err] = np.asarray([ERROR[e] for e in START_ERRORS], dtype=np.int8)[
        rng.integers(0, len(START_ERRORS), len(start_err))
    ]
    run_err = np.flatnonzero(outcome == 2)
    status[run_err] = STATUS["error"]
    error_code[run_err] = np.asarray([ERROR[e] for e in RUN_ERRORS], dtype=np.int8)[
        rng.integers(0, len(RUN_ERRORS), len(run_err))
    ]
    status[outcome == 3] = STATUS["canceled"]
    status[outcome == 4] = STATUS["error_consecutive_start"]
    error_code[outcome == 4] = ERROR["consecutive_start"]
    update = process_end + rng.integers(5, 600, n)
    # a few closed sessions were corrected days later (late update)
    now = clock
    late_fix = (status == STATUS["closed"]) & (rng.random(n) < 0.005) & (process_end + 20 * 86400 < now)
    update = np.where(late_fix, process_end + rng.integers(86400, 20 * 86400, n), update)

    # sessions still running at `now`
    planned_end = np.where(started, end_at, NONE)
    planned_wh = energy_wh.copy()
    open_now = process_end > now
    status[open_now & started & (begin <= now)] = STATUS["started"]
    status[open_now & started & (begin > now)] = STATUS["start_pending"]
    status[open_now & ~started] = STATUS["authorization_pending"]
    error_code[open_now] = NONE
    awaiting = ~open_now & (update > now)  # stopped, CDR not final yet
    status[awaiting & (status == STATUS["closed"])] = STATUS["stopped"]
    end_at = np.where(open_now, NONE, end_at)
    process_end = np.where(open_now, NONE, process_end)
    update = np.minimum(update, now)
    update = np.where(open_now, np.maximum(creation, now - rng.integers(0, 300, n)), update)
    update = np.maximum(update, creation)
    charged_so_far = np.where(
        (begin != NONE) & (begin <= update),
        np.minimum(1.0, (update - begin) / np.maximum(planned_end - begin, 1)),
        0.0,
    )
    energy_wh = np.where(open_now, np.round(planned_wh * charged_so_far).astype(np.int64), energy_wh)

    # -- meter readings, continuous per connector
    order = np.lexsort((t0, conn))
    meter_start = np.zeros(n, dtype=np.int64)
    sorted_conn = conn[order]
    sorted_wh = planned_wh[order]
    cumulative = np.cumsum(sorted_wh) - sorted_wh
    first_of_group = np.r_[True, sorted_conn[1:] != sorted_conn[:-1]]
    group_start_cum = np.maximum.accumulate(np.where(first_of_group, cumulative, 0))
    meter_start[order] = meter_base[sorted_conn] + cumulative - group_start_cum
    np.add.at(meter_base, conn, planned_wh)  # the next session continues from here

    # -- flags, limits, ids
    flags = np.zeros(n, dtype=np.int8)
    signed = dc_mask = is_dc[conn]
    signed = dc_mask | (rng.random(n) < 0.7)
    flags |= np.where(signed, SessionStore.FLAG_SIGNED, 0).astype(np.int8)
    maintenance_card = (ident == IDENT["local_authorization"]) & (rng.random(n) < 0.3)
    flags |= np.where(maintenance_card, SessionStore.FLAG_MAINTENANCE, 0).astype(np.int8)
    cpo_created = np.isin(
        ident,
        [
            IDENT[x]
            for x in (
                "admin_remotestart",
                "local_authorization",
                "local_payment",
                "contactless_payment",
            )
        ],
    )
    flags |= np.where(cpo_created, SessionStore.FLAG_CPO_CREATED, 0).astype(np.int8)
    limit = np.where(np.isin(ident, [IDENT["direct_payment"], IDENT["contactless_payment"]]), 5000, NONE).astype(
        np.int32
    )
    id_hi, id_lo = new_ids(rng, n)

    rows: dict[str, npt.NDArray[Any]] = {
        "org": org, "connector": conn.astype(np.int32), "member": member, "tariff": tariff,
        "price_model": price_model, "ident_type": ident, "roaming": roaming, "status": status,
        "error_code": error_code, "emp": emp, "id_hi": id_hi, "id_lo": id_lo, "creation": creation,
        "begin": begin, "end": end_at, "planned_end": planned_end, "planned_wh": planned_wh,
        "process_end": process_end, "update": update, "energy_wh": energy_wh,
        "meter_start": np.where(started, meter_start, NONE), "tax_rate": np.zeros(n, dtype=np.int8),
        "limit_cents": limit, "flags": flags,
    }  # fmt: skip
    for name in PRICE_COLUMNS:
        rows[name] = np.full(n, NONE, dtype=np.int64)
    apply_prices(b.price_models, rows, np.flatnonzero(status == STATUS["closed"]))
    return rows


def _meter_base(seed: int, connector: int) -> int:
    return 100_000 + int(_hash_hex(seed, "meter", connector, length=8), 16) % 9_000_000


def apply_prices(
    price_models: list[PriceModel], rows: dict[str, npt.NDArray[Any]], which: npt.NDArray[np.int64]
) -> None:
    """Writes each session's price parts from its price model (closed sessions only)."""
    if len(which) == 0:
        return
    pm = rows["price_model"][which]
    for model_index in np.unique(pm).tolist():
        if model_index == NONE:
            continue
        sel = which[pm == model_index]
        begin = rows["begin"][sel]
        minute, weekday, day = timefmt.local_parts(begin)
        quantities = pricing.SessionQuantities(
            energy_wh=rows["energy_wh"][sel].astype(np.int64),
            duration_s=(rows["end"][sel] - begin).astype(np.int64),
            local_minute_of_day=minute,
            local_weekday=weekday,
            local_day=day,
        )
        breakdown = pricing.price_sessions(price_models[model_index].document, quantities)
        for name in PRICE_COLUMNS:
            rows[name][sel] = getattr(breakdown, name)
        rows["tax_rate"][sel] = breakdown.tax_rate_percent


def build_world(seed: int = 42, sizes: SimulatorSizes | None = None, now: int | None = None) -> World:
    """The whole simulated landscape for one seed, sizes and clock."""
    sizes = sizes or SimulatorSizes()
    now = now if now is not None else timefmt.parse_iso(DEFAULT_NOW)
    b = _Builder(seed, sizes, now)
    b.organizations()
    b.stations_and_connectors()
    b.members_()
    b.tariffs_()
    b.station_popularity = b.rng.lognormal(0.0, 0.6, len(b.stations))
    sessions = generate_sessions(b, sizes.sessions, b.start, now)
    world = World(
        seed=seed, sizes=sizes, now=now, organizations=b.orgs, stations=b.stations,
        connectors=b.connectors, members=b.members, tariffs=b.tariffs,
        price_models=b.price_models, sessions=sessions, emp_parties=b.emps, builder=b,
    )  # fmt: skip
    refresh_connector_status(world)
    occupancy_state(world)
    return world


def occupancy_state(world: World) -> None:
    """Per connector: when it is free again and its next meter reading (after a build)."""
    s = world.sessions
    n_conn = len(world.connectors)
    until = np.where(
        s.process_end != NONE,
        s.process_end,
        np.where(s.planned_end != NONE, s.planned_end + 10, s.creation + 300),
    )
    busy = np.zeros(n_conn, dtype=np.int64)
    np.maximum.at(busy, s.connector.astype(np.int64), until)
    meter = np.asarray([_meter_base(world.seed, c) for c in range(n_conn)], dtype=np.int64)
    has_meter = s.meter_start != NONE
    np.maximum.at(meter, s.connector[has_meter].astype(np.int64), (s.meter_start + s.planned_wh)[has_meter])
    world.busy_until = busy.tolist()
    world.meter_base = meter


def refresh_connector_status(world: World) -> None:
    """Connector status follows open sessions, maintenance windows and a few daily faults."""
    s = world.sessions
    open_idx = np.flatnonzero(
        np.isin(s.status, [STATUS["started"], STATUS["start_pending"], STATUS["authorization_pending"]])
    )
    charging = {int(s.connector[i]): int(s.creation[i]) for i in open_idx}
    day = world.now // 86400
    for station in world.stations:
        maintenance = next(((a, e) for a, e in station.maintenance_epochs if a <= world.now < e), None)
        for ci in station.connector_indices:
            c = world.connectors[ci]
            roll = int(_hash_hex(world.seed, "fault", ci, day, length=4), 16) / 0xFFFF
            since = world.now
            if not station.onboarded:
                status = "UNAVAILABLE"
            elif maintenance:
                status, since = "MAINTENANCE", maintenance[0]
            elif ci in charging:
                status, since = "CHARGING", charging[ci]
            elif roll < 0.03:
                status = ("FAULTED", "UNKNOWN", "UNAVAILABLE")[int(roll * 100) % 3]
                since = day * 86400
            else:
                status = "FREE"
            if status != c.status:
                c.status, c.status_update = status, min(max(since, c.status_update), world.now)
