# anycast-operator Makefile. `make help` lists the targets.

IMG ?= ghcr.io/anycast-operator/anycast-operator:dev
GO ?= go
export GOTOOLCHAIN := local

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.20.1

# Upstream Skupper CRDs: the Skupper Go module cannot be downloaded from the module proxy,
# so tests read the CRD files from this directory. CI points it at ../shared/crds/skupper;
# `make skupper-crds` fetches the same files at the same upstream commit.
SKUPPER_COMMIT ?= 80b1ba6de37f98756e0cf0a67f3450e0c202962d
SKUPPER_CRDS ?= $(firstword $(wildcard $(CURDIR)/../shared/crds/skupper) $(LOCALBIN)/skupper-crds)
export SKUPPER_CRDS

GO_TEST_FLAGS ?= -count=1
# The member counts `make bench-members` measures, and how many rounds: one run of each N
# varies by about 10 % from the next on this machine type, so the docs give each N's
# median over the rounds (a round runs every N once, so that the machine's drift falls
# on every N alike).
BENCH_MEMBERS_N ?= 2 5 10 20
BENCH_MEMBERS_ROUNDS ?= 3
# BenchmarkMembers keeps the operator on a CPU of its own and the member API servers on
# the others (empty: everything shares every CPU): the N API servers otherwise inflate the
# operator's CPU time for the same work as N grows, and the target is the operator's own
# cost. The API servers then have one core fewer, so the times to Programmed are longer.
BENCH_PIN ?= 1
TEST_TIMEOUT ?= 30m

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the API types and kubebuilder markers.
	$(CONTROLLER_GEN) crd paths="./api/v1alpha1/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=anycast-operator paths="./internal/controller/..." paths="./internal/operator/..." paths="./internal/skupperlink/..." output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: verify
verify: manifests generate ## Regenerate everything and fail if the committed files differ.
	@git diff --exit-code -- api config || { echo "generated files are out of date: run 'make manifests generate' and commit"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) mod tidy -diff

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver and etcd for envtest into bin/k8s (skipped when KUBEBUILDER_ASSETS is set).
	@hack/envtest-assets.sh >/dev/null

.PHONY: skupper-crds
skupper-crds: ## Fetch the upstream Skupper CRDs when ../shared/crds/skupper is absent.
	@if [ -d "$(SKUPPER_CRDS)" ] && ls "$(SKUPPER_CRDS)"/*.yaml >/dev/null 2>&1; then exit 0; fi; \
	 hack/fetch-skupper-crds.sh "$(SKUPPER_COMMIT)" "$(LOCALBIN)/skupper-crds"

.PHONY: test
# test/lab runs after the other packages, alone: its traffic allows no request to fail
# (2 s timeout) outside a route change, and beside another package's API servers on a
# 2-core machine every request of a second or more timed out now and then (CI, twice;
# never with the lab alone). Both runs always run; the target fails if either did.
test: vet envtest-assets skupper-crds real-components ## Run all tests against a real kube-apiserver and etcd (envtest).
	@export KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)"; rc=0; \
	 $(GO) test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/test/lab$$') || rc=1; \
	 $(GO) test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./test/lab/ || rc=1; \
	 exit $$rc

.PHONY: test-unit
# The pure packages (no API server, no root, no network namespaces): every one of them, so
# a new pure package goes here too.
UNIT_PACKAGES ?= ./internal/render/... ./internal/status/... ./internal/statusview/... ./internal/routerview/... ./internal/origins/... ./internal/ipam/... ./internal/health/... \
	./internal/logging/... ./test/lab/gobgpnet/... ./test/scale/apicount/... ./test/traffic/... ./config/argocd/...

.PHONY: test-unit
test-unit: skupper-crds ## Run only the tests that need no API server, root or network namespaces (the pure packages, the render command).
	$(GO) test $(GO_TEST_FLAGS) $(UNIT_PACKAGES)
	$(GO) test $(GO_TEST_FLAGS) -run 'TestRender|FuzzValidation|TestValidationSeeds|TestStatus(Golden|BadInput|JSONIsTheReport|Color|ClassForbidden|ConnectErrors|IsASubcommandAndAPlugin)$$|TestPluginArgs' ./cmd/anycast-operator/

.PHONY: golden
golden: ## Regenerate the renderer's golden files (review the diff!).
	$(GO) test ./internal/render/ -run TestGolden -update

.PHONY: bench
bench: envtest-assets skupper-crds ## Run the benchmarks and print their figures.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test -run '^$$' -bench . -benchmem -timeout 120m ./...

.PHONY: bench-ingest
bench-ingest: ## Only the watcher's ingest benchmarks: a 1,000,000-prefix table over BGP and over BMP, each beside FRR bgpd's own ingest (root and FRR).
	$(GO) test -run '^$$' -bench 'Ingest1M$$' -benchtime 1x -timeout 30m -v ./internal/bgp/

.PHONY: bench-scale
bench-scale: envtest-assets skupper-crds ## Only the scale benchmarks: 1,000 ingresses; 1,000 VIPs through BGP bursts (root and FRR).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test -run '^$$' -bench '^Benchmark(Ingresses1000|WatcherBurst1000)$$' -benchtime 1x -timeout 120m -v ./test/scale/

.PHONY: bench-members
bench-members: envtest-assets skupper-crds ## The hub with N members (issue 20): 100 ingresses on N = 2, 5, 10, 20 members (each N its own process, three rounds, the operator on a CPU of its own); one member slow or stopped; 5,000 unrelated Services on a member.
	for round in $$(seq $(BENCH_MEMBERS_ROUNDS)); do for n in $(BENCH_MEMBERS_N); do \
	  BENCH_PIN=$(BENCH_PIN) KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test -run '^$$' -bench "^BenchmarkMembers/N=$$n\$$" -benchtime 1x -timeout 60m -v ./test/scale/ || exit 1; \
	done; done
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test -run '^$$' -bench '^BenchmarkMember(Isolation|UnrelatedServices)$$' -benchtime 1x -timeout 60m -v ./test/scale/

.PHONY: test-resilience
test-resilience: envtest-assets skupper-crds ## Kill, restart and partition the operator and its API servers (test/resilience; root and FRR).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test $(GO_TEST_FLAGS) -tags resilience -v -timeout 30m ./test/resilience/

# Each fuzz target runs for FUZZTIME. A failing input is written to testdata/fuzz/<target>
# beside the target: commit it with the fix, and `go test` replays it from then on.
# Minimizing is off (0): a bounded run spends its time fuzzing, and Go's fuzzer fails with
# "context deadline exceeded" when -fuzztime ends while it minimizes a new input (seen in CI).
# A crasher is still written whole; minimize it by hand with FUZZMINIMIZETIME=60s.
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 0

.PHONY: fuzz
fuzz: skupper-crds ## Fuzz the renderer (FuzzRender), the API validation (FuzzValidation) and the watcher's UPDATE and BMP ingest (FuzzIngest), FUZZTIME each (30s).
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/render/
	$(GO) test -run '^$$' -fuzz '^FuzzValidation$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./cmd/anycast-operator/
	$(GO) test -run '^$$' -fuzz '^FuzzIngest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/bgp/

##@ Lab

.PHONY: real-components
real-components: ## Build the real MetalLB, frr-k8s and Traefik from the Go module proxy into bin/real (versions: hack/real-components.env; cached).
	@hack/real-components.sh >/dev/null

LAB_DIR ?= $(CURDIR)/lab

# The lab binary is built with the operator's flags, so the two share the build cache.
.PHONY: lab
lab: build envtest-assets skupper-crds lab-deps lab-real-components ## The reference topology on this machine, walked through with real traffic, then removed (LAB_KEEP=1 stays up, LAB_STACK=standin runs the stand-ins, LAB_IPV6=1 an IPv6 VIP, LAB_FABRIC=gobgp the GoBGP fallback, LAB_WATCHER=bmp the watcher as a BMP collector).
	CGO_ENABLED=0 $(GO) build -trimpath -o $(LOCALBIN)/anycast-lab ./cmd/anycast-lab
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(LOCALBIN)/anycast-lab up -dir $(LAB_DIR) -operator $(LOCALBIN)/anycast-operator

.PHONY: lab-down
lab-down: ## Remove everything make lab started or wrote: processes, network namespaces, lab/.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(LOCALBIN)/anycast-lab ./cmd/anycast-lab
	$(LOCALBIN)/anycast-lab down -dir $(LAB_DIR)

.PHONY: test-lab
test-lab: envtest-assets skupper-crds lab-deps real-components ## Run only the lab's end-to-end test (test/lab; also part of make test).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test $(GO_TEST_FLAGS) -v -timeout 30m ./test/lab/

# The real stack's components, built (or found cached) only where the real stack can run:
# as root, unless the stand-ins or the GoBGP fabric are asked for. Elsewhere the lab says
# why it runs the stand-ins.
.PHONY: lab-real-components
lab-real-components:
	@if [ "$${LAB_STACK:-auto}" = standin ] || [ "$${LAB_FABRIC:-auto}" = gobgp ]; then exit 0; fi; \
	 if [ "$$(id -u)" != 0 ]; then echo "lab: not root: the lab will run the stand-ins (the real stack needs network namespaces)"; exit 0; fi; \
	 echo "lab: building the real components when not cached (MetalLB, frr-k8s, Traefik: about 30 CPU-minutes the first time)"; \
	 hack/real-components.sh >/dev/null

# FRR, frr-pythontools (frr-k8s's reloader runs frr-reload.py), gobgpd, iproute2 and
# util-linux for the FRR fabric and the real stack, installed with apt when root and
# missing. Never fails: without them the lab runs the stand-ins or the GoBGP fabric (and
# says so).
.PHONY: lab-deps
lab-deps:
	@if [ "$${LAB_FABRIC:-auto}" = gobgp ]; then exit 0; fi; \
	 missing=; for b in vtysh gobgpd gobgp ip nsenter unshare flock python3; do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	 for f in /usr/lib/frr/bgpd /usr/lib/frr/bfdd /usr/lib/frr/frr-reload.py; do [ -x $$f ] || missing="$$missing $$f"; done; \
	 if [ -z "$$missing" ]; then exit 0; fi; \
	 if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	   echo "lab: missing$$missing and apt-get not usable (not root?): the lab will run the stand-ins on the GoBGP fabric"; exit 0; fi; \
	 echo "lab: missing$$missing: installing frr frr-pythontools gobgpd iproute2 util-linux with apt-get"; \
	 (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends frr frr-pythontools gobgpd iproute2 util-linux >/dev/null) || \
	   echo "lab: apt-get failed: the lab will run what it can (see its STACK and BGP fabric lines)"

##@ Build

.PHONY: build
build: ## Build the operator binary (static, as in the image) into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/anycast-operator ./cmd/anycast-operator

.PHONY: run
run: manifests ## Run the operator against the cluster of $KUBECONFIG (install CRDs first: make install).
	$(GO) run ./cmd/anycast-operator --leader-elect=false --namespace=$${OPERATOR_NAMESPACE:-anycast-system}

.PHONY: install
install: manifests ## Install the CRDs into the cluster of $KUBECONFIG.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRDs from the cluster of $KUBECONFIG.
	kubectl delete -k config/crd --ignore-not-found

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Packaging

CHART ?= charts/anycast-operator
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
# As helm's own Makefile: its version, and the Kubernetes version `helm template` and
# `helm lint` assume (k8s.io modules v0.37 -> 1.37; without it, 1.20).
HELM_LDFLAGS = -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach p,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/$(p).k8sVersionMinor=37)

.PHONY: packaging-generate
packaging-generate: ## Regenerate the chart CRDs and hub RBAC, docs/api.md and the ArgoCD config.
	$(GO) run ./hack/gen

.PHONY: chart-generate
chart-generate: ## Copy the CRDs into the chart; template its hub RBAC from config/rbac/role.yaml.
	$(GO) run ./hack/gen chart

.PHONY: api-docs
api-docs: ## Generate docs/api.md from the CRD schemas (the Go types and their comments).
	$(GO) run ./hack/gen api-docs

.PHONY: argocd-generate
argocd-generate: ## Generate config/argocd/argocd-cm.yaml and argo-cd-values.yaml from the Lua.
	$(GO) run ./hack/gen argocd

.PHONY: packaging-verify
packaging-verify: ## Fail when a generated packaging file is stale.
	$(GO) run ./hack/gen -check

.PHONY: build-installer
build-installer: ## Write dist/install.yaml (kustomize build of config/default, image $(IMG)).
	$(GO) run ./hack/build-installer -image $(IMG) -o dist/install.yaml

.PHONY: test-packaging
test-packaging: envtest-assets skupper-crds ## Run the chart, installer, kubeconfig, RBAC and ArgoCD tests.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test $(GO_TEST_FLAGS) ./test/packaging/ ./config/argocd/
	$(GO) test $(GO_TEST_FLAGS) -run 'Kubeconfig|DNSName' ./cmd/anycast-operator/
	$(GO) test $(GO_TEST_FLAGS) -run 'Tracking' ./internal/render/

.PHONY: chart-golden
chart-golden: envtest-assets skupper-crds ## Regenerate the chart golden files in test/packaging/testdata (review the diff!).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test ./test/packaging/ -run TestChartGolden -update

.PHONY: helm
helm: $(HELM) ## Build helm $(HELM_VERSION) from the Go module proxy into bin/.
$(HELM):
	@mkdir -p $(LOCALBIN)/helm-build
	GOBIN=$(LOCALBIN)/helm-build $(GO) install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm-build/helm $(HELM) && rmdir $(LOCALBIN)/helm-build

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict the chart for both roles with the pinned helm binary.
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set role=spoke

.PHONY: chart-package
chart-package: helm ## Package the chart into dist/.
	$(HELM) package $(CHART) -d dist

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
