# Sourced by the hack/ scripts that fetch Debian packages: the archive to fetch them from is the one the
# machine's own apt configuration names (no mirror is ever written into the repo).

# The Debian archive URI from apt's configuration: one-line `deb`/`deb-src` entries in
# sources.list and sources.list.d/*.list, and deb822 stanzas in sources.list.d/*.sources.
# An entry for bookworm wins; otherwise one for another Debian release suite (not
# -security, -updates or -backports) with the main component. Prints nothing if none.
apt_debian_mirror() {
  local files=() f
  [[ -r /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] && files+=("$f")
  done
  ((${#files[@]})) || return 0
  awk '
    function consider(types, uris, suites, comps,   t, u, s, c, nt, nu, ns, nc, i, j, k, main, score) {
      nt = split(types, t, /[ \t]+/); main = 0
      for (i = 1; i <= nt; i++) if (t[i] == "deb" || t[i] == "deb-src") break
      if (i > nt) return
      nc = split(comps, c, /[ \t]+/)
      for (i = 1; i <= nc; i++) if (c[i] == "main") main = 1
      nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
      for (j = 1; j <= nu; j++) {
        if (u[j] !~ /^(https?|ftp|file):/ || u[j] ~ /security/) continue
        for (k = 1; k <= ns; k++) {
          score = 0
          if (s[k] ~ /^bookworm\/?$/) score = 3
          else if (main && s[k] ~ /^((old)*stable|testing|unstable|sid|buster|bullseye|trixie|forky)\/?$/) score = 2
          if (score > best) { best = score; uri = u[j] }
        }
      }
    }
    function flush() {
      if (enabled && f["types"] != "") consider(f["types"], f["uris"], f["suites"], f["components"])
      delete f; enabled = 1; key = ""
    }
    BEGIN { best = 0; enabled = 1 }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    /^[ \t]*#/ { next }
    !deb822 {
      line = $0; sub(/#.*/, "", line)
      # Drop `[ option=value ... ]`, then: type uri suite component...
      gsub(/\[[^]]*\]/, " ", line)
      n = split(line, w, /[ \t]+/); o = (w[1] == "") ? 1 : 0
      if (n - o < 3) next
      comps = ""
      for (i = 4 + o; i <= n; i++) comps = comps " " w[i]
      consider(w[1 + o], w[2 + o], w[3 + o], comps)
      next
    }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
    {
      key = tolower($0); sub(/:.*/, "", key)
      val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      f[key] = val
      if (key == "enabled" && tolower(val) ~ /^(no|false|0)/) enabled = 0
    }
    END { flush(); if (best) { sub(/\/+$/, "", uri); print uri } }
  ' "${files[@]}"
}

# private_apt DIR LINE...: an apt configuration of its own under DIR, LINE... its sources.list, so the system's
# sources and lists stay untouched and no root is needed; its package lists are fetched. Sets APT_OPTS for the
# apt-get calls that follow. Needs log and die (hack/lib/ensure.sh).
private_apt() {
  local dir=$1
  shift
  mkdir -p "$dir"/{lists/partial,archives/partial,cache}
  printf '%s\n' "$@" >"$dir/sources.list"
  APT_OPTS=(
    -q
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache"
    -o "Dir::Cache::Archives=$dir/archives"
    -o "APT::Sandbox::User=$(id -un)"
  )
  log "fetching Debian package lists (${MIRROR:-$*})"
  apt-get "${APT_OPTS[@]}" update || die "apt-get update against ${MIRROR:-$*} failed"
}
