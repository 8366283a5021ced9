#!/bin/sh
# Registers the namespace Rearguard uses, once the frontend answers.
set -eu
ns="${NAMESPACE:-default}"
for _ in $(seq 1 30); do
  temporal operator cluster health --address "$TEMPORAL_ADDRESS" && break
  sleep 2
done
temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create -n "$ns" --retention 30d --address "$TEMPORAL_ADDRESS"
