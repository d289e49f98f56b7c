package wire

import (
	"context"
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
