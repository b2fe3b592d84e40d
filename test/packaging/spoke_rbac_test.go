package packaging

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/anycast-operator/anycast-operator/hack/generate"
)

// What the hub writes and reads on a spoke. This list is the specification the spoke
// role's RBAC is tested against, in both directions: everything here is allowed, and the
// chart grants nothing that is not here.
var (
	writeVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	readVerbs  = []string{"get", "list", "watch"}
)

// scope says where the hub needs a permission.
type scope int

const (
	inMetalLB   scope = iota // MetalLB's namespace only
	anyNS                    // every namespace (ingress namespaces are not known in advance)
	clusterWide              // cluster-scoped resources
	inDataPlane              // the namespaces of spoke.dataPlaneNamespaces only
)

// spokeDataPlane is the shared Gateway data plane namespace the tests install the spoke
// role with (spoke.dataPlaneNamespaces).
const spokeDataPlane = "traefik"

// spokeValues are the chart values the spoke role is tested with.
func spokeValues() map[string]any {
	return map[string]any{"role": "spoke", "spoke": map[string]any{"dataPlaneNamespaces": []any{spokeDataPlane}}}
}

type need struct {
	Group, Resource string
	Verbs           []string
	Scope           scope
	Why             string
}

var spokeNeeds = []need{
	{"metallb.io", "ipaddresspools", writeVerbs, inMetalLB, "the VIP pool of each ingress"},
	{"metallb.io", "bgpadvertisements", writeVerbs, inMetalLB, "the advertisement of each ingress"},
	{"metallb.io", "bgppeers", writeVerbs, inMetalLB, "the class's peers"},
	{"metallb.io", "bfdprofiles", writeVerbs, inMetalLB, "the class's BFD settings"},
	{"", "secrets", writeVerbs, inMetalLB, "MetalLB's copies of the BGP passwords"},
	{"frrk8s.metallb.io", "frrconfigurations", writeVerbs, inMetalLB, "what the nodes learn from their peers, MetalLB in frr-k8s mode (spec.receive)"},
	{"frrk8s.metallb.io", "bgpsessionstates", readVerbs, inMetalLB, "the speakers' own BGP session state (frr-k8s)"},
	{"", "configmaps", []string{"get", "list", "create", "update", "patch", "delete"}, inMetalLB, "MetalLB's bgpextras, what the nodes learn from their peers in frr mode (read live, never watched)"},
	{"gateway.networking.k8s.io", "gatewayclasses", writeVerbs, clusterWide, "a GatewayClass when the class asks for one"},
	{"gateway.networking.k8s.io", "gateways", writeVerbs, anyNS, "the Gateway with the VIP"},
	{"gateway.networking.k8s.io", "httproutes", writeVerbs, anyNS, "the ingress's routes"},
	{"gateway.networking.k8s.io", "grpcroutes", writeVerbs, anyNS, "the ingress's gRPC routes"},
	{"gateway.networking.k8s.io", "tlsroutes", writeVerbs, anyNS, "the ingress's TLS passthrough routes"},
	{"skupper.io", "sites", writeVerbs, anyNS, "the Skupper site of an ingress namespace"},
	{"skupper.io", "listeners", writeVerbs, anyNS, "services reached over Skupper"},
	{"skupper.io", "connectors", writeVerbs, anyNS, "services exposed over Skupper"},
	{"skupper.io", "accessgrants", writeVerbs, anyNS, "link grants on the interconnect hub"},
	{"skupper.io", "accesstokens", writeVerbs, anyNS, "link tokens on the spokes"},
	{"skupper.io", "links", []string{"get", "list", "watch", "delete"}, anyNS, "link status, and removing the Links of abandoned tokens"},
	{"", "namespaces", []string{"get", "list", "watch", "create"}, clusterWide, "the ingress namespace may not exist on a spoke"},
	{"", "services", []string{"get", "list", "watch", "patch"}, anyNS, "Gateway Services (health) and the skupper-router Service annotation"},
	{"", "services", writeVerbs, inDataPlane, "the Service in front of a shared Gateway data plane (gatewayService.provisioner Operator)"},
	{"", "nodes", readVerbs, clusterWide, "whether MetalLB may announce from a node (health)"},
	{"", "events", []string{"list"}, anyNS, "MetalLB's AllocationFailed events on a Gateway's Service (health)"},
	{"metallb.io", "configurationstates", readVerbs, inMetalLB, "MetalLB's verdict on its configuration"},
	{"metallb.io", "servicebgpstatuses", readVerbs, inMetalLB, "which nodes announce a Gateway's Service"},
	{"discovery.k8s.io", "endpointslices", readVerbs, anyNS, "health checks"},
	{"apiextensions.k8s.io", "customresourcedefinitions", []string{"get", "list"}, clusterWide, "whether MetalLB, Gateway API and Skupper are installed"},
}

// Namespaces the allowed checks are asked in (anyNS): two ingress namespaces and "all
// namespaces", as a cluster-wide list or watch needs.
var ingressNamespaces = []string{"hello-world", "team-b", ""}

func spokeSA() subject { return serviceAccount(spokeNamespace, "anycast-operator") }

// TestSpokeRBACAllowsWhatTheHubWrites asks the API server, for every (verb, group,
// resource, namespace) the hub needs on a spoke, whether the spoke ServiceAccount may.
func TestSpokeRBACAllowsWhatTheHubWrites(t *testing.T) {
	installSpoke(t)
	sa := spokeSA()
	n := 0
	for _, nd := range spokeNeeds {
		var namespaces []string
		switch nd.Scope {
		case inMetalLB:
			namespaces = []string{spokeMetalLB}
		case anyNS:
			namespaces = ingressNamespaces
		case clusterWide:
			namespaces = []string{""}
		case inDataPlane:
			namespaces = []string{spokeDataPlane}
		}
		for _, ns := range namespaces {
			for _, v := range nd.Verbs {
				a := access{Verb: v, Group: nd.Group, Resource: nd.Resource, Namespace: ns}
				n++
				if !allowed(t, sa, a) {
					t.Errorf("spoke: %s denied; the hub needs it for %s", a, nd.Why)
				}
			}
		}
	}
	t.Logf("%d permissions checked", n)
}

// TestSpokeRBACDeniesEverythingElse asks for what the hub must not be able to do on a
// spoke: Secrets outside MetalLB's namespace or cluster-wide, MetalLB objects elsewhere,
// workloads, RBAC, destructive namespace and CRD verbs.
func TestSpokeRBACDeniesEverythingElse(t *testing.T) {
	installSpoke(t)
	sa := spokeSA()
	var denied []access
	for _, ns := range []string{"hello-world", "kube-system", spokeNamespace, "default", ""} {
		for _, v := range writeVerbs {
			denied = append(denied, access{Verb: v, Resource: "secrets", Namespace: ns})
		}
		for _, r := range []string{"ipaddresspools", "bgppeers", "bgpadvertisements", "bfdprofiles", "communities", "l2advertisements"} {
			denied = append(denied, access{Verb: "create", Group: "metallb.io", Resource: r, Namespace: ns})
		}
	}
	denied = append(denied,
		access{Verb: "list", Group: "metallb.io", Resource: "ipaddresspools"},
		access{Verb: "create", Group: "metallb.io", Resource: "l2advertisements", Namespace: spokeMetalLB},
		access{Verb: "create", Group: "metallb.io", Resource: "communities", Namespace: spokeMetalLB},
		access{Verb: "watch", Resource: "configmaps", Namespace: spokeMetalLB},
		access{Verb: "create", Resource: "configmaps", Namespace: "hello-world"},
		access{Verb: "list", Resource: "configmaps"},
		access{Verb: "create", Group: "frrk8s.metallb.io", Resource: "frrconfigurations", Namespace: "hello-world"},
		access{Verb: "list", Group: "frrk8s.metallb.io", Resource: "frrconfigurations"},
		access{Verb: "update", Group: "frrk8s.metallb.io", Resource: "bgpsessionstates", Namespace: spokeMetalLB},
		access{Verb: "get", Resource: "pods", Namespace: spokeMetalLB},
		access{Verb: "create", Resource: "pods", Namespace: "hello-world"},
		access{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "hello-world"},
		access{Verb: "list", Resource: "pods"},
		access{Verb: "get", Resource: "configmaps", Namespace: "hello-world"},
		access{Verb: "create", Group: "apps", Resource: "deployments", Namespace: "hello-world"},
		access{Verb: "list", Group: "apps", Resource: "daemonsets"},
		access{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: spokeNamespace},
		access{Verb: "get", Resource: "serviceaccounts", Namespace: spokeNamespace},
		access{Verb: "create", Resource: "nodes"},
		access{Verb: "update", Resource: "nodes"},
		access{Verb: "delete", Resource: "namespaces"},
		access{Verb: "update", Resource: "namespaces"},
		access{Verb: "patch", Resource: "namespaces"},
		access{Verb: "create", Resource: "services", Namespace: "hello-world"},
		access{Verb: "update", Resource: "services", Namespace: "hello-world"},
		access{Verb: "delete", Resource: "services", Namespace: "hello-world"},
		access{Verb: "create", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "hello-world"},
		access{Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
		access{Verb: "update", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
		access{Verb: "delete", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
		access{Verb: "create", Group: "skupper.io", Resource: "links", Namespace: "hello-world"},
		access{Verb: "update", Group: "skupper.io", Resource: "links", Namespace: "hello-world"},
		access{Verb: "create", Group: "gateway.networking.k8s.io", Resource: "tcproutes", Namespace: "hello-world"},
		access{Verb: "create", Group: "anycast.dev", Resource: "anycastclasses"},
		access{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
		access{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		access{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: spokeMetalLB},
		access{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: spokeMetalLB},
		access{Verb: "impersonate", Resource: "users"},
		access{Verb: "impersonate", Resource: "serviceaccounts", Namespace: spokeNamespace},
		access{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"},
		access{Verb: "create", Group: "certificates.k8s.io", Resource: "certificatesigningrequests"},
		access{Verb: "create", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"},
	)
	for _, a := range denied {
		if allowed(t, sa, a) {
			t.Errorf("spoke: %s allowed; the hub must not have it", a)
		}
	}
	t.Logf("%d denials checked", len(denied))
}

// spokeRules returns the ClusterRole, MetalLB Role and data plane Role rules of a rendered
// spoke role.
func spokeRules(t *testing.T, objs []*unstructured.Unstructured, metallbNS string) (cluster, metallb, dataPlane []rbacv1.PolicyRule) {
	t.Helper()
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.UnstructuredContent(), &r); err != nil {
				t.Fatal(err)
			}
			cluster = append(cluster, r.Rules...)
		case "Role":
			var r rbacv1.Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.UnstructuredContent(), &r); err != nil {
				t.Fatal(err)
			}
			switch r.Namespace {
			case metallbNS:
				metallb = append(metallb, r.Rules...)
			case spokeDataPlane:
				dataPlane = append(dataPlane, r.Rules...)
			default:
				t.Errorf("spoke Role in %s: only MetalLB's namespace and spoke.dataPlaneNamespaces may have one", r.Namespace)
			}
		}
	}
	return cluster, metallb, dataPlane
}

// TestSpokeRBACGrantsNothingElse: every (group, resource, verb) the chart grants is in
// spokeNeeds at the right scope; with TestSpokeRBACAllowsWhatTheHubWrites this makes the
// spoke's permissions exactly the list.
func TestSpokeRBACGrantsNothingElse(t *testing.T) {
	r := mustRender(t, spokeRelease, spokeNamespace, spokeValues())
	cluster, metallb, dataPlane := spokeRules(t, r.Objects(t), spokeMetalLB)
	wantCluster, wantMetalLB, wantDataPlane := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, nd := range spokeNeeds {
		for _, v := range nd.Verbs {
			key := nd.Group + "|" + nd.Resource + "|" + v + "|"
			switch nd.Scope {
			case inMetalLB:
				wantMetalLB[key] = true
			case inDataPlane:
				wantDataPlane[key] = true
			default:
				wantCluster[key] = true
			}
		}
	}
	check := func(where string, rules []rbacv1.PolicyRule, want map[string]bool) {
		got := map[string]bool{}
		for _, k := range normalizeRules(rules) {
			got[k] = true
			if !want[k] {
				t.Errorf("spoke %s grants %s, which the hub does not need", where, strings.ReplaceAll(strings.TrimSuffix(k, "|"), "|", " "))
			}
		}
		for k := range want {
			if !got[k] {
				t.Errorf("spoke %s lacks %s", where, strings.ReplaceAll(strings.TrimSuffix(k, "|"), "|", " "))
			}
		}
		for _, rule := range rules {
			if len(rule.NonResourceURLs) > 0 || containsStar(rule.Verbs) || containsStar(rule.Resources) || containsStar(rule.APIGroups) {
				t.Errorf("spoke %s has a wildcard or non-resource rule: %+v", where, rule)
			}
		}
	}
	check("ClusterRole", cluster, wantCluster)
	check("MetalLB Role", metallb, wantMetalLB)
	check("data plane Role", dataPlane, wantDataPlane)
}

func containsStar(xs []string) bool {
	for _, x := range xs {
		if x == "*" {
			return true
		}
	}
	return false
}

// TestSpokeCoversWhatTheOperatorRenders: every resource the operator's generated RBAC
// (config/rbac/role.yaml, from the kubebuilder markers) writes or reads on a member —
// everything but its own API, events and Lease — is in spokeNeeds with at least those
// verbs (Secrets: the MetalLB namespace Role only; the operator-namespace Role is hub-only). A controller change that
// renders a new kind (say tcproutes or MetalLB communities) fails here until the spoke
// role grants it too.
func TestSpokeCoversWhatTheOperatorRenders(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cluster, roles, err := generate.ParseRoleYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	rules := append([]rbacv1.PolicyRule(nil), cluster.Rules...)
	for _, r := range roles {
		if r.Namespace == "metallb-system" {
			rules = append(rules, r.Rules...)
		}
	}
	// Everything the operator may do is something it does on members too, except what
	// concerns the hub only: its own API, events on its objects, its leader-election Lease.
	hubOnly := func(group, resource string) bool {
		return group == "anycast.dev" || group == "coordination.k8s.io" || group == "events.k8s.io" || (group == "" && resource == "events")
	}
	have := map[string]bool{}
	for _, nd := range spokeNeeds {
		for _, v := range nd.Verbs {
			have[nd.Group+"|"+nd.Resource+"|"+v] = true
		}
	}
	var missing []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if hubOnly(g, res) {
					continue
				}
				for _, v := range r.Verbs {
					if !have[g+"|"+res+"|"+v] {
						missing = append(missing, v+" "+res+"."+g)
					}
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("the operator's RBAC has %q on member objects but the spoke role does not: add it to charts/anycast-operator/templates/spoke/rbac.yaml, config/spoke and spokeNeeds", m)
	}
}
