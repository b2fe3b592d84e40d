package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Orphan is an API server or etcd that a test process started and did not stop.
type Orphan struct {
	PID int
	// Binary is the process's executable (kube-apiserver or etcd).
	Binary string
	// Dirs are the temporary directories it was given (--data-dir, --cert-dir), removed
	// with it.
	Dirs []string
}

var reapOnce sync.Once

// reapOrphansOnce reaps, once per test process, what earlier test processes left running.
func reapOrphansOnce(assets string) {
	reapOnce.Do(func() { _, _ = ReapOrphans(assets, os.TempDir()) })
}

// ReapOrphans kills the kube-apiservers and etcds that test processes left behind when
// they died without stopping them, and removes their temporary directories. envtest
// starts them in a process group of their own, so a test process killed by a signal, a
// Ctrl-C of `go test` or a test timeout leaves them running (a few hundred MiB each,
// twenty of them after a member benchmark). An orphan is a process whose parent is gone
// (its parent is now PID 1), whose executable is kube-apiserver or etcd in assets (the
// binaries the tests use), and which was started the way envtest starts them, with its
// data or certificate directory in tmp (k8s_test_framework_* or envtest-*): a server a
// live test or `make lab` runs has its parent still, and nothing else matches. Returns
// what it reaped.
func ReapOrphans(assets, tmp string) ([]Orphan, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	assets = filepath.Clean(assets)
	var reaped []Orphan
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		o, ok := orphan(filepath.Join("/proc", e.Name()), pid, assets, tmp)
		if !ok {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			continue // gone meanwhile, or not ours to kill
		}
		reaped = append(reaped, o)
	}
	for _, o := range reaped {
		for _, d := range o.Dirs {
			_ = os.RemoveAll(d)
		}
	}
	return reaped, nil
}

// orphan reads one /proc/<pid> entry and says whether it is an orphaned envtest server.
func orphan(dir string, pid int, assets, tmp string) (Orphan, bool) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil || parentPID(stat) != 1 {
		return Orphan{}, false
	}
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil || filepath.Dir(exe) != assets {
		return Orphan{}, false
	}
	if b := filepath.Base(exe); b != "kube-apiserver" && b != "etcd" {
		return Orphan{}, false
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return Orphan{}, false
	}
	o := Orphan{PID: pid, Binary: exe}
	for _, arg := range bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}) {
		for _, flag := range []string{"--data-dir=", "--cert-dir="} {
			d, found := strings.CutPrefix(string(arg), flag)
			if !found || filepath.Dir(d) != filepath.Clean(tmp) {
				continue
			}
			if b := filepath.Base(d); strings.HasPrefix(b, "k8s_test_framework_") || strings.HasPrefix(b, "envtest-") {
				o.Dirs = append(o.Dirs, d)
			}
		}
	}
	return o, len(o.Dirs) > 0
}

// parentPID reads the parent's PID from a /proc/<pid>/stat line.
func parentPID(stat []byte) int {
	f := statFields(stat)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// statFields are the fields of a /proc/<pid>/stat line ("pid (comm) state ppid ...")
// from the state on: comm may hold spaces and parentheses, so they are counted from the
// last ')'.
func statFields(stat []byte) []string {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(stat[i+1:]))
}
