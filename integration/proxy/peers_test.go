package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestCancelReachesThePeerServingTheClient: behind a load balancer, a
// client's CancelRequest opens a new connection that may reach another
// pgshard than the one running its query. With peer_id and peers, that
// pgshard passes it on, in both directions; a request passed on once is
// not passed on again, and a peer that is down costs the sender no hang.
func TestCancelReachesThePeerServingTheClient(t *testing.T) {
	peersYAML := func(id int, addrs ...string) string {
		s := fmt.Sprintf("peer_id: %d\npeers:\n", id)
		for i, a := range addrs {
			s += fmt.Sprintf("  - {id: %d, address: %q}\n", i+1, a)
		}
		return s
	}
	one := startProxy(t, proxyOptions{extra: "peer_id: 1"})
	two := pgshardtest.Start(t, func(listen string) string {
		return proxyYAML(proxyOptions{extra: peersYAML(2, one.Addr, listen)})(listen)
	})
	if _, err := one.Reload(t, func(listen string) string {
		return proxyYAML(proxyOptions{extra: peersYAML(1, listen, two.Addr)})(listen)
	}); err != nil {
		t.Fatalf("reload with the peers: %v", err)
	}
	cancels := func(p *pgshardtest.Proxy, outcome string) float64 {
		return p.Metric(t, `pgshard_cancel_requests_total{outcome="`+outcome+`"}`)
	}

	for _, c := range []struct {
		name          string
		serving, sent *pgshardtest.Proxy
		peerID        uint32
	}{
		{"client of 1, cancel to 2", one, two, 1},
		{"client of 2, cancel to 1", two, one, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := connectPg(t, c.serving.DSN("app", "app-secret"))
			if got := conn.PID() >> 24; got != c.peerID {
				t.Fatalf("process ID %d carries peer id %d, want %d", conn.PID(), got, c.peerID)
			}
			local, forwarded := cancels(c.serving, "local"), cancels(c.sent, "forwarded")
			took, err := sleepCancelledVia(t, conn, c.sent.Addr, conn.PID())
			if got := sqlState(err); got != "57014" || took > 2*time.Second {
				t.Fatalf("sleep: %v (SQLSTATE %q) after %s, want 57014 within 2s", err, got, took)
			}
			if _, err := conn.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
				t.Fatalf("session after the cancel: %v", err)
			}
			if got := cancels(c.serving, "local"); got != local+1 {
				t.Errorf("the serving pgshard counted %v local cancels, want %v", got, local+1)
			}
			if got := cancels(c.sent, "forwarded"); got != forwarded+1 {
				t.Errorf("the receiving pgshard counted %v forwarded cancels, want %v", got, forwarded+1)
			}
		})
	}

	t.Run("passed on once only", func(t *testing.T) {
		// Sent to 1 as if 2 had passed it on already: 1 does not send it
		// back, and the query runs on until a proper cancel.
		conn := connectPg(t, two.DSN("app", "app-secret"))
		before := cancels(one, "unmatched")
		done := make(chan error, 1)
		go func() { _, err := conn.Exec(context.Background(), "SELECT pg_sleep(30)").ReadAll(); done <- err }()
		time.Sleep(300 * time.Millisecond)
		sendCancel(t, one.Addr, conn.PID()|1<<23, conn.SecretKey())
		select {
		case err := <-done:
			t.Fatalf("the query ended (%v) on a request already passed on once", err)
		case <-time.After(700 * time.Millisecond):
		}
		if got := cancels(one, "unmatched"); got != before+1 {
			t.Errorf("unmatched cancels at 1: %v, want %v", got, before+1)
		}
		sendCancel(t, one.Addr, conn.PID(), conn.SecretKey())
		if err := <-done; sqlState(err) != "57014" {
			t.Fatalf("after a proper cancel: %v, want 57014", err)
		}
	})

	t.Run("a wrong key cancels nothing", func(t *testing.T) {
		conn := connectPg(t, one.DSN("app", "app-secret"))
		key := append([]byte(nil), conn.SecretKey()...)
		key[0] ^= 0xff
		unmatched := cancels(one, "unmatched")
		done := make(chan error, 1)
		go func() { _, err := conn.Exec(context.Background(), "SELECT pg_sleep(1)").ReadAll(); done <- err }()
		time.Sleep(300 * time.Millisecond)
		sendCancel(t, two.Addr, conn.PID(), key)
		if err := <-done; err != nil {
			t.Fatalf("the query failed (%v) on a cancel with the wrong key", err)
		}
		if got := cancels(one, "unmatched"); got != unmatched+1 {
			t.Errorf("unmatched cancels at 1: %v, want %v", got, unmatched+1)
		}
	})

	t.Run("terminate names the peer", func(t *testing.T) {
		// pgshard terminate against the wrong member says which one to ask.
		conn := connectPg(t, two.DSN("app", "app-secret"))
		resp, err := http.Post(fmt.Sprintf("%s/clients/terminate?pid=%d", one.Admin, conn.PID()), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "peer 2") || !strings.Contains(string(body), two.Addr) {
			t.Errorf("terminate at 1 of a client of 2: %d %s, want 404 naming peer 2 and %s", resp.StatusCode, body, two.Addr)
		}
		if _, err := conn.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
			t.Errorf("the client of 2 after that: %v", err)
		}
	})

	t.Run("peer down", func(t *testing.T) {
		// 2's entry for peer 3 is a port nobody listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		_ = ln.Close()
		if _, err := two.Reload(t, func(listen string) string {
			return proxyYAML(proxyOptions{extra: peersYAML(2, one.Addr, listen, dead)})(listen)
		}); err != nil {
			t.Fatalf("reload: %v", err)
		}
		start := time.Now()
		sendCancel(t, two.Addr, 3<<24|12345, []byte{1, 2, 3, 4})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("the cancel to a dead peer took %s", took)
		}
		if got := cancels(two, "forward_failed"); got != 1 {
			t.Errorf("forward_failed = %v, want 1", got)
		}
		if log := two.Log(); !strings.Contains(log, "cannot pass a cancel request on to its peer") || !strings.Contains(log, "peer_id=3") {
			t.Errorf("no warning naming the peer in the log:\n%s", log)
		}
	})
}

// connectPg logs in with pgconn, which gives the BackendKeyData.
func connectPg(t *testing.T, dsn string) *pgconn.PgConn {
	t.Helper()
	conn, err := pgconn.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// sleepCancelledVia runs pg_sleep(30) on conn and, 300 ms in, sends its
// CancelRequest to the pgshard at addr; it returns how long the query ran
// and how it ended.
func sleepCancelledVia(t *testing.T, conn *pgconn.PgConn, addr string, pid uint32) (time.Duration, error) {
	t.Helper()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		time.Sleep(300 * time.Millisecond)
		sendCancel(t, addr, pid, conn.SecretKey())
	}()
	start := time.Now()
	_, err := conn.Exec(context.Background(), "SELECT pg_sleep(30)").ReadAll()
	took := time.Since(start)
	// The query can end before pgshard closes the cancel connection, and
	// it counts the cancel just before that: wait, as the counts are read
	// next.
	<-sent
	return took, err
}

// sendCancel sends one CancelRequest to addr and waits for the connection
// to close, as libpq's PQcancel does.
func sendCancel(t *testing.T, addr string, pid uint32, key []byte) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg, _ := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: key}).Encode(nil)
	if _, err := conn.Write(msg); err != nil {
		t.Error(err)
		return
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Errorf("waiting for the cancel connection to close: %v", err)
	}
}

// TestCancelDuringAHandover: while a new pgshard takes over the port with
// so_reuseport and the old one drains, the kernel hands a client's
// CancelRequest to either. The one without the session passes it to the
// other through its cancel socket, so every cancel works; without that,
// each would be lost half the time.
func TestCancelDuringAHandover(t *testing.T) {
	dir := t.TempDir()
	yaml := proxyYAML(proxyOptions{extra: "so_reuseport: true\nunix_socket_dir: " + dir})
	old := pgshardtest.StartSharing(t, "127.0.0.1:0", yaml)
	next := pgshardtest.StartSharing(t, old.Addr, yaml)
	passed := func() float64 {
		return old.Metric(t, `pgshard_cancel_requests_total{outcome="forwarded"}`) + next.Metric(t, `pgshard_cancel_requests_total{outcome="forwarded"}`)
	}
	for i := range 6 {
		conn := connectPg(t, old.DSN("app", "app-secret"))
		took, err := sleepCancelledVia(t, conn, old.Addr, conn.PID())
		if got := sqlState(err); got != "57014" || took > 2*time.Second {
			t.Fatalf("cancel %d: %v (SQLSTATE %q) after %s, want 57014 within 2s", i, err, got, took)
		}
		conn.Close(context.Background())
	}
	t.Logf("%v of 6 cancels reached the other process and were passed on", passed())
}
