"""Pseudonymizing personal data before it reaches the warehouse.

Analysts need to count members, join a member's sessions and group by e-mail domain; they do
not need anyone's address, card number or the session secret. Each personal value becomes a
keyed hash (HMAC-SHA256 with a secret key from secrets.toml): stable across runs and machines
that share the key, so joins keep working, and not reversible by dictionary attacks without
the key (a plain hash of an e-mail address is). E-mail addresses keep their domain.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from sources.wirelane import changes
from sources.wirelane.errors import WirelaneConfigError

# Where personal values sit in each resource's documents (after records.shape).
PERSONAL_FIELDS: Final[Mapping[str, tuple[tuple[str, ...], ...]]] = {
    "sessions": (
        ("identification",),
        ("secret",),
        ("customer", "email"),
        ("customer", "card_number"),
        ("customer", "card_short_reference"),
        ("customer", "roaming_customer_id"),  # the contract id of a roaming driver
    ),
    "members": (
        ("email",),
        ("account", "email"),
        ("account", "invoice_email_address"),
        ("account", "name"),
        ("account", "address", "name"),
        ("account", "address", "street"),
        ("account", "address", "house_number"),
    ),
    # metadata is free-form processor data (card holder, mandate reference): all of it
    "member_payment_methods": (("label",), ("metadata", "*", "value")),
}
# The simulator's data is invented: a fixed, published key keeps its demo runs reproducible.
SIMULATOR_KEY: Final = "wirelane-simulator-demo-pseudonymization-key"
MIN_KEY_LENGTH: Final = 16
DIGEST_CHARS: Final = 32


class Pseudonymizer:
    """Replaces personal values with keyed hashes; `None` key means keep them in clear."""

    def __init__(self, key: str | None) -> None:
        self._key = None if key is None else key.encode()
        # keyed once: each token copies this state instead of keying anew (1.2 against 1.6 us a value)
        self._keyed = None if self._key is None else hmac.new(self._key, digestmod=hashlib.sha256)
        # blake2b takes at most 64 key bytes; a derived key also keeps the digests apart from the HMACs
        self._fingerprint_key = b"" if self._key is None else hashlib.sha256(b"fingerprint\0" + self._key).digest()

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def fingerprint(self, document: Any) -> str:
        """A change-detection digest of a document still holding personal data in clear: keyed
        like the pseudonyms (blake2b's own keying, with a key derived from ours), so the digest
        kept in state confirms no guess of the document to anyone without the key."""
        return changes.fingerprint(document, self._fingerprint_key)

    def token(self, value: str) -> str:
        if "@" in value:  # an e-mail address: the local part hashed (case-insensitively), the domain kept
            local, _, domain = value.rpartition("@")
            digest = self._digest(value.lower())
            return f"{digest}@{domain.lower()}" if local else digest
        return self._digest(value)

    def _digest(self, value: str) -> str:
        assert self._keyed is not None
        mac = self._keyed.copy()
        mac.update(value.encode())
        return mac.hexdigest()[:DIGEST_CHARS]

    def tokens(self, values: list[str | None]) -> list[str | None]:
        """A column's values with each non-empty one replaced by its token, as `apply` replaces
        them in a document. A session page repeats its drivers' cards and addresses (a third of
        the values are distinct): each distinct value is hashed once."""
        if self._key is None:
            return values
        known: dict[str, str] = {}
        replaced: list[str | None] = []
        for value in values:
            if value:
                token = known.get(value)
                if token is None:
                    token = known[value] = self.token(value)
                value = token
            replaced.append(value)
        return replaced

    def apply(self, resource: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its personal fields replaced in place (and returned, for comprehensions)."""
        if self._key is not None:
            for path in PERSONAL_FIELDS.get(resource, ()):
                self._replace(row, path)
        return row

    def _replace(self, node: Any, path: tuple[str, ...]) -> None:
        """Walks `path` (`*` steps into every list item) and hashes the string at its end."""
        step, rest = path[0], path[1:]
        if step == "*":
            for item in node if isinstance(node, list) else ():
                self._replace(item, rest)
        elif isinstance(node, dict) and step in node:
            if rest:
                self._replace(node[step], rest)
            elif isinstance(node[step], str) and node[step]:
                node[step] = self.token(node[step])


def build_pseudonymizer(pseudonymize: bool, key: str | None, simulator: bool) -> Pseudonymizer:
    """The configured pseudonymizer; fails with what to set when the key is missing or weak."""
    if not pseudonymize:
        return Pseudonymizer(None)
    if not key:
        if simulator:
            return Pseudonymizer(SIMULATOR_KEY)
        raise WirelaneConfigError(
            "no pseudonymization key: set sources.wirelane.pseudonymization_key in .dlt/secrets.toml "
            "(a long random string, e.g. `openssl rand -hex 32`), or sources.wirelane.pseudonymize = false "
            "to load personal data in clear"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise WirelaneConfigError(
            f"sources.wirelane.pseudonymization_key is too short: use at least {MIN_KEY_LENGTH} characters"
        )
    return Pseudonymizer(key)
