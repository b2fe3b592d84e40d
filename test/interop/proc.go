package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a router process in a namespace, run in the foreground as a child of
// the test (ip netns exec execs it after switching namespaces), so the test
// ends it by its pid and sees when it exits.
type proc struct {
	ns   string
	name string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// start runs the command in the namespace with env added to the test's.
func (p *proc) start(env []string, command ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s in %s is already running", p.name, p.ns)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", p.ns}, command...)...)
	cmd.Env = append(os.Environ(), env...)
	p.out = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// exited reports whether the process has ended, with its output.
func (p *proc) exited() (bool, string) {
	p.mu.Lock()
	done, out := p.done, p.out
	p.mu.Unlock()
	if done == nil {
		return true, ""
	}
	select {
	case <-done:
		return true, out.String()
	default:
		return false, ""
	}
}

// stop ends the process (SIGTERM, SIGKILL after grace) and waits for it.
func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitExit waits until the process ends on its own.
func (p *proc) waitExit(d time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
	case <-time.After(d):
		return fmt.Errorf("%s did not exit within %s", p.name, d)
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return nil
}

// output is what the process wrote to stdout and stderr.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// lockedBuffer collects a child's output, written by exec's copying goroutine
// while a failing test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the last lines of a file.
func tail(path string, lines int) string {
	data, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
