#!/usr/bin/env bash
# Schema-validate the Kubernetes manifests with kubernetes-models from npm (installed once
# into build/k8s-validate; no cluster needed).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=build/k8s-validate
if [ ! -d "$dir/node_modules/kubernetes-models" ] || [ ! -d "$dir/node_modules/yaml" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent kubernetes-models@5.1.0 yaml@2)
fi
K8S_NODE_MODULES="$PWD/$dir/node_modules" node tests/k8s/validate.js docker/k8s/*.yaml docker/k8s/redis/*.yaml
