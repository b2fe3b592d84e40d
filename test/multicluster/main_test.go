// Package multicluster_test runs the operator on a hub (west) against three real API
// servers in one test process — west, east and north, each with etcd and every CRD — and
// checks fan-out, Skupper linking, member outages, deletion and cleanup across clusters.
// A clearly named fixture (test/fixtures/skupper) plays the Skupper controllers' status
// writes; nothing else is simulated.
package multicluster_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/internal/logging"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"
	skupperfixture "github.com/anycast-operator/anycast-operator/test/fixtures/skupper"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

const (
	operatorNamespace = "anycast-system"
	mlbNS             = "metallb-system"
)

var (
	west, east, north *testenv.Env
	// bare is a cluster without the MetalLB, Gateway API and Skupper CRDs.
	bare    *testenv.Env
	skupper *skupperfixture.Fixture
)

// operatorLogs holds everything the operator logs, at every level, so tests can check
// that no secret reaches a log line.
var operatorLogs syncBuffer

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	var out io.Writer = &operatorLogs
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		out = io.MultiWriter(&operatorLogs, os.Stderr)
	}
	// The most verbose the operator can be made to log (internal/logging clamps the
	// level): whatever it prints there is checked for secrets.
	logger, _ := logging.New(zap.Options{Development: true, Level: zapcore.Level(-10)}, out)
	ctrl.SetLogger(logger)
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	for _, e := range []struct {
		name string
		env  **testenv.Env
	}{{"west", &west}, {"east", &east}, {"north", &north}} {
		*e.env, err = testenv.Start(e.name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
			return 1
		}
		defer func(env *testenv.Env) { _ = env.Stop() }(*e.env)
	}
	if bare, err = testenv.StartBare("bare"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		return 1
	}
	defer func() { _ = bare.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, e := range []*testenv.Env{west, east, north} {
		for _, ns := range []string{operatorNamespace, mlbNS} {
			if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				fmt.Fprintln(os.Stderr, "FAIL:", err)
				return 1
			}
		}
	}
	// The hub reaches east and north through kubeconfig Secrets, as in production.
	for name, e := range map[string]*testenv.Env{"east": east, "north": north, "bare": bare} {
		if err := west.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-kubeconfig", Namespace: operatorNamespace},
			Data:       map[string][]byte{"kubeconfig": e.Kubeconfig()},
		}); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
	}

	mgr, err := operator.New(west.Config, operator.Options{
		Namespace: operatorNamespace, MetricsAddr: "0", ProbeAddr: "0",
		MemberProbeInterval: time.Second, MemberProbeTimeout: 2 * time.Second,
		SweepInterval: 5 * time.Second,
		// The test's API servers grant the operator everything; in production the chart
		// lists the namespaces (certificates.namespaces).
		CertificateNamespaces: []string{"*"},
		// The members' own certificates are read again this often (a minute by default).
		CertificateRecheck: 3 * time.Second,
		WrapTransport:      wrapMembers,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: operator:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	skupper = &skupperfixture.Fixture{
		Hub: west.Client, HubSite: "west",
		Spokes: map[string]client.Client{"east": east.Client, "north": north.Client},
		// A failed token the operator leaves in place is retried by Skupper on its resync
		// (30 s); a shorter one here makes such a token show up within the tests.
		Resync: 3 * time.Second,
	}
	skupper.SetHubEndpoints(true)
	// The stand-in for the skupper-router pods: without it Links never become Ready.
	skupper.SetRouter(true)
	go skupper.Run(ctx)
	// Clearly named stand-ins for each cluster's Gateway implementation and MetalLB IP
	// assignment: the health gate reads what they report.
	for _, e := range []*testenv.Env{west, east, north} {
		go (&gatewayfixture.Implementation{Client: e.Client, GatewayClassNames: []string{"envoy"}}).Run(ctx)
	}

	code := m.Run()
	if dir := os.Getenv("TEST_LOG_DIR"); dir != "" {
		_ = os.WriteFile(dir+"/multicluster-operator.log", []byte(operatorLogs.String()), 0o644)
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
	}
	return code
}
