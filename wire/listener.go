package wire

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// Listen opens a TCP listener on addr. With reusePort (so_reuseport) the
// socket is shared with any other process that listens on addr the same
// way: a new pgshard can start on the address of one it replaces, which
// then drains (SIGTERM), for a restart or an upgrade that no client sees
// refused.
func Listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	var lc net.ListenConfig
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error { return setReusePort(c) }
	}
	return lc.Listen(ctx, "tcp", addr)
}

// ResetWarning is what an operator should know before relying on
// so_reuseport for restarts on this machine, or "" when nothing: whether
// connections queued for the old process's listener when it stops are
// reset (see QueuedConnectionsMigrate).
func ResetWarning() string {
	if migrate, known := QueuedConnectionsMigrate(); known && !migrate {
		return "net.ipv4.tcp_migrate_req is 0: connections queued for this process's listener, not yet accepted, when it stops are reset (clients retry them); set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1) and the kernel hands them to the pgshard taking over"
	}
	return ""
}

// retryableAccept says whether an Accept error is a passing shortage (file
// descriptors, buffers, memory) or a connection that went away before it
// was accepted: the listener itself is fine, and accepting again later
// works.
func retryableAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
