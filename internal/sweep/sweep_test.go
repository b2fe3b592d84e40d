package sweep_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/clusters"
	"github.com/anycast-operator/anycast-operator/internal/owner"
	"github.com/anycast-operator/anycast-operator/internal/sweep"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start("sweep")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// countingReader counts the Gets of classes and ingresses, per object, and answers
// NotFound for the ingresses in hide (an ingress the hub's cache has not seen yet).
type countingReader struct {
	client.Reader
	mu   sync.Mutex
	gets map[string]int
	hide map[types.NamespacedName]bool
}

func newCountingReader(r client.Reader, hide ...types.NamespacedName) *countingReader {
	c := &countingReader{Reader: r, gets: map[string]int{}, hide: map[types.NamespacedName]bool{}}
	for _, h := range hide {
		c.hide[h] = true
	}
	return c
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	kind := fmt.Sprintf("%T", obj)
	c.mu.Lock()
	c.gets[kind+" "+key.String()]++
	hidden := c.hide[key]
	c.mu.Unlock()
	if _, ok := obj.(*v1alpha1.AnycastIngress); ok && hidden {
		return apierrors.NewNotFound(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "anycastingresses"}, key.Name)
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c *countingReader) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[key]
}

func (c *countingReader) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.gets {
		n += v
	}
	return n
}

func (c *countingReader) repeated() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k, v := range c.gets {
		if v > 1 {
			out = append(out, fmt.Sprintf("%s (%d)", k, v))
		}
	}
	sort.Strings(out)
	return out
}

func kubeconfigRef(member string) *v1alpha1.SecretKeyReference {
	return &v1alpha1.SecretKeyReference{Name: member + "-kubeconfig"}
}

// class has the hub's own cluster and two members reached by kubeconfig, m1 and m2.
func class(t testing.TB, name string) {
	t.Helper()
	c := &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.AnycastClassSpec{
			Pools:            []string{"192.168.156.0/24"},
			GatewayClassName: "envoy",
			Clusters: []v1alpha1.ClusterMember{
				{Name: "hub", ASN: 65001, Interconnect: v1alpha1.InterconnectHub},
				{Name: "m1", ASN: 65002, KubeconfigSecretRef: kubeconfigRef("m1")},
				{Name: "m2", ASN: 65003, KubeconfigSecretRef: kubeconfigRef("m2")},
			},
		},
	}
	if err := env.Client.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func namespace(t testing.TB, name string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func ingress(t testing.TB, ns, name, class string, clusters ...string) {
	t.Helper()
	i := &v1alpha1.AnycastIngress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.AnycastIngressSpec{ClassName: class, Clusters: clusters},
	}
	if err := env.Client.Create(context.Background(), i); err != nil {
		t.Fatal(err)
	}
}

// owned writes n Services owned by ref in ns, as the operator labels what it writes.
func owned(t testing.TB, ns, prefix string, ref owner.Ref, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", prefix, i), Labels: ref.Labels()},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		}
		if err := env.Client.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		names = append(names, s.Name)
	}
	return names
}

// exists reports whether the Service ns/name exists.
func exists(t testing.TB, ns, name string) bool { return present(t, ns, name, &corev1.Service{}) }

// present reports whether the object ns/name of obj's kind exists.
func present(t testing.TB, ns, name string, obj client.Object) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// member is the envtest cluster seen as a member: its managed objects from a cache, as
// the operator's member caches hold them.
func member(t testing.TB, want int) *clusters.Member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultLabelSelector: owner.Managed()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("member cache did not sync")
	}
	// The cache fills as the sweep first lists a kind: wait until it holds what was written.
	testenv.Eventually(t, "the member cache holds every managed Service", time.Minute, func() error {
		list := &corev1.ServiceList{}
		if err := c.List(ctx, list); err != nil {
			return err
		}
		if len(list.Items) < want {
			return fmt.Errorf("%d of %d", len(list.Items), want)
		}
		return nil
	})
	return &clusters.Member{Name: "m", Client: env.Client, Reader: c, LiveReader: env.Client}
}

// TestSweepDeletesOnlyOrphans: on a member reached as m2, the sweep deletes the objects of
// an ingress that is gone, of a class that is gone, and of an ingress that no longer
// selects m2; it keeps those of a live ingress, of the class, and of an ingress the hub's
// cache does not have yet but the hub's API server does (the live check decides). The
// hub's API server is asked only about owners the cache says are gone, once each.
func TestSweepDeletesOnlyOrphans(t *testing.T) {
	ctx := context.Background()
	const ns, cls = "sweep-orphans", "sweep-a"
	namespace(t, ns)
	class(t, cls)
	ingress(t, ns, "kept", cls)
	ingress(t, ns, "hidden", cls)
	ingress(t, ns, "gone", cls)
	ingress(t, ns, "only-m1", cls, "hub", "m1")
	kept := owned(t, ns, "kept", owner.Ingress(cls, ns, "kept"), 4)
	kept = append(kept, owned(t, ns, "hidden", owner.Ingress(cls, ns, "hidden"), 4)...)
	kept = append(kept, owned(t, ns, "class", owner.Class(cls), 1)...)
	orphans := owned(t, ns, "gone", owner.Ingress(cls, ns, "gone"), 4)
	orphans = append(orphans, owned(t, ns, "only-m1", owner.Ingress(cls, ns, "only-m1"), 4)...)
	orphans = append(orphans, owned(t, ns, "other-class", owner.Class("sweep-gone"), 1)...)
	if err := env.Client.Delete(ctx, &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone"}}); err != nil {
		t.Fatal(err)
	}
	m := member(t, len(kept)+len(orphans))

	hub := newCountingReader(env.Client, types.NamespacedName{Namespace: ns, Name: "hidden"})
	live := newCountingReader(env.Client)
	targets := func(context.Context) []clusters.SweepTarget {
		return []clusters.SweepTarget{{Ref: "m2", Refs: []string{clusters.RefString(kubeconfigRef("m2"))}, Member: m}}
	}
	s := sweep.New(hub, live, targets, time.Hour, logr.Discard())
	n, err := s.SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(orphans) {
		t.Errorf("deleted %d objects; want %d (%v)", n, len(orphans), orphans)
	}
	for _, name := range orphans {
		if exists(t, ns, name) {
			t.Errorf("orphan %s was left", name)
		}
	}
	for _, name := range kept {
		if !exists(t, ns, name) {
			t.Errorf("%s was deleted though its owner wants it on m2", name)
		}
	}
	if r := append(hub.repeated(), live.repeated()...); len(r) > 0 {
		t.Errorf("owners read more than once in one sweep: %v", r)
	}
	// Suspects: the ingresses hidden, gone and only-m1 (not for m2 by its selection: the
	// cache's verdict is asked of the live API server too) and the missing class; the
	// class of the three ingresses is read live once.
	if got := live.total(); got != 5 {
		t.Errorf("the live API server was asked %d times; want 5 (the class, the three suspect ingresses, the missing class): %v", got, live.gets)
	}
}

// TestSweepReadsOwnersOncePerSweep: a sweep of five members holding objects of the same
// ingresses reads each class and ingress from the hub's cache once, not once per object
// on every member, and asks the hub's API server nothing when every owner is alive.
func TestSweepReadsOwnersOncePerSweep(t *testing.T) {
	ctx := context.Background()
	const ns, cls = "sweep-reads", "sweep-b"
	namespace(t, ns)
	class(t, cls)
	want := 0
	for i := range 3 {
		name := fmt.Sprintf("ing-%d", i)
		ingress(t, ns, name, cls)
		want += len(owned(t, ns, name, owner.Ingress(cls, ns, name), 4))
	}
	m := member(t, want)
	hub, live := newCountingReader(env.Client), newCountingReader(env.Client)
	targets := func(context.Context) []clusters.SweepTarget {
		var out []clusters.SweepTarget
		for i := range 5 {
			out = append(out, clusters.SweepTarget{Ref: fmt.Sprint("m", i), Refs: []string{clusters.RefString(kubeconfigRef("m1"))}, Member: m})
		}
		return out
	}
	// Other tests' objects are in the member's cache too: their owners must also be read
	// once, and this test's three ingresses must have been read.
	n, err := sweep.New(hub, live, targets, time.Hour, logr.Discard()).SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("deleted %d objects; every owner is alive", n)
	}
	if r := hub.repeated(); len(r) > 0 {
		t.Errorf("owners read from the hub's cache more than once in one sweep of five members: %v", r)
	}
	for i := range 3 {
		key := fmt.Sprintf("*v1alpha1.AnycastIngress %s/ing-%d", ns, i)
		if got := hub.count(key); got != 1 {
			t.Errorf("%s read %d times; want once", key, got)
		}
	}
	if live.total() != 0 {
		t.Errorf("the live API server was asked %v with every owner alive", live.gets)
	}
}

// secretLister is a member's live reader that counts the Secret lists per namespace and
// fails the next one in failNext with a transient error (a member's API server that
// stops answering mid-sweep).
type secretLister struct {
	client.Reader
	mu       sync.Mutex
	lists    map[string]int
	failNext map[string]bool
}

func (c *secretLister) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if l, ok := list.(*metav1.PartialObjectMetadataList); ok && l.GetObjectKind().GroupVersionKind().Kind == "SecretList" {
		o := (&client.ListOptions{}).ApplyOptions(opts)
		c.mu.Lock()
		c.lists[o.Namespace]++
		fail := c.failNext[o.Namespace]
		delete(c.failNext, o.Namespace)
		c.mu.Unlock()
		if fail {
			return apierrors.NewServiceUnavailable("the member's API server is restarting")
		}
	}
	return c.Reader.List(ctx, list, opts...)
}

// take returns the Secret lists per namespace of nss since the last take.
func (c *secretLister) take(nss ...string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, ns := range nss {
		out[ns] = c.lists[ns]
	}
	c.lists = map[string]int{}
	return out
}

// copyOf writes a certificate copy (a Secret) owned by ref, as the operator labels it.
func copyOf(t testing.TB, ns, name string, ref owner.Ref) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: ref.Labels()}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// cached waits until the member's cache holds the Services.
func cached(t testing.TB, m *clusters.Member, ns string, names ...string) {
	t.Helper()
	testenv.Eventually(t, "the member cache holds the new Services", time.Minute, func() error {
		for _, n := range names {
			if err := m.Reader.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: n}, &corev1.Service{}); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteIngress(t testing.TB, ns, name string) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), &v1alpha1.AnycastIngress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// TestSweepSearchesSecretsWhereOrphansAre: certificate copies (never cached) are listed
// live in every namespace holding objects of ingresses only on a member's first sweep and
// then every SecretsInterval; in between, only where the sweep found other orphans of
// ingresses, or where an unfinished sweep did. Each orphaned copy is deleted by the sweep
// that searches its namespace; live ingresses' copies stay.
func TestSweepSearchesSecretsWhereOrphansAre(t *testing.T) {
	ctx := context.Background()
	const cls = "sweep-c"
	a, b, c := "sweep-secrets-a", "sweep-secrets-b", "sweep-secrets-c"
	class(t, cls)
	for _, ns := range []string{a, b, c} {
		namespace(t, ns)
	}
	// a: an ingress deleted while the member was down, its objects and copy left.
	ingress(t, a, "gone", cls)
	want := len(owned(t, a, "gone", owner.Ingress(cls, a, "gone"), 2))
	copyOf(t, a, "gone-tls", owner.Ingress(cls, a, "gone"))
	deleteIngress(t, a, "gone")
	// b: a live ingress, and the copy of a gone one whose other objects are gone already.
	ingress(t, b, "live", cls)
	want += len(owned(t, b, "live", owner.Ingress(cls, b, "live"), 2))
	copyOf(t, b, "lone-tls", owner.Ingress(cls, b, "lone"))
	// c: a live ingress with its copy.
	ingress(t, c, "live", cls)
	want += len(owned(t, c, "live", owner.Ingress(cls, c, "live"), 2))
	copyOf(t, c, "live-tls", owner.Ingress(cls, c, "live"))

	m := member(t, want)
	lister := &secretLister{Reader: env.Client, lists: map[string]int{}, failNext: map[string]bool{}}
	m.LiveReader = lister
	targets := func(context.Context) []clusters.SweepTarget {
		return []clusters.SweepTarget{{Ref: "m2", Refs: []string{clusters.RefString(kubeconfigRef("m2"))}, Member: m}}
	}
	s := sweep.New(env.Client, env.Client, targets, time.Hour, logr.Discard())
	s.SecretsInterval = time.Hour
	sweepOnce := func(wantErr bool) {
		t.Helper()
		if _, err := s.SweepOnce(ctx); (err != nil) != wantErr {
			t.Fatalf("sweep: %v (want an error: %t)", err, wantErr)
		}
	}
	check := func(when string, lists map[string]int, wantLists map[string]int, gone, left []string) {
		t.Helper()
		for ns, n := range wantLists {
			if lists[ns] != n {
				t.Errorf("%s: Secrets listed %d times in %s; want %d (%v)", when, lists[ns], ns, n, lists)
			}
		}
		for _, k := range gone {
			ns, name, _ := strings.Cut(k, "/")
			if present(t, ns, name, &corev1.Secret{}) {
				t.Errorf("%s: the orphaned copy %s was left", when, k)
			}
		}
		for _, k := range left {
			ns, name, _ := strings.Cut(k, "/")
			if !present(t, ns, name, &corev1.Secret{}) {
				t.Errorf("%s: the copy %s was deleted", when, k)
			}
		}
	}

	// The first sweep searches everywhere: both orphaned copies go.
	sweepOnce(false)
	check("first sweep", lister.take(a, b, c), map[string]int{a: 1, b: 1, c: 1}, []string{a + "/gone-tls", b + "/lone-tls"}, []string{c + "/live-tls"})
	if exists(t, a, "gone-0") {
		t.Error("first sweep: the gone ingress's Services were left")
	}

	// Next: another ingress of a deleted, and a lone copy in b. The member's API server
	// fails the Secret list in a: the sweep deleted a's Services but not the copy.
	ingress(t, a, "gone2", cls)
	names := owned(t, a, "gone2", owner.Ingress(cls, a, "gone2"), 2)
	copyOf(t, a, "gone2-tls", owner.Ingress(cls, a, "gone2"))
	copyOf(t, b, "lone2-tls", owner.Ingress(cls, b, "lone2"))
	deleteIngress(t, a, "gone2")
	cached(t, m, a, names...)
	lister.mu.Lock()
	lister.failNext[a] = true
	lister.mu.Unlock()
	sweepOnce(true)
	check("sweep failing in a", lister.take(a, b, c), map[string]int{a: 1, b: 0, c: 0}, nil, []string{a + "/gone2-tls", b + "/lone2-tls", c + "/live-tls"})
	if exists(t, a, "gone2-0") {
		t.Error("sweep failing in a: the gone ingress's Services were left")
	}

	// The next sweep finds no other orphan in a, but the unfinished one did: a is searched.
	testenv.Eventually(t, "the member cache no longer holds gone2's Services", time.Minute, func() error {
		if err := m.Reader.Get(ctx, types.NamespacedName{Namespace: a, Name: names[0]}, &corev1.Service{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still cached (%v)", err)
		}
		return nil
	})
	sweepOnce(false)
	check("after the unfinished sweep", lister.take(a, b, c), map[string]int{a: 1, b: 0, c: 0}, []string{a + "/gone2-tls"}, []string{b + "/lone2-tls", c + "/live-tls"})
	sweepOnce(false)
	check("with nothing orphaned", lister.take(a, b, c), map[string]int{a: 0, b: 0, c: 0}, nil, []string{b + "/lone2-tls", c + "/live-tls"})

	// Once SecretsInterval has passed, everywhere again: the lone copy goes.
	s.SecretsInterval = time.Nanosecond
	sweepOnce(false)
	check("after SecretsInterval", lister.take(a, b, c), map[string]int{a: 0, b: 1, c: 1}, []string{b + "/lone2-tls"}, []string{c + "/live-tls"})
}

// BenchmarkSweep: one sweep of 20 members, each holding 400 objects of 100 ingresses (each
// with a status entry per member), as BenchmarkMembers' hub at N = 20 does every
// SweepInterval (5 minutes by default). The members are one envtest cluster seen through
// 20 kubeconfig references.
func BenchmarkSweep(b *testing.B) {
	ctx := context.Background()
	const ns, cls, ingresses, members = "sweep-bench", "sweep-bench", 100, 20
	namespace(b, ns)
	class(b, cls)
	for i := range ingresses {
		name := fmt.Sprintf("ing-%03d", i)
		ingress(b, ns, name, cls)
		owned(b, ns, name, owner.Ingress(cls, ns, name), 4)
		// The status a programmed ingress has: an entry per member, which every copy of
		// the ingress out of the cache pays for.
		ing := &v1alpha1.AnycastIngress{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ing); err != nil {
			b.Fatal(err)
		}
		ing.Status.Address = "192.168.156.1"
		for m := range members {
			ing.Status.Clusters = append(ing.Status.Clusters, v1alpha1.IngressClusterStatus{Name: fmt.Sprintf("m%02d", m), Programmed: true, Health: "Healthy"})
		}
		if err := env.Client.Status().Update(ctx, ing); err != nil {
			b.Fatal(err)
		}
	}
	m := member(b, 4*ingresses)
	// The hub's classes and ingresses from a cache, as the operator reads them.
	hubCache, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = hubCache.Start(cctx) }()
	testenv.Eventually(b, "the hub cache holds every ingress", time.Minute, func() error {
		list := &v1alpha1.AnycastIngressList{}
		if err := hubCache.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) < ingresses {
			return fmt.Errorf("%d of %d", len(list.Items), ingresses)
		}
		return hubCache.Get(ctx, types.NamespacedName{Name: cls}, &v1alpha1.AnycastClass{})
	})
	hub := newCountingReader(hubCache)
	targets := func(context.Context) []clusters.SweepTarget {
		var out []clusters.SweepTarget
		for i := range members {
			out = append(out, clusters.SweepTarget{Ref: fmt.Sprint("m", i), Refs: []string{clusters.RefString(kubeconfigRef("m1"))}, Member: m})
		}
		return out
	}
	lister := &secretLister{Reader: env.Client, lists: map[string]int{}, failNext: map[string]bool{}}
	m.LiveReader = lister
	s := sweep.New(hub, env.Client, targets, time.Hour, logr.Discard())
	// The first sweep of each member lists its Secrets in every namespace of ingresses
	// (then once an hour): measured apart, the sweeps that follow it in the loop.
	cpu0 := processCPU(b)
	if n, err := s.SweepOnce(ctx); err != nil || n != 0 {
		b.Fatalf("first sweep: deleted %d, %v", n, err)
	}
	firstCPU, firstLists := processCPU(b)-cpu0, lister.take(ns)[ns]
	hub0 := hub.total()
	b.ReportAllocs()
	cpu0 = processCPU(b)
	for b.Loop() {
		if n, err := s.SweepOnce(ctx); err != nil || n != 0 {
			b.Fatalf("deleted %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/1e6/float64(b.N), "ms-CPU/sweep")
	b.ReportMetric(float64(hub.total()-hub0)/float64(b.N), "hub-reads/sweep")
	b.ReportMetric(float64(lister.take(ns)[ns])/float64(b.N), "secret-lists/sweep")
	// Reported last: b.Loop resets the timer, and with it the metrics reported before.
	b.ReportMetric(float64(firstCPU)/1e6, "ms-CPU/first-sweep")
	b.ReportMetric(float64(firstLists), "secret-lists/first-sweep")
}

// processCPU is this process's CPU time (user and system) so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
