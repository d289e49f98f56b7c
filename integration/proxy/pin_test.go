package proxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pool.session_state: pin runs, in transaction pooling, what leaves state
// in the server session, and keeps the session's server connection from
// then on: a session advisory lock (extended protocol) holds across
// transactions and excludes another client, a temporary table (simple
// protocol) lives across transactions, a LISTEN sent with another
// statement (alone, pgshard listens for the session itself) hears a
// NOTIFY. When the
// pinned clients leave, their lock and table are gone (DISCARD ALL), and
// the pins are counted and listed.
func TestSessionStatePin(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 4\nsession_state: pin"})
	ctx := ctxFor(t, time.Minute)
	dsn := p.DSN("app", "app-secret")
	locker, other := connect(t, dsn), connect(t, dsn)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	tryLock := func() bool {
		t.Helper()
		var got bool
		if err := other.QueryRow(ctx, "SELECT pg_try_advisory_lock(7707)").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got {
			if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock(7707)"); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}

	if _, err := locker.Exec(ctx, "SELECT pg_advisory_lock(7707)"); err != nil {
		t.Fatalf("session advisory lock with session_state: pin: %v", err)
	}
	for i := range 3 { // transactions later, on the same server session
		if _, err := locker.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		if tryLock() {
			t.Fatalf("transaction %d after the lock: another client took it, want it held by the pinned session", i+1)
		}
	}

	tmp := connect(t, dsn)
	for _, q := range []string{"CREATE TEMP TABLE pinned_tmp (x int)", "INSERT INTO pinned_tmp VALUES (1), (2)"} {
		if _, err := tmp.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var n int
	if err := tmp.QueryRow(ctx, "SELECT count(*) FROM pinned_tmp", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 2 {
		t.Fatalf("temporary table in a later transaction: %d rows, %v; want 2", n, err)
	}

	listener := connect(t, dsn)
	if _, err := listener.Exec(ctx, "LISTEN pin_channel; SELECT 1"); err != nil {
		t.Fatalf("LISTEN with session_state: pin: %v", err)
	}
	if _, err := direct.Exec(ctx, "NOTIFY pin_channel, 'hello'"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if nt, err := listener.WaitForNotification(wctx); err != nil || nt.Payload != "hello" {
		t.Fatalf("notification to the pinned listener: %+v, %v", nt, err)
	}

	pinned := 0
	for _, c := range p.Clients(t) {
		if c.Pinned {
			pinned++
			if c.PoolMode != "session" {
				t.Errorf("pinned session %d listed in pool mode %q, want session", c.PID, c.PoolMode)
			}
		}
	}
	// other's pg_try_advisory_lock is a session lock too.
	if pinned != 4 {
		t.Errorf("/clients lists %d pinned sessions, want 4", pinned)
	}
	if got := p.Metric(t, `pgshard_sessions_pinned_total{database="app"}`); got != 4 {
		t.Errorf("pgshard_sessions_pinned_total: %v, want 4", got)
	}

	for _, c := range []*pgx.Conn{locker, tmp, listener} {
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The sessions' ends reset their connections a moment after Close, each
	// on its own: wait for both the lock and the temporary table to go.
	tables := -1
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'pinned_tmp'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		locked := !tryLock()
		if tables == 0 && !locked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the pinned sessions left: advisory lock held %v, temporary tables %d; want both gone", locked, tables)
		}
	}
}

// A pinned session goes back to transaction pooling once its server
// connection holds none of its state: after its advisory lock is released
// the pool's only connection serves another client again, and the
// session's settings follow it. A temporary table dropped while a lock is
// still held keeps it pinned; state pgshard cannot check for (a
// set_config it cannot read) pins it for good.
func TestPinnedSessionUnpins(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1\nqueue_timeout: 1s\nsession_state: pin"})
	ctx := ctxFor(t, time.Minute)
	dsn := p.DSN("app", "app-secret")
	a, b := connect(t, dsn), connect(t, dsn)
	exec := func(c *pgx.Conn, qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	pinned := func() bool {
		t.Helper()
		for _, c := range p.Clients(t) {
			if c.PID == a.PgConn().PID() {
				return c.Pinned
			}
		}
		t.Fatal("session a not listed")
		return false
	}
	// The check runs once the statement is answered, while the client
	// reads the answer: wait that long for it.
	unpinned := func(wait time.Duration) bool {
		t.Helper()
		for deadline := time.Now().Add(wait); pinned(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				return false
			}
		}
		return true
	}

	exec(a, "SET application_name = 'unpin-a'", "SELECT pg_advisory_lock(42)")
	if !pinned() {
		t.Fatal("a is not pinned by its advisory lock")
	}
	if _, err := b.Exec(ctx, "SELECT 1"); sqlState(err) != "53300" {
		t.Fatalf("b while a holds the pool's only connection: %v, want 53300", err)
	}
	exec(a, "SELECT pg_advisory_unlock(42)")
	if !unpinned(2 * time.Second) {
		t.Fatal("a still pinned after releasing its only lock")
	}
	exec(b, "SELECT 1")
	var name string
	if err := a.QueryRow(ctx, "SHOW application_name").Scan(&name); err != nil || name != "unpin-a" {
		t.Errorf("a's setting after unpinning: %q, %v", name, err)
	}
	if got := p.Metric(t, `pgshard_sessions_unpinned_total{database="app"}`); got != 1 {
		t.Errorf("pgshard_sessions_unpinned_total: %v, want 1", got)
	}

	exec(a, "CREATE TEMP TABLE unpin_tmp (x int)", "SELECT pg_advisory_lock(7)", "DROP TABLE unpin_tmp")
	if unpinned(300 * time.Millisecond) {
		t.Fatal("a unpinned while it still holds a lock")
	}
	exec(a, "SELECT pg_advisory_unlock(7)")
	if !unpinned(2 * time.Second) {
		t.Fatal("a still pinned with its table dropped and its lock released")
	}

	exec(a, "SELECT pg_advisory_lock(8)", "SELECT set_config('app.who', current_user, false)", "SELECT pg_advisory_unlock_all()")
	if unpinned(300 * time.Millisecond) {
		t.Fatal("a unpinned after a set_config pgshard cannot read")
	}
	if got := p.Metric(t, `pgshard_sessions_unpinned_total{database="app"}`); got != 2 {
		t.Errorf("pgshard_sessions_unpinned_total: %v, want 2", got)
	}
}
