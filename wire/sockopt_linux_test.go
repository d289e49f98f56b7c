package wire

import (
	"context"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgshard/pgshard/internal/config"
)

// TestServerSocketsDetectDeadPeers: server connections carry keepalives
// and the pool's tcp_user_timeout, which is what makes the kernel fail a
// connection to a host that vanished; 0 leaves the kernel's default.
func TestServerSocketsDetectDeadPeers(t *testing.T) {
	port := silentServer(t)
	node := &config.Node{Name: "s0-primary", Host: "127.0.0.1", Port: port, TLSMode: config.ServerTLSDisable}
	for _, c := range []struct {
		userTimeout time.Duration
		want        int // TCP_USER_TIMEOUT in ms
	}{
		{7 * time.Second, 7000},
		{0, 0},
	} {
		cfg := config.Pool{Size: 1, ConnectTimeout: 5 * time.Second, QueueTimeout: time.Second, TCPUserTimeout: c.userTimeout}
		p := newPool(poolKey{db: "app", user: "app", node: "s0/s0-primary"}, "s0", node, "app", "", "app", cfg)
		sc, err := p.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sc.conn.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		if err := raw.Control(func(fd uintptr) {
			for name, opt := range map[string][2]int{
				"TCP_USER_TIMEOUT": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
				"SO_KEEPALIVE":     {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
				"TCP_KEEPIDLE":     {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
				"TCP_KEEPCNT":      {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
			} {
				v, err := unix.GetsockoptInt(int(fd), opt[0], opt[1])
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
				got[name] = v
			}
		}); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"TCP_USER_TIMEOUT": c.want, "SO_KEEPALIVE": 1,
			"TCP_KEEPIDLE": int(keepaliveIdle / time.Second), "TCP_KEEPCNT": keepaliveCount}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("tcp_user_timeout %s: %s = %d, want %d", c.userTimeout, name, got[name], w)
			}
		}
		p.release(sc)
		p.close()
	}
}
