package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

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

	cfg := trustConfig(t, "")
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

// failingListener fails its first n Accepts with err, as a listener does
// while the process is out of file descriptors.
type failingListener struct {
	net.Listener
	n   int
	err error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n > 0 {
		l.n--
		return nil, l.err
	}
	return l.Listener.Accept()
}

// A burst of connections that runs pgshard out of file descriptors makes
// Accept fail for a while: pgshard waits and accepts again, where it used
// to stop serving (and end every session). An error it cannot recover
// from still ends Serve. Both through the TCP port alone and merged with
// the Unix socket.
func TestServeOutlivesAcceptFailures(t *testing.T) {
	cfg := trustConfig(t, "")
	for _, merged := range []bool{false, true} {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var ln net.Listener = &failingListener{Listener: tcp, n: 3, err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}}
		if merged {
			unix, err := ListenUnix(context.Background(), UnixSocket{Dir: t.TempDir(), Port: tcp.Addr().(*net.TCPAddr).Port, Perm: 0o777})
			if err != nil {
				t.Fatal(err)
			}
			ln = Listeners(ln, unix)
		}
		srv := newTestServer(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := pgconn.Connect(lctx, "postgres://app@"+tcp.Addr().String()+"/app?sslmode=disable")
		lcancel()
		if err != nil {
			t.Fatalf("merged %v: login after EMFILE: %v", merged, err)
		}
		conn.Close(context.Background())
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("merged %v: Serve: %v", merged, err)
		}
	}

	// A listener that fails for good ends Serve with the error.
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	broken := &failingListener{Listener: tcp, n: 1, err: errors.New("listener broken")}
	if err := newTestServer(t, cfg).Serve(context.Background(), broken); err == nil || !strings.Contains(err.Error(), "listener broken") {
		t.Fatalf("Serve on a broken listener: %v", err)
	}
}

// trustConfig is a configuration whose user app logs in without a
// password to a database whose server nobody listens on (logins work,
// statements fail), with extra top-level lines.
func trustConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(extra+`
admin: {listen: "off"}
users: [{name: app, auth: trust}]
databases: [{name: app, server_user: app, shards: [{primary: {host: 127.0.0.1, port: 1, tls: disable}}]}]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
