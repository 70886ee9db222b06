#!/usr/bin/env bash
# The main job, from a fresh machine: installs what it needs, then runs `wirelane-sync demo`
# (a simulator of its own, a full and an incremental load into ./wirelane.duckdb, dbt marts,
# a summary). The file lands in the directory this script is started from; extra arguments go
# to `wirelane-sync demo` (see `wirelane-sync demo --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/wirelane-sync" demo "$@"
