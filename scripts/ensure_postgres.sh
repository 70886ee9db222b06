#!/usr/bin/env bash
# The tests start their own throwaway PostgreSQL cluster from the machine's server binaries;
# install them from Debian's packages when they are missing.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure_postgres: PostgreSQL server binaries are missing; install the postgresql package" >&2
  exit 1
fi
echo "ensure_postgres: installing PostgreSQL from Debian's packages" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
