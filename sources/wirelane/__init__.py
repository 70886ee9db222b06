"""The Wirelane API 2.0 dlt source.

The source is imported on first use, not with the package: commands that need only the
package's errors or settings (`transform`, `status`) then start without dlt's extract
machinery, pyarrow and the OpenAPI document."""

from typing import Any

__all__ = ["WirelaneCredentials", "wirelane_source"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sources.wirelane import source

        return getattr(source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
