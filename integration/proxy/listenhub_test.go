package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// expectNotification waits for c's next notification and checks it is
// channel's payload; "" expects none within a short wait.
func expectNotification(t *testing.T, ctx context.Context, c *pgx.Conn, channel, payload string) {
	t.Helper()
	wait := 10 * time.Second
	if channel == "" {
		wait = 400 * time.Millisecond
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	n, err := c.WaitForNotification(wctx)
	switch {
	case channel == "" && !errors.Is(err, context.DeadlineExceeded):
		t.Fatalf("want no notification, got %+v, %v", n, err)
	case channel == "":
	case err != nil:
		t.Fatalf("waiting for %s %q: %v", channel, payload, err)
	case n.Channel != channel || n.Payload != payload:
		t.Fatalf("got %s %q, want %s %q", n.Channel, n.Payload, channel, payload)
	}
}

// LISTEN in transaction pooling: pgshard listens for the session on a
// connection of its own, so a listener holds no server connection between
// its statements (here the pool's only one serves another client) and
// hears each notification while it waits, as from PostgreSQL. Two
// listeners, of two users, share that connection. Through the simple and the extended
// protocol; in a transaction block LISTEN and UNLISTEN count only if it
// commits; nothing is delivered inside a transaction; DISCARD ALL and
// UNLISTEN * end it all. LISTEN sent with other statements is refused.
func TestListenInTransactionPooling(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startProxy(t, proxyOptions{pool: "size: 1\nqueue_timeout: 3s", users: "  - {name: second, password: second-secret}"})
	dsn := p.DSN("app", "app-secret")
	// extended is a client of another user: the users share pgshard's
	// listening connection.
	listener, extended, other := connect(t, dsn), connect(t, p.DSN("second", "second-secret")), connect(t, dsn)
	direct := connect(t, pg.Shards[0].Primary.DSN())
	notify := func(channel, payload string) {
		t.Helper()
		if _, err := other.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
			t.Fatalf("NOTIFY through pgshard: %v", err)
		}
	}
	exec := func(c *pgx.Conn, qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}

	exec(listener, "LISTEN jobs", `LISTEN "Mixed Case"`)
	if err := extended.PgConn().ExecParams(ctx, "LISTEN jobs", nil, nil, nil, nil).Read().Err; err != nil {
		t.Fatalf("LISTEN through the extended protocol: %v", err)
	}
	// pg_listening_channels() answers for the client, in both protocols,
	// as Keycloak's check for a pooler expects.
	for _, c := range []struct {
		conn *pgx.Conn
		mode pgx.QueryExecMode
		want []string
	}{
		{listener, pgx.QueryExecModeSimpleProtocol, []string{"Mixed Case", "jobs"}},
		{listener, pgx.QueryExecModeCacheStatement, []string{"Mixed Case", "jobs"}},
		{extended, pgx.QueryExecModeExec, []string{"jobs"}},
		{other, pgx.QueryExecModeSimpleProtocol, nil},
	} {
		rows, err := c.conn.Query(ctx, "SELECT * FROM pg_listening_channels()", c.mode)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("pg_listening_channels() (%v): %q, %v; want %q", c.mode, got, err, c.want)
		}
	}
	// The pool's one connection is free: the listeners hold none.
	notify("jobs", "one")
	expectNotification(t, ctx, listener, "jobs", "one")
	expectNotification(t, ctx, extended, "jobs", "one")
	notify("Mixed Case", "two")
	expectNotification(t, ctx, listener, "Mixed Case", "two")
	// Sent while the listener waits idle, by a client of the server.
	sent := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := direct.Exec(ctx, "NOTIFY jobs, 'three'")
		sent <- err
	}()
	expectNotification(t, ctx, listener, "jobs", "three")
	expectNotification(t, ctx, extended, "jobs", "three")
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var hubs int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgshard listener'").Scan(&hubs); err != nil || hubs != 1 {
		t.Errorf("server connections listening for clients of two users: %d (%v), want 1", hubs, err)
	}
	if got := p.Metric(t, `pgshard_listeners{database="app"}`); got != 2 {
		t.Errorf("pgshard_listeners: %v, want 2", got)
	}
	if got := p.Metric(t, `pgshard_notifications_total{database="app"}`); got != 3 {
		t.Errorf("pgshard_notifications_total: %v, want 3", got)
	}
	var listening []int
	for _, c := range p.Clients(t) {
		listening = append(listening, c.Listening)
	}
	if slices.Sort(listening); !slices.Equal(listening, []int{0, 1, 2}) {
		t.Errorf("channels /clients lists per session: %v, want 0 (other), 1 (extended), 2 (listener)", listening)
	}

	// A transaction's LISTEN and UNLISTEN count if it commits.
	exec(listener, "BEGIN", "LISTEN never", "ROLLBACK")
	notify("never", "x")
	expectNotification(t, ctx, listener, "", "")
	exec(listener, "BEGIN", "LISTEN later", "COMMIT")
	notify("later", "four")
	expectNotification(t, ctx, listener, "later", "four")
	exec(listener, "BEGIN", "UNLISTEN later", "ROLLBACK")
	notify("later", "five")
	expectNotification(t, ctx, listener, "later", "five")
	// ROLLBACK TO SAVEPOINT undoes what followed the savepoint.
	exec(listener, "BEGIN", "SAVEPOINT a", "LISTEN sp_undone", "ROLLBACK TO SAVEPOINT a", "LISTEN sp_kept",
		"SAVEPOINT b", "UNLISTEN sp_kept", "ROLLBACK TO b", "COMMIT")
	// The same in a transaction a server has.
	exec(listener, "BEGIN", "SELECT 1", "SAVEPOINT c", "LISTEN sp_server", "ROLLBACK TO c", "COMMIT")
	notify("sp_undone", "x")
	notify("sp_server", "x")
	notify("sp_kept", "kept")
	expectNotification(t, ctx, listener, "sp_kept", "kept")
	expectNotification(t, ctx, listener, "", "")
	// Nothing arrives inside a transaction; what came is delivered after.
	tx, err := listener.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec(listener, "UNLISTEN later")
	notify("jobs", "six")
	notify("later", "seven")
	if err := listener.PgConn().WaitForNotification(ctxWithTimeout(t, ctx, 400*time.Millisecond)); !pgconn.Timeout(err) {
		t.Fatalf("a notification inside a transaction: %v, want none until it ends", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// later's was dropped with the UNLISTEN that committed.
	expectNotification(t, ctx, listener, "jobs", "six")
	expectNotification(t, ctx, listener, "", "")
	expectNotification(t, ctx, extended, "jobs", "six")

	// With other statements LISTEN is refused; with other LISTENs and
	// UNLISTENs it works, in order.
	if _, err := listener.Exec(ctx, "LISTEN a; SELECT 1"); sqlState(err) != "0A000" {
		t.Errorf("LISTEN with another statement in one query: %v, want 0A000", err)
	}
	exec(listener, "LISTEN m1; LISTEN m2; UNLISTEN m1")
	notify("m1", "not heard")
	notify("m2", "heard")
	expectNotification(t, ctx, listener, "m2", "heard")
	expectNotification(t, ctx, listener, "", "")
	exec(extended, "DISCARD ALL")
	exec(listener, "UNLISTEN *")
	notify("jobs", "eight")
	expectNotification(t, ctx, listener, "", "")
	expectNotification(t, ctx, extended, "", "")
	if got := p.Metric(t, `pgshard_listeners{database="app"}`); got != 0 {
		t.Errorf("pgshard_listeners after UNLISTEN * and DISCARD ALL: %v, want 0", got)
	}
	// Nobody listens: the listening connection is gone.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgshard listener'").Scan(&hubs); err != nil {
			t.Fatal(err)
		}
		if hubs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listening connections 5s after the last listener left, want 0", hubs)
		}
	}
}

// When pgshard's listening connection is lost, its listeners may have
// missed notifications: each is ended with FATAL 08006, at once if it
// waits idle, and a new session listens again. So are they when a reload
// moves the nodes they listen on.
func TestListenerEndsWhenItsConnectionGoes(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	opts := proxyOptions{}
	p := startProxy(t, opts)
	dsn := p.DSN("app", "app-secret")
	listener := connect(t, dsn)
	direct := connect(t, pg.Shards[0].Primary.DSN())
	if _, err := listener.Exec(ctx, "LISTEN lost_chan"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := listener.WaitForNotification(ctxWithTimeout(t, ctx, 10*time.Second))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	var killed int
	if err := direct.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgshard listener'").Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating pgshard's listening connection: %d (%v)", killed, err)
	}
	start := time.Now()
	err := <-done
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "08006" || pe.Severity != "FATAL" {
		t.Fatalf("the waiting listener: %v, want FATAL 08006", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the listener was told after %s", d)
	}
	if got := p.Metric(t, `pgshard_listeners_lost_total{database="app"}`); got != 1 {
		t.Errorf("pgshard_listeners_lost_total: %v, want 1", got)
	}
	again := connect(t, dsn)
	if _, err := again.Exec(ctx, "LISTEN lost_chan"); err != nil {
		t.Fatalf("LISTEN on a new session: %v", err)
	}
	if _, err := direct.Exec(ctx, "NOTIFY lost_chan, 'back'"); err != nil {
		t.Fatal(err)
	}
	expectNotification(t, ctx, again, "lost_chan", "back")

	_, port, _ := net.SplitHostPort(pg.Shards[0].Primary.Addr())
	opts.primary = "localhost:" + port
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"databases[app] nodes"}) {
		t.Fatalf("reload moving the primary: %v %v", changed, err)
	}
	_, err = again.WaitForNotification(ctxWithTimeout(t, ctx, 5*time.Second))
	if !errors.As(err, &pe) || pe.Code != "08006" || !strings.Contains(pe.Message, "reload moved the nodes") {
		t.Fatalf("a listener after a reload moved its nodes: %v, want FATAL 08006", err)
	}
	moved := connect(t, dsn)
	if _, err := moved.Exec(ctx, "LISTEN lost_chan"); err != nil {
		t.Fatalf("LISTEN after the reload: %v", err)
	}
	if _, err := direct.Exec(ctx, "NOTIFY lost_chan, 'moved'"); err != nil {
		t.Fatal(err)
	}
	expectNotification(t, ctx, moved, "lost_chan", "moved")
}

// ctxWithTimeout is ctx bounded by d, cancelled when the test ends.
func ctxWithTimeout(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// A server's idle_session_timeout does not end pgshard's listening
// connection, idle between LISTENs, nor its listeners with it.
func TestListenerOutlivesIdleSessionTimeout(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	direct := connect(t, pg.Shards[0].Primary.DSN())
	for _, q := range []string{"DROP ROLE IF EXISTS hub_idle",
		"CREATE ROLE hub_idle LOGIN PASSWORD 'hub-idle-secret'",
		"ALTER ROLE hub_idle SET idle_session_timeout = '300ms'"} {
		if _, err := direct.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer direct.Exec(context.Background(), "DROP ROLE IF EXISTS hub_idle")
	p := startProxy(t, proxyOptions{users: "  - {name: idler, password: idler-secret, server_user: hub_idle, server_password: hub-idle-secret}"})
	listener := connect(t, p.DSN("idler", "idler-secret"))
	if _, err := listener.Exec(ctx, "LISTEN idle_chan"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // past the role's idle_session_timeout
	if _, err := direct.Exec(ctx, "NOTIFY idle_chan, 'still here'"); err != nil {
		t.Fatal(err)
	}
	expectNotification(t, ctx, listener, "idle_chan", "still here")
}

// Many listeners, one listening connection: forty transaction-pooling
// clients listening on one channel each get all of 500 notifications,
// in the order they were sent, while they wait and while they run queries
// of their own between waits.
func TestManyListenersGetEveryNotification(t *testing.T) {
	const listeners, sent = 40, 500
	ctx := ctxFor(t, 2*time.Minute)
	p := startProxy(t, proxyOptions{pool: "size: 4\nqueue_timeout: 20s"})
	direct := connect(t, pg.Shards[0].Primary.DSN())
	conns := make([]*pgx.Conn, listeners)
	for i := range conns {
		conns[i] = connect(t, p.DSN("app", "app-secret"))
		if _, err := conns[i].Exec(ctx, "LISTEN fan"); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, listeners)
	for i, c := range conns {
		go func() {
			for n := range sent {
				if i%2 == 1 && n%50 == 0 {
					// A query between waits: what comes meanwhile waits.
					if _, err := c.Exec(ctx, "SELECT pg_sleep(0.01)"); err != nil {
						errs <- err
						return
					}
				}
				wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				got, err := c.WaitForNotification(wctx)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("listener %d after %d notifications: %w", i, n, err)
					return
				}
				if want := strconv.Itoa(n); got.Payload != want {
					errs <- fmt.Errorf("listener %d: notification %q, want %q", i, got.Payload, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for n := range sent {
		if _, err := direct.Exec(ctx, "SELECT pg_notify('fan', $1)", strconv.Itoa(n)); err != nil {
			t.Fatal(err)
		}
	}
	for range listeners {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Metric(t, `pgshard_notifications_total{database="app"}`); got != sent {
		t.Errorf("pgshard_notifications_total: %v, want %d: one listening connection for all", got, sent)
	}
}
