"""What `dagster dev -m orchestration.definitions` (or a deployment's workspace) loads.

Built at import from the configuration of the working directory (`.dlt/config.toml` and
`.dlt/secrets.toml` there, and environment variables), as `wirelane-sync` reads it.
"""

from __future__ import annotations

from orchestration.code_location import build_definitions

defs = build_definitions()
