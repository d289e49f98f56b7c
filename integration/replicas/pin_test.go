package replicas_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pool.session_state: pin never pins a session to a replica: a session
// lock taken inside a READ ONLY transaction that runs on a replica is
// refused as without pin (the session would otherwise keep the replica's
// connection and send its later writes there); taken outside, it pins the
// session to the primary, where its writes and reads then go.
func TestPinNeverKeepsAReplica(t *testing.T) {
	p := startPgshardWith(t, "max_lag: 10s", "session_state: pin")
	ctx := ctxFor(t, time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	waitFor(t, 10*time.Second, "replicas serving", func() bool {
		n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		return err == nil && strings.Contains(n, "replica")
	})

	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	var node string
	if err := tx.QueryRow(ctx, whoAmI).Scan(&node); err != nil || !strings.Contains(node, "replica") {
		t.Fatalf("READ ONLY transaction's first read on %q, %v; want a replica", node, err)
	}
	_, err = tx.Exec(ctx, "SELECT pg_advisory_lock(31)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Fatalf("session lock in a READ ONLY transaction on a replica: %v, want 0A000 (not pinned there)", err)
	}
	_ = tx.Rollback(ctx)

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(31)"); err != nil {
		t.Fatalf("session lock outside a transaction: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO rw (k, v) VALUES (1, 1)"); err != nil {
		t.Fatalf("write after the pin: %v", err)
	}
	for range 5 {
		n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		if err != nil || !strings.HasSuffix(n, "_primary") {
			t.Fatalf("read of a session pinned with a lock ran on %q, %v; want its primary connection", n, err)
		}
	}
	pinned := 0
	for _, c := range p.Clients(t) {
		if c.Pinned {
			pinned++
		}
	}
	if pinned != 1 {
		t.Errorf("%d pinned sessions, want 1", pinned)
	}
}
