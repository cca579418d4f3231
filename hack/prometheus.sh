#!/usr/bin/env bash
# Ensures Debian's Prometheus (prometheus and promtool, bookworm's 2.42) sits in a cache outside the repo,
# fetched once as a .deb from the Debian archive the machine's own apt configuration names and unpacked there
# (no root needed, nothing installed on the system). The monitoring tests run these binaries: a real Prometheus
# scraping `phalanx run`, and promtool checking and unit-testing manifests/monitoring/. Prints the cache dir as
# the last (and only) line on stdout; progress goes to stderr.
#
# Env: PHALANX_PROMETHEUS_CACHE  cache dir (default ~/.cache/phalanx/prometheus-2.42.0)
#      PHALANX_DEBIAN_MIRROR     Debian archive URI (default: the one apt's configuration names)
set -euo pipefail

VERSION=2.42.0 # bookworm's; the upstream part of the Debian version, which the .deb fetched must carry
CACHE="${PHALANX_PROMETHEUS_CACHE:-$HOME/.cache/phalanx/prometheus-$VERSION}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
BINS=(prometheus promtool)

have_all() {
  local b
  for b in "${BINS[@]}"; do [[ -x "$CACHE/bin/$b" ]] || return 1; done
}

# Fast path: nothing but a few stat calls.
if have_all; then
  echo "$CACHE"
  exit 0
fi

TOOL=prometheus
# shellcheck source=lib/ensure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure.sh"

# apt_debian_mirror: the Debian archive from apt's configuration.
# shellcheck source=lib/debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-mirror.sh"

cached() { have_all && echo "$CACHE"; }
serialise "$CACHE.lock" cached

command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian machine"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (install dpkg)"
[[ -r $KEYRING ]] || die "$KEYRING not found (install debian-archive-keyring)"
MIRROR="${PHALANX_DEBIAN_MIRROR:-$(apt_debian_mirror)}"
[[ -n $MIRROR ]] || die "no Debian archive found in apt's configuration (/etc/apt/sources.list, \
/etc/apt/sources.list.d/); set PHALANX_DEBIAN_MIRROR to a Debian mirror URI (the one holding bookworm)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/phalanx-prometheus.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

mkdir -p "$WORK/dl"
private_apt "$WORK/apt" "deb [signed-by=$KEYRING] $MIRROR bookworm main"
cd "$WORK/dl"
log "downloading prometheus/bookworm"
apt-get "${APT_OPTS[@]}" download prometheus/bookworm || die "could not download the prometheus .deb"
deb=(prometheus_*.deb)
got="$(dpkg-deb -f "${deb[0]}" Version)"
[[ $got == "$VERSION+"* || $got == "$VERSION-"* ]] ||
  die "bookworm's prometheus is $got, not $VERSION: update VERSION here (and the rules tests if promtool changed)"
dpkg-deb -x "${deb[0]}" "$WORK/root"

# Publish each binary atomically (copy beside it, then rename over): a reader sees no file or a whole one.
mkdir -p "$CACHE/bin"
chmod 755 "$CACHE/bin"
rm -f "$CACHE"/bin/.*.tmp.* # leftovers of an interrupted publish
for name in "${BINS[@]}"; do
  src="$WORK/root/usr/bin/$name"
  [[ -x $src ]] || die "$name is not in ${deb[0]}"
  tmp="$(mktemp "$CACHE/bin/.$name.tmp.XXXXXX")"
  cp "$src" "$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$CACHE/bin/$name"
done
have_all || die "binaries missing after unpacking"

log "done in $((SECONDS - start))s: $("$CACHE/bin/prometheus" --version 2>&1 | head -n 1)"
echo "$CACHE" >&3
