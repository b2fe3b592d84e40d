#!/usr/bin/env bash
# Fetches the upstream Skupper v2 CRDs at a pinned commit into a directory, for machines
# without ../shared/crds/skupper. Usage: fetch-skupper-crds.sh COMMIT DIR
set -euo pipefail
commit="$1"; dir="$2"
base="https://raw.githubusercontent.com/skupperproject/skupper/${commit}/config/crd/bases"
mkdir -p "$dir"
for f in access_grant access_token attached_connector attached_connector_binding certificate \
         connector link listener multikeylistener router_access secured_access site; do
  curl -fsSL "${base}/skupper_${f}_crd.yaml" -o "${dir}/skupper_${f}_crd.yaml"
done
echo "Skupper CRDs at ${commit} in ${dir}"
