# Shared by scripts/provision.sh and scripts/provision-k8s.sh (sourced, not run): where builds are
# cached (outside the clone, keyed by version, so fresh clones and CI reuse them) and how they land.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${REARGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rearguard}"
BIN="$ROOT/.tools/bin"
mkdir -p "$BIN" "$CACHE"

# shellcheck source=scripts/versions.sh
source "$ROOT/scripts/versions.sh"

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

# Links NAME from PATH (outside .tools/bin) into .tools/bin; fails when there is none.
link_from_path() {
  local name="$1" onpath
  onpath="$(PATH="${PATH//$BIN:/}" command -v "$name" || true)"
  [[ -n "$onpath" && "$onpath" != "$BIN/$name" ]] || return 1
  ln -sfn "$onpath" "$BIN/$name"
  log "$name: using $onpath from PATH"
}

# Builds (once) and links the binaries NAMES of TOOL-VERSION; BUILDER fills the cache entry's bin/.
# PROVISION_NOTE, if set, is added to the "building" line (how long it takes).
provision() {
  local tool="$1" version="$2" builder="$3"; shift 3
  local dest="$CACHE/$tool-$version" missing=0 b
  for b in "$@"; do [[ -x "$dest/bin/$b" ]] || missing=1; done
  if (( missing )); then
    need go "$tool"
    log "$tool: building $version from the Go module proxy${PROVISION_NOTE:+ ($PROVISION_NOTE)}"
    local t0=$SECONDS
    build_into "$dest" "$builder"
    # A builder runs inside `if` (build_into), where bash ignores errexit: a failed `go build` followed by a cleanup
    # that succeeds looks like success. What it produced is the proof.
    for b in "$@"; do
      [[ -x "$dest/bin/$b" ]] || { log "error: $tool: the build did not produce $b (see the output above)"; rm -rf "$dest"; exit 1; }
    done
    log "$tool: built in $((SECONDS - t0))s"
  fi
  for b in "$@"; do ln -sfn "$dest/bin/$b" "$BIN/$b"; log "$tool: $dest/bin/$b"; done
}

# Installs Debian packages with apt-get (as root; otherwise says what to run), retrying once after apt-get update.
apt_install() {
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "error: $* not installed: run \`sudo apt-get install --no-install-recommends $*\`"
    return 1
  fi
  log "installing Debian's $*"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "$@" >&2; then
    log "apt-get install failed, running apt-get update and retrying"
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$@" >&2
  fi
}
