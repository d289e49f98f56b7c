package wire

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestTextOrderLearntLater: a shard whose first connection could not learn
// how its default collation orders text (the probe failed) learns it on a
// later round of the refresher, instead of being merged bytewise for the
// life of the process.
func TestTextOrderLearntLater(t *testing.T) {
	var probes atomic.Int32
	port := fakeServer(t, func(_ net.Conn, be *pgproto3.Backend) {
		for {
			msg, err := be.Receive()
			if err != nil {
				return
			}
			q, ok := msg.(*pgproto3.Query)
			if !ok {
				continue
			}
			text := func(v string) {
				be.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("x"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}})
				be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte(v)}})
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
			}
			switch {
			case strings.Contains(q.String, "array_agg") && strings.Contains(q.String, "pg_attribute"):
				// The probe a new connection runs: it always fails here.
				be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "57014", Message: "canceling statement due to statement timeout"})
			case strings.Contains(q.String, "array_agg"):
				probes.Add(1)
				text("f") // en_US, say
			case strings.Contains(q.String, "pg_attribute"):
				text("nondeterministic false")
			default:
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")})
			}
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if be.Flush() != nil {
				return
			}
		}
	})
	cfg := parseConfig(t, fmt.Sprintf(`
admin: {listen: "off"}
users:
  - {name: app, auth: trust}
databases:
  - name: app
    server_user: app
    shards:
      - {name: s0, primary: {name: a, host: 127.0.0.1, port: %[1]d, tls: disable}}
      - {name: s1, primary: {name: b, host: 127.0.0.1, port: %[1]d, tls: disable}}
`, port))
	srv := newTestServer(t, cfg)
	serve(t, srv)
	db := srv.database("app")
	p, err := (&session{srv: srv, db: db, user: &cfg.Users[0], log: srv.log}).shardPool(0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p.release(sc)
	if got := db.textOrder[0].def.Load(); got != textOrderUnknown {
		t.Fatalf("after a failed first probe: %d, want unknown", got)
	}
	select {
	case <-srv.schemaChanged():
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh round")
	}
	for i := range db.textOrder {
		if got := db.textOrder[i].def.Load(); got != textOrderCollated {
			t.Errorf("shard %d after a refresh round: %d, want collated", i, got)
		}
	}
	// Once known it is not asked again.
	before := probes.Load()
	<-srv.schemaChanged()
	if after := probes.Load(); after != before {
		t.Errorf("the default order was probed again: %d times", after-before)
	}
}
