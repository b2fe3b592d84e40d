// Package resilience_test kills, restarts and partitions the operator and its API servers
// while it works, and checks that it converges without losing a status or leaving an
// object behind: two real API servers (west, the hub, also a member; east, a member
// reached through its kubeconfig Secret) with every CRD, the operator built by
// operator.New as the binary builds it (or the binary itself, to SIGKILL it), and for
// leader election the real BGP fabric (FRR routers and gobgpd speakers, test/fabric).
//
//   - TestRestartMidApply: 200 ingresses; the binary is SIGKILLed while programming them,
//     an in-process operator takes over, is cancelled in the middle of an update of all
//     200, a third converges; every member then holds exactly what the ingresses render
//     (no duplicate, orphan or stale object) and no two ingresses share an address.
//   - TestMemberRestartAndCompaction: east's API server is killed while ingresses are
//     programmed and changed, both etcds are compacted, east comes back: no status lost,
//     the operator relists (410 Gone) and converges.
//   - TestLeaderHandover: two replicas with leader election and a watcher class on the
//     fabric; the leader is cancelled (lease released), later partitioned from its API
//     server (lease expires); the standby takes over each time, the handover time is
//     reported, and the new leader's status matches what the routers carry, including a
//     change made while nobody led.
//
// `make test-resilience` runs them (CI runs it after `make test`).
package resilience_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/internal/testenv"
)

const operatorNamespace = "anycast-system"

var west, east *testenv.Env

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
	return m.Run()
}
