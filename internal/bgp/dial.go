package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxPasswordLen is Linux's TCP_MD5SIG_MAXKEYLEN.
const maxPasswordLen = unix.TCP_MD5SIG_MAXKEYLEN

// dial opens the session's TCP connection: TCP MD5 (RFC 2385) keyed for the
// router's address when a password is set, and the eBGP TTL (1 for a
// directly connected router, Multihop otherwise), both set on the socket
// before the SYN leaves, as the router checks them from the first segment.
func dial(ctx context.Context, c SessionConfig, ebgp bool) (net.Conn, error) {
	remote := netip.AddrPortFrom(c.Address.Unmap(), c.port())
	d := net.Dialer{Timeout: c.dialTimeout()}
	if c.LocalAddress.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: c.LocalAddress.Unmap().AsSlice()}
	}
	ttl := int(c.Multihop)
	if ttl == 0 && ebgp {
		ttl = 1
	}
	d.Control = func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if c.Password != "" {
				serr = setMD5(int(fd), remote.Addr(), c.Password)
			}
			if serr == nil && ttl > 0 {
				serr = setTTL(int(fd), remote.Addr().Is4(), ttl)
			}
		})
		return errors.Join(err, serr)
	}
	return d.DialContext(ctx, "tcp", remote.String())
}

func setMD5(fd int, peer netip.Addr, password string) error {
	if len(password) > maxPasswordLen {
		return fmt.Errorf("TCP MD5 password longer than %d bytes", maxPasswordLen)
	}
	sig := unix.TCPMD5Sig{Keylen: uint16(len(password))}
	copy(sig.Key[:], password)
	if peer.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET
		sa.Addr = peer.As4()
	} else {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET6
		sa.Addr = peer.As16()
	}
	if err := unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig); err != nil {
		return fmt.Errorf("enabling TCP MD5: %w", err)
	}
	return nil
}

func setTTL(fd int, v4 bool, ttl int) error {
	var err error
	if v4 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
	}
	if err != nil {
		return fmt.Errorf("setting TTL %d: %w", ttl, err)
	}
	return nil
}

// dialFailure turns a connect error into the short diagnosis describe()
// expands: "timeout" (no answer at all: with TCP MD5, a wrong or missing
// password looks exactly like this), "refused", or the error itself.
func dialFailure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		// The handshake completed and the router reset the connection before the
		// connect was seen to finish (a busy machine): a reset, not a refusal.
		return "reset"
	default:
		return err.Error()
	}
}
