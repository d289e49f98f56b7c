package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// breakingServer answers every query with its command tag, as if it ran,
// except that the first breaks connections close themselves on receiving
// a BEGIN: a connection that dies between being opened (or pooled) and its
// first use.
func breakingServer(t *testing.T, breaks int32) (port int, broken *atomic.Int32) {
	broken = &atomic.Int32{}
	port = fakeServer(t, func(c net.Conn, be *pgproto3.Backend) {
		tx := byte('I')
		for {
			msg, err := be.Receive()
			if err != nil {
				return
			}
			q, ok := msg.(*pgproto3.Query)
			if !ok {
				return
			}
			word := strings.ToUpper(strings.Fields(q.String + " x")[0])
			switch word {
			case "BEGIN":
				if broken.Add(1) <= breaks {
					return
				}
				tx = 'T'
			case "COMMIT", "ROLLBACK":
				tx = 'I'
			case "UPDATE":
				word = "UPDATE 1"
			}
			be.Send(&pgproto3.CommandComplete{CommandTag: []byte(word)})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
			if be.Flush() != nil {
				return
			}
		}
	})
	return port, broken
}

// TestConnectionLostBeforeFirstUse: a server connection that fails while
// pgshard starts the client's transaction on it has run nothing of the
// client's, so pgshard replaces it once without the client seeing it; a
// second failure is the statement's error (08006), and the session and
// its transaction go on as PostgreSQL's would after a failed statement.
func TestConnectionLostBeforeFirstUse(t *testing.T) {
	for _, tc := range []struct {
		breaks     int32
		wantCode   string // of the UPDATE
		wantBegins int32  // the server received
	}{
		{breaks: 0, wantBegins: 1},
		{breaks: 1, wantBegins: 2},
		{breaks: 2, wantCode: "08006", wantBegins: 2},
	} {
		t.Run(fmt.Sprintf("%d breaks", tc.breaks), func(t *testing.T) {
			port, broken := breakingServer(t, tc.breaks)
			srv := newTestServer(t, parseConfig(t, fmt.Sprintf(`
admin: {listen: "off"}
pool: {connect_timeout: 2s}
users: [{name: app, auth: trust}]
databases:
  - name: app
    server_user: app
    shards:
      - {name: s0, primary: {host: 127.0.0.1, port: %d, tls: disable}}
`, port)))
			c, code := login(t, serve(t, srv), "app", "")
			if code != "" {
				t.Fatalf("login: %s", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			run := func(q string) (string, error) {
				tag, err := c.Exec(ctx, q).ReadAll()
				if err != nil {
					return "", err
				}
				return tag[len(tag)-1].CommandTag.String(), nil
			}
			if _, err := run("BEGIN"); err != nil {
				t.Fatal(err)
			}
			tag, err := run("UPDATE t SET v = 1")
			var pe *pgconn.PgError
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("UPDATE after %d broken connections: %v", tc.breaks, err)
			case tc.wantCode == "" && tag != "UPDATE 1":
				t.Fatalf("UPDATE answered %q", tag)
			case tc.wantCode != "" && (!errors.As(err, &pe) || pe.Code != tc.wantCode):
				t.Fatalf("UPDATE after %d broken connections: %v, want SQLSTATE %s", tc.breaks, err, tc.wantCode)
			}
			end, want := "COMMIT", "COMMIT"
			if tc.wantCode != "" {
				// The failed statement failed the transaction.
				if got := c.TxStatus(); got != 'E' {
					t.Errorf("transaction status after the failed UPDATE: %c, want E", got)
				}
				end, want = "COMMIT", "ROLLBACK"
			}
			if tag, err := run(end); err != nil || tag != want {
				t.Fatalf("%s: %q, %v; want %s", end, tag, err, want)
			}
			// The session goes on, on a connection that works.
			if tag, err := run("UPDATE t SET v = 2"); err != nil || tag != "UPDATE 1" {
				t.Fatalf("next statement: %q, %v", tag, err)
			}
			if got := broken.Load(); got != tc.wantBegins {
				t.Errorf("the server received %d BEGINs, want %d", got, tc.wantBegins)
			}
		})
	}
}
