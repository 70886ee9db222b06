"""Errors that end a run with one line saying what to fix (never a secret in the text)."""

from __future__ import annotations


class WirelaneError(Exception):
    """Base class: the message is meant for the operator, as is."""


class WirelaneAuthError(WirelaneError):
    """Credentials refused or token endpoint unusable."""


class WirelaneApiError(WirelaneError):
    """The API refused a request for a reason retrying cannot fix (400, 403, 404 on a list)."""


class WirelaneConfigError(WirelaneError):
    """Configuration or arguments that cannot work."""


class PaginationLimitError(WirelaneError):
    """A list had more pages than the configured cap: a runaway or a misconfigured page size."""
