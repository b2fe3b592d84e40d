package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Every process the lab starts outside a network namespace is recorded in
// <dir>/run/<name>.pid as "<pid> <start time>", the start time being field 22 of
// /proc/<pid>/stat (clock ticks since boot): a pid the kernel has since given to an
// unrelated process has another start time, so a stale record never kills a stranger.

// procRecord is one recorded process.
type procRecord struct {
	Name  string
	Pid   int
	Start uint64
}

func runDir(dir string) string { return filepath.Join(dir, "run") }

// recordProc writes the pid file of a running process.
func recordProc(dir, name string, pid int) error {
	start, err := procStart(pid)
	if err != nil {
		return fmt.Errorf("recording %s (pid %d): %w", name, pid, err)
	}
	if err := os.MkdirAll(runDir(dir), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(runDir(dir), name+".pid"), []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o644)
}

// recordedProcs reads every pid file.
func recordedProcs(dir string) []procRecord {
	files, _ := filepath.Glob(filepath.Join(runDir(dir), "*.pid"))
	var out []procRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b))
		if len(fields) != 2 {
			continue
		}
		pid, err1 := strconv.Atoi(fields[0])
		start, err2 := strconv.ParseUint(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, procRecord{Name: strings.TrimSuffix(filepath.Base(f), ".pid"), Pid: pid, Start: start})
	}
	return out
}

// alive says whether the recorded process still runs (same pid, same start time, not a
// zombie).
func (p procRecord) alive() bool {
	start, err := procStart(p.Pid)
	return err == nil && start == p.Start
}

// procStart reads a process's start time; an error means it is gone (or a zombie).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: unreadable stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); the start time is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("pid %d is a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// stopProc sends SIGTERM, waits up to grace, then SIGKILLs, and waits for the end.
func stopProc(p procRecord, grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for p.alive() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p.alive() {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		deadline = time.Now().Add(10 * time.Second)
		for p.alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if p.alive() {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, p.Pid)
	}
	return nil
}

// stopProcs stops several processes at once: SIGTERM to all, up to grace for them to
// end, then SIGKILL.
func stopProcs(list []procRecord, grace time.Duration) error {
	for _, p := range list {
		if p.alive() {
			_ = syscall.Kill(p.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		alive := false
		for _, p := range list {
			alive = alive || p.alive()
		}
		if !alive {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	var errList []error
	for _, p := range list {
		errList = append(errList, stopProc(p, 0))
	}
	return errors.Join(errList...)
}

// childrenMatching lists the pids of this process's children whose command line contains
// every one of the given strings.
func childrenMatching(parts ...string) []int {
	return procsMatching(os.Getpid(), parts...)
}

// procsMatching lists processes (children of parent, or any when parent is 0) whose
// command line contains every one of parts.
func procsMatching(parent int, parts ...string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if parent != 0 && ppid(pid) != parent {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		ok := true
		for _, p := range parts {
			if !strings.Contains(cmd, p) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, pid)
		}
	}
	return out
}

// procComm is a process's command name (/proc/<pid>/comm).
func procComm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func ppid(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// errs joins non-nil errors.
func errs(list ...error) error { return errors.Join(list...) }
