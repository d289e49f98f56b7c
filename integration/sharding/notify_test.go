package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestListenNotifyAcrossShards: a listener listens on every shard, so it
// hears a NOTIFY sent from a session on any shard, in or out of a
// transaction (one committed with two-phase commit too), and pg_notify();
// and while it waits idle, as pgx's WaitForNotification does, each
// notification reaches it when sent. In session pooling the session's own
// server connections listen; in transaction pooling pgshard's listening
// connections do.
func TestListenNotifyAcrossShards(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) { listenNotifyAcrossShards(t, mode) })
	}
}

func listenNotifyAcrossShards(t *testing.T, mode string) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
	listener := connect(t, p.DSN("app", "app-secret"))
	notifier := connect(t, p.DSN("app", "app-secret"))
	exec := func(conn *pgx.Conn, qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	onShard := func(n int) string { return fmt.Sprintf("/* pgshard: shard=%d */ SELECT 1", n) }
	// Through the simple protocol, and (another listener) through
	// Parse/Bind/Execute.
	exec(listener, "LISTEN jobs")
	exec(listener, onShard(2)) // the listener's session now sits on shard 2
	extended := connect(t, p.DSN("app", "app-secret"))
	if err := extended.PgConn().ExecParams(ctx, "LISTEN later", nil, nil, nil, nil).Read().Err; err != nil {
		t.Fatal(err)
	}

	exec(notifier, "DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)")
	k, k2, k3 := keysOnShards(95000), keysOnShards(96000), keysOnShards(97000)
	for i, notify := range [][]string{
		{onShard(1), `NOTIFY jobs, 'one'`},
		{`SELECT pg_notify('jobs', 'two')`}, // on the default shard
		// In a transaction, on the transaction's shard, sent at commit.
		{onShard(2), `BEGIN`, onShard(2), `NOTIFY jobs, 'three'`, `COMMIT`},
		{onShard(1), `BEGIN`, onShard(1), `NOTIFY jobs, 'never'`, `ROLLBACK`, onShard(0), `NOTIFY later, 'four'`},
		// In a transaction that reads every shard and writes on one: no
		// two-phase commit, which could not carry the NOTIFY.
		{`BEGIN`, fmt.Sprintf(`INSERT INTO txr VALUES (%d, 1)`, k[1]), `SELECT count(*) FROM txr`, `NOTIFY jobs, 'spread'`, `COMMIT`},
		// In a transaction that wrote on two shards, committed with
		// two-phase commit: the shard that ran the NOTIFY, before or after
		// the other's write, commits in one phase as the coordinator.
		{`BEGIN`, fmt.Sprintf(`INSERT INTO txr VALUES (%d, 3)`, k2[2]), `NOTIFY jobs, 'first'`, fmt.Sprintf(`INSERT INTO txr VALUES (%d, 3)`, k2[0]), `COMMIT`},
		{`BEGIN`, fmt.Sprintf(`INSERT INTO txr VALUES (%d, 3)`, k3[0]), fmt.Sprintf(`INSERT INTO txr VALUES (%d, 3)`, k3[1]), `NOTIFY jobs, 'last'`, `COMMIT`},
	} {
		sent := make(chan error, 1)
		go func() {
			// Sent while the listener waits, not before: what is relayed
			// is what arrives during the wait.
			time.Sleep(200 * time.Millisecond)
			for _, q := range notify {
				if _, err := notifier.Exec(ctx, q); err != nil {
					sent <- fmt.Errorf("%s: %w", q, err)
					return
				}
			}
			sent <- nil
		}()
		waiter := listener
		if i == 3 {
			waiter = extended
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := waiter.WaitForNotification(wctx)
		cancel()
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("waiting for %v: %v", notify, err)
		}
		want := []string{"jobs one", "jobs two", "jobs three", "later four", "jobs spread", "jobs first", "jobs last"}[i]
		if got := n.Channel + " " + n.Payload; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	var n int
	if err := notifier.QueryRow(ctx, `SELECT count(*) FROM txr WHERE v = 3`).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d rows of the two-phase transactions with a NOTIFY kept (%v), want 4", n, err)
	}
	// NOTIFYs on two shards that both wrote: only one can commit in one
	// phase, and PostgreSQL refuses to prepare the other. Its error, and
	// nothing of the transaction is kept.
	exec(notifier, `BEGIN`, fmt.Sprintf(`INSERT INTO txr VALUES (%d, 2)`, k[0]), `NOTIFY jobs, 'lost'`,
		fmt.Sprintf(`INSERT INTO txr VALUES (%d, 2)`, k[2]), `NOTIFY jobs, 'lost too'`)
	var pe *pgconn.PgError
	if _, err := notifier.Exec(ctx, `COMMIT`); !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Errorf("COMMIT of NOTIFYs on two shards that wrote: %v, want 0A000", err)
	}
	if err := notifier.QueryRow(ctx, `SELECT count(*) FROM txr WHERE v = 2`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows of the refused transaction kept (%v)", n, err)
	}
	// The waits left the session in step: queries go on, on every shard.
	for n := range 3 {
		exec(listener, onShard(n))
	}
	// After UNLISTEN * nothing is relayed any more.
	exec(listener, "UNLISTEN *")
	exec(notifier, `NOTIFY jobs, 'five'`)
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if n, err := listener.WaitForNotification(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after UNLISTEN *: got %v, %v", n, err)
	}
}

// TestPgNotifyInATransactionOverShards: pg_notify() runs on the default
// shard; in a transaction that also wrote on two other shards, that shard
// is the one that cannot be prepared, so it commits in one phase as the
// coordinator, even when it is not the lowest shard.
func TestPgNotifyInATransactionOverShards(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := pgshardOverNewDatabase(t, "notifydb", "", "      default_shard: s2\n      tables:\n        - {name: txn, key: k}")
	conn := connect(t, p.DSN("app", "app-secret"))
	k := keysOnShards(98000)
	mustExec(ctx, t, conn, `CREATE TABLE txn (k bigint PRIMARY KEY)`,
		`BEGIN`, fmt.Sprintf(`INSERT INTO txn VALUES (%d)`, k[0]), fmt.Sprintf(`INSERT INTO txn VALUES (%d)`, k[1]),
		`SELECT pg_notify('jobs', 'from a function')`, `COMMIT`)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM txn`).Scan(&n); err != nil || n != 2 {
		t.Errorf("after the commit: %d rows (%v), want 2", n, err)
	}
}

// TestNotificationDuringAReadOverShards: a notification committed while
// the listener runs a read over every shard reaches its backend busy, which
// sends it at the end of the read, before ReadyForQuery. pgshard must pass
// it on from whichever shard's answer carries it, as one PostgreSQL would
// deliver it after the query.
func TestNotificationDuringAReadOverShards(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
			listener := connect(t, p.DSN("app", "app-secret"))
			notifier := connect(t, p.DSN("app", "app-secret"))
			k := keysOnShards(99000)
			mustExec(ctx, t, notifier, "DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)",
				fmt.Sprintf("INSERT INTO txr VALUES (%d, 1), (%d, 1), (%d, 1)", k[0], k[1], k[2]))
			mustExec(ctx, t, listener, "LISTEN jobs")
			sent := make(chan error, 1)
			go func() {
				time.Sleep(300 * time.Millisecond)
				_, err := notifier.Exec(ctx, "NOTIFY jobs, 'during the read'")
				sent <- err
			}()
			var n int
			if err := listener.QueryRow(ctx, "SELECT count(*) FROM txr WHERE pg_sleep(1) IS NOT NULL").Scan(&n); err != nil || n != 3 {
				t.Fatalf("the read over every shard: %d, %v", n, err)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			got, err := listener.WaitForNotification(wctx)
			if err != nil {
				t.Fatalf("the notification sent during the read: %v", err)
			}
			if got.Channel != "jobs" || got.Payload != "during the read" {
				t.Fatalf("got %s %q", got.Channel, got.Payload)
			}
			if got.PID == listener.PgConn().PID() {
				t.Errorf("another session's notification carries the listener's process ID %d", got.PID)
			}
			if mode != "session" {
				return // the process ID of a session's own NOTIFY: below
			}
			// Its own NOTIFY comes back with the process ID pgshard gave
			// it, as PostgreSQL's carries the listener's backend PID: how
			// clients tell their own notifications apart.
			mustExec(ctx, t, listener, "NOTIFY jobs, 'mine'", "SELECT count(*) FROM txr", "BEGIN", "NOTIFY jobs, 'mine in a read over shards'", "SELECT count(*) FROM txr", "COMMIT")
			for _, want := range []string{"mine", "mine in a read over shards"} {
				got, err := listener.WaitForNotification(wctx)
				if err != nil || got.Payload != want || got.PID != listener.PgConn().PID() {
					t.Errorf("own notification: %+v, %v; want %q from pid %d", got, err, want, listener.PgConn().PID())
				}
			}
		})
	}
}
