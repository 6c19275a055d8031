#!/bin/sh
# Debian packages the test suite needs, installed only when missing.
#   prometheus: promtool, which tests/hub/test_metrics.py runs to check both /metrics faces.
#   chromium: the headless browser the page tests drive through Playwright (tests/browser.py).
#   wireguard-tools, wireguard-go, gettext-base: wg, wg-quick, the userspace WireGuard where the
#     kernel module is missing, and envsubst for the templates (tests/deploy/test_wireguard.py).
# Run as root (make install calls it; it does nothing when everything is already there).
set -eu

# command the test suite runs -> Debian package that ships it
PACKAGES="promtool:prometheus chromium:chromium wg:wireguard-tools wireguard-go:wireguard-go envsubst:gettext-base"

missing=""
for pair in $PACKAGES; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deploy/dev-packages.sh: missing Debian packages:$missing" >&2
    echo "  run as root: sudo sh deploy/dev-packages.sh" >&2
    echo "  (or: sudo apt-get install -y --no-install-recommends$missing)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deploy/dev-packages.sh: no apt-get here; install$missing by hand" >&2
    exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # one word per package
apt-get install -y -q --no-install-recommends $missing
