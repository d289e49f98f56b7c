package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
)

// silentServer accepts PostgreSQL connections, lets them log in (trust),
// answers their first query, and then never answers again: a server that
// stopped responding, whose socket stays open.
func silentServer(t *testing.T) int {
	return fakeServer(t, func(c net.Conn, be *pgproto3.Backend) {
		// The first query (pgshard's text order probe) is answered;
		// then every query is swallowed and none answered.
		if _, err := be.Receive(); err != nil {
			return
		}
		be.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("bytewise"), DataTypeOID: 16, DataTypeSize: 1, TypeModifier: -1}}})
		be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("t")}})
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if be.Flush() != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
	})
}

// TestShutdownWithServersNotAnswering: the two-phase resolver's query to a
// shard that never answers does not hold pgshard's shutdown.
func TestShutdownWithServersNotAnswering(t *testing.T) {
	a, b := silentServer(t), silentServer(t)
	cfg, err := config.Parse(fmt.Appendf(nil, `
shutdown_timeout: 1s
admin: {listen: "off"}
pool: {connect_timeout: 2s}
two_phase: {resolve_interval: 100ms}
users: [{name: app, auth: trust}]
databases:
  - name: app
    server_user: app
    shards:
      - {name: s0, primary: {host: 127.0.0.1, port: %d, tls: disable}}
      - {name: s1, primary: {host: 127.0.0.1, port: %d, tls: disable}}
`, a, b), "shutdown.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	time.Sleep(3 * time.Second) // the resolver is waiting on a shard by now
	start := time.Now()
	cancel()
	select {
	case <-done:
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Serve took %s to return", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20s of the shutdown")
	}
}
