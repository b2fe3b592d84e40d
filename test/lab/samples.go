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

// samples returns the class and the ingress to apply on the hub.
func samples(f bgpFabric) (class, ingress *unstructured.Unstructured, err error) {
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
		mm["peers"] = []interface{}{p}
		members[i] = mm
	}
	if err := unstructured.SetNestedSlice(class.Object, members, "spec", "clusters"); err != nil {
		return nil, nil, err
	}
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
	if err := unstructured.SetNestedSlice(class.Object, []interface{}{s}, "spec", "watcher", "sessions"); err != nil {
		return nil, nil, err
	}
	if a, _, _ := unstructured.NestedString(ingress.Object, "spec", "address"); a != VIP {
		return nil, nil, fmt.Errorf("config/samples: the ingress's address is %q, the lab expects %s", a, VIP)
	}
	return class, ingress, nil
}

func setPort(m map[string]interface{}, port uint16) {
	if port == 179 || port == 0 {
		delete(m, "port")
		return
	}
	m["port"] = int64(port)
}

// vipPrefix is the VIP as a host route.
func vipPrefix() netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(VIP), 32) }
