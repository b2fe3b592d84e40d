#!/usr/bin/env bash
# Prints a directory holding kube-apiserver and etcd for envtest, building them from the Go
# module proxy when needed. setup-envtest downloads from hosts some machines cannot reach;
# the module proxy is reachable wherever `go build` works, so we build from source once and
# cache the result in bin/k8s/<version>/.
#
# Honours KUBEBUILDER_ASSETS: when it is set and holds both binaries, it is used as is.
# All progress goes to stderr; stdout carries only the directory.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.6}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${ENVTEST_ASSETS_DIR:-$root/bin/k8s/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}}"

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/kube-apiserver" && -x "${KUBEBUILDER_ASSETS}/etcd" ]]; then
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -f "$out/VERSION" ]] \
   && grep -qx "kube-apiserver ${KUBE_VERSION}" "$out/VERSION" && grep -qx "etcd ${ETCD_VERSION}" "$out/VERSION"; then
  echo "$out"
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

echo ">> building kube-apiserver ${KUBE_VERSION} from the module proxy (cold: ~4 min)" >&2
(
  cd "$work"
  mkdir kube && cd kube
  go mod init envtest-build/kube >/dev/null 2>&1
  modfile="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
  staging_version="v0.${KUBE_VERSION#v1.}"
  # k8s.io/kubernetes replaces every staging repo with a local path; a consumer must pin each
  # of them to the matching published v0.x release instead.
  {
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo "replace ("
    grep -E '=> \./staging/src/' "$modfile" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  go mod tidy >/dev/null 2>&1 || true
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

echo ">> building etcd ${ETCD_VERSION} from the module proxy" >&2
(
  cd "$work"
  mkdir etcd && cd etcd
  go mod init envtest-build/etcd >/dev/null 2>&1
  echo "require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}" >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >/dev/null 2>&1 || true
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
)

printf 'kube-apiserver %s\netcd %s\n' "${KUBE_VERSION}" "${ETCD_VERSION}" > "$out/VERSION"
"$out/kube-apiserver" --version >&2 || true
"$out/etcd" --version >&2 || true
echo "$out"
