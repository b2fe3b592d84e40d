#!/usr/bin/env bash
# Builds the real upstream components the lab and test/realstack run (MetalLB controller and
# speaker, the frr-k8s controller, Traefik) from the Go module proxy alone, each in a
# throwaway module of its own (never the project's go.mod), into
# bin/real/<component>-<version>/, and caches them there: a directory whose VERSION stamp
# matches hack/real-components.env is reused as is.
#
# Usage: hack/real-components.sh [metallb] [frr-k8s] [traefik]   (default: all three)
# stdout carries only the component directories, one per line, in the order asked;
# all progress goes to stderr.
#
# At most REAL_JOBS builds run at once (default 2), each with `go build -p` set so that the
# number of compiler processes stays at the number of cores: on 2 cores, two builds at -p 1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=real-components.env
source "$root/hack/real-components.env"
out_root="${REAL_COMPONENTS_DIR:-$root/bin/real}"
goversion="$(GOTOOLCHAIN=local go env GOVERSION)"

metallb_dir="$out_root/metallb-${METALLB_VERSION}"
frrk8s_dir="$out_root/frr-k8s-${FRRK8S_VERSION}"
traefik_dir="$out_root/traefik-${TRAEFIK_VERSION}"

metallb_stamp() { printf 'metallb %s\nfrr-k8s replace %s\n%s\n' "$METALLB_VERSION" "${METALLB_FRRK8S:-none}" "$goversion"; }
frrk8s_stamp() { printf 'frr-k8s %s\ncrds asn int64\nstatus exporter\n%s\n' "$FRRK8S_VERSION" "$goversion"; }
traefik_stamp() { printf 'traefik %s\ngo-http-auth %s\nlego %s\n%s\n' "$TRAEFIK_VERSION" "$TRAEFIK_HTTP_AUTH" "$TRAEFIK_LEGO" "$goversion"; }

log() { printf '>> %s\n' "$*" >&2; }

# cached DIR STAMP FILE...: true when DIR holds every FILE and its VERSION equals STAMP.
cached() {
  local dir="$1" stamp="$2"; shift 2
  [[ -f "$dir/VERSION" ]] && [[ "$(cat "$dir/VERSION")" == "$stamp" ]] || return 1
  local f; for f in "$@"; do [[ -e "$dir/$f" ]] || return 1; done
}

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
cores="$(nproc 2>/dev/null || echo 2)"
jobs="${REAL_JOBS:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# gobuild MODDIR OUTDIR PKG...: builds the main packages PKG into OUTDIR, with -p sized so
# that REAL_JOBS parallel builds do not start more compilers than there are cores.
gobuild() {
  local moddir="$1" outdir="$2"; shift 2
  local p=$(( cores / jobs )); (( p >= 1 )) || p=1
  (cd "$moddir" && go build -p "$p" -trimpath -ldflags "-s -w ${LDFLAGS_X:-}" -o "$outdir/" "$@")
}

# newmod NAME: a fresh throwaway module under $work, printed.
newmod() {
  local d="$work/$1"
  mkdir -p "$d"
  (cd "$d" && go mod init "realcomponents.local/$1" >/dev/null 2>&1)
  echo "$d"
}

build_metallb() {
  local start=$SECONDS m tmp
  log "metallb ${METALLB_VERSION}: controller and speaker (cold: several CPU-minutes)"
  m="$(newmod metallb)"
  (
    cd "$m"
    go mod edit -require="go.universe.tf/metallb@${METALLB_VERSION}"
    # v0.16.1 requires frr-k8s v0.0.25, which the module proxy refuses.
    if [[ -n "${METALLB_FRRK8S:-}" ]]; then
      go mod edit -replace="github.com/metallb/frr-k8s=github.com/metallb/frr-k8s@${METALLB_FRRK8S}"
    fi
    # An explicit version: a bare `go get pkg` would take the newest release and upgrade
    # every dependency with it.
    go get "go.universe.tf/metallb/controller@${METALLB_VERSION}" "go.universe.tf/metallb/speaker@${METALLB_VERSION}"
  )
  tmp="$metallb_dir.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
  gobuild "$m" "$tmp" go.universe.tf/metallb/controller go.universe.tf/metallb/speaker
  metallb_stamp > "$tmp/VERSION"
  rm -rf "$metallb_dir"; mv "$tmp" "$metallb_dir"
  log "metallb ${METALLB_VERSION}: built in $(( SECONDS - start )) s"
}

build_frrk8s() {
  local start=$SECONDS m tmp src
  log "frr-k8s ${FRRK8S_VERSION}: frr-k8s-controller, status exporter, CRDs, reloader script"
  m="$(newmod frr-k8s)"
  (
    cd "$m"
    go mod edit -require="github.com/metallb/frr-k8s@${FRRK8S_VERSION}"
    go get "github.com/metallb/frr-k8s/cmd/frr-k8s-controller@${FRRK8S_VERSION}"
  )
  src="$(cd "$m" && go list -m -f '{{.Dir}}' github.com/metallb/frr-k8s)"
  tmp="$frrk8s_dir.tmp"; rm -rf "$tmp"; mkdir -p "$tmp/crds"
  # The controller, and the status exporter (frr-tools/status, the pod's frr-status
  # container) that writes a BGPSessionState per node and neighbour from FRR's own view.
  gobuild "$m" "$tmp" github.com/metallb/frr-k8s/cmd/frr-k8s-controller github.com/metallb/frr-k8s/frr-tools/status
  mv "$tmp/status" "$tmp/frr-status"
  # The CRDs (FRRConfiguration, BGPSessionState, FRRNodeState) and the reloader that
  # frr-k8s's own pod runs beside FRR (frr-tools/reloader/frr-reloader.sh).
  cp "$src"/config/crd/bases/*.yaml "$tmp/crds/"
  chmod u+w "$tmp"/crds/*.yaml
  # v0.0.21's CRDs declare its ASN fields `format: int32` with `maximum: 4294967295`, which a
  # v1.36 kube-apiserver refuses in every FRRConfiguration ("Maximum boundary value must be
  # of type integer with format int32"); MetalLB's v0.16 CRDs changed the same fields to
  # int64. Same fix here, nothing else changed.
  sed -i -e '/format: int32$/{N;s/format: int32\(\n *maximum: 4294967295\)$/format: int64\1/}' "$tmp"/crds/*.yaml
  install -m 0755 "$src/frr-tools/reloader/frr-reloader.sh" "$tmp/frr-reloader.sh"
  frrk8s_stamp > "$tmp/VERSION"
  rm -rf "$frrk8s_dir"; mv "$tmp" "$frrk8s_dir"
  log "frr-k8s ${FRRK8S_VERSION}: built in $(( SECONDS - start )) s"
}

# Traefik cannot be built with `go install mod@version` (its go.mod has replace directives),
# nor as it is from the proxy; its build module here copies its replace and exclude
# directives, and then works around three things the module proxy does not serve:
#  - its nested module github.com/traefik/traefik/dynamic/ext is not published (the module
#    zip leaves nested modules out): a local stub with the two types Traefik embeds from it
#    (ext.HTTP in dynamic.HTTPConfiguration, ext.Router in dynamic.Router), empty structs as
#    in Traefik's open-source tree;
#  - the containous/go-http-auth fork version it pins is refused: TRAEFIK_HTTP_AUTH is served;
#  - lego's DNS providers edgedns, huaweicloud, oraclecloud, sakuracloud, ucloud and
#    yandexcloud import SDK versions the proxy refuses (403): a local copy of lego without
#    them (asking Traefik's ACME resolver for one of them answers "unrecognized DNS
#    provider"; nothing here uses ACME).
TRAEFIK_LEGO_CUT="edgedns huaweicloud oraclecloud sakuracloud ucloud yandexcloud"

build_traefik() {
  local start=$SECONDS m tmp src lego cut
  log "traefik ${TRAEFIK_VERSION}: cmd/traefik (cold: ~12 CPU-minutes, the longest build)"
  m="$(newmod traefik)"
  src="$(cd "$m" && go mod download -json "github.com/traefik/traefik/v3@${TRAEFIK_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  lego="$(cd "$m" && go mod download -json "github.com/go-acme/lego/v5@${TRAEFIK_LEGO}" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  [[ -n "$src" && -n "$lego" ]] || { log "traefik: module download failed"; return 1; }
  (
    cd "$m"
    # Traefik's own replace and exclude directives, copied.
    sed -n -e '/^replace[[:space:]]*($/,/^)$/p' -e '/^replace[[:space:]][^(]/p' -e '/^exclude[[:space:]]/p' "$src/go.mod" >> go.mod
    go mod edit -go=1.26.0 -require="github.com/traefik/traefik/v3@${TRAEFIK_VERSION}" \
      -replace=github.com/traefik/traefik/dynamic/ext=./ext \
      -replace="github.com/abbot/go-http-auth=github.com/containous/go-http-auth@${TRAEFIK_HTTP_AUTH}" \
      -replace=github.com/go-acme/lego/v5=./lego
    mkdir ext
    printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' > ext/go.mod
    cat > ext/ext.go <<'GO'
// Package ext is a local stand-in for Traefik's unpublished nested module: the extension
// points Traefik embeds (inline) in its dynamic configuration, empty in open-source Traefik.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}
GO
    cp -r "$lego" lego && chmod -R u+w lego
    local dns=lego/providers/dns re
    re="$(echo "$TRAEFIK_LEGO_CUT" | tr ' ' '|')"
    for cut in $TRAEFIK_LEGO_CUT; do rm -rf "${dns:?}/$cut"; done
    rm -f "$dns/dns_providers_test.go"
    # The generated factory: drop the providers' imports and their `case`s.
    sed -i -E -e "/\"github.com\/go-acme\/lego\/v5\/providers\/dns\/($re)\"$/d" \
      -e "/^\tcase .*:$/{N; /\n\t\treturn ($re)\.NewDNSProvider\(\)$/d}" "$dns/zz_gen_dns_providers.go"
    if grep -qE "\b($re)\.NewDNSProvider" "$dns/zz_gen_dns_providers.go"; then
      log "traefik: could not cut the DNS providers from lego's zz_gen_dns_providers.go"; exit 1
    fi
    go get "github.com/traefik/traefik/v3/cmd/traefik@${TRAEFIK_VERSION}"
  ) || return 1
  tmp="$traefik_dir.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
  LDFLAGS_X="-X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION#v} -X github.com/traefik/traefik/v3/pkg/version.Codename=real-components" \
    gobuild "$m" "$tmp" github.com/traefik/traefik/v3/cmd/traefik
  traefik_stamp > "$tmp/VERSION"
  rm -rf "$traefik_dir"; mv "$tmp" "$traefik_dir"
  log "traefik ${TRAEFIK_VERSION}: built in $(( SECONDS - start )) s"
}

want=("$@")
(( ${#want[@]} )) || want=(metallb frr-k8s traefik)
todo=()
for c in "${want[@]}"; do
  case "$c" in
    metallb) cached "$metallb_dir" "$(metallb_stamp)" controller speaker || todo+=(metallb) ;;
    frr-k8s) cached "$frrk8s_dir" "$(frrk8s_stamp)" frr-k8s-controller frr-status frr-reloader.sh crds || todo+=(frr-k8s) ;;
    traefik) cached "$traefik_dir" "$(traefik_stamp)" traefik || todo+=(traefik) ;;
    *) echo "unknown component $c (want metallb, frr-k8s or traefik)" >&2; exit 2 ;;
  esac
done

if (( ${#todo[@]} )); then
  # Fewer builds than slots: each gets more of the cores.
  (( jobs <= ${#todo[@]} )) || jobs=${#todo[@]}
  mkdir -p "$out_root"
  start=$SECONDS
  log "building ${todo[*]} from the module proxy into $out_root ($jobs at a time, $goversion)"
  # Traefik is the longest build: it starts first, and the others share the second slot
  # (MetalLB before frr-k8s, which then finds most of its dependencies in the build cache).
  ordered=()
  for c in traefik metallb frr-k8s; do
    for t in "${todo[@]}"; do [[ "$t" == "$c" ]] && ordered+=("$c"); done
  done
  pids=(); names=()
  running=0
  for c in "${ordered[@]}"; do
    while (( running >= jobs )); do
      wait -n || true
      running=$(jobs -rp | wc -l)
    done
    ( "build_${c//-/}" > >(sed -u "s/^/[$c] /" >&2) 2>&1 ) &
    pids+=($!); names+=("$c"); running=$(jobs -rp | wc -l)
  done
  failed=()
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
  done
  if (( ${#failed[@]} )); then
    log "FAILED: ${failed[*]} (see the messages above)"
    exit 1
  fi
  log "built ${todo[*]} in $(( SECONDS - start )) s"
fi

for c in "${want[@]}"; do
  case "$c" in
    metallb) echo "$metallb_dir" ;;
    frr-k8s) echo "$frrk8s_dir" ;;
    traefik) echo "$traefik_dir" ;;
  esac
done
