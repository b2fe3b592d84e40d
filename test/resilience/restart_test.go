//go:build resilience

package resilience_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/test/scale/membercheck"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestRestartMidApply kills the operator twice while it programs 200 ingresses on two
// members and requires convergence without duplicate, orphaned or stale objects:
//
//  1. the operator binary is SIGKILLed once some of the 200 new ingresses are Programmed
//     and others are not (some members half-written, addresses allocated in its memory
//     but not all recorded in status);
//  2. an in-process operator takes over and converges; then every ingress's route is
//     changed and that operator is cancelled (its manager context) part-way through
//     re-programming them;
//  3. a third operator converges again.
//
// After each convergence every labelled object on each member is listed and compared with
// what the 200 ingresses and their class render (membercheck), and no two ingresses hold
// the same address. The class is then deleted and every member must be left empty.
func TestRestartMidApply(t *testing.T) {
	const n = 200
	const cls = "restart"
	ctx := context.Background()
	nss := namespaces(t, "restart", 10)
	create(t, west.Client, class(cls, "10.101.0.0/22"))

	// 1. SIGKILL the binary mid-apply.
	bin := startBinary(t)
	start := time.Now()
	createIngresses(t, cls, nss, n)
	killAt := n / 4
	testenv.Eventually(t, fmt.Sprintf("%d ingresses Programmed by the binary", killAt), 5*time.Minute, func() error {
		if done, _ := programmed(t, cls); done < killAt {
			time.Sleep(20 * time.Millisecond)
			return fmt.Errorf("%d Programmed", done)
		}
		return nil
	})
	bin.kill(t)
	done, _ := programmed(t, cls)
	westObjs, _ := membercheck.Owned(ctx, west.Client, cls)
	eastObjs, _ := membercheck.Owned(ctx, east.Client, cls)
	t.Logf("SIGKILL after %s: %d of %d Programmed; west holds %d objects, east %d (complete: %d each)",
		time.Since(start).Round(time.Millisecond), done, n, len(westObjs), len(eastObjs), 4*n+1)
	if done == n {
		t.Fatal("the binary programmed everything before it was killed: nothing was interrupted")
	}
	if rep, err := membercheck.Check(ctx, west.Client, cls, map[string]client.Client{"west": west.Client, "east": east.Client}); err == nil && rep.OK() {
		t.Fatal("the members were complete when the binary was killed: nothing was interrupted")
	}

	// 2. A new operator converges; then an update of all 200 is interrupted.
	second := startReplica(t, "second", operator.Options{})
	start = time.Now()
	// The Gateway implementation stand-in programs the 400 Gateways one pass at a time,
	// and each member advertises only once its Gateway is programmed (its health): about
	// 1.5 minutes on a quiet 2-core machine, most of it the stand-in's.
	rep := waitConverged(t, cls, n, 10*time.Minute)
	t.Logf("after the SIGKILL, a new operator converged in %s: west %d objects, east %d", time.Since(start).Round(time.Millisecond), rep.Objects["west"], rep.Objects["east"])

	// The operator is cancelled while the update is still being written, once a tenth of
	// it is programmed: with sixteen workers the operator kept up with the writes, and
	// waiting for the update to be written, then for half of it programmed, found all 200
	// programmed by the time the cancel returned (CI): nothing was interrupted.
	before := ingressesOf(t, cls)
	gens := map[string]int64{}
	for _, i := range before {
		gens[i.Namespace+"/"+i.Name] = i.Generation
	}
	cancelled, gone := make(chan error, 1), make(chan struct{})
	defer close(gone) // a test that failed first does not leave it polling
	go func() {
		for {
			done, _, err := countProgrammed(cls, gens)
			if err != nil || done >= n/10 {
				second.cancel()
				cancelled <- err
				return
			}
			select {
			case <-gone:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	updateIngresses(t, before, func(cur *v1alpha1.AnycastIngress) {
		cur.Spec.Routes = append(cur.Spec.Routes, v1alpha1.Route{Name: "api", PathPrefix: "/api", Backend: v1alpha1.Backend{Service: "api", Port: 9090}})
	})
	select {
	case err := <-cancelled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("a tenth of the update not programmed after 5 minutes: %s", notProgrammed(t, cls))
	}
	if err := second.stop(t); err != nil {
		t.Logf("the cancelled operator returned: %v", err)
	}
	done, _ = programmed(t, cls)
	t.Logf("cancelled the second operator with %d of %d updates Programmed", done, n)
	if done == n {
		t.Fatal("the second operator programmed every update before it was cancelled: nothing was interrupted")
	}

	// 3. A third operator converges.
	third := startReplica(t, "third", operator.Options{})
	start = time.Now()
	rep = waitConverged(t, cls, n, 5*time.Minute)
	t.Logf("the third operator converged in %s: west %d objects, east %d", time.Since(start).Round(time.Millisecond), rep.Objects["west"], rep.Objects["east"])
	start = time.Now()
	deleteClass(t, cls)
	t.Logf("deleted 200 ingresses and their class; members empty after %s", time.Since(start).Round(time.Millisecond))
	_ = third
}
