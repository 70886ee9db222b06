"""Fault injection: what a real API, gateway and network do to a client, on purpose.

Each fault has a trigger that makes tests exact: `every` N-th eligible request (counted per
fault), or a seeded `rate` (probability per request), optionally capped by `limit`
injections. Eligible requests are those to the Wirelane API paths (`/apis/emc/...`) whose
path matches the fault's `paths` regular expression (all API paths by default). Faults are
set from the command line (`--faults PROFILE|JSON`) or at run time (`POST /_simulator/faults`),
and `GET /_simulator/faults` reports what was injected.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

JSON = dict[str, Any]


@dataclass
class Trigger:
    rate: float = 0.0
    every: int = 0
    limit: int | None = None
    paths: str = ""
    seen: int = 0
    injected: int = 0

    def fires(self, path: str, rng: random.Random) -> bool:
        if (self.rate <= 0 and self.every <= 0) or (self.paths and not re.search(self.paths, path)):
            return False
        if self.limit is not None and self.injected >= self.limit:
            return False
        self.seen += 1
        fire = (self.every > 0 and self.seen % self.every == 0) or (self.rate > 0 and rng.random() < self.rate)
        if fire:
            self.injected += 1
        return fire


@dataclass
class RateLimit(Trigger):
    retry_after: int = 1  # seconds, sent in the Retry-After header


@dataclass
class ServerError(Trigger):
    status: int = 503
    burst: int = 1  # once triggered, this many consecutive eligible responses fail
    _burst_left: int = 0

    def fires(self, path: str, rng: random.Random) -> bool:
        if self._burst_left > 0 and (not self.paths or re.search(self.paths, path)):
            self._burst_left -= 1
            self.injected += 1
            return True
        if super().fires(path, rng):
            self._burst_left = self.burst - 1
            return True
        return False


@dataclass
class Slow(Trigger):
    delay_s: float = 2.0


@dataclass
class PageShift(Trigger):
    """Sessions updated and inserted while a client pages through `/sessions` (page >= 2)."""

    updates: int = 5
    inserts: int = 5


@dataclass
class Revoke(Trigger):
    """Revokes every token issued so far (the request that triggers it is then refused)."""


@dataclass
class SchemaDrift:
    """Adds a field to every session, station and tariff document."""

    enabled: bool = False
    field_name: str = "carbon_intensity_g_per_kwh"
    value: Any = 312.5


@dataclass
class TypeChange:
    """Renders one session field with another JSON type (for example `kwh` as a string)."""

    enabled: bool = False
    field_name: str = "kwh"
    to: str = "string"  # string (quoted) | text (unparseable) | number | object


@dataclass
class FaultConfig:
    rate_limit: RateLimit = field(default_factory=RateLimit)
    server_error: ServerError = field(default_factory=ServerError)
    drop: Trigger = field(default_factory=Trigger)
    slow: Slow = field(default_factory=Slow)
    malformed_json: Trigger = field(default_factory=Trigger)
    page_shift: PageShift = field(default_factory=PageShift)
    revoke_tokens: Revoke = field(default_factory=Revoke)
    token_lifetime_s: int | None = None
    schema_drift: SchemaDrift = field(default_factory=SchemaDrift)
    type_change: TypeChange = field(default_factory=TypeChange)

    def report(self) -> JSON:
        data = asdict(self)
        for value in data.values():
            if isinstance(value, dict):
                value.pop("_burst_left", None)
        return data


PROFILES: dict[str, JSON] = {
    "none": {},
    # transient faults at rates a robust client (retries with backoff, token refresh,
    # overlap-tolerant paging) survives
    "chaos": {
        "rate_limit": {"rate": 0.05, "retry_after": 1},
        "server_error": {"rate": 0.03, "status": 503, "burst": 2},
        "drop": {"rate": 0.02},
        "slow": {"rate": 0.02, "delay_s": 1.5},
        "page_shift": {"rate": 0.2, "updates": 3, "inserts": 3},
        "token_lifetime_s": 20,
    },
}

_SECTIONS = {f.name: f for f in fields(FaultConfig)}
_KINDS: dict[type, tuple[str, tuple[type, ...]]] = {
    bool: ("a boolean", (bool,)),
    int: ("an integer", (int,)),
    float: ("a number", (int, float)),
    str: ("a string", (str,)),
}


def _check(fault: str, option: str, default: Any, value: Any) -> None:
    """A setting takes its default's JSON type (`limit` also null): a wrong type accepted here
    would make every later API request fail with a 500 instead of the configured fault."""
    if option == "value" or (option == "limit" and value is None):
        return
    name, kinds = _KINDS[int if option == "limit" else type(default)]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"fault {fault!r} setting {option!r} must be {name}, not {value!r}")
    if option == "paths" and isinstance(value, str):
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"fault {fault!r} setting 'paths' is not a regular expression: {error}") from None


def parse(settings: JSON) -> FaultConfig:
    """A FaultConfig from `{"profile": name}` or explicit sections; ValueError if unknown."""
    if "profile" in settings:
        name = settings["profile"]
        if not isinstance(name, str) or name not in PROFILES:
            raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}")
        extra = {k: v for k, v in settings.items() if k != "profile"}
        return parse({**PROFILES[name], **extra})
    config = FaultConfig()
    for key, value in settings.items():
        if key not in _SECTIONS:
            raise ValueError(f"unknown fault {key!r}; known: {', '.join(_SECTIONS)}")
        if key == "token_lifetime_s":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError("token_lifetime_s must be a positive integer")
            config.token_lifetime_s = value
            continue
        section = getattr(config, key)
        if not isinstance(value, dict):
            raise ValueError(f"fault {key!r} takes an object of settings")
        known = {f.name for f in fields(section) if not f.name.startswith("_") and f.name not in ("seen", "injected")}
        for option, option_value in value.items():
            if option not in known:
                raise ValueError(f"fault {key!r} has no setting {option!r}; known: {', '.join(sorted(known))}")
            _check(key, option, getattr(section, option), option_value)
            setattr(section, option, option_value)
        if isinstance(section, (SchemaDrift, TypeChange)) and "enabled" not in value:
            section.enabled = True
    return config
