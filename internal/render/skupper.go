package render

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// Grants are single-use and short-lived: the operator creates the token right after the
// grant is filled, and issues a fresh grant if a redemption fails.
const (
	grantRedemptions = 1
	grantExpiration  = "1h"
)

// NeedsSkupper reports whether an ingress uses the Skupper network of its namespace.
func NeedsSkupper(ing *v1alpha1.AnycastIngress) bool { return len(ing.Spec.Services) > 0 }

// GrantName names the hub's AccessGrant for a spoke. attempt counts spent grants: a
// redemption that failed spends its grant, so the next attempt is a new grant with a new
// name (and code). The dot cannot occur in a cluster name, so names never collide.
func GrantName(class, spoke string, attempt int) string {
	if attempt == 0 {
		return class + "-" + spoke
	}
	return fmt.Sprintf("%s-%s.%d", class, spoke, attempt)
}

// ParseGrantAttempt returns the attempt of a grant name for a spoke, or ok=false when the
// name is not one of that spoke's grants.
func ParseGrantAttempt(class, spoke, name string) (attempt int, ok bool) {
	base := class + "-" + spoke
	if name == base {
		return 0, true
	}
	rest, found := strings.CutPrefix(name, base+".")
	if !found {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// TokenName names a spoke's AccessToken after the credential it carries: a grant with a
// new URL, code or CA (a fresh attempt, or a grant the hub re-issued) gets a new token
// that replaces the old one, and a spent token is never retried as is.
func TokenName(class, hub string, g GrantObserved) string {
	return class + "-" + hub + "-" + shortHash([]string{g.URL, g.Code, g.CA})
}

// IsTokenName reports whether name is the name TokenName gives a token of the class for
// the hub, whatever its credential. Skupper names the Link and the TLS Secret a redeemed
// token yields after the token, so this is how the operator recognises the Links and
// Secrets its own tokens caused.
func IsTokenName(class, hub, name string) bool {
	rest, ok := strings.CutPrefix(name, class+"-"+hub+"-")
	if !ok || len(rest) != 8 {
		return false
	}
	for _, r := range rest {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// BindingName names the Listener and the Connector of a cross-cluster service. Skupper
// names the Listener's Service port after the Listener (and labels the Service with it),
// and the API server wants a Service port name to be a DNS-1123 label: no dots, at most
// 63 characters. So the name is a label made of the ingress and service names, unique per
// namespace and stable; the routing key, which no API server validates, keeps the readable
// "<ingress>.<service>".
func BindingName(ingress, service string) string { return labelName(ingress, service) }

// ListenerHost is the name of the Service a Skupper listener creates for a service: the
// service's own name, so routes and clients reach it by the same name on every member.
func ListenerHost(s v1alpha1.CrossClusterService) string { return s.Name }

// RoutingKey joins a listener to its connectors across sites. Skupper uses it as a router
// address only (the CRDs put no pattern on it, and it names no Kubernetes object), and the
// sites of a namespace's network are that namespace on each member, so it must be unique
// per namespace: ingress names are, and a service name has no dot, so the last dot splits
// the key unambiguously. It stays as it always was: changing it would cut every existing
// listener from its connectors until both sides are rewritten.
func RoutingKey(ingress, service string) string { return ingress + "." + service }

// namespaceSkupper renders the Skupper objects a namespace shares: the Site on every
// member, on the hub a grant per spoke, and on each spoke, once the hub can answer, a
// token carrying its grant's credential.
func namespaceSkupper(c *v1alpha1.AnycastClass, namespace string, m *v1alpha1.ClusterMember, sk *SkupperObserved) []*unstructured.Unstructured {
	labels := owner.SkupperNetwork(c.Name, namespace).Labels()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
	}
	hub := c.Hub()
	site := &skupperv2.Site{ObjectMeta: meta(m.Name)}
	if hub != nil && hub.Name == m.Name {
		site.Spec.LinkAccess = string(v1alpha1.RouterAccessDefault)
		if m.RouterAccess != nil && m.RouterAccess.Type != "" {
			site.Spec.LinkAccess = string(m.RouterAccess.Type)
		}
	}
	out := []*unstructured.Unstructured{toUnstructured(site, GVKSite)}
	if hub == nil || len(c.Spec.Clusters) < 2 {
		return out
	}
	if hub.Name == m.Name {
		for _, spoke := range c.Spec.Clusters {
			if spoke.Name == hub.Name {
				continue
			}
			g := sk.Grants[spoke.Name]
			out = append(out, toUnstructured(&skupperv2.AccessGrant{
				ObjectMeta: meta(GrantName(c.Name, spoke.Name, g.Attempt)),
				Spec:       skupperv2.AccessGrantSpec{RedemptionsAllowed: grantRedemptions, ExpirationWindow: grantExpiration},
			}, GVKAccessGrant))
		}
		return out
	}
	// A token is only worth creating once the hub can answer its redemption: a redemption
	// that fails still spends the grant. A token the spoke already holds stays, whatever the
	// hub's endpoints do: deleting a redeemed token and creating it again would present a
	// spent credential (404), and Skupper redeems a new token at once.
	g, ok := sk.Grants[m.Name]
	if ok && (sk.HubSiteEndpoints || g.Issued) && g.URL != "" && g.Code != "" && g.CA != "" {
		out = append(out, toUnstructured(&skupperv2.AccessToken{
			ObjectMeta: meta(TokenName(c.Name, hub.Name, g)),
			Spec:       skupperv2.AccessTokenSpec{URL: g.URL, Code: g.Code, CA: g.CA},
		}, GVKAccessToken))
	}
	return out
}

// ingressSkupper renders, per cross-cluster service, a Connector where it runs and a
// Listener where it does not.
func ingressSkupper(c *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, cluster string) []*unstructured.Unstructured {
	labels := owner.Ingress(c.Name, ing.Namespace, ing.Name).Labels()
	var out []*unstructured.Unstructured
	for _, s := range ing.Spec.Services {
		meta := metav1.ObjectMeta{Name: BindingName(ing.Name, s.Name), Namespace: ing.Namespace, Labels: labels}
		key := RoutingKey(ing.Name, s.Name)
		if contains(s.RunsOn, cluster) {
			out = append(out, toUnstructured(&skupperv2.Connector{ObjectMeta: meta, Spec: skupperv2.ConnectorSpec{
				RoutingKey: key, Port: int(s.Port), Selector: s.Selector,
			}}, GVKConnector))
		} else {
			out = append(out, toUnstructured(&skupperv2.Listener{ObjectMeta: meta, Spec: skupperv2.ListenerSpec{
				RoutingKey: key, Host: ListenerHost(s), Port: int(s.Port),
			}}, GVKListener))
		}
	}
	return out
}
