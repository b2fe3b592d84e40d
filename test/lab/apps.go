package lab

import (
	"context"
	"fmt"

	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
)

// The lab has no nodes, so nothing runs the sample's workloads, proxies or MetalLB's
// controller. What they would write is written by fixtures, each a clearly named
// stand-in: test/fixtures/gateway plays each cluster's Gateway API implementation and
// MetalLB's address assignment (the Gateway's LoadBalancer Service gets the VIP, the
// Gateway is Programmed with it), and its ReadyBackend writes what the scheduler, the
// kubelet and the EndpointSlice controller would for running pods.

// sampleBackends are the sample ingress's route backends and where they run: hello-world
// on both clusters, backend on east only (west reaches it over Skupper).
var sampleBackends = []struct {
	cluster, service string
	port             int32
}{
	{"west", "hello-world", 8080},
	{"east", "hello-world", 8080},
	{"east", "backend", 8080},
}

// startGateways runs the Gateway implementation stand-in on every cluster.
func (l *Lab) startGateways(ctx context.Context) {
	for _, c := range []*cluster{l.west, l.east} {
		impl := &gatewayfixture.Implementation{Client: c.Client, MetalLBNamespace: MetalLBNamespace}
		l.wg.Add(1)
		go func() { defer l.wg.Done(); impl.Run(ctx) }()
	}
}

// startBackends makes the sample's backends run: a Service, a ready pod and its
// EndpointSlice where each one runs.
func (l *Lab) startBackends(ctx context.Context) error {
	for _, b := range sampleBackends {
		c := l.west
		if b.cluster == "east" {
			c = l.east
		}
		if err := gatewayfixture.ReadyBackend(ctx, c.Client, IngressNamespace, b.service, b.port, 1); err != nil {
			return fmt.Errorf("%s: backend %s: %w", b.cluster, b.service, err)
		}
	}
	return nil
}
