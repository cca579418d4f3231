#!/usr/bin/env bash
# Ensures the binaries the integration tests run (kube-apiserver, kube-scheduler,
# kube-controller-manager and kubectl 1.20.2, etcd 3.4) exist in a cache outside
# the repo, building once from Debian packages what is missing (a cache that
# already holds some of them builds only the rest). The packages come from the
# Debian mirror the machine's own apt configuration names. Prints the cache dir as
# the last (and only) line on stdout; progress goes to stderr.
#
# Env: PHALANX_K8S_CACHE     cache dir (default ~/.cache/phalanx/k8s-1.20.2)
#      PHALANX_DEBIAN_MIRROR Debian archive URI (default: the one in /etc/apt/sources.list{,.d/})
set -euo pipefail

CACHE="${PHALANX_K8S_CACHE:-$HOME/.cache/phalanx/k8s-1.20.2}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
K8S_BINS=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
BINS=("${K8S_BINS[@]}" etcd)

have_all() {
  local b
  for b in "${BINS[@]}"; do [[ -x "$CACHE/bin/$b" ]] || return 1; done
}

# Fast path: nothing but a few stat calls.
if have_all; then
  echo "$CACHE"
  exit 0
fi

TOOL=k8s-test-server
# shellcheck source=lib/ensure.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure.sh"

# apt_debian_mirror: the Debian archive from apt's configuration.
# shellcheck source=lib/debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-mirror.sh"

cached() { have_all && echo "$CACHE"; }
serialise "$CACHE.lock" cached

# Only what the cache lacks is fetched and built.
want_k8s=() want_etcd=0
for b in "${K8S_BINS[@]}"; do [[ -x "$CACHE/bin/$b" ]] || want_k8s+=("$b"); done
[[ -x "$CACHE/bin/etcd" ]] || want_etcd=1

MIRROR="${PHALANX_DEBIAN_MIRROR:-$(apt_debian_mirror)}"
[[ -n $MIRROR ]] || die "no Debian archive found in /etc/apt/sources.list or /etc/apt/sources.list.d/ \
(*.list, *.sources); set PHALANX_DEBIAN_MIRROR to a Debian mirror URI (the one holding bookworm and bullseye)"

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

mkdir -p "$WORK/dl"
private_apt "$WORK/apt" "deb-src [signed-by=$KEYRING] $MIRROR bookworm main" \
  "deb [signed-by=$KEYRING] $MIRROR bookworm main" "deb [signed-by=$KEYRING] $MIRROR bullseye main"

cd "$WORK/dl"
built=()
if ((${#want_k8s[@]})); then
  log "downloading kubernetes source and golang-1.15"
  apt-get "${APT_OPTS[@]}" source --download-only kubernetes/bookworm ||
    die "could not download the kubernetes source package"
  # Go 1.15 (bullseye): with bookworm's Go 1.19, kube-apiserver 1.20 segfaults on the
  # first custom-resource create (reflect2 v1.0.1 relies on old runtime internals).
  apt-get "${APT_OPTS[@]}" download golang-1.15-go/bullseye golang-1.15-src/bullseye ||
    die "could not download the golang-1.15 .debs"
  log "unpacking"
  for deb in golang-1.15-go_*.deb golang-1.15-src_*.deb; do
    dpkg-deb -x "$deb" "$WORK/go"
  done
  dpkg-source --no-check -x kubernetes_*.dsc "$WORK/src" >/dev/null
  (
    export GOROOT="$WORK/go/usr/lib/go-1.15"
    export PATH="$GOROOT/bin:$PATH" CGO_ENABLED=0 GOPROXY=off
    # k8s 1.20 builds in GOPATH mode from vendor/; a user's GOFLAGS (-mod=...) would break it.
    unset GOFLAGS GO111MODULE GOPATH GOBIN
    log "building ${want_k8s[*]} with $(go version) (takes a few minutes)"
    make -C "$WORK/src" WHAT="${want_k8s[*]/#/cmd/}"
  ) || die "kubernetes build failed (see output above)"
  for b in "${want_k8s[@]}"; do built+=("$WORK/src/_output/bin/$b"); done
fi
if ((want_etcd)); then
  log "downloading etcd-server"
  apt-get "${APT_OPTS[@]}" download etcd-server/bookworm || die "could not download etcd-server"
  dpkg-deb -x etcd-server_*.deb "$WORK/etcd"
  built+=("$WORK/etcd/usr/bin/etcd")
fi

# Publish each binary atomically (copy beside it, then rename over): a binary already
# in the cache never disappears, and a reader sees either no file or a whole one.
mkdir -p "$CACHE/bin"
chmod 755 "$CACHE/bin"
rm -f "$CACHE"/bin/.*.tmp.* # leftovers of an interrupted publish
for src in "${built[@]}"; do
  name="$(basename "$src")"
  tmp="$(mktemp "$CACHE/bin/.$name.tmp.XXXXXX")"
  cp "$src" "$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$CACHE/bin/$name"
done
have_all || die "binaries missing after build"

log "done in $((SECONDS - start))s: $("$CACHE/bin/kube-apiserver" --version)"
echo "$CACHE" >&3
