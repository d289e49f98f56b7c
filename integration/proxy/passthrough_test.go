package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// passthrough_auth: a role of the servers that is not in users logs in
// with its PostgreSQL password, checked by the server, and its server
// connections log in as the role itself. A wrong password or an unknown
// role gets the server's 28P01; a new password works from the role's next
// login, for new server connections too; a role the server trusts without
// a password is refused; a reload turning passthrough_auth off ends the
// role's sessions at their next checkout.
func TestPassthroughAuthentication(t *testing.T) {
	opts := proxyOptions{extra: "passthrough_auth: any"}
	p := startProxy(t, opts)
	ctx := ctxFor(t, time.Minute)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	for _, q := range []string{
		"DROP ROLE IF EXISTS pt_alice", "CREATE ROLE pt_alice LOGIN PASSWORD 'alice-1'",
		"DO $$ BEGIN CREATE ROLE pgshard_trust LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
	} {
		if _, err := direct.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer direct.Exec(context.Background(), "DROP ROLE IF EXISTS pt_alice")

	login := func(user, password string) (*pgx.Conn, error) { return pgx.Connect(ctx, p.DSN(user, password)) }
	refused := func(what, user, password, code string) {
		t.Helper()
		c, err := login(user, password)
		if err == nil {
			c.Close(ctx)
			t.Fatalf("%s: logged in", what)
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("%s: %v, want %s", what, err, code)
		}
	}
	whoami := func(c *pgx.Conn) string {
		t.Helper()
		var who string
		if err := c.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil {
			t.Fatal(err)
		}
		return who
	}

	first, err := login("pt_alice", "alice-1")
	if err != nil {
		t.Fatalf("pt_alice with its password: %v", err)
	}
	defer first.Close(context.Background())
	if who := whoami(first); who != "pt_alice" {
		t.Errorf("pt_alice's server connections log in as %q, want the role itself", who)
	}
	refused("a wrong password", "pt_alice", "nope", "28P01")
	refused("a role the server does not have", "pt_nobody", "nope", "28P01")
	refused("a role the server trusts without a password", "pgshard_trust", "anything", "28000")
	if who := whoami(connect(t, p.DSN("app", "app-secret"))); who != "postgres" {
		t.Errorf("listed user app logs in to the servers as %q, want its server_user postgres", who)
	}

	// The first session holds its server connection; the password changes.
	tx, err := holdConnection(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec(ctx, "ALTER ROLE pt_alice PASSWORD 'alice-2'"); err != nil {
		t.Fatal(err)
	}
	refused("the old password after the change", "pt_alice", "alice-1", "28P01")
	second, err := login("pt_alice", "alice-2")
	if err != nil {
		t.Fatalf("pt_alice with its new password: %v", err)
	}
	defer second.Close(context.Background())
	// A second server connection, opened with the new password.
	if who := whoami(second); who != "pt_alice" {
		t.Errorf("pt_alice's new server connection logs in as %q", who)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("the session open across the password change: %v", err)
	}

	opts.extra = "passthrough_auth: off"
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"passthrough_auth"}) {
		t.Fatalf("reload turning passthrough_auth off: %v %v", changed, err)
	}
	_, err = second.Exec(ctx, "SELECT 1")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "08006" {
		t.Errorf("a passthrough session after passthrough_auth was turned off: %v, want 08006", err)
	}
	refused("a passthrough role once passthrough_auth is off", "pt_alice", "alice-2", "28P01")
}

// passthrough_auth: tls takes a role's clear-text password over TLS only:
// over plain TCP the login is refused before the password is asked for.
func TestPassthroughAuthenticationOverTLSOnly(t *testing.T) {
	_, certFile, keyFile := testCA(t)
	p := startProxy(t, proxyOptions{extra: "passthrough_auth: tls\ntls:\n  cert_file: " + certFile + "\n  key_file: " + keyFile})
	ctx := ctxFor(t, 30*time.Second)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	if _, err := direct.Exec(ctx, "DROP ROLE IF EXISTS pt_bob; CREATE ROLE pt_bob LOGIN PASSWORD 'bob-secret'"); err != nil {
		t.Fatal(err)
	}
	defer direct.Exec(context.Background(), "DROP ROLE IF EXISTS pt_bob")
	dsn := func(sslmode string) string {
		return "postgres://pt_bob:bob-secret@" + p.Addr + "/app?sslmode=" + sslmode
	}
	_, err = pgconn.Connect(ctx, dsn("disable"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28000" || pe.Message != `pgshard: role "pt_bob" must connect over TLS` {
		t.Fatalf("passthrough role over plain TCP: %v, want 28000 must connect over TLS", err)
	}
	conn := connect(t, dsn("require"))
	var who string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != "pt_bob" {
		t.Fatalf("passthrough role over TLS: %q, %v; want pt_bob", who, err)
	}
}

// passthrough_auth asks any node of the database, not only the first
// shard's primary: with that primary down the replica checks the password
// (pg_authid streams to it) and gives a wrong one 28P01; a database none
// of whose nodes answers gets 08001 naming each node it tried.
func TestPassthroughAuthenticationAsksAnyNode(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	node := func(addr string) string {
		host, port, _ := net.SplitHostPort(addr)
		return "{host: " + host + ", port: " + port + ", tls: disable}"
	}
	p := pgshardtest.Start(t, func(listen string) string {
		return fmt.Sprintf(`listen: %s
passthrough_auth: any
pool: {connect_timeout: 2s}
users: [{name: app, password: app-secret}]
databases:
  - {name: app, server_database: postgres, server_user: postgres, server_password: %[2]s,
     shards: [{name: s0, primary: %[3]s, replicas: [%[4]s]}]}
  - {name: gone, server_database: postgres, server_user: postgres, server_password: %[2]s,
     shards: [{name: g0, primary: {host: 127.0.0.1, port: %[5]s, tls: disable, name: g0-main}}]}
`, listen, cluster.Password, node(dead), node(pg.Shards[0].Replicas[0].Addr()), strings.TrimPrefix(dead, "127.0.0.1:"))
	})
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	if _, err := direct.Exec(ctx, "DROP ROLE IF EXISTS pt_carol; CREATE ROLE pt_carol LOGIN PASSWORD 'carol-secret'"); err != nil {
		t.Fatal(err)
	}
	defer direct.Exec(context.Background(), "DROP ROLE IF EXISTS pt_carol")
	replica, err := pg.Shards[0].Replicas[0].Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close(context.Background())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var n int
		if err := replica.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = 'pt_carol'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica has not replayed CREATE ROLE in 10s")
		}
	}

	c, err := pgconn.Connect(ctx, p.DSN("pt_carol", "carol-secret"))
	if err != nil {
		t.Fatalf("pt_carol with the first shard's primary down: %v", err)
	}
	c.Close(ctx)
	var pe *pgconn.PgError
	if _, err := pgconn.Connect(ctx, p.DSN("pt_carol", "wrong")); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Errorf("a wrong password, checked by the replica: %v, want 28P01", err)
	}
	_, err = pgconn.Connect(ctx, "postgres://pt_carol:carol-secret@"+p.Addr+"/gone?sslmode=disable")
	if !errors.As(err, &pe) || pe.Code != "08001" || !strings.Contains(pe.Message, "shard g0 node g0-main") {
		t.Errorf("a database with no node up: %v, want 08001 naming shard g0 node g0-main", err)
	}
}
