package wire

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
)

// fuzzServer serves a trust user whose only node refuses connections at
// once, so every statement fails fast with 08001 and the fuzzer exercises
// startup, message decoding and the session's error paths without a server.
func fuzzServer(tb testing.TB) *Server {
	cfg, err := config.Parse([]byte(`
max_message_size: 65536
pool: {connect_timeout: 1s, queue_timeout: 1s}
users: [{name: fuzz, auth: trust}]
databases:
  - name: fuzz
    server_user: fuzz
    shards: [{primary: {host: 127.0.0.1, port: 1, tls: disable}}]
`), "fuzz.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// startupBytes is a valid StartupMessage for the fuzz user.
func startupBytes() []byte {
	b, _ := (&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters:      map[string]string{"user": "fuzz", "database": "fuzz", "application_name": "fz"},
	}).Encode(nil)
	return b
}

func encodeAll(msgs ...pgproto3.FrontendMessage) []byte {
	var out []byte
	for _, m := range msgs {
		out, _ = m.Encode(out)
	}
	return out
}

// FuzzClientStream feeds arbitrary bytes after a valid startup into a real
// session. It must never panic or hang; the session answers or closes.
func FuzzClientStream(f *testing.F) {
	f.Add(encodeAll(&pgproto3.Query{String: "SELECT 1; SET search_path = x; LISTEN y"}))
	f.Add(encodeAll(
		&pgproto3.Parse{Name: "s1", Query: "SELECT $1::int", ParameterOIDs: []uint32{23}},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
		&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("1")}},
		&pgproto3.Execute{},
		&pgproto3.Close{ObjectType: 'S', Name: "s1"},
		&pgproto3.Sync{},
	))
	f.Add(encodeAll(&pgproto3.Bind{PreparedStatement: "missing"}, &pgproto3.Flush{}, &pgproto3.Sync{}, &pgproto3.Terminate{}))
	f.Add([]byte{'Q', 0, 0, 0, 3})                  // length below the minimum
	f.Add([]byte{'P', 0x7f, 0xff, 0xff, 0xff, 'x'}) // oversized
	f.Add([]byte{'B', 0, 0, 0, 6, 'a', 'b'})        // Bind without terminators
	f.Add([]byte{'D', 0, 0, 0, 5, 'S'})             // Describe without a name
	f.Add([]byte{'Z', 0, 0, 0, 4})                  // not a frontend message

	srv := fuzzServer(f)
	start := startupBytes()
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			// As Serve does, without its recover: a panic must fail the
			// fuzzer, not be logged.
			if s := srv.handshake(context.Background(), server); s != nil {
				s.run(context.Background())
			}
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = client.Write(start)
		_, _ = client.Write(data)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end after the client closed")
		}
	})
}
