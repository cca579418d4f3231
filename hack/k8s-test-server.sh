#!/usr/bin/env bash
# Ensures kube-apiserver, kube-scheduler (1.20.2) and etcd (3.4) binaries for the
# integration tests exist in a cache outside the repo, building them once from
# Debian packages (only Debian mirrors are needed). Prints the cache dir as the
# last (and only) line on stdout; progress goes to stderr.
#
# Env: PHALANX_K8S_CACHE     cache dir (default ~/.cache/phalanx/k8s-1.20.2)
#      PHALANX_DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

CACHE="${PHALANX_K8S_CACHE:-$HOME/.cache/phalanx/k8s-1.20.2}"
MIRROR="${PHALANX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
BINS=(kube-apiserver kube-scheduler etcd)

have_all() {
  local b
  for b in "${BINS[@]}"; do [[ -x "$CACHE/bin/$b" ]] || return 1; done
}

# Fast path: nothing but a few stat calls.
if have_all; then
  echo "$CACHE"
  exit 0
fi

# From here on, everything any tool prints goes to stderr; fd 3 is the real stdout.
exec 3>&1 1>&2

log() { echo "k8s-test-server: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

mkdir -p "$(dirname "$CACHE")"
# Serialise concurrent callers (e.g. parallel test sessions); re-check under the lock.
exec 4>"$CACHE.lock"
flock 4
if have_all; then
  echo "$CACHE" >&3
  exit 0
fi

ensure_tools() {
  local missing=() pair
  # command:package pairs; dpkg-source needs patch and xz to unpack 3.0 (quilt)
  # sources, the k8s Makefile uses rsync, the test fixtures use openssl.
  for pair in dpkg-source:dpkg-dev patch:patch xz:xz-utils make:make rsync:rsync \
    openssl:openssl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  [[ $EUID -eq 0 ]] || die "missing tools; run as root or: apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
  # Refresh the system package lists only when the install can't work without it.
  "${install[@]}" || { apt-get update -q && "${install[@]}"; } ||
    die "could not install ${missing[*]} with apt-get"
}

ensure_tools
[[ -r $KEYRING ]] || die "$KEYRING not found (install debian-archive-keyring)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/phalanx-k8s-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

# A private apt configuration, so the system's sources and lists stay untouched.
mkdir -p "$WORK"/apt/{lists/partial,archives/partial,cache} "$WORK/dl"
cat >"$WORK/apt/sources.list" <<EOF
deb-src [signed-by=$KEYRING] $MIRROR bookworm main
deb [signed-by=$KEYRING] $MIRROR bookworm main
deb [signed-by=$KEYRING] $MIRROR bullseye main
EOF
APT_OPTS=(
  -q
  -o "Dir::Etc::SourceList=$WORK/apt/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$WORK/apt/lists"
  -o "Dir::Cache=$WORK/apt/cache"
  -o "Dir::Cache::Archives=$WORK/apt/archives"
  -o "APT::Sandbox::User=$(id -un)"
)
log "fetching Debian package lists ($MIRROR)"
apt-get "${APT_OPTS[@]}" update || die "apt-get update against $MIRROR failed"

cd "$WORK/dl"
log "downloading kubernetes source, golang-1.15 and etcd-server"
apt-get "${APT_OPTS[@]}" source --download-only kubernetes/bookworm ||
  die "could not download the kubernetes source package"
# Go 1.15 (bullseye): with bookworm's Go 1.19, kube-apiserver 1.20 segfaults on the
# first custom-resource create (reflect2 v1.0.1 relies on old runtime internals).
apt-get "${APT_OPTS[@]}" download golang-1.15-go/bullseye golang-1.15-src/bullseye \
  etcd-server/bookworm || die "could not download golang-1.15 / etcd-server .debs"

log "unpacking"
for deb in golang-1.15-go_*.deb golang-1.15-src_*.deb; do
  dpkg-deb -x "$deb" "$WORK/go"
done
dpkg-deb -x etcd-server_*.deb "$WORK/etcd"
dpkg-source --no-check -x kubernetes_*.dsc "$WORK/src" >/dev/null

export GOROOT="$WORK/go/usr/lib/go-1.15"
export PATH="$GOROOT/bin:$PATH" CGO_ENABLED=0 GOPROXY=off
# k8s 1.20 builds in GOPATH mode from vendor/; a user's GOFLAGS (-mod=...) would break it.
unset GOFLAGS GO111MODULE GOPATH GOBIN
log "building kube-apiserver and kube-scheduler with $(go version) (takes a few minutes)"
make -C "$WORK/src" WHAT="cmd/kube-apiserver cmd/kube-scheduler" ||
  die "kubernetes build failed (see output above)"

# Publish atomically: stage next to the cache, then rename over the old bin dir.
mkdir -p "$CACHE"
rm -rf "${CACHE:?}"/.bin.* # leftovers of an interrupted publish
stage="$(mktemp -d "$CACHE/.bin.XXXXXX")"
cp "$WORK/src/_output/bin/kube-apiserver" "$WORK/src/_output/bin/kube-scheduler" \
  "$WORK/etcd/usr/bin/etcd" "$stage/"
chmod 755 "$stage" "$stage"/*
rm -rf "${CACHE:?}/bin"
mv "$stage" "$CACHE/bin"
have_all || die "binaries missing after build"

log "done in $((SECONDS - start))s: $("$CACHE/bin/kube-apiserver" --version)"
echo "$CACHE" >&3
