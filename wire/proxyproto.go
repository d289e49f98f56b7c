package wire

import (
	"net"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/pgshard/pgshard/internal/config"
)

// proxyHeaderTimeout bounds the wait for a trusted peer's PROXY header.
const proxyHeaderTimeout = 10 * time.Second

// ProxyProtocol wraps the client listener so that connections from the
// trusted load balancers of pp must start with a PROXY protocol header
// (v1 or v2), whose client address pgshard then uses everywhere it uses
// the peer's: users[].networks, logs, /clients. A header from any other
// peer is refused, so clients cannot claim another address; their
// connections are served as they come, so clients inside the network
// may still connect directly. (github.com/pires/go-proxyproto parses the
// header.)
func ProxyProtocol(ln net.Listener, pp *config.ProxyProtocol) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: proxyHeaderTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			ta, ok := o.Upstream.(*net.TCPAddr)
			if ok && pp.Trusts(ta.AddrPort().Addr()) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.REJECT, nil
		},
	}
}

// rawConn is the socket under a connection the PROXY protocol listener
// wrapped, for socket options and peeks.
func rawConn(conn net.Conn) net.Conn {
	if pc, ok := conn.(*proxyproto.Conn); ok {
		return pc.Raw()
	}
	return conn
}
