#!/usr/bin/env bash
# Makes sure Debian's Chromium and chromedriver are there for the browser test of `make test`,
# installing them with apt-get when they are missing and this user may (root, or sudo without a
# password). Never downloads a browser from anywhere but the machine's Debian mirrors.
#
# Exit 0: both are installed. Exit 1: they are not; stdout says why in one line (for make
# test's warning); apt-get's own output goes to target/browser/apt.log.
set -uo pipefail

chromium=${OB_CHROMIUM:-/usr/bin/chromium}
driver=${OB_CHROMEDRIVER:-/usr/bin/chromedriver}
present() { [ -x "$chromium" ] && [ -x "$driver" ]; }
present && exit 0

if [ "$(id -u)" = 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "$chromium or $driver is missing, and installing them needs root or sudo without a password (apt-get install chromium chromium-driver)"
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "$chromium or $driver is missing and this is not a Debian-like system (no apt-get); install Chromium and its chromedriver and set OB_CHROMIUM and OB_CHROMEDRIVER"
  exit 1
fi

log=target/browser/apt.log
mkdir -p "$(dirname "$log")"
echo "installing chromium and chromium-driver from Debian for the browser test (log: $log) ..." >&2
export DEBIAN_FRONTEND=noninteractive
install() { "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver >>"$log" 2>&1; }
# A fresh machine may have no package lists yet: update once, then retry.
if ! install && ! { "${sudo[@]}" apt-get update -q >>"$log" 2>&1 && install; }; then
  echo "apt-get could not install chromium chromium-driver (no Debian mirror reachable?); see $log"
  exit 1
fi
if ! present; then
  echo "apt-get installed chromium chromium-driver but $chromium or $driver is still missing; see $log"
  exit 1
fi
echo "installed $("$chromium" --version 2>/dev/null)" >&2
