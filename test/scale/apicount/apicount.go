// Package apicount counts the API requests an operator makes, per cluster, verb, resource
// and object, through operator.Options.WrapTransport. The scale benchmark reports
// requests per ingress and requires a steady-state resync to write nothing; the watcher
// benchmark counts status writes per ingress during a BGP burst; the leader-election
// test cuts a replica off its API servers with Block.
package apicount

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Request is what one API request was about.
type Request struct {
	// Cluster is "hub" or a member's kubeconfig reference (operator.Options.WrapTransport).
	Cluster string
	// Verb is the Kubernetes verb: get, list, watch, create, update, patch, delete,
	// deletecollection (from the method and the path).
	Verb string
	// Group, Resource and Subresource ("status", ...) of the path; Namespace and Name
	// when the path names them.
	Group, Resource, Subresource, Namespace, Name string
	// InitialEvents marks a watch that starts with the current state
	// (sendInitialEvents=true): how client-go's informers list (WatchListClient).
	InitialEvents bool
}

// Lists reports whether the request reads a whole collection: a list, or a watch that
// starts with every object (an informer's initial list or relist).
func (r Request) Lists() bool { return r.Verb == "list" || r.Verb == "watch" && r.InitialEvents }

// Write reports whether the request changes anything.
func (r Request) Write() bool {
	switch r.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

func (r Request) String() string {
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	return fmt.Sprintf("%s %s %s", r.Cluster, r.Verb, res)
}

// Counter counts requests. The zero value is ready.
type Counter struct {
	mu      sync.Mutex
	counts  map[Request]int
	blocked map[string]bool
	// OnRequest, if set, sees every request (before it is sent).
	OnRequest func(Request)
	total     atomic.Int64
}

// Wrap is an operator.Options.WrapTransport.
func (c *Counter) Wrap(cluster string, rt http.RoundTripper) http.RoundTripper {
	return &transport{c: c, cluster: cluster, next: rt}
}

type transport struct {
	c       *Counter
	cluster string
	next    http.RoundTripper
}

// errBlocked is what a blocked cluster's requests fail with, as a dead network would.
type errBlocked string

func (e errBlocked) Error() string { return "apicount: requests to " + string(e) + " are blocked" }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := Parse(t.cluster, req)
	t.c.record(r)
	if t.c.isBlocked(t.cluster) {
		return nil, errBlocked(t.cluster)
	}
	return t.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go see through the wrapper (k8s.io/apimachinery's
// net.RoundTripperWrapper).
func (t *transport) WrappedRoundTripper() http.RoundTripper { return t.next }

// CancelRequest forwards to the wrapped transport when it can cancel (client-go warns
// otherwise).
func (t *transport) CancelRequest(req *http.Request) {
	if c, ok := t.next.(interface{ CancelRequest(*http.Request) }); ok {
		c.CancelRequest(req)
	}
}

func (c *Counter) record(r Request) {
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[Request]int{}
	}
	c.counts[r]++
	hook := c.OnRequest
	c.mu.Unlock()
	c.total.Add(1)
	if hook != nil {
		hook(r)
	}
}

// Block makes every request to cluster fail (true) or pass again (false): a replica cut
// off its API server. Requests made while blocked are still counted.
func (c *Counter) Block(cluster string, blocked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blocked == nil {
		c.blocked = map[string]bool{}
	}
	c.blocked[cluster] = blocked
}

func (c *Counter) isBlocked(cluster string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocked[cluster]
}

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
	c.total.Store(0)
}

// Total is the number of requests counted since the last Reset.
func (c *Counter) Total() int64 { return c.total.Load() }

// Count sums the requests match accepts (nil: all).
func (c *Counter) Count(match func(Request) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for r, k := range c.counts {
		if match == nil || match(r) {
			n += k
		}
	}
	return n
}

// Writes sums the write requests.
func (c *Counter) Writes() int { return c.Count(Request.Write) }

// PerObject counts the requests match accepts per namespace/name.
func (c *Counter) PerObject(match func(Request) bool) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for r, k := range c.counts {
		if match(r) {
			out[r.Namespace+"/"+r.Name] += k
		}
	}
	return out
}

// Row is one line of a breakdown.
type Row struct {
	Key   string
	Count int
}

// Breakdown sums requests by key (for example Request.String, or the cluster), largest
// first.
func (c *Counter) Breakdown(key func(Request) string) []Row {
	c.mu.Lock()
	sums := map[string]int{}
	for r, k := range c.counts {
		sums[key(r)] += k
	}
	c.mu.Unlock()
	out := make([]Row, 0, len(sums))
	for k, n := range sums {
		out = append(out, Row{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Parse describes a request to a Kubernetes API server.
func Parse(cluster string, req *http.Request) Request {
	r := Request{Cluster: cluster}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/... or /apis/group/version/...
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		r.Group = parts[1]
		parts = parts[3:]
	default:
		// discovery, /version, /healthz...
		r.Resource = "/" + strings.Join(parts, "/")
		r.Verb = strings.ToLower(req.Method)
		return r
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		r.Namespace = parts[1]
		parts = parts[2:]
	}
	if len(parts) > 0 {
		r.Resource = parts[0]
	}
	if len(parts) > 1 {
		r.Name = parts[1]
	}
	if len(parts) > 2 {
		r.Subresource = parts[2]
	}
	if r.Resource == "namespaces" && len(parts) == 2 {
		r.Name = parts[1]
	}
	watch := req.URL.Query().Get("watch")
	switch req.Method {
	case http.MethodGet:
		switch {
		case watch == "true" || watch == "1":
			r.Verb = "watch"
			r.InitialEvents = req.URL.Query().Get("sendInitialEvents") == "true"
		case r.Name == "":
			r.Verb = "list"
		default:
			r.Verb = "get"
		}
	case http.MethodPost:
		r.Verb = "create"
	case http.MethodPut:
		r.Verb = "update"
	case http.MethodPatch:
		r.Verb = "patch"
	case http.MethodDelete:
		if r.Name == "" {
			r.Verb = "deletecollection"
		} else {
			r.Verb = "delete"
		}
	default:
		r.Verb = strings.ToLower(req.Method)
	}
	return r
}
