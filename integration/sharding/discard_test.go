package sharding_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestDiscardAllResetsEveryShard: in session pooling a client's session
// state lives on each shard it used; DISCARD ALL (which Npgsql sends when
// it takes a connection back into its pool) drops it on all of them, so no
// session advisory lock or temporary table outlives it on another shard.
func TestDiscardAllResetsEveryShard(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "pool: {mode: session, size: 8, queue_timeout: 10s}")
	a := connect(t, p.DSN("app", "app-secret"))
	b := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{
		`SELECT pg_advisory_lock(7)`,        // on the default shard
		`CREATE TEMP TABLE scratch (i int)`, // on every shard
		`SET application_name = 'before-discard'`,
		`/* pgshard: shard=2 */ SELECT 1`, // the session now sits on shard 2
		`DISCARD ALL`,
	} {
		if _, err := a.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var got bool
	if err := b.QueryRow(ctx, `SELECT pg_try_advisory_lock(7)`).Scan(&got); err != nil || !got {
		t.Fatalf("another session takes the lock DISCARD ALL released: %v, %v", got, err)
	}
	if _, err := b.Exec(ctx, `SELECT pg_advisory_unlock(7)`); err != nil {
		t.Fatal(err)
	}
	_, err := a.Exec(ctx, `SELECT count(*) FROM scratch`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Fatalf("the temporary table after DISCARD ALL: want 42P01, got %v", err)
	}
	// The settings are the defaults again, on every shard.
	for n := range 3 {
		var name string
		q := `/* pgshard: shard=` + string(rune('0'+n)) + ` */ SELECT current_setting('application_name')`
		if err := a.QueryRow(ctx, q).Scan(&name); err != nil || name == "before-discard" {
			t.Errorf("shard %d after DISCARD ALL: application_name %q, %v", n, name, err)
		}
	}
}
