#!/usr/bin/env bash
# Provisions the GitOps pieces of the testbed with no downloads outside the package registries:
# the Argo CD (Application, AppProject) and Flux (GitRepository and the other sources, Kustomization, HelmRelease)
# CRDs, copied out of their Go modules fetched through the module proxy; Flux's source-controller, kustomize-controller and
# helm-controller, built from the module proxy; and Terraform: a `terraform` already on PATH, else OpenTofu built
# from the module proxy. Cached outside the clone, keyed by version, like
# scripts/provision.sh; .tools/crds and .tools/bin hold symlinks into the cache.
#
# usage: scripts/provision-gitops.sh [crds] [tofu] [flux] [argocd]     (no argument: all)
#        REARGUARD_FORCE_TOFU=1 builds and links OpenTofu even when a terraform is on PATH.
# Versions (and why those): scripts/versions.sh.
set -euo pipefail

# shellcheck source=scripts/provision-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/provision-lib.sh"

# Prints a field ("Dir", "GoMod") of `go mod download -json MODULE@VERSION`, or logs the proxy's error.
# It runs in an empty directory so no surrounding go.mod (or its go line) gets involved.
mod_field() {
  local modver="$1" field="$2" out err val tmp
  tmp="$(mktemp -d)"
  out="$(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$modver" 2>/dev/null || true)"
  rmdir "$tmp"
  err="$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' <<<"$out" | sed 's/\\u003e/>/g; s/\\u003c/</g')"
  val="$(sed -n "s/^[[:space:]]*\"$field\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" <<<"$out")"
  if [[ -n "$err" || -z "$val" ]]; then
    log "error: go mod download $modver: ${err:-no $field in its output}"
    [[ "$err" == *"requires go"* ]] && log "hint: pick a version whose go.mod accepts $(go env GOVERSION) (see the version notes at the top of this script)"
    return 1
  fi
  printf '%s\n' "$val"
}

# The module => module@version replace directives of a go.mod, one `OLD[@V]=NEW@V` per line, as `go mod edit
# -replace` takes them. Local-path replaces (`=> ./dir`) have no version and are left out: the published module is used.
module_replaces() {
  go mod edit -json "$1" | tr -d ' \t\n' \
    | grep -o '"Old":{"Path":"[^"]*"\(,"Version":"[^"]*"\)\{0,1\}},"New":{"Path":"[^"]*","Version":"[^"]*"}' \
    | sed 's/"Old":{"Path":"\([^"]*\)"\(,"Version":"\([^"]*\)"\)\{0,1\}},"New":{"Path":"\([^"]*\)","Version":"\([^"]*\)"}/\1@\3=\4@\5/; s/@=/=/' || true
}

# name in .tools/crds | module | version | path in the module | CRD metadata.name
CRDS=(
  "argocd-application.yaml|github.com/argoproj/argo-cd/v3|$ARGOCD_VERSION|manifests/crds/application-crd.yaml|applications.argoproj.io"
  "argocd-appproject.yaml|github.com/argoproj/argo-cd/v3|$ARGOCD_VERSION|manifests/crds/appproject-crd.yaml|appprojects.argoproj.io"
  "flux-gitrepository.yaml|github.com/fluxcd/source-controller|$FLUX_SOURCE_VERSION|config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml|gitrepositories.source.toolkit.fluxcd.io"
  "flux-kustomization.yaml|github.com/fluxcd/kustomize-controller|$FLUX_KUSTOMIZE_VERSION|config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml|kustomizations.kustomize.toolkit.fluxcd.io"
  "flux-helmrelease.yaml|github.com/fluxcd/helm-controller|$FLUX_HELM_VERSION|config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml|helmreleases.helm.toolkit.fluxcd.io"
  # The real source-controller watches every source kind at start (and exits if one is not served), and
  # kustomize-controller watches OCIRepositories and Buckets: the testbed serves them all.
  "flux-bucket.yaml|github.com/fluxcd/source-controller|$FLUX_SOURCE_VERSION|config/crd/bases/source.toolkit.fluxcd.io_buckets.yaml|buckets.source.toolkit.fluxcd.io"
  "flux-helmchart.yaml|github.com/fluxcd/source-controller|$FLUX_SOURCE_VERSION|config/crd/bases/source.toolkit.fluxcd.io_helmcharts.yaml|helmcharts.source.toolkit.fluxcd.io"
  "flux-helmrepository.yaml|github.com/fluxcd/source-controller|$FLUX_SOURCE_VERSION|config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml|helmrepositories.source.toolkit.fluxcd.io"
  "flux-ocirepository.yaml|github.com/fluxcd/source-controller|$FLUX_SOURCE_VERSION|config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml|ocirepositories.source.toolkit.fluxcd.io"
)

build_crds() {
  local dir="$1" entry file mod ver path name src
  for entry in "${CRDS[@]}"; do
    IFS='|' read -r file mod ver path name <<<"$entry"
    src="$(mod_field "$mod@$ver" Dir)" || return 1
    [[ -f "$src/$path" ]] || { log "crds: $mod@$ver has no $path"; return 1; }
    grep -q '^kind: CustomResourceDefinition' "$src/$path" && grep -q "^  name: $name\$" "$src/$path" \
      || { log "crds: $mod@$ver $path is not the CustomResourceDefinition $name"; return 1; }
    install -m 0644 "$src/$path" "$dir/$file"
    log "crds: $file <- $mod@$ver/$path ($(wc -c <"$dir/$file") bytes)"
  done
}

provision_crds() {
  local dest="$CACHE/gitops-crds-argocd-$ARGOCD_VERSION-source-$FLUX_SOURCE_VERSION-kustomize-$FLUX_KUSTOMIZE_VERSION-helm-$FLUX_HELM_VERSION"
  local entry missing=0
  for entry in "${CRDS[@]}"; do [[ -f "$dest/${entry%%|*}" ]] || missing=1; done
  if (( missing )); then
    need go "the Argo CD and Flux CRDs"
    log "crds: fetching Argo CD $ARGOCD_VERSION, source-controller $FLUX_SOURCE_VERSION, kustomize-controller $FLUX_KUSTOMIZE_VERSION, helm-controller $FLUX_HELM_VERSION from the Go module proxy"
    build_into "$dest" build_crds
  fi
  ln -sfn "$dest" "$ROOT/.tools/crds"
  log "crds: $ROOT/.tools/crds -> $dest"
}

# `go install` refuses OpenTofu because its go.mod carries replace directives (hcl/v2 => opentofu/hcl/v2);
# a throwaway module copies them, and its godebug settings, then builds cmd/tofu as a dependency.
build_tofu() {
  local dir="$1" src="$1/src"
  mkdir -p "$src" "$dir/bin"
  local gomod; gomod="$(mod_field "github.com/opentofu/opentofu@$OPENTOFU_VERSION" GoMod)" || return 1
  local modjson; modjson="$(go mod edit -json "$gomod" | tr -d ' \t\n')"
  local replaces; replaces="$(module_replaces "$gomod")"
  grep -q '^github.com/hashicorp/hcl/v2[@=]' <<<"$replaces" || { log "tofu: no hcl/v2 replace found in $gomod"; return 1; }
  local godebug; godebug="$(grep -o '{"Key":"[^"]*","Value":"[^"]*"}' <<<"$modjson" | sed 's/{"Key":"\([^"]*\)","Value":"\([^"]*\)"}/\1=\2/' || true)"
  (
    cd "$src"
    go mod init tofubin >/dev/null 2>&1
    local r; for r in $replaces; do log "tofu: replace $r"; go mod edit "-replace=$r"; done
    for r in $godebug; do go mod edit "-godebug=$r"; done
    go get "github.com/opentofu/opentofu/cmd/tofu@$OPENTOFU_VERSION"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o "$dir/bin/tofu" github.com/opentofu/opentofu/cmd/tofu
  )
  rm -rf "$src"
}

provision_tofu() {
  # A terraform already on PATH wins (unless REARGUARD_FORCE_TOFU=1); otherwise our cached OpenTofu build.
  if [[ -z "${REARGUARD_FORCE_TOFU:-}" ]]; then link_from_path terraform && return; fi
  PROVISION_NOTE="~10 min on 2 cores" provision opentofu "$OPENTOFU_VERSION" build_tofu tofu
  ln -sfn "$BIN/tofu" "$BIN/terraform"
  log "tofu: also linked as terraform"
}

# Flux's source-controller and kustomize-controller, the real controllers of the GitOps tests. Their go.mod files
# carry replace directives (go-digest; kustomize api/kyaml and yaml.v3), so `go install` refuses them: each is built
# as the dependency of its own throwaway module, which copies its replaces and so builds with exactly the versions
# of its go.mod (one shared module would raise ~40 dependencies by minimal version selection). Local `./api`
# replaces are dropped: the published api modules are used. Extra replaces (FLUX_SOURCE_EXTRA_REPLACES): the module
# proxy we reach answers 403 for github.com/fluxcd/pkg/artifact v0.18.2 to v0.19.0, which source-controller v1.9.6
# requires (v0.18.3); v0.18.1 answers, and its go.mod differs from v0.18.3's only in the versions it requires.
FLUX_SOURCE_EXTRA_REPLACES="${FLUX_SOURCE_EXTRA_REPLACES-github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.1}"

build_flux_controller() { # NAME VERSION DIR [EXTRA_REPLACE...]
  local name="$1" ver="$2" dir="$3"; shift 3
  local mod="github.com/fluxcd/$name" src="$dir/src-$name"
  mkdir -p "$src" "$dir/bin"
  local gomod; gomod="$(mod_field "$mod@$ver" GoMod)" || return 1
  local replaces; replaces="$(module_replaces "$gomod")"
  (
    cd "$src"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init fluxbin >/dev/null 2>&1
    local r; for r in $replaces "$@"; do log "flux: $name: replace $r"; go mod edit "-replace=$r"; done
    go get "$mod@$ver"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/bin/$name" "$mod"
  )
  rm -rf "$src"
}

# The cache key names any extra replace beyond the default one, so a different set builds anew.
flux_key() {
  [[ "$FLUX_SOURCE_EXTRA_REPLACES" == "github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.1" ]] && return
  printf -- '-x%s' "$(printf '%s' "$FLUX_SOURCE_EXTRA_REPLACES" | sha256sum | cut -c1-8)"
}

build_flux() {
  # shellcheck disable=SC2086
  build_flux_controller source-controller "$FLUX_SOURCE_VERSION" "$1" $FLUX_SOURCE_EXTRA_REPLACES \
    && build_flux_controller kustomize-controller "$FLUX_KUSTOMIZE_VERSION" "$1"
}

# helm-controller, which the HelmRelease guardrail and the HelmRelease sync target act on. Its own cache entry, so a
# change of its version does not rebuild the other two. Its go.mod's replaces are copied the same way.
build_flux_helm() { build_flux_controller helm-controller "$FLUX_HELM_VERSION" "$1"; }

# Argo CD's application controller and repo server: one multi-call binary (cmd/), named by argv[0]. argo-cd's go.mod
# replaces github.com/argoproj/argo-cd/gitops-engine with ./gitops-engine, a nested module that is not in the module
# zip and has no tags; the module proxy we reach refuses (403) the pseudo-version v3.5.7 requires and serves only
# ARGOCD_GITOPS_ENGINE, the release-3.5 branch of 2026-09-14 (v3.5.1's engine plus a panic recovery around kubectl's
# AuthReconcile). The repo server runs hack/git-verify-wrapper.sh on every manifest generation: it ships beside it.
# Redis (its cache) comes from Debian's redis-server.
ARGOCD_GITOPS_ENGINE="${ARGOCD_GITOPS_ENGINE:-v0.0.0-20260914071520-c9c369efcc5b}"

build_argocd() {
  local dir="$1" src="$1/src"
  mkdir -p "$src" "$dir/bin"
  local mod=github.com/argoproj/argo-cd/v3
  local gomod moddir; gomod="$(mod_field "$mod@$ARGOCD_VERSION" GoMod)" && moddir="$(mod_field "$mod@$ARGOCD_VERSION" Dir)" || return 1
  # Only module => module@version replaces; the local-path one (./gitops-engine) has no version and is dropped here.
  local replaces; replaces="$(module_replaces "$gomod")"
  (
    cd "$src"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init argocdbin >/dev/null 2>&1
    local r; for r in $replaces; do go mod edit "-replace=$r"; done
    go mod edit "-replace=github.com/argoproj/argo-cd/gitops-engine=github.com/argoproj/argo-cd/gitops-engine@$ARGOCD_GITOPS_ENGINE"
    go get "$mod/cmd@$ARGOCD_VERSION"
    local p="$mod/common" kubectl; kubectl="$(go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/client-go)"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X $p.version=${ARGOCD_VERSION#v} -X $p.kubectlVersion=$kubectl" -o "$dir/bin/argocd" "$mod/cmd"
  )
  install -m 0755 "$moddir/hack/git-verify-wrapper.sh" "$dir/bin/git-verify-wrapper.sh"
  ln -sfn argocd "$dir/bin/argocd-application-controller"
  ln -sfn argocd "$dir/bin/argocd-repo-server"
  rm -rf "$src"
}

provision_argocd() {
  PROVISION_NOTE="~4 min and ~2.2 GB of memory on 2 cores" provision argocd "$ARGOCD_VERSION-engine-${ARGOCD_GITOPS_ENGINE##*-}" build_argocd \
    argocd argocd-application-controller argocd-repo-server git-verify-wrapper.sh
  command -v redis-server >/dev/null || apt_install redis-server
  log "argocd: redis $(command -v redis-server)"
}

tools=("$@"); [[ ${#tools[@]} -eq 0 ]] && tools=(crds tofu flux argocd)
for t in "${tools[@]}"; do
  case "$t" in
    crds) provision_crds ;;
    tofu) provision_tofu ;;
    argocd) provision_argocd ;;
    flux)
      PROVISION_NOTE="~6 min and ~1.8 GB of memory on 2 cores" provision flux "source-$FLUX_SOURCE_VERSION-kustomize-$FLUX_KUSTOMIZE_VERSION$(flux_key)" build_flux source-controller kustomize-controller
      PROVISION_NOTE="~3 min and ~1.8 GB of memory on 2 cores" provision flux-helm "$FLUX_HELM_VERSION" build_flux_helm helm-controller ;;
    *) log "error: unknown part '$t' (expected: crds, tofu, flux, argocd)"; exit 2 ;;
  esac
done
