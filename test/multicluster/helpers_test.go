package multicluster_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const converge = 60 * time.Second

// member is a class member: west is local (no kubeconfig), the others use their Secret.
func member(name string, asn int64, interconnect v1alpha1.Interconnect) v1alpha1.ClusterMember {
	m := v1alpha1.ClusterMember{
		Name: name, ASN: asn, Interconnect: interconnect,
		Peers: []v1alpha1.Peer{{Name: "tor", Address: fmt.Sprintf("198.18.%d.254", asn-65000), ASN: asn - 1000}},
	}
	if name != "west" {
		m.KubeconfigSecretRef = &v1alpha1.SecretKeyReference{Name: name + "-kubeconfig"}
	}
	return m
}

func class(name string, members ...v1alpha1.ClusterMember) *v1alpha1.AnycastClass {
	// Each class its own TOR addresses: MetalLB refuses one peer defined by two classes on
	// one cluster, and the operator refuses the younger class there.
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	n := h.Sum32()
	for i := range members {
		for j := range members[i].Peers {
			members[i].Peers[j].Address = fmt.Sprintf("10.%d.%d.%d", n%250+1, (n/250)%250+1, members[i].ASN-64990)
		}
	}
	return &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools: []string{"192.168.155.0/24"}, GatewayClassName: "envoy", Clusters: members,
		},
	}
}

// threeClusters is the class of the acceptance tests: west the hub (its Skupper router
// reached through a LoadBalancer from the skupper-links pool), east and north spokes.
func threeClusters(name string) *v1alpha1.AnycastClass {
	hub := member("west", 65001, v1alpha1.InterconnectHub)
	hub.RouterAccess = &v1alpha1.RouterAccess{Type: v1alpha1.RouterAccessLoadBalancer, Pool: "skupper-links"}
	return class(name, hub, member("east", 65002, v1alpha1.InterconnectSpoke), member("north", 65003, v1alpha1.InterconnectSpoke))
}

func ingress(ns, name, cls, address string, mutate ...func(*v1alpha1.AnycastIngress)) *v1alpha1.AnycastIngress {
	i := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: cls, Address: address},
	}
	for _, f := range mutate {
		f(i)
	}
	return i
}

func withBackendOn(clusters ...string) func(*v1alpha1.AnycastIngress) {
	return func(i *v1alpha1.AnycastIngress) {
		i.Spec.Routes = []v1alpha1.Route{{Name: "api", PathPrefix: "/api", Backend: v1alpha1.Backend{Service: "backend", Port: 8080}}}
		i.Spec.Services = []v1alpha1.CrossClusterService{{Name: "backend", Port: 8080, Selector: "app=backend", RunsOn: clusters}}
	}
}

// backendOn runs the "backend" workload on the given clusters: a Service, ready
// endpoints and ready pods in ns (what the kubelet and the EndpointSlice controller would
// report).
func backendOn(t *testing.T, ns string, envs ...*testenv.Env) {
	t.Helper()
	for _, e := range envs {
		if err := e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if err := gatewayfixture.ReadyBackend(context.Background(), e.Client, ns, "backend", 8080, 2); err != nil {
			t.Fatal(err)
		}
	}
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	if err := west.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	testenv.Eventually(t, "update "+obj.GetName(), converge, func() error {
		if err := west.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return west.Client.Update(context.Background(), obj)
	})
}

// waitIngress waits until check accepts the ingress and returns it.
func waitIngress(t *testing.T, ns, name, what string, check func(*v1alpha1.AnycastIngress) error) *v1alpha1.AnycastIngress {
	t.Helper()
	var ing *v1alpha1.AnycastIngress
	testenv.Eventually(t, fmt.Sprintf("ingress %s/%s: %s", ns, name, what), converge, func() error {
		ing = &v1alpha1.AnycastIngress{}
		if err := west.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ing); err != nil {
			return err
		}
		return check(ing)
	})
	return ing
}

func condition(typ string, status metav1.ConditionStatus, reason string) func(*v1alpha1.AnycastIngress) error {
	return func(i *v1alpha1.AnycastIngress) error {
		if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, typ, status, reason); err != nil {
			return fmt.Errorf("%w; members: %s", err, describeMembers(i))
		}
		return nil
	}
}

// describeMembers summarises the per-member status for failure messages.
func describeMembers(i *v1alpha1.AnycastIngress) string {
	var parts []string
	for _, c := range i.Status.Clusters {
		since := ""
		if c.HealthSince != nil {
			since = c.HealthSince.UTC().Format("15:04:05")
		}
		parts = append(parts, fmt.Sprintf("%s{programmed=%v health=%s since=%s adv=%s reason=%s link=%s msg=%q}",
			c.Name, c.Programmed, c.Health, since, c.Advertisement, c.WithdrawnReason, c.Link, c.Message+c.HealthMessage))
	}
	return strings.Join(parts, " ")
}

func waitClass(t *testing.T, name, what string, timeout time.Duration, check func(*v1alpha1.AnycastClass) error) *v1alpha1.AnycastClass {
	t.Helper()
	var c *v1alpha1.AnycastClass
	testenv.Eventually(t, fmt.Sprintf("class %s: %s", name, what), timeout, func() error {
		c = &v1alpha1.AnycastClass{}
		if err := west.Client.Get(context.Background(), client.ObjectKey{Name: name}, c); err != nil {
			return err
		}
		return check(c)
	})
	return c
}

func classMember(c *v1alpha1.AnycastClass, name string) *v1alpha1.ClusterStatus {
	for k := range c.Status.Clusters {
		if c.Status.Clusters[k].Name == name {
			return &c.Status.Clusters[k]
		}
	}
	return nil
}

func conditionMessage(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

func mentions(s string, words ...string) error {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return fmt.Errorf("%q does not mention %q", s, w)
		}
	}
	return nil
}
