// Package apply writes rendered objects to a cluster under one field manager: an absent
// object is created (one request, refused atomically by the API server when the name is
// taken), a present one is updated with server-side apply. It skips writes when the live
// object already matches, never touches objects this operator did not create, and prunes
// owned objects that are no longer desired.
//
// Creating instead of applying an absent object is about cost: on the 1,000-ingress
// benchmark a read to confirm absence plus a server-side apply took the API servers 103 to
// 114 s of CPU, the create alone 64 s. The create records its fields under an Update entry
// of the field manager; the first apply that changes the object hands them to the apply
// entry (adoptCreateFields), so fields a later render drops are still removed.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// HashAnnotation records a digest of the desired object last applied, so an unchanged
// render costs no write and a changed one always gets applied (server-side apply then
// drops fields we no longer send).
const HashAnnotation = "anycast.dev/desired-hash"

// ConflictError says an object of the desired name exists and belongs to someone else. The
// operator never changes or deletes it; the owner's status reports it.
type ConflictError struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
	// Holder is who the live object belongs to: another owner of ours, or "" when it was
	// not created by this operator at all.
	Holder string
}

func (e *ConflictError) Error() string {
	what := e.GVK.Kind + " " + e.Name
	if e.Namespace != "" {
		what = e.GVK.Kind + " " + e.Namespace + "/" + e.Name
	}
	if e.Holder == "" {
		return what + " already exists and was not created by anycast-operator; it is left untouched: rename or remove it"
	}
	return what + " already belongs to " + e.Holder + "; it is left untouched"
}

// IsConflict reports whether err is (or wraps) a ConflictError.
func IsConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}

// Applier writes to one cluster.
type Applier struct {
	// Client writes (server-side apply, delete).
	Client client.Client
	// Reader reads live objects cheaply, usually a cache of the objects this operator
	// manages (filtered by the managed-by label).
	Reader client.Reader
	// LiveReader reads straight from the API server: when a create finds the name taken,
	// it tells whose object that is, since a label-filtered cache cannot see objects that
	// are not ours.
	LiveReader client.Reader
	// Indexed lists the kinds for which Reader has the owner index (owner.IndexField):
	// Prune looks those up by index instead of matching every cached object's labels.
	Indexed map[schema.GroupVersionKind]bool
	// MetalLBNamespaces, when set, are where Prune looks for MetalLB's kinds (groups
	// metallb.io and frrk8s.metallb.io, its frr-k8s backend's): a spoke grants the
	// operator MetalLB rights in MetalLB's namespace only, so a cluster-wide list of them
	// would be refused there.
	MetalLBNamespaces []string
	// Memory, when set, lets ApplyAll skip listing Secrets and ConfigMaps when it keeps
	// the same ones as its last successful prune did (see PruneMemory). It must belong
	// to this cluster and live no longer than the connection to it.
	Memory *PruneMemory
	// Settled, when set, lets ApplyAll skip an owner whose objects it found as desired
	// last time, when nothing of them changed since (see Settled). It must belong to this
	// cluster, be told of every change of the operator's objects there, and live no
	// longer than the connection to it.
	Settled *Settled
}

// Result says what Apply did.
type Result int

// Apply results.
const (
	Unchanged Result = iota
	Created
	Updated
)

// Apply makes the live object match desired, which must carry its owner labels. It
// returns a *ConflictError, without writing, when the object exists with another owner.
func (a *Applier) Apply(ctx context.Context, desired *unstructured.Unstructured) (Result, error) {
	want, ok := owner.FromLabels(desired.GetLabels())
	if !ok {
		return Unchanged, fmt.Errorf("apply %s %s: desired object has no owner labels", desired.GetKind(), desired.GetName())
	}
	obj := desired.DeepCopy()
	hash := Hash(desired)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[HashAnnotation] = hash
	obj.SetAnnotations(ann)

	live, err := a.read(ctx, a.Reader, desired)
	if err != nil {
		return Unchanged, err
	}
	if live == nil {
		// Not in the cache. A create is atomic: the API server refuses it when an object
		// of that name exists, and the label-filtered cache cannot see one that is not
		// ours. So an absent object costs one request, and someone else's is never
		// touched, not even in the moment between a read and a write.
		err := a.create(ctx, obj)
		if err == nil {
			return Created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return Unchanged, fmt.Errorf("creating %s %s: %w", desired.GetKind(), key(desired), err)
		}
		if live, err = a.read(ctx, a.liveReader(), desired); err != nil {
			return Unchanged, err
		}
		if live == nil {
			return Unchanged, fmt.Errorf("creating %s %s: it was deleted while being created; retrying", desired.GetKind(), key(desired))
		}
	}
	holder, ours := owner.FromLabels(live.GetLabels())
	if !ours || holder != want {
		c := &ConflictError{GVK: desired.GroupVersionKind(), Namespace: desired.GetNamespace(), Name: desired.GetName()}
		if ours {
			c.Holder = holder.String()
		}
		return Unchanged, c
	}
	if live.GetAnnotations()[HashAnnotation] == hash && Contains(live.Object, obj.Object) {
		return Unchanged, nil
	}
	if err := a.adoptCreateFields(ctx, live); err != nil {
		return Unchanged, fmt.Errorf("applying %s %s: %w", desired.GetKind(), key(desired), err)
	}
	if err := a.patch(ctx, obj); err != nil {
		return Unchanged, fmt.Errorf("applying %s %s: %w", desired.GetKind(), key(desired), err)
	}
	return Updated, nil
}

// create creates obj, and its namespace first when a member does not have it yet.
func (a *Applier) create(ctx context.Context, obj *unstructured.Unstructured) error {
	once := func() error {
		created := obj.DeepCopy()
		err := a.Client.Create(ctx, created, client.FieldOwner(owner.ManagedByValue))
		if err == nil {
			a.Settled.wrote(created)
		}
		return err
	}
	err := once()
	if isNamespaceMissing(err) {
		// Namespace sameness: the ingress namespace means the same on every member, and a
		// spoke may not have it yet. It is created, never deleted: it may hold others'
		// objects.
		if err = a.createNamespace(ctx, obj.GetNamespace()); err == nil {
			err = once()
		}
	}
	return err
}

// adoptCreateFields hands the fields a create gave this operator's field manager (as an
// Update operation) to its server-side apply entry, in one patch guarded by the live
// resourceVersion. Without it the fields a later apply stops sending would stay, still
// owned by the create. Objects written by apply alone need nothing.
//
// The operator's caches keep no managed fields (they were a large share of every cached
// object's memory, and are read only here): an object without them is read past the
// cache first. A cache behind the object (someone wrote it a moment ago, a status for
// instance) makes the guard fail: the object is read again past the cache and the patch
// retried once, rather than reporting a failed apply for a lag.
func (a *Applier) adoptCreateFields(ctx context.Context, live *unstructured.Unstructured) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 || len(live.GetManagedFields()) == 0 {
			fresh, rerr := a.read(ctx, a.liveReader(), live)
			if rerr != nil {
				return rerr
			}
			if fresh == nil {
				return fmt.Errorf("it was deleted while being updated; retrying")
			}
			live = fresh
		}
		if err = a.adoptOnce(ctx, live); !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("moving the fields of its creation to server-side apply: %w", err)
	}
	return nil
}

func (a *Applier) adoptOnce(ctx context.Context, live *unstructured.Unstructured) error {
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(owner.ManagedByValue), owner.ManagedByValue)
	if err != nil || patch == nil {
		return err
	}
	patched := live.DeepCopy()
	if err := a.Client.Patch(ctx, patched, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return err
	}
	a.Settled.wrote(patched)
	return nil
}

func (a *Applier) patch(ctx context.Context, obj *unstructured.Unstructured) error {
	if err := a.Client.Patch(ctx, obj, client.Apply, client.FieldOwner(owner.ManagedByValue), client.ForceOwnership); err != nil {
		return err
	}
	a.Settled.wrote(obj)
	return nil
}

func (a *Applier) createNamespace(ctx context.Context, name string) error {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	ns.SetLabels(map[string]string{owner.ManagedByLabel: owner.ManagedByValue})
	if err := a.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// isNamespaceMissing recognises the NotFound an API server answers for an object whose
// namespace does not exist.
func isNamespaceMissing(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}

// read returns the object from r, nil when absent.
func (a *Applier) read(ctx context.Context, r client.Reader, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	nn := types.NamespacedName{Namespace: desired.GetNamespace(), Name: desired.GetName()}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	err := r.Get(ctx, nn, live)
	switch {
	case err == nil:
		return live, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, fmt.Errorf("reading %s %s: %w", desired.GetKind(), nn, err)
	}
}

// liveReader reads past the cache, to see objects that are not ours.
func (a *Applier) liveReader() client.Reader {
	if a.LiveReader != nil {
		return a.LiveReader
	}
	return a.Reader
}

// ID identifies an object on one cluster.
type ID struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
}

// IDOf returns the ID of an object.
func IDOf(u *unstructured.Unstructured) ID {
	return ID{GVK: u.GroupVersionKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// Prune deletes every object of the given kinds owned by ref that keep does not hold. It
// lists through Reader (the label-filtered cache) and returns how many it deleted. Kinds
// whose CRD is not installed are skipped: nothing of that kind can exist. Secrets and
// ConfigMaps (MetalLB's bgpextras) are only looked for in secretNamespace: the operator
// may not list them anywhere else.
func (a *Applier) Prune(ctx context.Context, ref owner.Ref, kinds []schema.GroupVersionKind, keep map[ID]bool, secretNamespace string) (int, error) {
	a.Settled.forget(ref.IndexKey())
	return a.prune(ctx, ref.Selector(), ref.IndexKey(), kinds, keep, secretNamespace, nil)
}

// PruneSelected is Prune for every object the selector matches, whatever its owner: it
// removes all of a class from a member that left the class.
func (a *Applier) PruneSelected(ctx context.Context, sel labels.Selector, kinds []schema.GroupVersionKind, keep map[ID]bool, secretNamespace string) (int, error) {
	a.Settled.forgetAll()
	return a.prune(ctx, sel, "", kinds, keep, secretNamespace, nil)
}

// prune lists by sel, and by the owner index when indexKey is set and the kind has it.
// A kind the plan says is unchanged is not listed; one it holds is remembered once pruned
// (see PruneMemory; a nil plan lists every kind).
func (a *Applier) prune(ctx context.Context, sel labels.Selector, indexKey string, kinds []schema.GroupVersionKind, keep map[ID]bool, secretNamespace string, plan prunePlan) (int, error) {
	deleted := 0
	for _, gvk := range kinds {
		step, planned := plan[gvk]
		if planned && step.unchanged {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}
		if indexKey != "" && a.Indexed[gvk] {
			opts = append(opts, client.MatchingFields{owner.IndexField: indexKey})
		}
		namespaces := []string{""}
		switch {
		case uncached(gvk):
			if secretNamespace == "" {
				continue
			}
			namespaces = []string{secretNamespace}
		case (gvk.Group == "metallb.io" || gvk.Group == "frrk8s.metallb.io") && len(a.MetalLBNamespaces) > 0:
			namespaces = a.MetalLBNamespaces
		}
		var items []unstructured.Unstructured
		for _, ns := range namespaces {
			if err := a.Reader.List(ctx, list, append(opts, client.InNamespace(ns))...); err != nil {
				if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
					break
				}
				return deleted, fmt.Errorf("listing %s matching %s: %w", gvk.Kind, sel, err)
			}
			items = append(items, list.Items...)
		}
		list.Items = items
		for i := range list.Items {
			item := &list.Items[i]
			item.SetGroupVersionKind(gvk)
			if keep[IDOf(item)] || item.GetDeletionTimestamp() != nil {
				continue
			}
			// Preconditions make sure we delete the object we listed, not one that was
			// replaced by someone else in the meantime.
			uid := item.GetUID()
			err := a.Client.Delete(ctx, item, client.Preconditions{UID: &uid}, client.PropagationPolicy("Background"))
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return deleted, fmt.Errorf("deleting %s %s: %w", gvk.Kind, key(item), err)
			}
			if err == nil {
				deleted++
			}
		}
		if planned {
			a.Memory.remember(step.key, step.digest)
		}
	}
	return deleted, nil
}

// uncached reports whether gvk is one of the kinds no cache holds (Secrets, and
// MetalLB's bgpextras ConfigMap), which a prune lists from the API server.
func uncached(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "" && (gvk.Kind == "Secret" || gvk.Kind == "ConfigMap")
}

// Hash is the digest of an object's desired content, recorded in HashAnnotation.
func Hash(u *unstructured.Unstructured) string {
	c := u.DeepCopy()
	ann := c.GetAnnotations()
	delete(ann, HashAnnotation)
	if len(ann) == 0 {
		ann = nil
	}
	c.SetAnnotations(ann)
	b, err := json.Marshal(c.Object)
	if err != nil {
		panic(fmt.Sprintf("apply: hashing %s: %v", u.GetName(), err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Contains reports whether every field of want is in got with the same value. Fields the
// server added (defaults, metadata, status) are ignored; a field it pruned or changed is
// not.
func Contains(got, want interface{}) bool {
	return len(Missing(got, want, "")) == 0
}

// Missing lists the paths of want that got lacks or holds with another value.
func Missing(got, want interface{}, path string) []string {
	switch w := want.(type) {
	case map[string]interface{}:
		g, ok := got.(map[string]interface{})
		if !ok {
			return []string{path}
		}
		var out []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, Missing(gv, wv, path+"."+k)...)
		}
		return out
	case []interface{}:
		g, ok := got.([]interface{})
		if !ok || len(g) != len(w) {
			return []string{path}
		}
		var out []string
		for i := range w {
			out = append(out, Missing(g[i], w[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if !scalarEqual(got, want) {
			return []string{path}
		}
		return nil
	}
}

// scalarEqual compares JSON scalars, treating the integer types unstructured objects use
// (int64 from the API server, int or float64 from other decoders) as numbers.
func scalarEqual(a, b interface{}) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

func number(v interface{}) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func key(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetName()
	}
	return u.GetNamespace() + "/" + u.GetName()
}

// ApplyAll applies objects in order, then prunes what ref owns of kinds but objects do
// not hold. Conflicting objects are skipped and listed; the first other error stops (a
// later object may need an earlier one: MetalLB refuses an advertisement naming a pool
// that is not there).
func (a *Applier) ApplyAll(ctx context.Context, ref owner.Ref, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string) ([]string, error) {
	return a.ApplyAllWithLeaves(ctx, ref, nil, objects, kinds, secretNamespace)
}

// ApplyAllWithLeaves is ApplyAll with leaves applied first: objects that need nothing
// else (certificate copies). A leaf that fails holds back neither the other objects nor
// the prune: a refused certificate copy must not keep the member's BGPAdvertisement from
// being withdrawn, which is its removal. The leaves' errors are returned, joined with the
// others'; a leaf that failed is kept, never pruned.
func (a *Applier) ApplyAllWithLeaves(ctx context.Context, ref owner.Ref, leaves, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string) (conflicts []string, err error) {
	conflicts, _, err = a.ApplyAllSettled(ctx, ref, leaves, objects, kinds, secretNamespace)
	return conflicts, err
}

// ApplyAllSettled is ApplyAllWithLeaves, also saying whether the owner was settled (see
// Settled): then it did nothing at all, which tells nothing of how fast the cluster
// answers.
func (a *Applier) ApplyAllSettled(ctx context.Context, ref owner.Ref, leaves, objects []*unstructured.Unstructured, kinds []schema.GroupVersionKind, secretNamespace string) (conflicts []string, settled bool, err error) {
	holds, st := a.Settled.begin(ref, leaves, objects, kinds, secretNamespace, a.Memory != nil)
	if holds {
		return nil, true, nil // as desired when last applied, and unchanged since
	}
	defer func() { a.Settled.end(st, err == nil && len(conflicts) == 0) }()
	keep := map[ID]bool{}
	for _, obj := range append(append([]*unstructured.Unstructured(nil), leaves...), objects...) {
		keep[IDOf(obj)] = true
	}
	// Before anything is written (see PruneMemory.plan).
	plan := a.Memory.plan(ref.Selector().String(), kinds, keep, secretNamespace)
	var leafErrs []error
	for _, obj := range leaves {
		if _, err := a.Apply(ctx, obj); err != nil {
			if IsConflict(err) {
				conflicts = append(conflicts, err.Error())
				continue
			}
			leafErrs = append(leafErrs, err)
		}
	}
	for _, obj := range objects {
		if _, err := a.Apply(ctx, obj); err != nil {
			if IsConflict(err) {
				conflicts = append(conflicts, err.Error())
				continue
			}
			return conflicts, false, errors.Join(append(leafErrs, err)...)
		}
	}
	if _, err := a.prune(ctx, ref.Selector(), ref.IndexKey(), kinds, keep, secretNamespace, plan); err != nil {
		return conflicts, false, errors.Join(append(leafErrs, err)...)
	}
	return conflicts, false, errors.Join(leafErrs...)
}
