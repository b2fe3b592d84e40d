package realstack

import (
	"fmt"
	"sort"
	"time"
)

// TraefikControllerName is the GatewayClass controllerName Traefik owns.
const TraefikControllerName = "traefik.io/gateway-controller"

// TraefikOptions shape Traefik on a node.
type TraefikOptions struct {
	// EntryPoints name Traefik's listening ports, name -> port. Traefik attaches a Gateway
	// listener to the entry point whose port is the listener's port: a listener without
	// one is not programmed. Every port listens on all of the node's addresses.
	EntryPoints map[string]int
	// StatusAddress, if set, is what Traefik writes into Gateways' status.addresses (it
	// writes nothing there otherwise: it ignores spec.addresses).
	StatusAddress string
	LogLevel      string // TRACE, DEBUG, INFO (default), WARN, ERROR
}

// StartTraefik runs real Traefik in the node's network namespace with its Kubernetes
// Gateway API provider, reading the cluster through KUBECONFIG:
//
//	KUBECONFIG=K ip netns exec NS traefik --providers.kubernetesgateway
//	    --entryPoints.<name>.address=:<port> ... --global.checkNewVersion=false
//	    --global.sendAnonymousUsage=false
//
// (the two global options keep it from calling home). It serves the HTTPRoutes of
// Gateways whose GatewayClass has controllerName traefik.io/gateway-controller, resolving
// backends through EndpointSlices (StandInEndpointSlice). It returns once the provider
// has started.
func (n *Node) StartTraefik(o TraefikOptions) (*Process, error) {
	c := n.Cluster
	if o.LogLevel == "" {
		o.LogLevel = "INFO"
	}
	if len(o.EntryPoints) == 0 {
		return nil, fmt.Errorf("traefik on node %s: no entry points", n.Name)
	}
	args := []string{"ip", "netns", "exec", n.NetNS, c.Bin.TraefikBinary(),
		"--providers.kubernetesgateway=true",
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
		"--log.level=" + o.LogLevel}
	names := make([]string, 0, len(o.EntryPoints))
	for name := range o.EntryPoints {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, fmt.Sprintf("--entryPoints.%s.address=:%d", name, o.EntryPoints[name]))
	}
	if o.StatusAddress != "" {
		args = append(args, "--providers.kubernetesgateway.statusAddress.ip="+o.StatusAddress)
	}
	p, err := startProcess(n.Dir, "traefik", []string{"KUBECONFIG=" + c.Kubeconfig}, args...)
	if err != nil {
		return nil, err
	}
	c.track(p)
	return p, p.waitLog(2*time.Minute, "Starting provider *gateway.Provider")
}
