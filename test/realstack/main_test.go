package realstack_test

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain runs the tests with SIGHUP ignored, as they run under nohup (or a job runner
// that starts them so): the real components must work regardless. frr-k8s's reloader is
// a shell script told to reload by SIGHUP, and a shell cannot trap a signal it inherited
// ignored: started from such a process, it never reloaded, and FRR kept its first
// configuration (no session to the TOR). StartFRRK8s resets the signals it traps.
func TestMain(m *testing.M) {
	signal.Ignore(syscall.SIGHUP)
	os.Exit(m.Run())
}
