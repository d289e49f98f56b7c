package wire

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// instantServer is a PostgreSQL stand-in that answers every query at once
// with one int4 row, so a benchmark through pgshard measures pgshard (and
// loopback TCP), not a server. Start-up probes get the answers pgshard
// expects of a C database.
func instantServer(b *testing.B) int {
	text := func(name string) *pgproto3.RowDescription {
		return &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}}
	}
	row := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("abalance"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}}
	return fakeServer(b, func(_ net.Conn, be *pgproto3.Backend) {
		for {
			msg, err := be.Receive()
			if err != nil {
				return
			}
			q, ok := msg.(*pgproto3.Query)
			if !ok {
				continue
			}
			switch {
			case strings.Contains(q.String, "array_agg"): // textOrderProbe; collatedColumnsQuery
				be.Send(text("bytewise"))
				be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("t")}})
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
				be.Send(text("column"))
				be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("nondeterministic false")}})
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
			case strings.HasPrefix(q.String, "SELECT"):
				be.Send(row)
				be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("0")}})
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
			default:
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SET")})
			}
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if be.Flush() != nil {
				return
			}
		}
	})
}

// BenchmarkSimpleSelect is one pgbench -S transaction in simple mode
// through pgshard in transaction pooling, with routing on: a Query with
// an inlined key, routed by the plan cache, relayed to a server connection
// checked out for it and back. Its CPU profile is pgshard's own work per
// transaction without a real server (go test -bench SimpleSelect
// -cpuprofile); ns/op also counts the client, the stand-in server and
// loopback TCP, all in this process.
func BenchmarkSimpleSelect(b *testing.B) {
	port := instantServer(b)
	cfg := parseConfig(b, fmt.Sprintf(`
admin: {listen: "off"}
users:
  - {name: bench, auth: trust}
databases:
  - name: bench
    server_user: bench
    shards:
      - {name: s0, primary: {host: 127.0.0.1, port: %d, tls: disable}}
    sharding:
      tables:
        - {name: pgbench_accounts, key: aid}
`, port))
	addr := serve(b, newTestServer(b, cfg))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "bench", "database": "bench"}})
	if err := fe.Flush(); err != nil {
		b.Fatal(err)
	}
	untilReady := func() {
		for {
			msg, err := fe.Receive()
			if err != nil {
				b.Fatal(err)
			}
			switch m := msg.(type) {
			case *pgproto3.ErrorResponse:
				b.Fatalf("%s: %s", m.Code, m.Message)
			case *pgproto3.ReadyForQuery:
				return
			}
		}
	}
	untilReady()
	queries := make([]string, 1000)
	for i := range queries {
		queries[i] = "SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(i*7919%100000+1) + ";"
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		fe.Send(&pgproto3.Query{String: queries[i%len(queries)]})
		if err := fe.Flush(); err != nil {
			b.Fatal(err)
		}
		untilReady()
	}
}
