// Package clusters gives the controllers a connection to each member cluster of a class:
// a client for writes, a cache of the objects the operator manages there, and a live
// reader. The cluster the operator runs in is a member like the others.
package clusters

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/apply"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Member is a connection to one member cluster.
type Member struct {
	// Name is the member's name in the class.
	Name string
	// Client writes to the member.
	Client client.Client
	// Reader reads the member's managed objects from a cache.
	Reader client.Reader
	// LiveReader reads straight from the member's API server.
	LiveReader client.Reader
	// Indexed lists the kinds Reader indexes by owner (see IndexOwners).
	Indexed map[schema.GroupVersionKind]bool
	// MetalLBNamespaces are the namespaces the operator may see MetalLB's objects in on
	// this member; nil means every namespace (the hub's own cluster).
	MetalLBNamespaces []string
	// Latency is how long the member's API server took to answer its last probe (zero for
	// the hub's own cluster, which is not probed).
	Latency time.Duration
	// Pruned remembers this member's last prunes of the kinds that are not cached, so an
	// unchanged apply does not list them again (see apply.PruneMemory). It lives as long
	// as the member's client and cache; nil lists every time.
	Pruned *apply.PruneMemory
	// Settled remembers the owners whose objects on this member were found as desired
	// (see apply.Settled); nil looks at them every time (the hub's own cluster).
	Settled *apply.Settled
	// ProbeNow tells the registry that a request found the member's API server
	// unreachable, so that it probes the member, fully, now instead of at its next tick
	// (nil for the hub's own cluster). (A kind the member stopped serving is found by
	// the probe's next check of the API groups, within a minute: a write refused for it
	// does not probe at once, as a kind the probe does not check, TLSRoute say, would
	// then have every ingress of the class refreshed at every retry.)
	ProbeNow func()
	// syncing follows the first sync of the member's cache (nil: the hub's own cluster,
	// whose cache the manager syncs before any reconcile).
	syncing *cacheSync
}

// CacheError is an *UnavailableError (Connecting) while the member's cache has not yet
// read the member's objects, nil once it has. The reconcilers program a member only then,
// as they read its cache. What reads live (a deletion's cleanup) does not ask.
func (m *Member) CacheError() error { return m.syncing.error(m.Name) }

// AwaitCache waits for the member's cache to have read the member's objects, up to
// ctx, and returns CacheError then. Waiting costs nothing while the cache reads (no
// polling), and a cache that has read returns at once: an operator restarting finds its
// members as it left them and writes nothing, as it did when each read waited for its
// informer.
func (m *Member) AwaitCache(ctx context.Context) error { return m.syncing.await(ctx, m.Name) }

// IsUnreachable reports whether err says that no connection to the API server could be
// made (refused, no route, a dial that timed out), as opposed to an answer from it: the
// member is down, which its status says (Unavailable) until the registry's probe sees it
// back, and which a hot retry of the whole ingress would only burn CPU on.
func IsUnreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return utilnet.IsConnectionRefused(err)
}

// Applier returns an applier writing to the member.
func (m *Member) Applier() *apply.Applier {
	return &apply.Applier{Client: m.Client, Reader: m.Reader, LiveReader: m.LiveReader, Indexed: m.Indexed, MetalLBNamespaces: m.MetalLBNamespaces, Memory: m.Pruned, Settled: m.Settled}
}

// IndexOwners adds the owner index to a cache for every rendered kind the cluster serves
// (Secrets and ConfigMaps are never cached), and PoolAddressIndex to its IPAddressPools,
// before the cache starts, and returns the kinds indexed by owner.
func IndexOwners(ctx context.Context, indexer client.FieldIndexer, mapper meta.RESTMapper) (map[schema.GroupVersionKind]bool, error) {
	out := map[schema.GroupVersionKind]bool{}
	for _, gvk := range render.AllKinds {
		if render.LiveOnly(gvk) {
			continue
		}
		if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			continue // not served: nothing of it can exist, nothing to prune
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := indexer.IndexField(ctx, u, owner.IndexField, func(o client.Object) []string {
			return owner.IndexValue(o.GetLabels())
		}); err != nil {
			return nil, fmt.Errorf("indexing %s by owner: %w", gvk.Kind, err)
		}
		out[gvk] = true
		if gvk == render.GVKIPAddressPool {
			if err := indexer.IndexField(ctx, u, PoolAddressIndex, poolAddressKeys); err != nil {
				return nil, fmt.Errorf("indexing IPAddressPools by address: %w", err)
			}
		}
	}
	return out, nil
}

// PoolAddressIndex indexes every IPAddressPool of a cache, ours or not, by its addresses:
// "addr/<address>" for an entry of one address (the operator's pools hold one VIP each),
// and "wide" for any other entry. The VIP's overlap check then reads the pools of its
// address and the wide ones, not every pool of MetalLB's namespace: with 1,000 ingresses
// walking every pool on every ingress reconcile was the operator's largest CPU cost.
const PoolAddressIndex = "anycast.dev/pool-address"

// PoolWide is the PoolAddressIndex value of an entry wider than one address (or one that
// does not parse: MetalLB rejects it, and the overlap check must still see it).
const PoolWide = "wide"

// PoolAddressKey is the PoolAddressIndex value of one address.
func PoolAddressKey(a netip.Addr) string { return "addr/" + a.Unmap().String() }

func poolAddressKeys(o client.Object) []string {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	entries, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "addresses")
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		k := PoolWide
		if a, ok := render.PoolEntryAddress(e); ok {
			k = PoolAddressKey(a)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// LiveApplier reads everything from the API server, not the cache: deletion must not miss
// an object a cache has not seen yet (a member just back from an outage, say), since
// after it no owner is left to remove it.
func (m *Member) LiveApplier() *apply.Applier {
	// Its prunes unsettle the owners they clean (see apply.Settled).
	return &apply.Applier{Client: m.Client, Reader: m.LiveReader, LiveReader: m.LiveReader, MetalLBNamespaces: m.MetalLBNamespaces, Settled: m.Settled}
}

// UnavailableError says why a member cannot be used right now.
type UnavailableError struct {
	Member string
	// Reason is a CamelCase word for the condition.
	Reason string
	// Message says what to fix.
	Message string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("cluster %s: %s", e.Member, e.Message)
}

// Registry hands out members.
type Registry interface {
	// Get returns the member of class named name, or an *UnavailableError.
	Get(ctx context.Context, class *v1alpha1.AnycastClass, name string) (*Member, error)
	// GetByRef returns a member from the kubeconfig reference the class status remembers
	// (nil: the local cluster); removed members are cleaned up through it.
	GetByRef(ctx context.Context, class, name string, ref *v1alpha1.SecretKeyReference) (*Member, error)
	// Retain releases the class's members not in keep.
	Retain(class string, keep []string)
}

// ManagedSelector selects the objects the operator writes on a member; member caches hold
// only these.
func ManagedSelector() labels.Selector { return owner.Managed() }

// MemberTimeout bounds the work on one member in one reconcile, so that a member that
// stops answering cannot hold a worker.
const MemberTimeout = 20 * time.Second

// ForEach runs f on every member of the class that can be reached now, all at once, each
// with MemberTimeout, and joins their errors (each named by its member, in the class's
// order). Members are independent: one that is slow must not delay the others, nor add
// its timeout to theirs. reachedAll is false when a member was unavailable (and
// skipped). f must be safe to call concurrently.
func ForEach(ctx context.Context, r Registry, class *v1alpha1.AnycastClass, f func(context.Context, *Member) error) (reachedAll bool, err error) {
	errs := make([]error, len(class.Spec.Clusters))
	unreached := make([]bool, len(class.Spec.Clusters))
	var wg sync.WaitGroup
	for i, m := range class.Spec.Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			member, err := r.Get(ctx, class, m.Name)
			if err != nil {
				unreached[i] = true
				return
			}
			mctx, cancel := context.WithTimeout(ctx, MemberTimeout)
			defer cancel()
			if err := f(mctx, member); err != nil {
				errs[i] = fmt.Errorf("cluster %s: %w", m.Name, err)
			}
		}()
	}
	wg.Wait()
	reachedAll = true
	for _, u := range unreached {
		reachedAll = reachedAll && !u
	}
	return reachedAll, errors.Join(errs...)
}

// InMember runs f on one member with MemberTimeout; the member's unavailability is
// returned as an *UnavailableError.
func InMember(ctx context.Context, r Registry, class *v1alpha1.AnycastClass, name string, f func(context.Context, *Member) error) error {
	member, err := r.Get(ctx, class, name)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, MemberTimeout)
	defer cancel()
	return f(mctx, member)
}
