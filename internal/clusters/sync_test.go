package clusters

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/anycast-operator/anycast-operator/internal/render"
)

// fakeKind is an informer whose sync the test decides.
func fakeKind(gvk schema.GroupVersionKind, synced *atomic.Bool) syncKind {
	return syncKind{gvk: gvk, synced: synced.Load}
}

func TestCacheSyncGatesTheMemberUntilEveryKindSynced(t *testing.T) {
	var pools, peers atomic.Bool
	s := newCacheSync()
	s.kinds = []syncKind{
		fakeKind(render.GVKIPAddressPool, &pools),
		fakeKind(render.GVKBGPPeer, &peers),
	}
	m := &Member{Name: "east", syncing: s}

	err := m.CacheError()
	var u *UnavailableError
	if !errors.As(err, &u) || u.Reason != ReasonConnecting || u.Member != "east" {
		t.Fatalf("before the sync: want an UnavailableError Connecting for east, got %#v", err)
	}
	if got := s.pending(); strings.Join(got, ",") != "BGPPeer,IPAddressPool" {
		t.Errorf("pending = %v", got)
	}

	// A list error reaches the message, for the kind that is not synced only.
	s.errs["metallb.io/v1beta1, Kind=IPAddressPool"] = `ipaddresspools.metallb.io is forbidden: User "spoke" cannot list resource "ipaddresspools"`
	s.errs["metallb.io/v1beta2, Kind=BGPPeer"] = "connection reset"
	peers.Store(true)
	if !errors.As(m.CacheError(), &u) || !strings.Contains(u.Message, "listing failed: IPAddressPool: ipaddresspools.metallb.io is forbidden") || strings.Contains(u.Message, "BGPPeer") {
		t.Errorf("message while IPAddressPools cannot be listed: %q", u.Message)
	}

	// Synced informers end the wait, but only finish opens the gate (awaitSync calls it
	// after telling nobody yet).
	pools.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.wait(ctx, func() {}) {
		t.Fatal("wait did not see every kind synced")
	}
	if m.CacheError() == nil {
		t.Error("the gate opened before finish")
	}
	s.finish()
	if err := m.CacheError(); err != nil {
		t.Errorf("after the sync: %v", err)
	}
}

func TestCacheSyncWaitEndsWithItsContext(t *testing.T) {
	var never atomic.Bool
	s := newCacheSync()
	s.kinds = []syncKind{fakeKind(render.GVKBGPPeer, &never)}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if s.wait(ctx, func() {}) {
		t.Fatal("wait reported a sync that never happened")
	}
}

func TestHubMemberHasNoCacheGate(t *testing.T) {
	if err := (&Member{Name: "west"}).CacheError(); err != nil {
		t.Errorf("a member without a sync to follow (the hub's own cluster) must be usable: %v", err)
	}
}

func TestSyncingMessageIsStableWhileNothingFails(t *testing.T) {
	a, b := syncingMessage(nil), syncingMessage([]string{})
	if a != b || strings.Contains(a, "failed") {
		t.Errorf("messages without errors: %q and %q", a, b)
	}
}

func TestSyncedKindsAreTheWrittenAndMetalLBKindsOnce(t *testing.T) {
	indexed := map[schema.GroupVersionKind]bool{render.GVKIPAddressPool: true, render.GVKGateway: true}
	seen := map[schema.GroupVersionKind]int{}
	for _, gvk := range syncedKinds(indexed, []string{"metallb-system"}) {
		seen[gvk]++
	}
	for _, want := range []schema.GroupVersionKind{render.GVKIPAddressPool, render.GVKGateway, render.GVKBGPPeer, GVKConfigurationState, GVKBGPSessionState} {
		if seen[want] != 1 {
			t.Errorf("%s appears %d times, want once", want.Kind, seen[want])
		}
	}
	if seen[corev1.SchemeGroupVersion.WithKind("Node")] != 0 {
		t.Error("Nodes are read by the health gate only: not a kind to wait for")
	}
}

func TestCacheSyncWaitTellsWhenAListFails(t *testing.T) {
	var never atomic.Bool
	s := newCacheSync()
	s.kinds = []syncKind{fakeKind(render.GVKBGPPeer, &never)}
	var told atomic.Int32
	go func() {
		time.Sleep(300 * time.Millisecond)
		s.mu.Lock()
		s.errs["metallb.io/v1beta2, Kind=BGPPeer"] = "forbidden"
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	s.wait(ctx, func() { told.Add(1) })
	if n := told.Load(); n != 1 {
		t.Errorf("told %d times of one new list error, want once", n)
	}
}

func TestAwaitCacheWaitsForTheSyncOrItsContext(t *testing.T) {
	s := newCacheSync()
	m := &Member{Name: "east", syncing: s}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var u *UnavailableError
	if err := m.AwaitCache(ctx); !errors.As(err, &u) || u.Reason != ReasonConnecting {
		t.Fatalf("a sync that does not finish within the context: want Connecting, got %v", err)
	}

	go func() {
		time.Sleep(100 * time.Millisecond)
		s.finish()
	}()
	start := time.Now()
	if err := m.AwaitCache(context.Background()); err != nil {
		t.Fatalf("after the sync finished: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("AwaitCache returned %s after the sync finished", d)
	}
	s.finish() // twice: a no-op, not a panic on the closed channel
	if err := (&Member{Name: "west"}).AwaitCache(context.Background()); err != nil {
		t.Errorf("the hub's own member: %v", err)
	}
}
