//go:build resilience

package resilience_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const operatorNamespace = "anycast-system"

var west, east *testenv.Env

// fixtures are the Gateway implementation and MetalLB stand-ins of each cluster, by name.
var fixtures = map[string]*gatewayfixture.Implementation{}

func TestMain(m *testing.M) {
	level := zapcore.ErrorLevel
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		level = zapcore.Level(-2)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if west, err = testenv.Start("west"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = west.Stop() }()
	// The operator binary the tests build is removed with the run (30 MiB each).
	defer func() {
		if binaryPath != "" {
			_ = os.RemoveAll(filepath.Dir(binaryPath))
		}
	}()
	if east, err = testenv.Start("east"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = east.Stop() }()
	ctx := context.Background()
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
	// Clearly named stand-ins for each cluster's Gateway implementation and MetalLB's IP
	// assignment: a member advertises a VIP only once its health is known (the Gateway
	// programmed, its Service holding the VIP, the route backends ready), as with the real
	// components, so the members must have something that reports it.
	fctx, stopFixtures := context.WithCancel(ctx)
	defer stopFixtures()
	for _, e := range []*testenv.Env{west, east} {
		f := &gatewayfixture.Implementation{Client: e.Client, GatewayClassNames: []string{"envoy"}}
		fixtures[e.Name] = f
		go f.Run(fctx)
	}
	code := m.Run()
	if binaryPath != "" {
		_ = os.RemoveAll(filepath.Dir(binaryPath))
	}
	return code
}
