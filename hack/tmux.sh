#!/usr/bin/env bash
# Ensures a tmux exists for the test that drives `phalanx top` in a real terminal
# (tests/integration/test_top.py): the one on PATH; else one cached outside the
# repo; else, as root, Debian's package installed with apt-get; else (not root)
# tmux and the libraries it needs that the machine lacks, unpacked from the
# Debian packages the machine's own apt sources offer into the cache. Prints the
# tmux to run as the last (and only) line on stdout; progress goes to stderr.
#
# Env: PHALANX_TMUX_CACHE  cache dir (default ~/.cache/phalanx/tmux)
set -euo pipefail

CACHE="${PHALANX_TMUX_CACHE:-$HOME/.cache/phalanx/tmux}"

# Fast path: nothing but a lookup.
if found="$(command -v tmux)"; then
  echo "$found"
  exit 0
fi
if [[ -x $CACHE/bin/tmux ]] && "$CACHE/bin/tmux" -V >/dev/null 2>&1; then
  echo "$CACHE/bin/tmux"
  exit 0
fi

TOOL=tmux
# shellcheck source=lib/ensure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure.sh"

command -v apt-get >/dev/null || die "no tmux on PATH and no apt-get to install it; install tmux"

if [[ $EUID -eq 0 ]]; then
  log "installing tmux"
  export DEBIAN_FRONTEND=noninteractive
  install=(apt-get install -y -q --no-install-recommends tmux)
  # Refresh the system package lists only when the install can't work without it.
  "${install[@]}" || { apt-get update -q && "${install[@]}"; } || die "could not install tmux with apt-get"
  command -v tmux >&3 || die "tmux missing after apt-get install"
  exit 0
fi

cached() { [[ -x $CACHE/bin/tmux ]] && "$CACHE/bin/tmux" -V >/dev/null 2>&1 && echo "$CACHE/bin/tmux"; }
serialise "$CACHE.lock" cached

WORK="$(mktemp -d "${TMPDIR:-/tmp}/phalanx-tmux.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# The machine's own sources with private lists and downloads: nothing of the system's changes, no root needed.
mkdir -p "$WORK"/apt/{lists/partial,archives/partial,cache} "$WORK/dl" "$WORK/root"
APT_OPTS=(
  -q
  -o "Dir::State::Lists=$WORK/apt/lists"
  -o "Dir::Cache=$WORK/apt/cache"
  -o "Dir::Cache::Archives=$WORK/apt/archives"
  -o "APT::Sandbox::User=$(id -un)"
  -o Debug::NoLocking=1
)
log "fetching package lists from the machine's apt sources"
apt-get "${APT_OPTS[@]}" update || die "apt-get update failed"

# tmux and the libraries it links that are not installed here (libevent, libutempter on a minimal system).
packages=(tmux)
while read -r dep; do
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "install ok installed" || packages+=("$dep")
done < <(apt-cache "${APT_OPTS[@]}" depends tmux | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }')
log "downloading ${packages[*]}"
cd "$WORK/dl"
apt-get "${APT_OPTS[@]}" download "${packages[@]}" || die "could not download ${packages[*]}"
for deb in *.deb; do dpkg-deb -x "$deb" "$WORK/root"; done
[[ -x $WORK/root/usr/bin/tmux ]] || die "the tmux package holds no usr/bin/tmux"

# Publish atomically: a reader sees the old cache or the whole new one.
stage="$(mktemp -d "$(dirname "$CACHE")/.tmux.XXXXXX")"
mkdir -p "$stage/bin" "$stage/lib" "$stage/libexec"
cp "$WORK/root/usr/bin/tmux" "$stage/libexec/tmux"
find "$WORK/root" -name '*.so*' \( -type f -o -type l \) -exec cp -P {} "$stage/lib/" \;
cat >"$stage/bin/tmux" <<'WRAPPER'
#!/bin/sh
# tmux unpacked from Debian's package, with the libraries the machine lacks beside it.
here="$(cd "$(dirname "$0")/.." && pwd)"
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/libexec/tmux" "$@"
WRAPPER
chmod 755 "$stage" "$stage/bin/tmux" "$stage/libexec/tmux"
rm -rf "$CACHE.old"
[[ -e $CACHE ]] && mv "$CACHE" "$CACHE.old"
mv "$stage" "$CACHE"
rm -rf "$CACHE.old"
"$CACHE/bin/tmux" -V >/dev/null || die "the unpacked tmux does not run"
log "cached $("$CACHE/bin/tmux" -V) in $CACHE"
echo "$CACHE/bin/tmux" >&3
