package wire

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/metrics"
)

// Two pgshards share the client port during a so_reuseport handover, and
// a client's CancelRequest reaches either: the one without the session
// passes it to the other through its cancel socket. Once a process has
// stopped, its socket is gone and nothing is passed to it.
func TestCancelReachesTheProcessSharingThePort(t *testing.T) {
	ctx := context.Background()
	probe, err := Listen(ctx, "127.0.0.1:0", true)
	if err != nil {
		t.Skipf("this kernel refuses SO_REUSEPORT: %v", err)
	}
	addr := probe.Addr().String()
	dir := t.TempDir()
	type process struct {
		srv  *Server
		reg  *metrics.Registry
		stop func()
	}
	start := func(first bool) process {
		ln := probe
		if !first {
			if ln, err = Listen(ctx, addr, true); err != nil {
				t.Fatal(err)
			}
		}
		srv := newTestServer(t, trustConfig(t, "so_reuseport: true\nunix_socket_dir: "+dir))
		reg := metrics.New()
		srv.UseMetrics(reg)
		return process{srv: srv, reg: reg, stop: serveOn(t, srv, ln)}
	}
	old, next := start(true), start(false)
	count := func(p process, o metrics.CancelOutcome) float64 { return counterValue(t, p.reg.Cancel(o)) }
	// The test calls cancel directly, not through the port: wait until
	// each Serve has opened its cancel socket, which it does before it
	// accepts a first connection.
	for _, p := range []process{old, next} {
		for start := time.Now(); p.srv.localPeers.Load() == nil; time.Sleep(5 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatal("no cancel socket 5s after Serve started")
			}
		}
	}

	// A client of one of them (the kernel picks which).
	conn, err := pgconn.Connect(ctx, "postgres://app@"+addr+"/app?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	owner, other := old, next
	if len(next.srv.Clients()) == 1 {
		owner, other = next, old
	}
	other.srv.cancel(ctx, conn.PID(), conn.SecretKey())
	if got := count(owner, metrics.CancelLocal); got != 1 {
		t.Errorf("the session's process counted %v local cancels, want 1", got)
	}
	if got := count(other, metrics.CancelForwarded); got != 1 {
		t.Errorf("the other process counted %v passed-on cancels, want 1", got)
	}
	// A process ID no process has: passed around, taken by nobody.
	other.srv.cancel(ctx, conn.PID()^0x5a5a5a, conn.SecretKey())
	if got := count(other, metrics.CancelUnmatched); got != 1 {
		t.Errorf("an unknown process ID: %v unmatched, want 1", got)
	}
	if got := count(owner, metrics.CancelLocal); got != 1 {
		t.Errorf("an unknown process ID was taken as the session's")
	}

	conn.Close(ctx)
	old.stop()
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".cancel.") {
			left = append(left, e.Name())
		}
	}
	if len(left) != 1 {
		t.Errorf("cancel sockets left after one process stopped: %v, want the running one's", left)
	}
	unmatched := count(next, metrics.CancelUnmatched)
	next.srv.cancel(ctx, 12345, []byte{1, 2, 3, 4})
	if got := count(next, metrics.CancelUnmatched); got != unmatched+1 {
		t.Errorf("after the other stopped: %v unmatched, want %v", got, unmatched+1)
	}
}
