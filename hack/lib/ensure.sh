# shellcheck shell=bash
# What the hack/*.sh scripts that make sure a tool is there have in common, sourced once their fast path (kept
# in each script, so a warm cache costs a stat) has not found it. Set TOOL first: log and die name it.
#
# From here on everything any tool prints goes to stderr, and fd 3 is the real stdout (the scripts print one
# line there: what they found or made).
exec 3>&1 1>&2

log() { echo "$TOOL: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# serialise LOCK FOUND: hold the lock file LOCK from here on, so concurrent callers (parallel test sessions)
# wait for the first. FOUND is a command that prints what the script would print and succeeds only when the
# tool is there: if it does under the lock, the caller that held it first did the work; print that and leave.
serialise() {
  local found
  mkdir -p "$(dirname "$1")"
  exec 4>"$1"
  flock 4
  if found="$("$2")"; then
    echo "$found" >&3
    exit 0
  fi
}
