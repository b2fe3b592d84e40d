package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// The lab applies the project's samples (config/samples), the reference AnycastClass
// `datacenter` and AnycastIngress `hello-world/hello`, with only what the fabric decides
// changed: the TORs' addresses (and ports) and the watcher's session to the core.
const (
	ClassName        = "datacenter"
	IngressNamespace = "hello-world"
	IngressName      = "hello"
	// VIP is the address of the sample ingress.
	VIP = "192.168.155.151"
	// VIP6 is the sample ingress's address on the IPv6 run (Options.IPv6), from Pool6.
	VIP6 = "2001:db8:155::151"
	// Pool6 is the IPv6 anycast pool the real stack adds to the sample class.
	Pool6 = "2001:db8:155::/64"
	// OperatorNamespace is where the operator runs on the hub and reads kubeconfig Secrets.
	OperatorNamespace = "anycast-system"
	// MetalLBNamespace is the samples' metallbNamespace.
	MetalLBNamespace = "metallb-system"
	// EastSecret is the kubeconfig Secret the class names for east.
	EastSecret = "east-kubeconfig"
)

func sampleFile(name string) (*unstructured.Unstructured, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	p := filepath.Join(root, "config", "samples", name)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return u, nil
}

// sampleOptions say what else than the fabric's addresses changes in the samples: on the
// real stack, the members' MetalLB modes and TORs, Traefik's class and Service, the IPv6
// pool, and the VIP.
type sampleOptions struct {
	vip     netip.Addr
	real    bool
	members []sampleMember
	bmp     *bmpWatcher // the routers stream BMP: the watcher collects instead of peering
	// receive keeps the sample's spec.receive (the real stack's IPv4 run).
	receive bool
}

// bmpWatcher is the watcher's BMP collector in the lab: a port on the watcher's end of
// every router link and the routers allowed to stream.
type bmpWatcher struct {
	port    uint16
	routers []bmpRouter
}

type bmpRouter struct {
	name string
	addr netip.Addr
}

// sampleMember is one member on the real stack.
type sampleMember struct {
	name, mode string
	tor        netip.Addr
	torASN     uint32
}

// nativeRefuses are the peer fields of the samples that MetalLB's native mode rejects
// (the operator would refuse the member: UnsupportedByMetalLBMode).
var nativeRefuses = []string{"bfd", "keepaliveTime", "connectTime"}

// samples returns the class and the ingress to apply on the hub.
func samples(f bgpFabric, o sampleOptions) (class, ingress *unstructured.Unstructured, err error) {
	if class, err = sampleFile("anycast_v1alpha1_anycastclass.yaml"); err != nil {
		return nil, nil, err
	}
	if ingress, err = sampleFile("anycast_v1alpha1_anycastingress.yaml"); err != nil {
		return nil, nil, err
	}
	if class.GetName() != ClassName || ingress.GetName() != IngressName || ingress.GetNamespace() != IngressNamespace {
		return nil, nil, fmt.Errorf("config/samples no longer hold AnycastClass %s and AnycastIngress %s/%s", ClassName, IngressNamespace, IngressName)
	}
	members, _, _ := unstructured.NestedSlice(class.Object, "spec", "clusters")
	for i, m := range members {
		mm := m.(map[string]interface{})
		name, _ := mm["name"].(string)
		if name != "west" && name != "east" {
			return nil, nil, fmt.Errorf("config/samples: member %q is not west or east", name)
		}
		addr, asn, port := f.TOR(name)
		peers, _ := mm["peers"].([]interface{})
		if len(peers) == 0 {
			peers = []interface{}{map[string]interface{}{"name": "tor"}}
		}
		// One TOR per cluster in the reference topology: the first sample peer becomes it.
		p := peers[0].(map[string]interface{})
		p["address"], p["asn"] = addr.String(), int64(asn)
		setPort(p, port)
		for _, m := range o.members {
			if m.name != name {
				continue
			}
			mm["metallbMode"] = m.mode
			p["address"], p["asn"] = m.tor.String(), int64(m.torASN)
			if m.mode == "native" {
				for _, field := range nativeRefuses {
					delete(p, field)
				}
				// Native mode cannot receive: the member opts out of the class's
				// receive (its node gets a static route to the clients instead).
				mm["receive"] = map[string]interface{}{"mode": "None"}
			}
		}
		mm["peers"] = []interface{}{p}
		members[i] = mm
	}
	if err := unstructured.SetNestedSlice(class.Object, members, "spec", "clusters"); err != nil {
		return nil, nil, err
	}
	// The sample's nodes learn the clients' networks from their TORs (spec.receive): so do
	// the real stack's frr-k8s nodes on the IPv4 run, whose default route leads to a
	// management network (o.receive). The stand-ins' speakers receive nothing, and the
	// IPv6 run has no IPv4 peer for the sample's IPv4 prefix.
	if !o.receive {
		unstructured.RemoveNestedField(class.Object, "spec", "receive")
	}
	if o.bmp != nil {
		if err := setBMP(class, o.bmp); err != nil {
			return nil, nil, err
		}
	} else if err := setSession(class, f); err != nil {
		return nil, nil, err
	}
	if a, _, _ := unstructured.NestedString(ingress.Object, "spec", "address"); a != VIP {
		return nil, nil, fmt.Errorf("config/samples: the ingress's address is %q, the lab expects %s", a, VIP)
	}
	if !o.real {
		return class, ingress, nil
	}
	return class, ingress, realSamples(class, ingress, o)
}

// setSession points the sample's watcher session at the fabric's core.
func setSession(class *unstructured.Unstructured, f bgpFabric) error {
	local, router, asn, port := f.Watcher()
	sessions, _, _ := unstructured.NestedSlice(class.Object, "spec", "watcher", "sessions")
	if len(sessions) == 0 {
		sessions = []interface{}{map[string]interface{}{"name": "core"}}
	}
	s := sessions[0].(map[string]interface{})
	s["address"], s["localAddress"], s["asn"] = router.String(), local.String(), int64(asn)
	setPort(s, port)
	// Directly connected, and quick to retry: the watcher may dial before the core listens.
	delete(s, "multihop")
	s["connectRetry"], s["holdTime"], s["keepaliveTime"] = "1s", "9s", "3s"
	return unstructured.SetNestedSlice(class.Object, []interface{}{s}, "spec", "watcher", "sessions")
}

// setBMP replaces the sample's watcher session by a BMP collector the routers stream to,
// listening on every address (the routers connect to the watcher's end of their links).
func setBMP(class *unstructured.Unstructured, w *bmpWatcher) error {
	unstructured.RemoveNestedField(class.Object, "spec", "watcher", "sessions")
	var routers []interface{}
	for _, r := range w.routers {
		routers = append(routers, map[string]interface{}{"name": r.name, "address": r.addr.String()})
	}
	return unstructured.SetNestedMap(class.Object, map[string]interface{}{"port": int64(w.port), "routers": routers}, "spec", "watcher", "bmp")
}

// realSamples are the real stack's changes: Traefik's class and Service, the IPv6 pool,
// the VIP.
func realSamples(class, ingress *unstructured.Unstructured, o sampleOptions) error {
	// Traefik serves every Gateway from one data plane and makes no Service per Gateway:
	// the operator makes it, in Traefik's namespace, selecting Traefik's pods, the
	// listener's port mapped to the entry point's (docs/gateway-implementations.md).
	if err := unstructured.SetNestedField(class.Object, TraefikClass, "spec", "gatewayClassName"); err != nil {
		return err
	}
	if err := unstructured.SetNestedMap(class.Object, map[string]interface{}{
		"provisioner": "Operator",
		"namespace":   TraefikNamespace,
		"selector":    map[string]interface{}{"app.kubernetes.io/name": "traefik"},
		"ports": []interface{}{
			map[string]interface{}{"port": int64(80), "targetPort": int64(TraefikEntryPoint)},
			map[string]interface{}{"port": int64(TraefikEntryPointSecure), "targetPort": int64(TraefikEntryPointSecure)},
		},
	}, "spec", "gatewayService"); err != nil {
		return err
	}
	pools, _, _ := unstructured.NestedStringSlice(class.Object, "spec", "pools")
	if err := unstructured.SetNestedStringSlice(class.Object, append(pools, Pool6), "spec", "pools"); err != nil {
		return err
	}
	if err := unstructured.SetNestedField(ingress.Object, o.vip.String(), "spec", "address"); err != nil {
		return err
	}
	// HTTPS beside HTTP, with the certificate the lab made on the hub (copied to east).
	listeners, _, _ := unstructured.NestedSlice(ingress.Object, "spec", "listeners")
	listeners = append(listeners, map[string]interface{}{
		"name": "https", "protocol": "HTTPS", "port": int64(TraefikEntryPointSecure), "hostname": "*.apps.example.com",
		"tls": map[string]interface{}{"certificateRefs": []interface{}{HTTPSSecret}},
	})
	return unstructured.SetNestedSlice(ingress.Object, listeners, "spec", "listeners")
}

func setPort(m map[string]interface{}, port uint16) {
	if port == 179 || port == 0 {
		delete(m, "port")
		return
	}
	m["port"] = int64(port)
}
