#!/usr/bin/env bash
# Ensures the headless browser the report test opens `phalanx simulate --html` pages in: Debian's chromium at
# /usr/bin/chromium, installed with apt-get from the machine's own apt configuration when it is missing (as
# root; anyone else gets the command to run). Prints the browser's path as the last (and only) line on stdout;
# progress goes to stderr.
#
# Env: PHALANX_CACHE  where the lock serialising concurrent installs lives (default ~/.cache/phalanx)
set -euo pipefail

CHROMIUM=/usr/bin/chromium

# Fast path: one stat.
if [[ -x $CHROMIUM ]]; then
  echo "$CHROMIUM"
  exit 0
fi

TOOL=chromium
# shellcheck source=lib/ensure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure.sh"

[[ $EUID -eq 0 ]] || die "$CHROMIUM not found; run as root or: apt-get install --no-install-recommends chromium"
command -v apt-get >/dev/null || die "$CHROMIUM not found and there is no apt-get to install Debian's chromium with"

CACHE="${PHALANX_CACHE:-$HOME/.cache/phalanx}"
# Two test sessions starting at once must not both run apt-get; the second finds the browser under the lock.
installed() { [[ -x $CHROMIUM ]] && echo "$CHROMIUM"; }
serialise "$CACHE/chromium.lock" installed

log "installing Debian's chromium with apt-get (first run only)"
export DEBIAN_FRONTEND=noninteractive
# dpkg's own lock may be held by another apt run on the machine: wait for it rather than fail at once.
install=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 chromium)
# Refresh the system package lists only when the install cannot work without it.
"${install[@]}" || { apt-get update -q && "${install[@]}"; } || die "could not install chromium with apt-get"
[[ -x $CHROMIUM ]] || die "apt-get installed chromium, but $CHROMIUM is still missing"
log "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
echo "$CHROMIUM" >&3
