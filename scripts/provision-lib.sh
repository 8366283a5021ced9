# Shared by scripts/provision.sh and scripts/provision-k8s.sh (sourced, not run): where builds are
# cached (outside the clone, keyed by version, so fresh clones and CI reuse them) and how they land.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${REARGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rearguard}"
BIN="$ROOT/.tools/bin"
mkdir -p "$BIN" "$CACHE"

log() { printf '[provision] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "error: '$1' is required to build $2 but is not on PATH"; exit 1; }; }

# Runs a build into a temporary directory and renames it into place, so an interrupted build never
# leaves a half-populated cache entry that later runs would trust.
build_into() {
  local dest="$1"; shift
  local tmp="$dest.partial.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  if "$@" "$tmp"; then rm -rf "$dest"; mv "$tmp" "$dest"; else rm -rf "$tmp"; return 1; fi
}
