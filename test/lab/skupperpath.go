package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

// skupperRouterPath stands in for the data path of the Skupper routers, which cannot run
// here (their image is not available; the Skupper controllers are test/fixtures/skupper).
// With Skupper, a client of a Listener's Service on one site reaches the router pod there
// (the Service selects the router pods, its port targeting the router's port for that
// Listener), the routers carry the connection over their Link to a site holding a
// Connector with the same routing key, and that site's router opens a connection to a pod
// the Connector selects, on the Connector's port. This stand-in folds the two routers and
// the Link into one TCP relay per Listener, running in the node namespace of the
// Listener's cluster (where the stand-in router pod's address is) and dialling, from
// there, across the BGP fabric (node, TOR, core, TOR, node), the address of a ready pod
// the matching Connector selects on another cluster.
//
// It relays only while the Listener reports a matching Connector (hasMatchingConnector,
// which only a running router writes: the Skupper fixture's router stand-in,
// SetRouter). Otherwise, and when no ready pod is selected, it accepts and closes the
// connection, as a router with no reachable target does.
type skupperRouterPath struct {
	members map[string]*realMember

	mu     sync.Mutex
	relays map[string]*relay // "<cluster>/<port>"
}

// relay is one Listener's port on one node.
type relay struct {
	cluster, listener string
	ln                net.Listener
	netns             string
	mu                sync.Mutex
	target            string // host:port, "" when none
	accepted, relayed atomic.Int64
}

// Run syncs the relays with the Skupper objects every 500 ms until ctx ends, then closes
// them.
func (p *skupperRouterPath) Run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		_ = p.sync(ctx)
		select {
		case <-ctx.Done():
			p.close()
			return
		case <-t.C:
		}
	}
}

// sync finds, for every Listener on every cluster, the router port its Service targets and
// the pod its matching Connector selects elsewhere.
func (p *skupperRouterPath) sync(ctx context.Context) error {
	type conn struct {
		cluster string
		c       skupperv2.Connector
	}
	var connectors []conn
	for name, m := range p.members {
		list := &skupperv2.ConnectorList{}
		if err := m.cluster.Client.List(ctx, list); err != nil {
			return err
		}
		for _, c := range list.Items {
			connectors = append(connectors, conn{name, c})
		}
	}
	for name, m := range p.members {
		list := &skupperv2.ListenerList{}
		if err := m.cluster.Client.List(ctx, list); err != nil {
			return err
		}
		for _, l := range list.Items {
			port, err := listenerTargetPort(ctx, m.cluster.Client, &l)
			if err != nil || port == 0 {
				continue
			}
			target := ""
			if l.Status.HasMatchingConnector {
				for _, c := range connectors {
					if c.cluster == name || c.c.Namespace != l.Namespace || c.c.Spec.RoutingKey != l.Spec.RoutingKey {
						continue
					}
					if addr := selectedPod(ctx, p.members[c.cluster].cluster.Client, &c.c); addr.IsValid() {
						target = netip.AddrPortFrom(addr, uint16(c.c.Spec.Port)).String()
						break
					}
				}
			}
			r, err := p.relay(name, m.node.NetNS, l.Name, port)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.target = target
			r.mu.Unlock()
		}
	}
	return nil
}

// listenerTargetPort is the router port a Listener's Service targets for it: the Service
// named after the Listener's host, its port named after the Listener.
func listenerTargetPort(ctx context.Context, c client.Client, l *skupperv2.Listener) (int, error) {
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Spec.Host}, svc); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Name == l.Name {
			return int(sp.TargetPort.IntVal), nil
		}
	}
	return 0, nil
}

// selectedPod is the IPv4 address of a ready, running pod the Connector selects (the
// router dials pods by their addresses; the lab's pods have their node's).
func selectedPod(ctx context.Context, c client.Client, co *skupperv2.Connector) netip.Addr {
	sel, err := labels.Parse(co.Spec.Selector)
	if err != nil || co.Spec.Selector == "" {
		return netip.Addr{}
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(co.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return netip.Addr{}
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for _, pod := range pods.Items {
		ready := false
		for _, cond := range pod.Status.Conditions {
			ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
		}
		if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil && ready && pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp.IsZero() {
			return a
		}
	}
	return netip.Addr{}
}

// relay returns the relay of a Listener's port on a cluster's node, listening on every
// address of the node there (the router pod's, on the node's network).
func (p *skupperRouterPath) relay(cluster, netns, listener string, port int) (*relay, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.relays == nil {
		p.relays = map[string]*relay{}
	}
	key := fmt.Sprintf("%s/%d", cluster, port)
	if r, ok := p.relays[key]; ok {
		return r, nil
	}
	ln, err := realstack.ListenInNetNS(netns, fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("Skupper router data path stand-in on %s: %w", cluster, err)
	}
	r := &relay{cluster: cluster, listener: listener, ln: ln, netns: netns}
	p.relays[key] = r
	go r.serve()
	return r, nil
}

func (r *relay) serve() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.accepted.Add(1)
		go r.forward(in)
	}
}

// forward dials the target from the node's namespace and copies both ways.
func (r *relay) forward(in net.Conn) {
	defer in.Close()
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	if target == "" {
		return
	}
	var out net.Conn
	err := realstack.InNetNS(r.netns, func() (err error) {
		out, err = net.DialTimeout("tcp", target, 2*time.Second)
		return err
	})
	if err != nil {
		return
	}
	defer out.Close()
	r.relayed.Add(1)
	realstack.Splice(in, out)
}

// RelayView is one relay as the table shows it.
type RelayView struct {
	Cluster, Listener, Target string
	Accepted, Relayed         int64
}

// views lists the relays.
func (p *skupperRouterPath) views() []RelayView {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []RelayView
	for _, r := range p.relays {
		r.mu.Lock()
		out = append(out, RelayView{Cluster: r.cluster, Listener: r.listener, Target: r.target,
			Accepted: r.accepted.Load(), Relayed: r.relayed.Load()})
		r.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster+out[i].Listener < out[j].Cluster+out[j].Listener })
	return out
}

func (p *skupperRouterPath) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.relays {
		_ = r.ln.Close()
	}
}
