// Package bmp_test proves the watcher's BMP collector (internal/bgp, spec.watcher.bmp)
// against real routers: the FRR fabric of test/fabric (core 64666, TORs 64001 and 64002,
// gobgpd speakers for the clusters 65001 and 65002), whose bgpd is restarted with FRR's BMP
// module so the TORs and the core stream BMP to this test process; beside it, the BGP
// watcher's session to the core gives the verdicts BMP must match. The hub (west) and the
// spoke (east) are real API servers, the operator runs in this process.
//
// Needs root, FRR (with its bmp module, Debian's bgpd has it), gobgpd and iproute2: the
// tests are skipped without them, and fail instead under CI=true.
package bmp_test

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
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/internal/operator"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const (
	operatorNamespace = "anycast-system"
	converge          = 90 * time.Second
)

var west, east *testenv.Env

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
	for _, e := range []*testenv.Env{west, east} {
		for _, ns := range []string{operatorNamespace, "metallb-system", "hello-world"} {
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
	mgr, err := operator.New(west.Config, operator.Options{
		Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0", MemberProbeInterval: time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: operator:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Clearly named stand-ins for each cluster's Gateway implementation and MetalLB IP
	// assignment: the health gate reads what they report.
	for _, e := range []*testenv.Env{west, east} {
		go (&gatewayfixture.Implementation{Client: e.Client, GatewayClassNames: []string{"envoy"}}).Run(ctx)
	}
	code := m.Run()
	cancel()
	<-done
	return code
}
