#!/usr/bin/env bash
# The dashboard's end-to-end test drives a headless Chromium through chromedriver; install both
# from Debian's packages when they are missing (they come from one source package, so the
# driver always matches the browser, and nothing is downloaded outside apt).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure_chromium: /usr/bin/chromium or /usr/bin/chromedriver is missing; install the chromium and chromium-driver packages" >&2
  exit 1
fi
echo "ensure_chromium: installing Chromium and chromedriver from Debian's packages" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
