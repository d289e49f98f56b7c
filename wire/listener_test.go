package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pgshard/pgshard/internal/config"
)

// With so_reuseport a second pgshard listens on the address of a running
// one, and once the first stops, the address keeps answering: the
// handover a restart or an upgrade without refused connections needs.
// Without it the second listener is refused.
func TestListenersShareAnAddressWithReusePort(t *testing.T) {
	ctx := context.Background()
	probe, err := Listen(ctx, "127.0.0.1:0", true)
	if err != nil {
		t.Skipf("this kernel refuses SO_REUSEPORT: %v", err)
	}
	probe.Close()
	first, err := Listen(ctx, "127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	addr := first.Addr().String()
	plain, err := Listen(ctx, addr, false)
	if err == nil {
		plain.Close()
		t.Fatal("a listener without so_reuseport took an address in use")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("without so_reuseport: %v, want EADDRINUSE", err)
	}
	second, err := Listen(ctx, addr, true)
	if err != nil {
		t.Fatalf("second listener with so_reuseport: %v", err)
	}

	cfg, err := config.Parse([]byte(`
admin: {listen: "off"}
users: [{name: app, auth: trust}]
databases: [{name: app, server_user: app, shards: [{primary: {host: 127.0.0.1, port: 1, tls: disable}}]}]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := serveOn(t, newTestServer(t, cfg), first)
	serveOn(t, newTestServer(t, cfg), second)

	// An SSLRequest needs no server behind pgshard: 'N' proves a pgshard
	// accepted the connection and speaks the protocol.
	answers := func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			return err
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if b[0] != 'N' {
			return errors.New("answer " + string(b))
		}
		return nil
	}
	for i := range 20 {
		if err := answers(); err != nil {
			t.Fatalf("connection %d with both serving: %v", i, err)
		}
	}
	stopFirst()
	for i := range 20 {
		if err := answers(); err != nil {
			t.Fatalf("connection %d after the first pgshard stopped: %v", i, err)
		}
	}
}
