#!/usr/bin/env bash
# The main job, from a fresh machine: installs what it needs, then starts the Wirelane API
# simulator and prints how to query it. Extra arguments go to `wirelane-sync simulate`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/wirelane-sync simulate "$@"
