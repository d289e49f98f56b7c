package wire

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgshard/pgshard/internal/config"
)

// socketOptions reads the dead-peer options of conn's socket.
func socketOptions(t *testing.T, conn net.Conn) map[string]int {
	t.Helper()
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	if err := raw.Control(func(fd uintptr) {
		for name, opt := range map[string][2]int{
			"TCP_USER_TIMEOUT": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
			"SO_KEEPALIVE":     {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			"TCP_KEEPIDLE":     {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			"TCP_KEEPINTVL":    {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
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
	return got
}

var tcpCases = []struct {
	tcp  config.TCP
	want map[string]int
}{
	{config.TCP{KeepaliveIdle: 11 * time.Second, KeepaliveInterval: 4 * time.Second, KeepaliveCount: 2, UserTimeout: 7 * time.Second},
		map[string]int{"TCP_USER_TIMEOUT": 7000, "SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 11, "TCP_KEEPINTVL": 4, "TCP_KEEPCNT": 2}},
	{config.TCP{KeepaliveInterval: 4 * time.Second, KeepaliveCount: 2},
		map[string]int{"TCP_USER_TIMEOUT": 0, "SO_KEEPALIVE": 0}},
}

// TestServerSocketsDetectDeadPeers: server connections carry the tcp
// section's keepalives and user timeout, which is what makes the kernel
// fail a connection to a host that vanished; zeros leave them off.
func TestServerSocketsDetectDeadPeers(t *testing.T) {
	port := silentServer(t)
	node := &config.Node{Name: "s0-primary", Host: "127.0.0.1", Port: port, TLSMode: config.ServerTLSDisable}
	for _, c := range tcpCases {
		cfg := config.Pool{Size: 1, ConnectTimeout: 5 * time.Second, QueueTimeout: time.Second}
		p := newPool(poolKey{db: "app", user: "app", node: "s0/s0-primary"}, "s0", node, "app", "", "app", cfg, c.tcp)
		sc, err := p.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := socketOptions(t, sc.conn)
		for name, w := range c.want {
			if got[name] != w {
				t.Errorf("%+v: %s = %d, want %d", c.tcp, name, got[name], w)
			}
		}
		p.release(sc)
		p.close()
	}
}

// TestClientSocketsDetectDeadPeers: the same for accepted client sockets.
func TestClientSocketsDetectDeadPeers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range tcpCases {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		watchClient(conn, c.tcp)
		got := socketOptions(t, conn)
		for name, w := range c.want {
			if got[name] != w {
				t.Errorf("%+v: %s = %d, want %d", c.tcp, name, got[name], w)
			}
		}
		_ = conn.Close()
		_ = client.Close()
	}
}

// What so_reuseport restarts do with queued connections follows
// net.ipv4.tcp_migrate_req, read where the kernel publishes it.
func TestQueuedConnectionsMigrate(t *testing.T) {
	dir := t.TempDir()
	defer func(p string) { migrateReqPath = p }(migrateReqPath)
	for _, tc := range []struct {
		content        string // "" = no such file (a kernel before 5.14)
		migrate, known bool
		warns          bool
	}{
		{"0\n", false, true, true},
		{"1\n", true, true, false},
		{"", false, false, false},
	} {
		migrateReqPath = filepath.Join(dir, "absent")
		if tc.content != "" {
			migrateReqPath = filepath.Join(dir, "tcp_migrate_req")
			if err := os.WriteFile(migrateReqPath, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		migrate, known := QueuedConnectionsMigrate()
		if migrate != tc.migrate || known != tc.known {
			t.Errorf("%q: migrate %v known %v, want %v %v", tc.content, migrate, known, tc.migrate, tc.known)
		}
		if w := ResetWarning(); (w != "") != tc.warns || tc.warns && !strings.Contains(w, "sysctl -w net.ipv4.tcp_migrate_req=1") {
			t.Errorf("%q: warning %q", tc.content, w)
		}
	}
}
