package realstack

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// Require returns the built real components, or ends tb when this machine cannot run
// them: not root, a host tool missing (Tools), the BGP fabric's tools missing, or the
// named components (all when none is named) not built (Locate). Outside CI that is a
// skip; with CI set it is a failure, because CI must prove the real stack.
func Require(tb testing.TB, components ...string) Binaries {
	tb.Helper()
	b, err := Locate(components...)
	if err == nil {
		err = labfabric.Available()
	}
	if err == nil {
		err = Tools()
	}
	if err != nil {
		if labfabric.InCI() {
			tb.Fatalf("CI is set, so this is a failure, not a skip: %v", err)
		}
		tb.Skip(err)
	}
	return b
}

// StartCluster starts an envtest API server named name (test/testenv: the project's,
// MetalLB's, Gateway API's and Skupper's CRDs) and a Cluster on it, logging into a
// temporary directory. tb.Cleanup stops every process, then the API server; when tb
// failed, the end of every process's log is written to tb first.
func StartCluster(tb testing.TB, bin Binaries, name string) *Cluster {
	tb.Helper()
	env, err := testenv.Start(name)
	if err != nil {
		tb.Fatalf("starting the %s API server: %v", name, err)
	}
	dir := tb.TempDir()
	if keep := os.Getenv("REALSTACK_LOGS"); keep != "" {
		// Logs outlive the test when asked (t.TempDir is removed).
		dir = fmt.Sprintf("%s/%s-%s-%d", keep, tb.Name(), name, time.Now().UnixNano())
	}
	c, err := NewCluster(env.Name, env.Config, env.Client, env.Kubeconfig(), bin, dir)
	if err != nil {
		_ = env.Stop()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			for _, p := range c.Processes() {
				tb.Logf("--- %s log (%s), tail ---\n%s", p.Name, p.LogPath, p.LogTail(6000))
			}
		}
		c.Close()
		_ = env.Stop()
	})
	return c
}

// Eventually polls cond every 200 ms until it returns nil, failing tb with cond's last
// error after timeout. It waits for convergence; it does not measure speed.
func Eventually(tb testing.TB, what string, timeout time.Duration, cond func() error) {
	tb.Helper()
	if err := labfabric.WaitFor(timeout, cond); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

// Ctx is a context for one test's API calls, cancelled by tb.Cleanup.
func Ctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return ctx
}
