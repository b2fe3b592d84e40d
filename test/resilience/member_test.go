//go:build resilience

package resilience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/operator"
	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestMemberRestartAndCompaction: while the operator programs 60 new ingresses, east's
// API server is killed; while it is down a third of the ingresses change (a second route)
// and a sixth drain east, and both etcds (east's and the hub's) are compacted to their
// latest revision, so that no watch can resume where it stopped. Then east comes back.
//
// No status is lost: while east is down every ingress reports it (Programmed=False,
// MemberUnavailable, naming east) for its latest generation, and afterwards every
// ingress is Accepted and Programmed for its latest generation, with east holding exactly
// what the ingresses render (the changes made during the outage included), and the
// operator's informers having relisted east (their watches cannot resume from a
// compacted revision).
func TestMemberRestartAndCompaction(t *testing.T) {
	const n = 60
	const cls = "outage"
	ctx := context.Background()
	nss := namespaces(t, "outage", 6)
	create(t, west.Client, class(cls, "10.102.0.0/24"))
	op := startReplica(t, "outage", operator.Options{})
	createIngresses(t, cls, nss, n)
	testenv.Eventually(t, "some ingresses Programmed", 2*time.Minute, func() error {
		if done, _ := programmed(t, cls); done < n/6 {
			time.Sleep(20 * time.Millisecond)
			return fmt.Errorf("%d Programmed", done)
		}
		return nil
	})

	// East goes down in the middle of programming.
	if err := east.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = east.StartAPIServer()
		}
	})
	done, _ := programmed(t, cls)
	t.Logf("east's API server killed with %d of %d ingresses Programmed", done, n)

	// Changes while east is down: a second route on a third, a drain of east on a sixth.
	changed := map[string]bool{}
	for i, ing := range ingressesOf(t, cls) {
		if i%3 != 0 {
			continue
		}
		ing := ing
		drain := i%6 == 0
		testenv.Eventually(t, "update "+ing.Name, time.Minute, func() error {
			cur := &v1alpha1.AnycastIngress{}
			if err := west.Client.Get(ctx, client.ObjectKeyFromObject(&ing), cur); err != nil {
				return err
			}
			cur.Spec.Routes = append(cur.Spec.Routes, v1alpha1.Route{Name: "api", PathPrefix: "/api", Backend: v1alpha1.Backend{Service: "api", Port: 9090}})
			if drain {
				cur.Spec.Drain = []string{"east"}
			}
			return west.Client.Update(ctx, cur)
		})
		changed[ing.Namespace+"/"+ing.Name] = true
	}

	// Every ingress says east is unavailable, for its latest generation.
	testenv.Eventually(t, "every ingress reports east unavailable", 2*time.Minute, func() error {
		for _, i := range ingressesOf(t, cls) {
			c := meta.FindStatusCondition(i.Status.Conditions, v1alpha1.ConditionProgrammed)
			if c == nil || c.ObservedGeneration != i.Generation || c.Status != metav1.ConditionFalse || c.Reason != string(v1alpha1.ReasonMemberUnavailable) || !strings.Contains(c.Message, "east") {
				time.Sleep(200 * time.Millisecond)
				return fmt.Errorf("%s/%s: Programmed %+v (generation %d)", i.Namespace, i.Name, c, i.Generation)
			}
			if i.Status.ObservedGeneration != i.Generation {
				return fmt.Errorf("%s/%s: status describes generation %d of %d", i.Namespace, i.Name, i.Status.ObservedGeneration, i.Generation)
			}
		}
		return nil
	})

	// Compact both etcds to their latest revision: watches cannot resume.
	for _, e := range []*testenv.Env{east, west} {
		rev := compact(t, e)
		t.Logf("compacted %s's etcd at revision %d", e.Name, rev)
	}
	op.counter.Reset()
	if err := east.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	start := time.Now()
	waitConverged(t, cls, n, 3*time.Minute)
	t.Logf("converged %s after east's API server returned", time.Since(start).Round(time.Millisecond))
	for _, i := range ingressesOf(t, cls) {
		// Ready also needs the Gateways' health, which no Gateway implementation provides
		// here: Accepted and Programmed are the operator's own verdicts.
		for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionProgrammed} {
			if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, typ, metav1.ConditionTrue, ""); err != nil {
				t.Errorf("%s/%s: %v", i.Namespace, i.Name, err)
			}
		}
		if changed[i.Namespace+"/"+i.Name] && i.Generation < 2 {
			t.Errorf("%s/%s: the change made during the outage is missing (generation %d)", i.Namespace, i.Name, i.Generation)
		}
	}
	// Reconciles read pools from the cache: a list of them (or a watch starting with
	// every object, as client-go's informers list) is an informer relisting.
	relists := op.counter.Count(func(r apicount.Request) bool {
		return r.Cluster != "hub" && r.Lists() && r.Resource == "ipaddresspools"
	})
	t.Logf("east after its return: %d lists of IPAddressPools (informer relists), %d requests in all", relists,
		op.counter.Count(func(r apicount.Request) bool { return r.Cluster != "hub" }))
	if relists == 0 {
		t.Logf("east requests: %v", op.counter.Breakdown(func(r apicount.Request) string {
			if r.Cluster == "hub" {
				return "hub"
			}
			return fmt.Sprintf("%s %s %s initial=%v", r.Verb, r.Resource, r.Subresource, r.InitialEvents)
		}))
		t.Error("the operator never relisted east's IPAddressPools after its API server returned with a compacted etcd")
	}
	deleteClass(t, cls)
}

// compact compacts e's etcd at its current revision through etcd's JSON gateway and
// returns the revision.
func compact(t testing.TB, e *testenv.Env) int64 {
	t.Helper()
	base := e.Environment().ControlPlane.Etcd.URL.String()
	call := func(path string, body any, out any) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("etcd %s: %s: %s", path, resp.Status, raw)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("etcd %s: %v: %s", path, err, raw)
			}
		}
	}
	var rng struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	// Any key: the response header carries the store's revision.
	call("/v3/kv/range", map[string]string{"key": "Lw=="}, &rng)
	var rev int64
	if _, err := fmt.Sscan(rng.Header.Revision, &rev); err != nil || rev == 0 {
		t.Fatalf("etcd revision %q: %v", rng.Header.Revision, err)
	}
	call("/v3/kv/compaction", map[string]any{"revision": rev, "physical": true}, nil)
	return rev
}
