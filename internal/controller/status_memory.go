package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// statusMemory remembers the status the operator last wrote for each ingress. The
// operator is the only writer of that status, so the API server holds exactly what was
// last written, while the cache may still show an older status for a moment. A reconcile
// then decides whether to write, and computes its patch, against what the server holds.
type statusMemory struct {
	mu      sync.Mutex
	written map[types.NamespacedName]writtenStatus
}

type writtenStatus struct {
	uid    types.UID
	status v1alpha1.AnycastIngressStatus
}

// base returns a copy of ing whose status is what the API server holds: the status last
// written for this very object (same UID) when the cache shows another, else the cache's.
func (m *statusMemory) base(ing *v1alpha1.AnycastIngress) *v1alpha1.AnycastIngress {
	out := ing.DeepCopy()
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.written[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}]
	if ok && w.uid == ing.UID && !equality.Semantic.DeepEqual(&w.status, &ing.Status) {
		out.Status = *w.status.DeepCopy()
	}
	return out
}

// wrote records the status just written.
func (m *statusMemory) wrote(ing *v1alpha1.AnycastIngress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.written == nil {
		m.written = map[types.NamespacedName]writtenStatus{}
	}
	m.written[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}] = writtenStatus{uid: ing.UID, status: *ing.Status.DeepCopy()}
}

// forget drops a deleted ingress.
func (m *statusMemory) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.written, key)
}
