package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReapOrphans: an orphaned server (parent gone, binary in the assets directory,
// started with an envtest directory) is killed and its directory removed; a server whose
// parent is alive, an orphan of another binary and an orphan with no envtest directory are
// left alone. The "servers" are copies of /bin/sh named etcd, which take the flags as
// positional arguments.
func TestReapOrphans(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	assets, elsewhere, tmp := filepath.Join(root, "assets"), filepath.Join(root, "other"), filepath.Join(root, "tmp")
	for _, d := range []string{assets, elsewhere, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	body, err := os.ReadFile(sh)
	if err != nil {
		t.Fatal(err)
	}
	etcd, otherEtcd := filepath.Join(assets, "etcd"), filepath.Join(elsewhere, "etcd")
	for _, p := range []string{etcd, otherEtcd} {
		if err := os.WriteFile(p, body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := func(name string) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The server runs "sleep 30; :" (not exec'd: it stays the etcd copy) after writing its
	// PID to a file; started in the background of a shell that exits at once, with no
	// output of the test's held open, it is an orphan.
	const script = `echo $$ > "$0.pid"; sleep 30; :`
	n := 0
	startOrphan := func(bin string, flags ...string) int {
		t.Helper()
		n++
		pidFile := filepath.Join(root, fmt.Sprintf("orphan-%d", n))
		// Single quotes: the outer shell must not expand the script's $$ and $0.
		line := "'" + bin + "' -c '" + script + "' '" + pidFile + "' " + strings.Join(flags, " ") + " </dev/null >/dev/null 2>&1 &"
		if err := exec.Command(sh, "-c", line).Run(); err != nil {
			t.Fatal(err)
		}
		var pid int
		for deadline := time.Now().Add(5 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(pidFile + ".pid")
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if pid == 0 {
			t.Fatalf("%s never wrote its pid", bin)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		return pid
	}
	orphanDir := dir("k8s_test_framework_1")
	orphanPID := startOrphan(etcd, "--data-dir="+orphanDir)
	otherPID := startOrphan(otherEtcd, "--data-dir="+dir("k8s_test_framework_2"))
	plainPID := startOrphan(etcd, "--data-dir="+dir("my-etcd-data"), "--cert-dir="+filepath.Join(root, "envtest-elsewhere"))
	child := exec.Command(etcd, "-c", script, filepath.Join(root, "child"), "--cert-dir="+dir("envtest-west-3"))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	for _, pid := range []int{orphanPID, otherPID, plainPID} {
		if got := parentOf(t, pid); got != 1 {
			t.Fatalf("process %d has parent %d; the test needs orphans to go to PID 1 (no subreaper)", pid, got)
		}
	}

	reaped, err := ReapOrphans(assets, tmp)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, o := range reaped {
		pids = append(pids, o.PID)
	}
	if !slices.Equal(pids, []int{orphanPID}) {
		t.Fatalf("reaped %+v; want only %d (orphan %d of another binary, %d with no envtest directory, %d with its parent alive)", reaped, orphanPID, otherPID, plainPID, child.Process.Pid)
	}
	if !slices.Equal(reaped[0].Dirs, []string{orphanDir}) || reaped[0].Binary != etcd {
		t.Errorf("reaped %+v; want binary %s, dirs [%s]", reaped[0], etcd, orphanDir)
	}
	if _, err := os.Stat(orphanDir); !os.IsNotExist(err) {
		t.Errorf("%s still there (%v)", orphanDir, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(orphanPID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for pid, want := range map[int]bool{orphanPID: false, otherPID: true, plainPID: true, child.Process.Pid: true} {
		if got := alive(pid); got != want {
			t.Errorf("process %d alive %t, want %t", pid, got, want)
		}
	}
}

// parentOf reads a process's parent PID.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	return parentPID(b)
}

// alive says whether pid runs (a zombie, reaped by PID 1 later, counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := statFields(b)
	return len(f) > 0 && f[0] != "Z"
}
