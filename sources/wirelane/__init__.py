"""The Wirelane API 2.0 dlt source."""

from sources.wirelane.source import WirelaneCredentials, wirelane_source

__all__ = ["WirelaneCredentials", "wirelane_source"]
