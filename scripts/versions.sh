# Every tool version the provisioning scripts pin, in one place (sourced by provision-lib.sh). Each can be
# overridden from the environment; the cache is keyed by these versions, so a change builds anew.

# Temporal: the CLI (dev server) from the Go module proxy, the Java time-skipping test server from Maven Central.
TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
TEST_SERVER_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.38.0}"
# The Temporal server itself (frontend, history, matching, worker services in one process) and its schema tool,
# for the tests that run a real cluster on PostgreSQL with mTLS: docker-compose.yml's image tag. Its go.mod has no
# replace directive, so `go install` builds it; v1.31.5 and later ask for a newer Go than the machine's 1.26.8.
TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.31.0}"

# Kubernetes 1.34 is the lowest release the module proxy serves that is in our range, and the closest to the
# preinstalled kubectl (1.32); helm 3.19 and etcd 3.6 are the lines built against it.
KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
HELM_VERSION="${HELM_VERSION:-v3.19.5}"

# GitOps: the newest releases whose go.mod the installed Go (1.26) accepts; `go mod download` refuses a module
# whose go.mod asks for a newer Go (Argo CD v3.6 and source/kustomize-controller v1.10 ask for 1.27).
# source-controller and kustomize-controller v1.9 are one Flux release line and serve only the v1 APIs of
# GitRepository and Kustomization (the v1beta* versions are gone). helm-controller v1.6 belongs to the same line
# (its go.mod requires source-controller/api v1.9.0, as kustomize-controller v1.9.6's does) and serves
# HelmRelease v2 (storage) and v2beta2. The module proxy we reach serves only some helm-controller versions
# (v1.4.0, v1.4.3, v1.6.4 answered; v1.4.4, v1.5.0, v1.6.5, v1.7.x gave 403): pick one of those.
ARGOCD_VERSION="${ARGOCD_VERSION:-v3.5.7}"
FLUX_SOURCE_VERSION="${FLUX_SOURCE_VERSION:-v1.9.6}"
FLUX_KUSTOMIZE_VERSION="${FLUX_KUSTOMIZE_VERSION:-v1.9.6}"
FLUX_HELM_VERSION="${FLUX_HELM_VERSION:-v1.6.4}"
OPENTOFU_VERSION="${OPENTOFU_VERSION:-v1.12.6}"

# Prometheus and Alertmanager: bookworm's `prometheus` 2.42 and `prometheus-alertmanager` 0.25 (upstream versions;
# the Debian revision fetched is recorded in the cache entry's DEBIAN_VERSION).
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-2.42.0}"
ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-0.25.0}"
