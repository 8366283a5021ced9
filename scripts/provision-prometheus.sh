#!/usr/bin/env bash
# Provisions Prometheus and Alertmanager for the tests from Debian's packages, without installing them
# system-wide: `apt-get download` fetches the .deb (no dependencies, no root needed) into a temporary
# directory and `dpkg-deb -x` unpacks it into the cache, outside the clone and keyed by version like
# scripts/provision.sh; .tools/bin holds symlinks: prometheus, promtool, alertmanager, amtool.
# A prometheus / alertmanager already on PATH at the pinned major version (Alertmanager: 0.25 or newer) is linked
# instead (REARGUARD_FORCE_DEB=1: always use the Debian package).
#
# usage: scripts/provision-prometheus.sh [prometheus] [alertmanager]     (no argument: both)
#
# Versions: bookworm's `prometheus` 2.42 and `prometheus-alertmanager` 0.25. The cache is keyed by the upstream
# version; the Debian revision fetched (e.g. 2.42.0+ds-5+deb12u1) is recorded in the entry's DEBIAN_VERSION.
# PROMETHEUS_DEB / ALERTMANAGER_DEB pick an exact Debian version (`apt-get download pkg=version`).
# Debian builds them with cgo: besides libc (>= 2.34) they need no shared library (checked with ldd).
# Debian installs Alertmanager as `prometheus-alertmanager`; it is linked as `alertmanager`, with one string of the
# binary changed so that it finds its default templates outside /usr/share (see relocate_templates).
set -euo pipefail

# shellcheck source=scripts/provision-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/provision-lib.sh"

# 2:2.42.0+ds-5+deb12u1 -> 2.42.0
upstream() { local v="${1#*:}"; printf '%s\n' "${v%%[-+~]*}"; }

# Fetches PACKAGE[=DEBVERSION] into DIR; runs `apt-get update` (root only) and retries once if that fails.
apt_download() {
  local dir="$1" spec="$2" out
  # As root, apt drops to the _apt user to download; it must be able to write DIR (else a warning, still works).
  if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$dir" 2>/dev/null || true; fi
  out="$(cd "$dir" && apt-get download "$spec" 2>&1)" && return 0
  if [[ $EUID -ne 0 ]]; then
    log "error: apt-get download $spec failed (the package lists may be stale: run \`sudo apt-get update\`):"
    log "$out"
    return 1
  fi
  log "$spec: apt-get download failed, running apt-get update and retrying"
  apt-get update -qq >&2 || { log "error: apt-get update failed"; return 1; }
  (cd "$dir" && apt-get download "$spec") >&2 || { log "error: apt-get download $spec failed after apt-get update"; return 1; }
}

# Builds the cache entry DIR: the package unpacked (usr/...), bin/ with relative links to its binaries, and
# DEBIAN_VERSION. Runs as build_into's condition, where `set -e` is off: every step is checked.
# usage: build_deb PACKAGE UPSTREAM_VERSION PIN_VARIABLE NAME=PATH_IN_PACKAGE... DIR
build_deb() {
  local pkg="$1" want="$2" pinvar="$3"; shift 3
  local dir="${*: -1}" bins=("${@:1:$#-1}") tmp rc=0
  tmp="$(mktemp -d)" || return 1
  unpack_deb "$pkg" "$want" "$pinvar" "$tmp" "$dir" "${bins[@]}" || rc=1
  rm -rf "$tmp"
  return "$rc"
}

unpack_deb() {
  local pkg="$1" want="$2" pinvar="$3" tmp="$4" dir="$5"; shift 5
  local spec="$pkg" deb ver m
  [[ -n "${!pinvar:-}" ]] && spec="$pkg=${!pinvar}"
  apt_download "$tmp" "$spec" || return 1
  deb="$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)"
  [[ -n "$deb" ]] || { log "$pkg: apt-get download left no .deb in $tmp"; return 1; }
  ver="$(dpkg-deb -f "$deb" Version)" || return 1
  if [[ "$(upstream "$ver")" != "$want" ]]; then
    log "error: the $pkg package here is $ver, not $want: set $pinvar to a $want version listed by"
    log "       \`apt-cache madison $pkg\`, or change the pinned version at the top of this script"
    return 1
  fi
  dpkg-deb -x "$deb" "$dir" || return 1
  if [[ "$pkg" == prometheus-alertmanager ]]; then relocate_templates "$dir/usr/bin/prometheus-alertmanager" || return 1; fi
  rm -rf "$dir/usr/share/doc" "$dir/usr/share/man" "$dir/etc/init.d" "$dir/lib/systemd"
  mkdir -p "$dir/bin" || return 1
  for m in "$@"; do
    [[ -x "$dir/${m#*=}" ]] || { log "$pkg $ver has no ${m#*=}"; return 1; }
    ln -sfn "../${m#*=}" "$dir/bin/${m%%=*}" || return 1
    # A missing shared library would only show when a test starts the binary; fail here instead.
    if command -v ldd >/dev/null 2>&1 && ldd "$dir/${m#*=}" 2>&1 | grep -q 'not found'; then
      log "error: ${m#*=} from $pkg $ver needs shared libraries missing here:"
      ldd "$dir/${m#*=}" 2>&1 | grep 'not found' >&2
      return 1
    fi
  done
  printf '%s\n' "$ver" >"$dir/DEBIAN_VERSION" || return 1
  log "$pkg: unpacked $ver ($(du -sh "$dir" | cut -f1))"
}

# Debian's Alertmanager reads its default templates (default.tmpl, email.tmpl) from the hard-coded directory
# /usr/share/prometheus/alertmanager (upstream embeds them) and exits without them. Not installed there, the
# binary gets that one string replaced by a relative path of the same length, AM_TEMPLATES: it must run in a
# directory holding AM_TEMPLATES -> <entry>/usr/share/prometheus/alertmanager (test/helpers/prometheus.ts does).
AM_TEMPLATES=alertmanager-templates
relocate_templates() {
  local bin="$1" from=/usr/share/prometheus/alertmanager to="$AM_TEMPLATES" n
  while (( ${#to} < ${#from} )); do to="./$to"; done
  (( ${#to} == ${#from} )) || { log "alertmanager: cannot pad $AM_TEMPLATES to ${#from} characters"; return 1; }
  [[ -f "$(dirname "$bin")/../share/prometheus/alertmanager/default.tmpl" ]] || { log "alertmanager: the package has no default.tmpl"; return 1; }
  # Only the directory itself, not .../alertmanager/ui/ nor .../no-ui (flag defaults); Go packs its strings
  # without separators, so what follows it in the binary is arbitrary, but never a slash.
  n="$(FROM="$from" TO="$to" perl -0777 -pi -e 'BEGIN { $n = 0 } $n += s{\Q$ENV{FROM}\E(?!/)}{$ENV{TO}}g; END { print STDERR "$n\n" }' "$bin" 2>&1)" || return 1
  [[ "$n" == 1 ]] || { log "alertmanager: expected the template directory once in the binary, found it $n times"; return 1; }
  "$bin" --version >/dev/null 2>&1 || { log "alertmanager: the binary does not run after relocating its templates"; return 1; }
  log "alertmanager: default templates read from ./$AM_TEMPLATES instead of $from"
}

# Links NAME=CANDIDATES... from PATH (outside .tools/bin) when each is there and the first reports a version
# with PINNED's major (for 0.x, PINNED's minor or newer); otherwise links nothing and fails.
link_path_compatible() {
  local pinned="$1"; shift
  [[ -z "${REARGUARD_FORCE_DEB:-}" ]] || return 1
  local m cand found v links=()
  for m in "$@"; do
    found=""
    for cand in ${m#*=}; do
      found="$(PATH="${PATH//$BIN:/}" command -v "$cand" || true)"
      [[ -n "$found" && "$found" != "$BIN/"* ]] && break
      found=""
    done
    [[ -n "$found" ]] || return 1
    links+=("${m%%=*}=$found")
  done
  v="$("${links[0]#*=}" --version 2>&1 | sed -n 's/^[a-z-]*, version \([0-9][0-9.]*\).*/\1/p' | head -n1)"
  local major="${pinned%%.*}" minor; minor="$(cut -d. -f2 <<<"$pinned")"
  if [[ -z "$v" || "${v%%.*}" != "$major" ]] || { [[ "$major" == 0 ]] && (( $(cut -d. -f2 <<<"$v") < minor )); }; then
    local want="$major.x"; [[ "$major" == 0 ]] && want="0.$minor or newer"
    log "${links[0]%%=*}: not using ${links[0]#*=} from PATH (version ${v:-unknown}, want $want)"
    return 1
  fi
  for m in "${links[@]}"; do ln -sfn "${m#*=}" "$BIN/${m%%=*}"; log "${m%%=*}: using ${m#*=} ($v) from PATH"; done
}

# usage: provision_deb TOOL VERSION PACKAGE PIN_VARIABLE NAME=PATH_IN_PACKAGE...
provision_deb() {
  local tool="$1" version="$2" pkg="$3" pinvar="$4"; shift 4
  local dest="$CACHE/$tool-$version" missing=0 m
  for m in "$@"; do [[ -x "$dest/bin/${m%%=*}" ]] || missing=1; done
  if (( missing )); then
    need apt-get "$tool"; need dpkg-deb "$tool"; need perl "$tool"
    log "$tool: fetching Debian's $pkg $version with apt-get download (~20 MB, a few seconds)"
    local t0=$SECONDS
    build_into "$dest" build_deb "$pkg" "$version" "$pinvar" "$@"
    log "$tool: unpacked in $((SECONDS - t0))s"
  fi
  for m in "$@"; do ln -sfn "$dest/bin/${m%%=*}" "$BIN/${m%%=*}"; log "$tool: $dest/bin/${m%%=*}"; done
}

tools=("$@"); [[ ${#tools[@]} -eq 0 ]] && tools=(prometheus alertmanager)
for t in "${tools[@]}"; do
  case "$t" in
    prometheus)
      link_path_compatible "$PROMETHEUS_VERSION" prometheus=prometheus promtool=promtool \
        || provision_deb prometheus "$PROMETHEUS_VERSION" prometheus PROMETHEUS_DEB prometheus=usr/bin/prometheus promtool=usr/bin/promtool ;;
    alertmanager)
      link_path_compatible "$ALERTMANAGER_VERSION" 'alertmanager=alertmanager prometheus-alertmanager' amtool=amtool \
        || provision_deb alertmanager "$ALERTMANAGER_VERSION" prometheus-alertmanager ALERTMANAGER_DEB alertmanager=usr/bin/prometheus-alertmanager amtool=usr/bin/amtool ;;
    *) log "error: unknown tool '$t' (expected: prometheus, alertmanager)"; exit 2 ;;
  esac
done
