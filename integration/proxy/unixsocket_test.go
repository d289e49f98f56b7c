package proxy_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnixSocket: with unix_socket_dir a sidecar's clients reach pgshard
// over a Unix socket, as they reach PostgreSQL (psql -h DIR -p PORT):
// psql, pgx, a cancel over the socket; users[].networks decides who may
// use it with "local", as pg_hba.conf's local lines do.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	p := startProxy(t, proxyOptions{extra: "unix_socket_dir: " + dir, users: `
  - name: sidecar
    password: sidecar-secret
    networks: [local]
  - name: remote
    password: remote-secret
    networks: [127.0.0.1]`})
	_, port, _ := net.SplitHostPort(p.Addr)
	socketDSN := func(user, password string) string {
		return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=app sslmode=disable", dir, port, user, password)
	}
	ctx := ctxFor(t, 30*time.Second)

	if out, err := runPsql(socketDSN("app", "app-secret"), "SELECT 'psql over the socket'"); err != nil || strings.TrimSpace(out) != "psql over the socket" {
		t.Fatalf("psql over the socket: %v\n%s", err, out)
	}

	conn, err := pgconn.Connect(ctx, socketDSN("app", "app-secret"))
	if err != nil {
		t.Fatalf("pgx over the socket: %v", err)
	}
	defer conn.Close(context.Background())
	if res, err := conn.Exec(ctx, "SELECT 40 + 2").ReadAll(); err != nil || string(res[0].Rows[0][0]) != "42" {
		t.Fatalf("SELECT over the socket: %v %v", res, err)
	}
	var listed bool
	for _, c := range p.Clients(t) {
		if c.PID == conn.PID() {
			listed = true
			if c.Address != "[local]" {
				t.Errorf("/clients shows the socket client at %q, want [local]", c.Address)
			}
		}
	}
	if !listed {
		t.Errorf("the socket client (pid %d) is not in /clients", conn.PID())
	}
	// pgconn sends its CancelRequest over the socket too.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = conn.CancelRequest(context.Background())
	}()
	start := time.Now()
	_, err = conn.Exec(ctx, "SELECT pg_sleep(30)").ReadAll()
	if got := sqlState(err); got != "57014" || time.Since(start) > 2*time.Second {
		t.Fatalf("cancel over the socket: %v (SQLSTATE %q) after %s, want 57014 within 2s", err, got, time.Since(start))
	}

	for _, c := range []struct {
		name, dsn, wantCode, wantText string
	}{
		{"local user over the socket", socketDSN("sidecar", "sidecar-secret"), "", ""},
		{"local user over TCP", fmt.Sprintf("postgres://sidecar:sidecar-secret@%s/app?sslmode=disable", p.Addr), "28000", "may not connect from 127.0.0.1"},
		{"TCP user over the socket", socketDSN("remote", "remote-secret"), "28000", "may not connect over the Unix socket"},
		{"TCP user over TCP", fmt.Sprintf("postgres://remote:remote-secret@%s/app?sslmode=disable", p.Addr), "", ""},
		{"wrong password over the socket", socketDSN("app", "wrong"), "28P01", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := pgconn.Connect(ctx, c.dsn)
			if c.wantCode == "" {
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				conn.Close(context.Background())
				return
			}
			if err == nil {
				conn.Close(context.Background())
				t.Fatalf("login worked, want %s", c.wantCode)
			}
			if got := sqlState(err); got != c.wantCode || !strings.Contains(err.Error(), c.wantText) {
				t.Fatalf("login: %v, want %s with %q", err, c.wantCode, c.wantText)
			}
		})
	}
}
