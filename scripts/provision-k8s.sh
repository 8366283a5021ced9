#!/usr/bin/env bash
# Provisions the real Kubernetes testbed (no Docker, no downloads outside the package registries):
# kube-apiserver, kube-controller-manager and kube-scheduler built from k8s.io/kubernetes, etcd built
# from go.etcd.io/etcd/server/v3, kwok (fake nodes) and helm, all from the Go module proxy. Builds are
# cached outside the clone, keyed by version, like scripts/provision.sh; .tools/bin holds symlinks.
#
# usage: scripts/provision-k8s.sh [kubernetes] [etcd] [kwok] [helm]     (no argument: all)
# Versions: scripts/versions.sh.
set -euo pipefail

# shellcheck source=scripts/provision-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/provision-lib.sh"

# k8s.io/kubernetes requires every staging module at v0.0.0 and replaces it with ./staging/..., which
# `go install` refuses; a throwaway module replaces each one with its published v0.<minor>.<patch>.
build_kubernetes() {
  local dir="$1" src="$1/src"
  local staging="v0.${KUBERNETES_VERSION#v1.}" minor; minor="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  mkdir -p "$src" "$dir/bin"
  local gomod; gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$gomod" ]] || { log "kubernetes: could not download k8s.io/kubernetes@$KUBERNETES_VERSION"; return 1; }
  local modules; modules="$(go mod edit -json "$gomod" | tr -d ' \t\n' | grep -o '{"Path":"k8s.io/[^"]*","Version":"v0.0.0"' | cut -d'"' -f4 | sort -u)"
  [[ -n "$modules" ]] || { log "kubernetes: found no v0.0.0 staging requirements in $gomod"; return 1; }
  log "kubernetes: replacing $(wc -w <<<"$modules") staging modules with $staging"
  (
    cd "$src"
    go mod init k8sbins >/dev/null 2>&1
    local m; for m in $modules; do go mod edit "-replace=$m=$m@$staging"; done
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kube-scheduler@$KUBERNETES_VERSION"
    local v=k8s.io/component-base/version c=k8s.io/client-go/pkg/version
    CGO_ENABLED=0 go build -trimpath -o "$dir/bin/" -ldflags "-s -w \
      -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean \
      -X $c.gitVersion=$KUBERNETES_VERSION -X $c.gitMajor=1 -X $c.gitMinor=$minor -X $c.gitTreeState=clean" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
  )
}

# etcd's server module has a main package; as a dependency its ../api-style replaces are ignored and
# the published go.etcd.io/etcd/* versions it requires are used.
build_etcd() {
  local dir="$1" src="$1/src"
  mkdir -p "$src" "$dir/bin"
  (
    cd "$src"
    go mod init etcdbin >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" go.etcd.io/etcd/server/v3
  )
}

build_kwok() {
  CGO_ENABLED=0 GOBIN="$1/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

# Helm's Makefile stamps its version and the Kubernetes version that `helm template` assumes (no cluster).
build_helm() {
  local k; k="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  CGO_ENABLED=0 GOBIN="$1/bin" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

tools=("$@"); [[ ${#tools[@]} -eq 0 ]] && tools=(kubernetes etcd kwok helm)
for t in "${tools[@]}"; do
  case "$t" in
    kubernetes) PROVISION_NOTE="~13 min and ~1.9 GB of memory on 2 cores" provision kubernetes "$KUBERNETES_VERSION" build_kubernetes kube-apiserver kube-controller-manager kube-scheduler ;;
    etcd) provision etcd "$ETCD_VERSION" build_etcd etcd ;;
    kwok) provision kwok "$KWOK_VERSION" build_kwok kwok ;;
    helm) provision helm "$HELM_VERSION" build_helm helm ;;
    *) log "error: unknown tool '$t' (expected: kubernetes, etcd, kwok, helm)"; exit 2 ;;
  esac
done
