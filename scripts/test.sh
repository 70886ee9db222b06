#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/ensure_postgres.sh
./scripts/ensure_chromium.sh
export RUNTIME__DLTHUB_TELEMETRY=false DBT_SEND_ANONYMOUS_USAGE_STATS=false

echo "== ruff (lint and format)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (strict on sources/, pipelines/, simulator/, orchestration/, dashboards/)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
