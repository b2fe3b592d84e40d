package realstack

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fixtures/resync"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KubeProxy stands in for kube-proxy on one node, which does not run here. kube-proxy
// makes a LoadBalancer Service's address reachable on every node for as long as the
// Service holds it (status.loadBalancer.ingress), whether or not MetalLB announces it
// from that node; in IPVS mode it binds the address to a local interface (kube-ipvs0)
// and forwards each Service port to the endpoints' targetPort. This stand-in binds the
// address to the node namespace's loopback (no dummy interfaces here) and forwards
// nothing itself: the node's own process listening on the Service port on all addresses
// (Traefik's entry point, a pod on the host network) answers, which is what IPVS's
// forwarding to that local endpoint amounts to when targetPort equals port. A Service
// whose targetPort differs from its port cannot be played that way and is reported in
// Problems, not silently served.
type KubeProxy struct {
	Client client.Client
	Node   *Node
	// Interval between passes (default 200 ms).
	Interval time.Duration

	mu       sync.Mutex
	bound    map[netip.Addr]string // address -> the Service holding it (namespace/name)
	problems []string
	events   []ProxyEvent
}

// ProxyEvent is one bind or unbind of an address.
type ProxyEvent struct {
	At   time.Time
	What string
}

// Events lists every bind and unbind so far, in order.
func (k *KubeProxy) Events() []ProxyEvent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ProxyEvent(nil), k.events...)
}

func (k *KubeProxy) event(format string, args ...any) {
	k.events = append(k.events, ProxyEvent{At: time.Now(), What: fmt.Sprintf(format, args...)})
}

// Run syncs until ctx ends, then unbinds every address it bound.
func (k *KubeProxy) Run(ctx context.Context) {
	resync.Every(ctx, k.Interval, 200*time.Millisecond, func() { _ = k.Sync(ctx) })
	k.unbindAll()
}

// Sync does one pass: the addresses LoadBalancer Services hold are bound, the others
// unbound.
func (k *KubeProxy) Sync(ctx context.Context) error {
	svcs := &corev1.ServiceList{}
	if err := k.Client.List(ctx, svcs); err != nil {
		return err
	}
	want := map[netip.Addr]string{}
	var problems []string
	for _, s := range svcs.Items {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		held := false
		for _, in := range s.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				want[a], held = s.Namespace+"/"+s.Name, true
			}
		}
		if !held {
			continue
		}
		for _, p := range s.Spec.Ports {
			if tp := p.TargetPort.IntVal; tp != 0 && tp != p.Port {
				problems = append(problems, fmt.Sprintf("%s/%s port %d -> targetPort %d: the kube-proxy stand-in binds the address but does not translate ports",
					s.Namespace, s.Name, p.Port, tp))
			}
		}
	}
	k.mu.Lock()
	if k.bound == nil {
		k.bound = map[netip.Addr]string{}
	}
	var add, del []netip.Addr
	for a := range want {
		if _, ok := k.bound[a]; !ok {
			add = append(add, a)
		}
	}
	for a := range k.bound {
		if _, ok := want[a]; !ok {
			del = append(del, a)
		}
	}
	k.problems = problems
	k.mu.Unlock()
	var errs []string
	for _, a := range add {
		if err := k.addr("add", a); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		k.mu.Lock()
		k.bound[a] = want[a]
		k.event("bound %s (%s)", a, want[a])
		k.mu.Unlock()
	}
	for _, a := range del {
		if err := k.addr("del", a); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		k.mu.Lock()
		k.event("unbound %s (%s)", a, k.bound[a])
		delete(k.bound, a)
		k.mu.Unlock()
	}
	if len(errs) > 0 {
		return fmt.Errorf("kube-proxy stand-in on %s: %s", k.Node.Name, strings.Join(errs, "; "))
	}
	return nil
}

func (k *KubeProxy) addr(op string, a netip.Addr) error {
	out, err := exec.Command("ip", "-n", k.Node.NetNS, "addr", op, netip.PrefixFrom(a, a.BitLen()).String(), "dev", "lo").CombinedOutput()
	if err != nil && !(op == "add" && strings.Contains(string(out), "File exists")) && !(op == "del" && strings.Contains(string(out), "Cannot assign")) {
		return fmt.Errorf("ip addr %s %s in %s: %v: %s", op, a, k.Node.NetNS, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (k *KubeProxy) unbindAll() {
	k.mu.Lock()
	list := make([]netip.Addr, 0, len(k.bound))
	for a := range k.bound {
		list = append(list, a)
	}
	k.bound = map[netip.Addr]string{}
	k.mu.Unlock()
	for _, a := range list {
		_ = k.addr("del", a)
	}
}

// Bound lists the addresses bound now, as "address (namespace/service)", sorted.
func (k *KubeProxy) Bound() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.bound))
	for a, s := range k.bound {
		out = append(out, fmt.Sprintf("%s (%s)", a, s))
	}
	sort.Strings(out)
	return out
}

// Problems lists the Services the stand-in cannot play faithfully.
func (k *KubeProxy) Problems() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.problems...)
}
