package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Names of the annotations a MetalLB-backed LoadBalancer Service carries to get exactly the
// VIP from the VIP's own pool. Gateway implementations copy spec.infrastructure.annotations
// onto the Service they create for a Gateway.
const (
	MetalLBAddressPoolAnnotation = "metallb.io/address-pool"
	MetalLBLoadBalancerIPsAnno   = "metallb.io/loadBalancerIPs"
)

// kindOrder is the order objects are listed (and applied) in: what others refer to first.
var kindOrder = map[string]int{
	"Secret":           0,
	"ConfigMap":        1,
	"BFDProfile":       2,
	"BGPPeer":          3,
	"FRRConfiguration": 4,
	"IPAddressPool":    5,
	"BGPAdvertisement": 6,
	"GatewayClass":     7,
	"Gateway":          8,
	"Service":          9,
	"HTTPRoute":        10,
	"GRPCRoute":        11,
	"TLSRoute":         12,
	"Site":             13,
	"AccessGrant":      14,
	"AccessToken":      15,
	"Connector":        16,
	"Listener":         17,
}

// GVKs of every kind render emits, for callers that watch or list them.
var (
	GVKSecret           = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	GVKBFDProfile       = schema.GroupVersionKind{Group: "metallb.io", Version: "v1beta1", Kind: "BFDProfile"}
	GVKBGPPeer          = schema.GroupVersionKind{Group: "metallb.io", Version: "v1beta2", Kind: "BGPPeer"}
	GVKIPAddressPool    = schema.GroupVersionKind{Group: "metallb.io", Version: "v1beta1", Kind: "IPAddressPool"}
	GVKBGPAdvertisement = schema.GroupVersionKind{Group: "metallb.io", Version: "v1beta1", Kind: "BGPAdvertisement"}
	GVKGatewayClass     = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayClass"}
	GVKGateway          = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
	GVKHTTPRoute        = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	GVKGRPCRoute        = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute"}
	GVKTLSRoute         = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TLSRoute"}
	// GVKService is the LoadBalancer Service the operator makes in front of a shared data
	// plane (gatewayService.provisioner Operator).
	GVKService     = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	GVKSite        = schema.GroupVersionKind{Group: "skupper.io", Version: "v2alpha1", Kind: "Site"}
	GVKAccessGrant = schema.GroupVersionKind{Group: "skupper.io", Version: "v2alpha1", Kind: "AccessGrant"}
	GVKAccessToken = schema.GroupVersionKind{Group: "skupper.io", Version: "v2alpha1", Kind: "AccessToken"}
	GVKConnector   = schema.GroupVersionKind{Group: "skupper.io", Version: "v2alpha1", Kind: "Connector"}
	GVKListener    = schema.GroupVersionKind{Group: "skupper.io", Version: "v2alpha1", Kind: "Listener"}
	// GVKLink is read, never rendered: Skupper writes Links when it redeems a token.
	GVKLink = schema.GroupVersionKind{Group: "skupper.io", Version: "v2alpha1", Kind: "Link"}
)

// AllKinds lists every kind render emits, in apply order.
var AllKinds = []schema.GroupVersionKind{
	GVKSecret, GVKConfigMap, GVKBFDProfile, GVKBGPPeer, GVKFRRConfiguration, GVKIPAddressPool, GVKBGPAdvertisement,
	GVKGatewayClass, GVKGateway, GVKService, GVKHTTPRoute, GVKGRPCRoute, GVKTLSRoute,
	GVKSite, GVKAccessGrant, GVKAccessToken, GVKConnector, GVKListener,
}

// toUnstructured converts a typed object into the exact object to apply: apiVersion and
// kind set, and the zero values typed structs cannot omit (status, creationTimestamp,
// empty structs) removed, so server-side apply claims only fields we mean.
func toUnstructured(obj runtime.Object, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		// Only typed structs built in this package reach here; a failure is a programming
		// error, not bad input.
		panic(fmt.Sprintf("render: converting %s: %v", gvk.Kind, err))
	}
	delete(m, "status")
	pruneEmpty(m)
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

// pruneEmpty removes nil values and empty maps, recursively. Empty lists and strings are
// kept: render never emits them unless they mean something.
func pruneEmpty(m map[string]interface{}) bool {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]interface{}:
			if pruneEmpty(t) {
				delete(m, k)
			}
		case []interface{}:
			for _, e := range t {
				if em, ok := e.(map[string]interface{}); ok {
					pruneEmpty(em)
				}
			}
		}
	}
	return len(m) == 0
}

// sortObjects orders objects by kind (apply order), namespace and name.
func sortObjects(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ka, kb := kindOrder[a.GetKind()], kindOrder[b.GetKind()]; ka != kb {
			return ka < kb
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// shortHash is a stable 8-hex-digit digest of v's JSON form.
func shortHash(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("render: hashing: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:4])
}

// ingressObjectName names an object of an ingress in a namespace shared by every ingress
// (the MetalLB namespace): "<namespace>.<name>". Both parts are DNS labels, so the dot
// keeps the name unique.
func ingressObjectName(namespace, name string) string { return namespace + "." + name }

// maxLabel is the longest DNS-1123 label: the limit of a Service port name, a label value
// and most object names.
const maxLabel = 63

// labelName names an object after parts (object names that may hold dots or be up to 253
// characters long) with a DNS-1123 label: lowercase letters, digits and '-', at most 63
// characters, starting and ending with a letter or digit. Names that other controllers
// turn into names of their own must be labels: Skupper names the Service port of a
// Listener after the Listener, and the API server refuses a port name with a dot. The
// parts are joined with '-' (anything else becomes '-' too) and cut to fit, so the name
// stays readable; a hash of the exact parts keeps it unique, since neither the join
// ("a-b","c" and "a","b-c") nor the cut is.
func labelName(parts ...string) string {
	suffix := shortHash(parts)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('-')
		}
		for _, r := range p {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				b.WriteRune(r)
			case r >= 'A' && r <= 'Z':
				b.WriteRune(r - 'A' + 'a')
			default:
				b.WriteByte('-')
			}
		}
	}
	base := b.String()
	if limit := maxLabel - len(suffix) - 1; len(base) > limit {
		base = base[:limit]
	}
	if base = strings.Trim(base, "-"); base == "" {
		return suffix
	}
	return base + "-" + suffix
}

// LiveOnly reports whether the operator never caches a kind it renders: it reads and
// lists it live, in MetalLB's namespace only (the BGP password copies and MetalLB's
// bgpextras ConfigMap). Its RBAC grants these kinds there and nowhere else, so a
// cluster-wide watch would be refused.
func LiveOnly(gvk schema.GroupVersionKind) bool { return gvk == GVKSecret || gvk == GVKConfigMap }
