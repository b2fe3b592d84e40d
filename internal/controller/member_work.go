package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/notify"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
	"github.com/anycast-operator/anycast-operator/internal/status"
)

// A member that is slow must cost only its own work (issue 20). The members of one
// reconcile are programmed at once, each in its own goroutine, and the reconcile waits
// for them as long as they keep up with each other; a member that falls far behind the
// others is left to finish in the background, its status entry says it is behind, and
// the ingress is reconciled again when it finishes; that reconcile waits for the member
// (it has caught up: its apply is now quick), so that an ingress is not left behind again
// and again on a member that finishes just after the others. A member is known to be
// slow when its API server took over slowProbe, and four times as long as every other
// member's, to answer its last probe, or when it fell behind lately (and its apply went
// on long after) and no apply there has ended in time since; a known slow member is not
// waited for once the others are done. Without this, every reconcile waited for the
// slowest member (a member 2 s per request away held every new ingress's status, on
// every member, for ten seconds and more, and held a worker all that time). Slow is
// always slower than the others: a hub whose members are all loaded alike waits for
// them all.
const (
	// slowApply is how long an apply may take before its member can be left behind: a
	// healthy member's apply takes tens of milliseconds, a few hundred on a busy hub, and
	// up to a second and a half when sixteen ingresses are programmed at once into API
	// servers that share a core (the member benchmark: at N = 5, with a floor of one
	// second, 77 of 500 applies were left behind, most on the hub's own cluster, each a
	// Warning and a second status write).
	slowApply = 2 * time.Second
	// slowProbe is the probe round trip above which a member is known to be slow: a probe
	// is one small GET, so anything near a second is the member, not the load.
	slowProbe = time.Second
	// stragglerFactor: a member is left behind when it takes this many times longer than
	// the slowest member that finished, so that a hub loaded evenly (every member slow
	// together) waits for them all, as before.
	stragglerFactor = 4
	// slowMemory is how long a member stays known as slow after it fell behind, unless an
	// apply there ends in time first: its next reconciles leave it behind as soon as the
	// others are done, without waiting again.
	slowMemory = time.Minute
)

// memberWork tracks the applies that outlived their reconcile, and which members were
// slow lately. The zero value is ready.
type memberWork struct {
	mu       sync.Mutex
	inflight map[workKey]*inflight
	slowAt   map[string]time.Time
	// latency is each member's last probe round trip (clusters.Member.Latency).
	latency map[string]time.Duration
	// catchUp marks an ingress whose apply on a member was left behind and has ended: its
	// next reconcile waits for that member, whatever it takes, so that a member left
	// behind once is not left behind again and again (each time reporting Behind and
	// coming back) when the others happen to finish first.
	catchUp map[workKey]bool
}

type workKey struct {
	member  string
	ingress types.NamespacedName
}

type inflight struct {
	started time.Time
	done    chan struct{}
}

// memberResult is the outcome of programming one member.
type memberResult struct {
	outcome status.Outcome
	message string
	err     error
	// settled: nothing was read or written (apply.Settled), so how long it took says
	// nothing of the member.
	settled bool
}

func (w *memberWork) init() {
	if w.inflight == nil {
		w.inflight, w.slowAt = map[workKey]*inflight{}, map[string]time.Time{}
		w.latency, w.catchUp = map[string]time.Duration{}, map[workKey]bool{}
	}
}

// sawLatency records a member's last probe round trip.
func (w *memberWork) sawLatency(member string, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	w.latency[member] = d
}

// caughtUp records that an apply left behind has ended; takeCatchUp reports (once)
// whether one did.
func (w *memberWork) caughtUp(k workKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	w.catchUp[k] = true
}

func (w *memberWork) takeCatchUp(k workKey) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	was := w.catchUp[k]
	delete(w.catchUp, k)
	return was
}

// keptUp forgets that member fell behind: an apply there ended in time.
func (w *memberWork) keptUp(member string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	delete(w.slowAt, member)
}

// begin registers an apply on member for ingress, or returns the one still running.
func (w *memberWork) begin(k workKey) (running *inflight, started bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	if f, ok := w.inflight[k]; ok {
		return f, false
	}
	f := &inflight{started: time.Now(), done: make(chan struct{})}
	w.inflight[k] = f
	return f, true
}

// end unregisters an apply.
func (w *memberWork) end(k workKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	if f, ok := w.inflight[k]; ok {
		close(f.done)
		delete(w.inflight, k)
	}
}

// markSlow remembers that member fell behind the others. Only falling behind counts: on a
// hub loaded evenly every apply is slow, and none is left behind.
func (w *memberWork) markSlow(member string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	w.slowAt[member] = time.Now()
}

// slow reports whether member fell behind within slowMemory, or its API server took
// longer than slowProbe, and stragglerFactor times as long as each of peers (the other
// members of the reconcile) whose round trip is known, to answer its last probe. Slow
// means slower than the others: when every member's API server is loaded alike (twenty
// sharing a core in the member benchmark), none is left behind for its probe. The hub's
// own cluster is not probed: its zero is not known.
func (w *memberWork) slow(member string, peers []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if at, ok := w.slowAt[member]; ok && time.Since(at) < slowMemory {
		return true
	}
	lat := w.latency[member]
	if lat <= slowProbe {
		return false
	}
	for _, p := range peers {
		if l := w.latency[p]; l > 0 && p != member && l*stragglerFactor >= lat {
			return false
		}
	}
	return true
}

// leftBehindEnded records that an apply left behind after leftAfter has ended, after
// took in all. One that went on for longer than slowApply after it was left behind keeps
// its member known as slow; one that ended soon after was unlucky, not slow: a busy hub's
// applies spread over a second or two, and one of them falling behind the others must not
// make every reconcile of the next minute leave that member behind, each with a Warning
// and a second status write. (A member 2 s per request away goes on for its three other
// creates, six seconds and more.)
func (w *memberWork) leftBehindEnded(member string, leftAfter, took time.Duration) {
	if took-leftAfter > slowApply {
		w.markSlow(member)
		return
	}
	w.keptUp(member)
}

// wait waits for the applies of ingress still running on any member (bounded by their
// MemberTimeout), so that a deletion does not race one that would write after it.
func (w *memberWork) wait(ctx context.Context, ingress types.NamespacedName) {
	w.mu.Lock()
	var running []*inflight
	for k, f := range w.inflight {
		if k.ingress == ingress {
			running = append(running, f)
		}
	}
	w.mu.Unlock()
	for _, f := range running {
		select {
		case <-f.done:
		case <-ctx.Done():
			return
		}
	}
}

// behind is the status of a member whose apply is still running after its reconcile:
// Unavailable (the Programmed condition names the member), with a message that stays
// the same while the same apply runs, so that it costs no status write per reconcile.
func behind(f *inflight) memberResult {
	return memberResult{outcome: status.Unavailable, message: fmt.Sprintf(
		"Behind: the member's API server is slow to answer; the apply started at %s is still running, and its outcome follows when it ends",
		f.started.UTC().Format(time.RFC3339))}
}

// programMembers programs every member of out at once and returns their outcomes in the
// same order. See memberWork for when a member is left behind.
func (r *IngressReconciler) programMembers(ctx context.Context, class *v1alpha1.AnycastClass, ing *v1alpha1.AnycastIngress, ref owner.Ref, key types.NamespacedName, cos []render.ClusterOutput) []memberResult {
	// A member left behind goes on after the reconcile has returned and written the
	// ingress's status: it works on a copy.
	ing = ing.DeepCopy()
	res := make([]memberResult, len(cos))
	var (
		mu        sync.Mutex
		finished  = make([]bool, len(cos))
		abandoned = make([]bool, len(cos))
		leftAfter = make([]time.Duration, len(cos)) // how long a member left behind had run then
		running   = map[int]*inflight{}
		exempt    = make([]bool, len(cos)) // waited for however long it takes (MemberTimeout)
	)
	done := make(chan int, len(cos))
	start := time.Now()
	for i, co := range cos {
		k := workKey{member: co.Name, ingress: key}
		f, started := r.work.begin(k)
		if !started {
			// Still busy with an earlier generation: its end brings this ingress back.
			res[i], finished[i] = behind(f), true
			continue
		}
		// The hub's own cluster is never left behind: the status the reconcile would write
		// without it goes to the same API server, so leaving it gains nothing; and with
		// many reconciles at once it is the busiest, as it takes the ingresses' own writes
		// too (at N = 10 with sixteen workers it fell behind the others in a fifth of the
		// reconciles, each a Warning event and a second status write).
		running[i], exempt[i] = f, r.work.takeCatchUp(k) || hubsOwn(class, co.Name)
		go func() {
			// Detached from the reconcile, which may return before this member answers;
			// programMember bounds it with MemberTimeout.
			got := r.programMember(context.WithoutCancel(ctx), class, ing, ref, co)
			took := time.Since(f.started)
			r.work.end(k)
			mu.Lock()
			if abandoned[i] {
				after := leftAfter[i]
				mu.Unlock()
				r.work.leftBehindEnded(co.Name, after, took)
				r.work.caughtUp(k)
				logf.FromContext(ctx).V(1).Info("a member left behind finished", "cluster", co.Name, "outcome", got.outcome, "took", time.Since(f.started).String())
				if r.Notifier != nil {
					// Reported behind new work: the member's objects are applied, what is
					// left is its status entry, and a slow member's catch-ups, one per
					// ingress created while it is slow, must not slow the others' new work.
					r.Notifier.Notify(notify.IngressRefresh(key))
				}
				return
			}
			res[i], finished[i] = got, true
			mu.Unlock()
			if !exempt[i] && !got.settled {
				// It finished while the reconcile still waited: it kept up with the others
				// (a member known slow is not waited for once they are done), however long
				// every member took.
				r.work.keptUp(co.Name)
			}
			done <- i
		}()
	}

	pending, completed := len(running), 0
	lastFinish := time.Duration(0) // when the slowest member that finished did
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for pending > 0 {
		if completed > 0 {
			// Some member has its outcome: the others are waited for only while they keep
			// up, and not at all when they were slow lately.
			wait, bounded := r.stragglerWait(&mu, cos, running, finished, exempt, start, lastFinish)
			if bounded && wait <= 0 {
				break
			}
			if bounded {
				timer.Reset(wait)
			}
		}
		select {
		case <-done:
			pending--
			completed++
			lastFinish = time.Since(start)
		case <-timer.C:
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for i, f := range running {
		if !finished[i] {
			abandoned[i], leftAfter[i] = true, time.Since(f.started)
			r.work.markSlow(cos[i].Name)
			res[i] = behind(f)
		}
	}
	return append([]memberResult(nil), res...)
}

// stragglerWait is how much longer the members still running are waited for: a member
// that was slow lately not at all once another has finished, any other until it has taken
// slowApply and stragglerFactor times as long as the slowest that finished. bounded is
// false while a member catching up runs: it is waited for.
func (r *IngressReconciler) stragglerWait(mu *sync.Mutex, cos []render.ClusterOutput, running map[int]*inflight, finished, exempt []bool, start time.Time, lastFinish time.Duration) (wait time.Duration, bounded bool) {
	peers := make([]string, len(cos))
	for i, co := range cos {
		peers[i] = co.Name
	}
	mu.Lock()
	defer mu.Unlock()
	var latest time.Duration
	for i := range running {
		if finished[i] {
			continue
		}
		if exempt[i] {
			return 0, false
		}
		if !r.work.slow(cos[i].Name, peers) {
			latest = max(latest, slowApply, stragglerFactor*lastFinish)
		}
	}
	return time.Until(start.Add(latest)), true
}

// eachMember runs f for every member name at once, and joins their errors in the order
// of names: members are independent, and one that is slow must not delay the others.
func eachMember(names []string, f func(name string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hubsOwn reports whether the class's member name is the cluster the operator runs in
// (no kubeconfig).
func hubsOwn(class *v1alpha1.AnycastClass, name string) bool {
	for _, m := range class.Spec.Clusters {
		if m.Name == name {
			return m.KubeconfigSecretRef == nil
		}
	}
	return false
}
