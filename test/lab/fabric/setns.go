package fabric

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// listenInNS opens a TCP listener inside a named network namespace while the
// rest of the process stays where it is. A socket belongs to the namespace it
// was created in for its whole life, so only the thread that creates it has
// to switch: the work runs on a dedicated, locked OS thread, which is
// switched back afterwards. If switching back fails the goroutine exits
// still locked, and the Go runtime then destroys that thread rather than
// reuse it in the wrong namespace.
func listenInNS(ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		ln, lerr := net.Listen("tcp", addr)
		if err := setns(orig); err == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{ln, lerr}
	}()
	r := <-ch
	return r.ln, r.err
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}
