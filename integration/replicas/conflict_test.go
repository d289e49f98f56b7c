package replicas_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRecoveryConflictRetriedOnPrimary: a read that a replica cancels for a
// recovery conflict (40001), before it returned a row, is run again on the
// primary; the client sees its answer, not the error.
func TestRecoveryConflictRetriedOnPrimary(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	// Both replicas of shard 0 cancel conflicting queries at once.
	for _, r := range pg.Shards[0].Replicas {
		c := connect(t, r.DSN())
		for _, q := range []string{`ALTER SYSTEM SET max_standby_streaming_delay = 0`, `SELECT pg_reload_conf()`} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s on %s: %v", q, r.Name, err)
			}
		}
		t.Cleanup(func() {
			// With the delay at 0 even a new connection's startup can be
			// cancelled by replay (FATAL 40001): retry until the reset
			// sticks, or later tests would run with it.
			deadline := time.Now().Add(20 * time.Second)
			for {
				err := resetStandbyDelay(r.DSN())
				if err == nil {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("resetting max_standby_streaming_delay on %s: %v", r.Name, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	p := startPgshard(t, "max_lag: 1h, max_lag_bytes: 1000000000")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	primary := connect(t, pg.Shards[0].Primary.DSN())
	if _, err := primary.Exec(ctx, `INSERT INTO rw (k, v) SELECT g, 0 FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.Exec(ctx, `INSERT INTO rw (k, v) VALUES ($1, 0) ON CONFLICT DO NOTHING`, keyOnShard0(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "replicas serving", func() bool {
		n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		return err == nil && strings.Contains(n, "replica")
	})
	for _, r := range pg.Shards[0].Replicas {
		rc := connect(t, r.DSN())
		waitFor(t, 10*time.Second, "rows on "+r.Name, func() bool {
			var n int
			return rc.QueryRow(ctx, `SELECT count(*) FROM rw`).Scan(&n) == nil && n >= 20000
		})
	}
	// A slow read on a replica (all its rows come at the end), while the
	// primary makes dead rows and vacuums them: replay of the cleanup
	// conflicts with the read's snapshot.
	// Pinned to one key on shard 0, so the read runs on one of its
	// replicas (scatter reads are covered by scatter_test.go).
	slow := fmt.Sprintf(`SELECT current_setting('cluster_name'), count(*) FROM rw, generate_series(1, 2000000) g WHERE rw.k = %d`, keyOnShard0(0))
	conflicts := 0
	const attempts = 5
	for attempt := range attempts {
		done := make(chan struct{})
		var node string
		var n int64
		var err error
		go func() {
			defer close(done)
			err = conn.QueryRow(ctx, slow, pgx.QueryExecModeSimpleProtocol).Scan(&node, &n)
		}()
		time.Sleep(300 * time.Millisecond)
		if _, err := primary.Exec(ctx, `UPDATE rw SET v = v + 1`); err != nil {
			t.Fatal(err)
		}
		if _, err := primary.Exec(ctx, `VACUUM rw`); err != nil {
			t.Fatal(err)
		}
		<-done
		if err != nil {
			t.Fatalf("attempt %d: the client saw %v", attempt, err)
		}
		if n == 0 {
			t.Fatalf("attempt %d: no rows counted", attempt)
		}
		if strings.HasSuffix(node, "_primary") {
			conflicts++ // the replica gave up the read; the primary answered
		}
	}
	t.Logf("%d of %d slow reads were cancelled on a replica and answered by the primary", conflicts, attempts)
	if conflicts == 0 {
		t.Fatalf("no recovery conflict in %d tries: the test did not exercise the retry", attempts)
	}
}

// resetStandbyDelay puts a replica's max_standby_streaming_delay back.
func resetStandbyDelay(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, q := range []string{`ALTER SYSTEM RESET max_standby_streaming_delay`, `SELECT pg_reload_conf()`} {
		if _, err := c.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
