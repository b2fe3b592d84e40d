package realstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// InNetNS runs fn on an OS thread switched into the named network namespace
// (/run/netns/<ns>): sockets fn creates belong to that namespace for their whole life,
// while the rest of the process stays where it is. The thread is switched back afterwards;
// if that fails, the goroutine ends still locked and the Go runtime discards the thread
// rather than reuse it in the wrong namespace.
func InNetNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// ListenInNetNS opens a TCP listener inside ns (served by this process).
func ListenInNetNS(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := InNetNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// HTTPClientInNetNS is an HTTP client whose connections start inside ns: a client on
// the node, as the tests' requests to a Gateway's entry point are. No keep-alive, so each
// request is a new connection.
func HTTPClientInNetNS(ns string, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNetNS(ns, func() (err error) {
			c, err = (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// Forwarder makes a TCP service of the root namespace reachable from inside a network
// namespace at the same address: it listens on the namespace's loopback and relays each
// connection to the root namespace's. The envtest API server listens on the root
// namespace's 127.0.0.1 only, and components running in a node namespace (speaker,
// frr-k8s, Traefik) reach it through a Forwarder with the very kubeconfig the others use,
// as a node reaches its cluster's API server.
type Forwarder struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

// Forward relays addr ("127.0.0.1:port") from inside ns to addr in the root namespace.
func Forward(ns, addr string) (*Forwarder, error) {
	ln, err := ListenInNetNS(ns, addr)
	if err != nil {
		return nil, fmt.Errorf("forwarding %s into %s: %w", addr, ns, err)
	}
	f := &Forwarder{ln: ln, open: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.relay(in, addr)
			}()
		}
	}()
	return f, nil
}

func (f *Forwarder) relay(in net.Conn, addr string) {
	out, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	if !f.track(in, out) {
		return
	}
	Splice(in, out)
	f.untrack(in, out)
}

// track registers live connections so Close can cut them; false when already closed.
func (f *Forwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		f.open[c] = struct{}{}
	}
	return true
}

func (f *Forwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(f.open, c)
	}
}

// Close stops listening and cuts every relayed connection.
func (f *Forwarder) Close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.open {
		c.Close()
	}
	f.open = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// Splice copies both ways between two connections until both directions ended, passing
// each half-close on (a client that closes its writing side still gets the answer).
func Splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}
