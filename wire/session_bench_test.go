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
			switch m := msg.(type) {
			case *pgproto3.Query:
				switch {
				case strings.Contains(m.String, "array_agg"): // textOrderProbe; collatedColumnsQuery
					be.Send(text("bytewise"))
					be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("t")}})
					be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
					be.Send(text("column"))
					be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("nondeterministic false")}})
					be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
				case strings.HasPrefix(m.String, "SELECT"):
					be.Send(row)
					be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("0")}})
					be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
				default:
					be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SET")})
				}
				be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			case *pgproto3.Parse:
				be.Send(&pgproto3.ParseComplete{})
			case *pgproto3.Bind:
				be.Send(&pgproto3.BindComplete{})
			case *pgproto3.Describe:
				if m.ObjectType == 'S' {
					be.Send(&pgproto3.ParameterDescription{ParameterOIDs: []uint32{23}})
				}
				be.Send(row)
			case *pgproto3.Execute:
				be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("0")}})
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
			case *pgproto3.Close:
				be.Send(&pgproto3.CloseComplete{})
			case *pgproto3.Sync:
				be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			case *pgproto3.Flush:
			default:
				continue
			}
			switch msg.(type) {
			case *pgproto3.Query, *pgproto3.Sync, *pgproto3.Flush:
				if be.Flush() != nil {
					return
				}
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
	fe := benchSession(b)
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
		benchUntilReady(b, fe)
	}
}

// benchSession serves pgshard over an instantServer, in transaction
// pooling with pgbench_accounts sharded by aid, and logs a client in.
func benchSession(b *testing.B) *pgproto3.Frontend {
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
	b.Cleanup(func() { _ = c.Close() })
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "bench", "database": "bench"}})
	if err := fe.Flush(); err != nil {
		b.Fatal(err)
	}
	benchUntilReady(b, fe)
	return fe
}

// benchUntilReady reads pgshard's answer up to ReadyForQuery.
func benchUntilReady(b *testing.B, fe *pgproto3.Frontend) {
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

// BenchmarkPreparedSelect is one pgbench -S -M prepared transaction
// through pgshard: Bind, Describe, Execute and Sync of a client statement
// prepared once, mapped to pgshard's server statement and routed by its
// parameter. The stand-in server answers the extended protocol too.
func BenchmarkPreparedSelect(b *testing.B) {
	fe := benchSession(b)
	fe.Send(&pgproto3.Parse{Name: "P_0", Query: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", ParameterOIDs: []uint32{23}})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		b.Fatal(err)
	}
	benchUntilReady(b, fe)
	params := make([][]byte, 1000)
	for i := range params {
		params[i] = []byte(strconv.Itoa(i*7919%100000 + 1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		fe.Send(&pgproto3.Bind{PreparedStatement: "P_0", Parameters: [][]byte{params[i%len(params)]}})
		fe.Send(&pgproto3.Describe{ObjectType: 'P'})
		fe.Send(&pgproto3.Execute{})
		fe.Send(&pgproto3.Sync{})
		if err := fe.Flush(); err != nil {
			b.Fatal(err)
		}
		benchUntilReady(b, fe)
	}
}
