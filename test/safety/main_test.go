// Package safety_test proves the health gate and the drain modes against real routers: FRR
// core (64666) and TORs (64001, 64002) in network namespaces; each cluster's MetalLB
// speaker played by the lab's stand-in (test/lab/speaker), which reads the MetalLB
// objects the operator writes on that cluster and drives a gobgpd speaker (65001, 65002);
// the operator's watcher peering with the core. West (the hub) and east are real API
// servers; clearly named fixtures play the Gateway implementation with MetalLB's IP
// assignment (test/fixtures/gateway) and the Skupper controller (test/fixtures/skupper).
package safety_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/internal/operator"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	skupperfixture "github.com/anycast-operator/anycast-operator/test/fixtures/skupper"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const operatorNamespace = "anycast-system"

var (
	west, east     *testenv.Env
	westGW, eastGW *gatewayfixture.Implementation
	runCtx         context.Context
)

func TestMain(m *testing.M) {
	level := zapcore.Level(2)
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		level = -2
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(level)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if west, err = testenv.Start("west"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = west.Stop() }()
	if east, err = testenv.Start("east"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = east.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runCtx = ctx
	for _, e := range []*testenv.Env{west, east} {
		for _, ns := range []string{operatorNamespace, "metallb-system"} {
			if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				fmt.Fprintln(os.Stderr, "FAIL:", err)
				return 1
			}
		}
	}
	if err := west.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "east-kubeconfig", Namespace: operatorNamespace},
		Data:       map[string][]byte{"kubeconfig": east.Kubeconfig()},
	}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	mgr, err := operator.New(west.Config, operator.Options{Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0", MemberProbeInterval: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: operator:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	westGW = &gatewayfixture.Implementation{Client: west.Client, GatewayClassNames: []string{"envoy"}}
	eastGW = &gatewayfixture.Implementation{Client: east.Client, GatewayClassNames: []string{"envoy"}}
	go westGW.Run(ctx)
	go eastGW.Run(ctx)
	sk := &skupperfixture.Fixture{Hub: west.Client, HubSite: "west", Spokes: map[string]client.Client{"east": east.Client}}
	sk.SetHubEndpoints(true)
	sk.SetRouter(true) // the stand-in for the skupper-router pods
	go sk.Run(ctx)

	code := m.Run()
	cancel()
	<-done
	return code
}
