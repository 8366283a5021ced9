#!/usr/bin/env bash
# Provisions the real servers Rearguard's tests and `npm start` need, with no downloads outside the
# package registries: the Temporal CLI (dev server) is built from the Go module proxy and the Java
# time-skipping test server comes from Maven Central. Builds are cached outside the clone, keyed by
# version, so a fresh clone (CI) reuses them; .tools/bin holds symlinks into that cache.
#
# The Temporal cluster of the tests (test/helpers/cluster.ts) runs on PostgreSQL from Debian's packages: the
# `postgres` target installs it with apt-get when it is missing (as root; otherwise it says what to run); the
# `shells` target installs zsh and fish the same way, for the shell completion tests; `sandbox` installs bubblewrap,
# which runs the container image's contents as its user on a read-only root (test/e2e/image.test.ts; no Docker here);
# `browser` installs Debian's Chromium, which Playwright drives headless in the web console's tests (test/e2e/console.test.ts;
# no browser download).
#
# usage: scripts/provision.sh [temporal] [test-server] [temporal-server] [postgres] [shells] [sandbox] [browser]     (no argument: all)
set -euo pipefail

# shellcheck source=scripts/provision-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/provision-lib.sh"

build_temporal() {
  CGO_ENABLED=0 GOBIN="$1/bin" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
}

provision_temporal() {
  # An explicit TEMPORAL_CLI_PATH wins; then a temporal already on PATH; then our cached build.
  if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then ln -sfn "$TEMPORAL_CLI_PATH" "$BIN/temporal"; log "temporal: using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"; return; fi
  link_from_path temporal && return
  PROVISION_NOTE="a few minutes on 2 cores" provision temporal-cli "$TEMPORAL_CLI_VERSION" build_temporal temporal
}

build_test_server() {
  local dir="$1"
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.rearguard</groupId><artifactId>test-server-deps</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>$TEST_SERVER_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  (cd "$dir" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib)
  cat >"$dir/test-server" <<'SH'
#!/bin/sh
# Java time-skipping test server; the SDK runs `<this> <port>` and kills only its direct child, hence exec.
# The SDK gives the server ~5 s to answer: an application class-data-sharing archive (made once at
# provisioning with these same JVM flags, which CDS requires) brings start-up from ~2.5 s to ~1 s on 2 cores.
here="$(dirname "$(readlink -f "$0")")"
if [ -n "${REARGUARD_CDS_DUMP:-}" ]; then cds="-XX:ArchiveClassesAtExit=$here/app.jsa"
elif [ -f "$here/app.jsa" ]; then cds="-XX:SharedArchiveFile=$here/app.jsa -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"
else cds=""; fi
exec java $cds -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$here/lib/*" io.temporal.testserver.TestServer "$@"
SH
  chmod +x "$dir/test-server"
}


# Records the class-data archive in place (CDS checks the class path, so it must be the final directory):
# start once, wait until the port answers, stop; the JVM writes the archive on exit.
record_cds_archive() {
  local dir="$1" port=$((20000 + RANDOM % 20000))
  REARGUARD_CDS_DUMP=1 "$dir/test-server" "$port" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  sleep 1; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  [[ -f "$dir/app.jsa" ]] || log "test server: warning: no class-data archive was written; start-up will be slower"
}

provision_test_server() {
  if [[ -n "${TEMPORAL_TEST_SERVER_PATH:-}" ]]; then ln -sfn "$TEMPORAL_TEST_SERVER_PATH" "$BIN/temporal-test-server"; log "test server: using TEMPORAL_TEST_SERVER_PATH"; return; fi
  local dest="$CACHE/temporal-test-server-$TEST_SERVER_VERSION"
  if [[ ! -x "$dest/test-server" ]]; then
    need mvn "the Temporal test server"; need java "the Temporal test server"
    log "test server: fetching io.temporal:temporal-test-server:$TEST_SERVER_VERSION from Maven Central"
    local t0=$SECONDS
    build_into "$dest" build_test_server
    record_cds_archive "$dest"
    log "test server: ready in $((SECONDS - t0))s"
  fi
  ln -sfn "$dest/test-server" "$BIN/temporal-test-server"
  log "test server: $dest/test-server"
}

# The server binaries are named after their directories (server, sql): renamed as the images name them.
build_temporal_server() {
  CGO_ENABLED=0 GOBIN="$1/bin" GOFLAGS=-mod=mod go install -ldflags='-s -w' \
    "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
  mv "$1/bin/server" "$1/bin/temporal-server"
  mv "$1/bin/sql" "$1/bin/temporal-sql-tool"
}

provision_temporal_server() {
  PROVISION_NOTE="4-8 minutes on 2 cores" provision temporal-server "$TEMPORAL_SERVER_VERSION" build_temporal_server temporal-server temporal-sql-tool
}

# The server only (postgresql-NN): the harness runs initdb and postgres itself, in a temporary directory.
provision_postgres() {
  local found
  found="$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -1 || true)"
  if [[ -n "$found" ]]; then log "postgres: $found"; return 0; fi
  apt_install postgresql
  found="$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -1 || true)"
  [[ -n "$found" ]] || { log "error: no /usr/lib/postgresql/*/bin/postgres after installing postgresql"; return 1; }
  log "postgres: $found"
}

# zsh and fish: `rearguard completion zsh|fish` is tested in the shells it is for (bash is always there).
provision_shells() {
  local missing=()
  for sh in zsh fish; do command -v "$sh" >/dev/null || missing+=("$sh"); done
  if [[ ${#missing[@]} -gt 0 ]]; then apt_install "${missing[@]}"; fi
  log "shells: $(command -v zsh) $(command -v fish)"
}

# bubblewrap: unprivileged sandboxes (user, mount and pid namespaces) for the image test.
provision_sandbox() {
  command -v bwrap >/dev/null || apt_install bubblewrap
  log "sandbox: $(command -v bwrap) ($(bwrap --version))"
}

# Chromium from Debian for the console's browser tests (playwright-core drives /usr/bin/chromium).
provision_browser() {
  command -v chromium >/dev/null || apt_install chromium
  log "browser: $(command -v chromium) ($(chromium --version 2>/dev/null | head -1))"
}

tools=("$@"); [[ ${#tools[@]} -eq 0 ]] && tools=(temporal test-server temporal-server postgres shells sandbox browser)
for t in "${tools[@]}"; do
  case "$t" in
    temporal) provision_temporal ;;
    test-server) provision_test_server ;;
    temporal-server) provision_temporal_server ;;
    postgres) provision_postgres ;;
    shells) provision_shells ;;
    sandbox) provision_sandbox ;;
    browser) provision_browser ;;
    *) log "error: unknown tool '$t' (expected: temporal, test-server, temporal-server, postgres, shells, sandbox, browser)"; exit 2 ;;
  esac
done
