"""The Dagster code location for wirelane-sync: `dagster dev -m orchestration.definitions`.

The dlt resources are assets partitioned by organization, the dbt models are assets downstream
of them, and schedules load sessions hourly and the reference data daily. Everything is
configured where the pipeline is configured (`.dlt/config.toml`, `.dlt/secrets.toml` or
environment variables); this package adds no settings of its own. `orchestration.definitions`
builds the definitions when imported, so import `orchestration.code_location` to build them
under settings of your choosing (the tests do).
"""
