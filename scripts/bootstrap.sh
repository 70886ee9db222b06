#!/usr/bin/env bash
# Installs everything the project needs into .venv/, starting from Python 3.11 and pip only.
# Idempotent and quiet when nothing changed, so every entry script can call it first.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
TOOLS_DIR=".tools"
UV="$TOOLS_DIR/uv/bin/uv"

if [ ! -x "$UV" ] || [ "$("$UV" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION into $TOOLS_DIR/uv" >&2
  python3.11 -m venv "$TOOLS_DIR/uv" 2>/dev/null || python3 -m venv "$TOOLS_DIR/uv"
  "$TOOLS_DIR/uv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

# This machine sets PYTHONDONTWRITEBYTECODE=1; without compiled bytecode imports take twice as long.
export UV_COMPILE_BYTECODE=1
export UV_PYTHON_DOWNLOADS=never
"$UV" sync --frozen --extra orchestration --python python3.11 --quiet
