package realstack

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one running real component. Its stdout and stderr go to LogPath, which a
// test reads with Log (and ConfigErrors scans). It runs in its own process group, so Stop
// also ends what it spawned (the reloader's sleep and frr-reload.py).
type Process struct {
	Name    string
	LogPath string

	cmd    *exec.Cmd
	hdr    int // bytes of the log written before the process: its command line
	logf   *os.File
	exited chan struct{}
	mu     sync.Mutex
	err    error // the exit status, once exited is closed
}

// startProcess starts argv with extra environment variables env, logging to dir/name.log.
func startProcess(dir, name string, env []string, argv ...string) (*Process, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The log starts with the command line (after whatever an earlier run appended).
	hdr, _ := logf.Seek(0, io.SeekEnd)
	n, _ := fmt.Fprintf(logf, "=== %s: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, hdr: int(hdr) + n, logf: logf, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		fmt.Fprintf(logf, "=== %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), err)
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Running says whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is the exit status once the process has exited (nil while it runs).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Log is everything the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Output is what this run of the process has written, without the command line that
// starts its log (which would match any word of its arguments).
func (p *Process) Output() string {
	s := p.Log()
	if len(s) < p.hdr {
		return ""
	}
	return s[p.hdr:]
}

// LogTail is the last n bytes of the log, for failure messages.
func (p *Process) LogTail(n int) string {
	s := p.Log()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// Stop sends SIGTERM to the process group and waits up to 10 s before SIGKILL. It is
// safe to call more than once and after the process has exited.
func (p *Process) Stop() {
	if p == nil || !p.Running() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.exited
	}
	// Children that outlived their parent in the group (a reloader's sleep).
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
}

// Kill ends the process group at once, as a crash would.
func (p *Process) Kill() {
	if p == nil || !p.Running() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.exited
}

// errExited says a process ended while it was expected to run, with its log's tail.
func (p *Process) errExited() error {
	return fmt.Errorf("%s exited (%v):\n%s", p.Name, p.ExitErr(), p.LogTail(3000))
}

// waitLog waits until the log contains any of the needles, failing early when the
// process exits.
func (p *Process) waitLog(timeout time.Duration, needles ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		log := p.Output()
		for _, n := range needles {
			if strings.Contains(log, n) {
				return nil
			}
		}
		if !p.Running() {
			return p.errExited()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: none of %q in its log after %s:\n%s", p.Name, needles, timeout, p.LogTail(3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
