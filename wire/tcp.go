package wire

import (
	"net"

	"github.com/pgshard/pgshard/internal/config"
)

// keepAlive is the keepalive configuration tcp asks for; a zero idle time
// turns keepalives off.
func keepAlive(tcp config.TCP) net.KeepAliveConfig {
	if tcp.KeepaliveIdle <= 0 {
		return net.KeepAliveConfig{Enable: false}
	}
	return net.KeepAliveConfig{Enable: true, Idle: tcp.KeepaliveIdle, Interval: tcp.KeepaliveInterval, Count: tcp.KeepaliveCount}
}

// watchClient applies tcp to an accepted client socket, so a client that
// vanished without closing its connection (a dead host, a network cut, a
// laptop gone to sleep) is noticed: an idle one fails its keepalives, one
// that stopped acknowledging what pgshard sends fails after the user
// timeout. Either way its session ends and a transaction it left open is
// rolled back, releasing its server connection and locks.
func watchClient(conn net.Conn, tcp config.TCP) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	_ = tc.SetKeepAliveConfig(keepAlive(tcp))
	if tcp.UserTimeout > 0 {
		if raw, err := tc.SyscallConn(); err == nil {
			_ = setUserTimeout(raw, tcp.UserTimeout)
		}
	}
}
