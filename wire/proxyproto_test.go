package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/config"
)

// Behind a load balancer that sends PROXY headers, the client's address
// is the header's: users[].networks judges it and /clients shows it. A
// trusted peer without a header, or an untrusted one with a header, is
// refused; an untrusted peer without one is taken at its own address.
func TestProxyProtocolGivesTheClientsAddress(t *testing.T) {
	for _, c := range []struct {
		name, trusted, header string
		want                  string // the address /clients shows, or the error
	}{
		{"trusted, header", "127.0.0.0/8", "PROXY TCP4 203.0.113.7 127.0.0.1 5555 6432\r\n", "203.0.113.7:5555"},
		{"trusted, header v1 IPv6", "127.0.0.0/8", "PROXY TCP6 2001:db8::7 ::1 5555 6432\r\n", "error: may not connect from 2001:db8::7"},
		{"trusted, header of another network", "127.0.0.0/8", "PROXY TCP4 198.51.100.1 127.0.0.1 5555 6432\r\n", "error: may not connect from 198.51.100.1"},
		{"trusted, no header", "127.0.0.0/8", "", "error: "},
		{"untrusted, header", "10.0.0.0/8", "PROXY TCP4 203.0.113.7 127.0.0.1 5555 6432\r\n", "error: "},
		{"untrusted, no header", "10.0.0.0/8", "", "error: may not connect from 127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse(fmt.Appendf(nil, `
admin: {listen: "off"}
proxy_protocol: {trusted: [%q]}
users: [{name: app, auth: trust, networks: [203.0.113.0/24]}]
databases: [{name: app, server_user: app, shards: [{primary: {host: 127.0.0.1, port: 1, tls: disable}}]}]
`, c.trusted), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			srv := newTestServer(t, cfg)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			serveOn(t, srv, ProxyProtocol(ln, cfg.ProxyProtocol))
			ctx := context.Background()

			pc, err := pgconn.ParseConfig("postgres://app@" + ln.Addr().String() + "/app?sslmode=disable&connect_timeout=5")
			if err != nil {
				t.Fatal(err)
			}
			pc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err == nil && c.header != "" {
					_, err = conn.Write([]byte(c.header))
				}
				return conn, err
			}
			conn, err := pgconn.ConnectConfig(ctx, pc)
			if refusal, refused := strings.CutPrefix(c.want, "error: "); refused {
				if err == nil {
					conn.Close(ctx)
					t.Fatalf("login worked, want an error with %q", refusal)
				}
				if !strings.Contains(err.Error(), refusal) {
					t.Fatalf("login: %v, want %q", err, refusal)
				}
				var pe *pgconn.PgError
				if refusal != "" && (!errors.As(err, &pe) || pe.Code != "28000") {
					t.Errorf("refusal %v, want 28000", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			defer conn.Close(ctx)
			if cl := srv.Clients(); len(cl) != 1 || cl[0].Address != c.want {
				t.Errorf("clients %+v, want one from %s", cl, c.want)
			}
		})
	}
}
