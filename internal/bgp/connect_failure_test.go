package bgp

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestResetAtConnectIsAReset: a router that resets the connection just after the
// handshake, before the connect is seen to finish (as on a busy machine), is reported as
// the same reset in Connect, not as a failed TCP connect; a refusal stays a refusal.
func TestResetAtConnectIsAReset(t *testing.T) {
	reset := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}
	if got := connectFailure(reset, 179); !strings.Contains(got, "the router closed the connection in Connect (the router reset the connection)") {
		t.Errorf("reset at connect: %q", got)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if got := connectFailure(refused, 179); !strings.Contains(got, "refused the TCP connection to port 179") {
		t.Errorf("refused: %q", got)
	}
}
