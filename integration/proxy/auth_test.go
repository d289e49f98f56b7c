package proxy_test

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/wire"
)

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestAuthenticationMethods(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, 30*time.Second)
	cases := []struct {
		user, password, wantCode string
	}{
		{"app", "app-secret", ""},         // SCRAM-SHA-256
		{"app", "wrong", "28P01"},         // SCRAM, wrong password
		{"legacy", "legacy-secret", ""},   // md5
		{"legacy", "nope", "28P01"},       // md5, wrong password
		{"monitor", "anything", ""},       // trust
		{"nobody", "app-secret", "28P01"}, // unknown user: same answer as a wrong password
	}
	for _, c := range cases {
		t.Run(c.user+"/"+c.password, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, p.DSN(c.user, c.password))
			if c.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				var one int
				if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
					t.Fatalf("query: %v", err)
				}
				return
			}
			if got := sqlState(err); got != c.wantCode {
				t.Fatalf("got %v (SQLSTATE %q), want %s", err, got, c.wantCode)
			}
		})
	}
	// The proxy keeps serving after refusals.
	conn := connect(t, p.DSN("app", "app-secret"))
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	_, err := pgx.Connect(ctx, strings.Replace(p.DSN("app", "app-secret"), "/app?", "/nodb?", 1))
	if got := sqlState(err); got != "3D000" {
		t.Fatalf("unknown database: %v, want 3D000", err)
	}
}

func TestTLSRequireAndVerifyFull(t *testing.T) {
	caFile, certFile, keyFile := testCA(t)
	p := startProxy(t, proxyOptions{extra: "tls:\n  cert_file: " + certFile + "\n  key_file: " + keyFile})
	ctx := ctxFor(t, 30*time.Second)
	base := "postgres://app:app-secret@" + p.Addr + "/app"
	for _, mode := range []string{"sslmode=require", "sslmode=verify-full&sslrootcert=" + caFile} {
		t.Run(strings.SplitN(mode, "&", 2)[0], func(t *testing.T) {
			conn, err := pgx.Connect(ctx, base+"?"+mode)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
				t.Fatalf("connection is %T, not TLS", conn.PgConn().Conn())
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT $1::int", 1).Scan(&one); err != nil || one != 1 {
				t.Fatalf("query over TLS: %v", err)
			}
		})
	}
	// verify-full rejects a certificate for another name.
	wrongName, err := pgx.ParseConfig(base + "?sslmode=verify-full&sslrootcert=" + caFile)
	if err != nil {
		t.Fatal(err)
	}
	wrongName.TLSConfig.ServerName = "other.invalid"
	_, err = pgx.ConnectConfig(ctx, wrongName)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("verify-full with wrong host: %v, want a certificate error", err)
	}
	// psql (libpq) over TLS with SCRAM channel binding required.
	out, err := runPsql(base+"?sslmode=verify-full&sslrootcert="+caFile+"&channel_binding=require", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
	if err != nil {
		t.Fatalf("psql with channel_binding=require: %v\n%s", err, out)
	}
	if out != "t" && out != "f" {
		t.Fatalf("psql over TLS answered %q", out)
	}
}

// TestServerConnectionsOverTLS: with a node's tls set to require, pgshard's
// server connections are encrypted (pg_stat_ssl on the server says so);
// with disable they are not.
func TestServerConnectionsOverTLS(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	for _, tc := range []struct {
		mode string
		want bool
	}{{"require", true}, {"prefer", true}, {"disable", false}} {
		p := startProxy(t, proxyOptions{serverTLS: tc.mode})
		conn := connect(t, p.DSN("app", "app-secret"))
		var ssl bool
		var version string
		err := conn.QueryRow(ctx, `SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()`, pgx.QueryExecModeSimpleProtocol).Scan(&ssl, &version)
		if err != nil {
			t.Fatalf("tls %s: %v", tc.mode, err)
		}
		if ssl != tc.want {
			t.Errorf("tls %s: server connection ssl = %v (%s), want %v", tc.mode, ssl, version, tc.want)
		}
		p.Stop()
	}
}

// users[].networks and require_tls are checked before authentication, as
// pg_hba.conf is: a login from elsewhere, or over plain TCP for a user
// that must use TLS, gets 28000 whatever its password, and the same user
// from an allowed address or over TLS logs in.
func TestUserNetworksAndRequiredTLS(t *testing.T) {
	_, certFile, keyFile := testCA(t)
	p := startProxy(t, proxyOptions{
		extra: "tls:\n  cert_file: " + certFile + "\n  key_file: " + keyFile,
		users: "  - {name: local, password: pw, networks: [127.0.0.0/8, '::1']}\n" +
			"  - {name: remote, password: pw, networks: [10.0.0.0/8, 192.0.2.1]}\n" +
			"  - {name: secure, password: pw, require_tls: true}",
	})
	ctx := ctxFor(t, 30*time.Second)
	dsn := func(user, password, sslmode string) string {
		return "postgres://" + user + ":" + password + "@" + p.Addr + "/app?sslmode=" + sslmode
	}
	for _, c := range []struct {
		name, dsn string
		code, msg string // "" code: the login works
	}{
		{"allowed network", dsn("local", "pw", "disable"), "", ""},
		{"other network", dsn("remote", "pw", "disable"), "28000", `pgshard: user "remote" may not connect from 127.0.0.1`},
		{"other network, wrong password", dsn("remote", "nope", "disable"), "28000", `pgshard: user "remote" may not connect from 127.0.0.1`},
		{"TLS required, plain TCP", dsn("secure", "pw", "disable"), "28000", `pgshard: user "secure" must connect over TLS`},
		{"TLS required, over TLS", dsn("secure", "pw", "require"), "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := pgconn.Connect(ctx, c.dsn)
			if c.code == "" {
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				defer conn.Close(ctx)
				if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *pgconn.PgError
			if err == nil {
				conn.Close(ctx)
			}
			if !errors.As(err, &pe) || pe.Code != c.code || pe.Message != c.msg {
				t.Fatalf("login: %v, want %s %s", err, c.code, c.msg)
			}
		})
	}
}

// The preflight of `pgshard check --connect` logs in to every node with
// every server role the configuration gives and reads each node's role:
// here the shard's primary and replica as configured, then the replica
// configured as a primary and a server password that is wrong, each
// reported as a problem naming node and role.
func TestPreflightFindsNodeProblems(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	primary, replica := pg.Shards[0].Primary.Addr(), pg.Shards[0].Replicas[0].Addr()
	run := func(t *testing.T, yaml string) wire.Preflight {
		t.Helper()
		cfg, err := config.Parse([]byte(yaml), "preflight.yaml")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := wire.NewServer(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return srv.Preflight(ctx)
	}
	node := func(addr string) string {
		host, port, _ := net.SplitHostPort(addr)
		return "{host: " + host + ", port: " + port + ", tls: disable}"
	}
	good := run(t, fmt.Sprintf(`
users: [{name: app, password: pw}, {name: other, password: pw, server_user: nobody, server_password: wrong}]
databases:
  - {name: app, server_database: postgres, server_user: postgres, server_password: %s,
     shards: [{name: s0, primary: %s, replicas: [%s]}]}
`, cluster.Password, node(primary), node(replica)))
	var lines []string
	for _, n := range good.Nodes {
		lines = append(lines, n.Node+" as "+n.User+": "+cmp.Or(n.Problem(), "ok"))
		if n.User == "postgres" && (n.Version == "" || n.Err != nil) {
			t.Errorf("%s: no version read: %+v", n.Node, n)
		}
	}
	want := []string{"s0-primary as postgres: ok", "s0-primary as nobody: cannot connect as nobody", "s0-replica1 as postgres: ok", "s0-replica1 as nobody: cannot connect as nobody"}
	if len(lines) != len(want) {
		t.Fatalf("checks:\n%s", strings.Join(lines, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("check %d: %q, want %q...", i, lines[i], want[i])
		}
		if strings.Contains(lines[i], "wrong") {
			t.Errorf("the password reached the report: %q", lines[i])
		}
	}

	swapped := run(t, fmt.Sprintf(`
users: [{name: app, password: pw}]
databases:
  - {name: app, server_database: postgres, server_user: postgres, server_password: %s,
     shards: [{name: s0, primary: %s, replicas: [%s]}]}
`, cluster.Password, node(replica), node(primary)))
	for _, n := range swapped.Nodes {
		if p := n.Problem(); !strings.Contains(p, "configured as a "+n.Role) {
			t.Errorf("%s configured as %s on the other node: problem %q", n.Node, n.Role, p)
		}
	}
}

// The preflight counts the connections this pgshard may ask of each
// server, every user's pool at its size plus reserve and the lag
// monitor's one, against what the server accepts (max_connections less
// the slots it keeps for superusers, the roles being ordinary) and each
// server role's CONNECTION LIMIT, as read from the server; a database's
// max_db_connections bounds its pools' sum, a user's max_user_connections
// its own.
func TestPreflightCountsConnections(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var maxConn, reserved int
	if err := direct.QueryRow(ctx, "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int").Scan(&maxConn, &reserved); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec(ctx, "DROP ROLE IF EXISTS preflight_limited; CREATE ROLE preflight_limited LOGIN PASSWORD 'pw' CONNECTION LIMIT 5"); err != nil {
		t.Fatal(err)
	}
	defer direct.Exec(context.Background(), "DROP ROLE IF EXISTS preflight_limited")
	host, port, _ := net.SplitHostPort(pg.Shards[0].Primary.Addr())
	run := func(size int, database, batch string, top ...string) []wire.Overbooking {
		t.Helper()
		cfg, err := config.Parse([]byte(strings.Join(top, "\n")+fmt.Sprintf(`
pool: {size: %d, reserve_size: 2}
users:
  - {name: app, password: pw}
  - {name: batch, password: pw, pool_size: 4, server_user: preflight_limited, server_password: pw, %s}
databases:
  - {name: app, server_database: postgres, server_user: postgres, server_password: %s, %s
     shards: [{name: s0, primary: {host: %s, port: %s, tls: disable}}]}
`, size, batch, cluster.Password, database, host, port)), "preflight.yaml")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := wire.NewServer(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		pf := srv.Preflight(ctx)
		for _, n := range pf.Nodes {
			if n.Err != nil {
				t.Fatalf("%s as %s: %v", n.Node, n.User, n.Err)
			}
		}
		return pf.Overbooked
	}
	addr := pg.Shards[0].Primary.Addr()
	// batch's pool, 4 + 2, is over its role's limit of 5; app's fits.
	roleOver := wire.Overbooking{Address: addr, Role: "preflight_limited", Need: 6, Limit: 5, Members: 1}
	if got := run(10, "", ""); !slices.Equal(got, []wire.Overbooking{roleOver}) {
		t.Errorf("pool size 10: %+v, want only %+v", got, roleOver)
	}
	// app's pool at max_connections: the server as a whole is overbooked
	// for the least privileged role, which has no superuser slots.
	// The pools, the lag monitor's connection and the notification hub's.
	serverOver := wire.Overbooking{Address: addr, Need: (maxConn + 2) + (4 + 2) + 1 + 1, Limit: maxConn - reserved, Members: 1}
	if got := run(maxConn, "", ""); !slices.Equal(got, []wire.Overbooking{roleOver, serverOver}) {
		t.Errorf("pool size %d: %+v, want %+v and %+v", maxConn, got, roleOver, serverOver)
	}
	// max_db_connections bounds the database's pools together: 5 of them
	// and the monitor's one fit the server and the role.
	if got := run(maxConn, "max_db_connections: 5,", ""); len(got) != 0 {
		t.Errorf("pool size %d with max_db_connections 5: %+v, want nothing overbooked", maxConn, got)
	}
	// max_user_connections bounds batch's pools at the server: 5 fit its
	// role's limit.
	if got := run(10, "", "max_user_connections: 5"); len(got) != 0 {
		t.Errorf("batch with max_user_connections 5: %+v, want nothing overbooked", got)
	}
	// Three pgshards of a peering group each open those pools: 5 per
	// member fit the role's limit, 15 do not.
	groupOver := wire.Overbooking{Address: addr, Role: "preflight_limited", Need: 15, Limit: 5, Members: 3}
	peers := []string{"peer_id: 2", `peers: [{id: 1, address: "10.0.0.1:6432"}, {id: 3, address: "10.0.0.3:6432"}]`}
	if got := run(10, "", "max_user_connections: 5", peers...); !slices.Equal(got, []wire.Overbooking{groupOver}) {
		t.Errorf("a group of three: %+v, want %+v", got, groupOver)
	}
}
