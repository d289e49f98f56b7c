package replicas_test

// Statements that write must reach the primary however they are spelled:
// COPY FROM, EXPLAIN ANALYZE of a write, SELECT ... INTO.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCopyWithReplicas: with replica reads on, COPY FROM STDIN (text and
// binary) still writes to the primaries, and the session reads its rows
// back at once; COPY TO STDOUT, a read, returns them all.
func TestCopyWithReplicas(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "max_lag: 1h, max_lag_bytes: 1000000000")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	waitFor(t, 10*time.Second, "reads on replicas", func() bool { return readsOnReplica(ctx, conn) })
	var text strings.Builder
	for k := range 300 {
		fmt.Fprintf(&text, "%d\t1\n", k)
	}
	if tag, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(text.String()), `COPY rw (k, v) FROM STDIN`); err != nil || tag.RowsAffected() != 300 {
		t.Fatalf("COPY FROM STDIN (text) with replicas configured: %v %v", tag, err)
	}
	var rows [][]any
	for k := 300; k < 600; k++ {
		rows = append(rows, []any{int64(k), int32(2)})
	}
	if n, err := conn.CopyFrom(ctx, pgx.Identifier{"rw"}, []string{"k", "v"}, pgx.CopyFromRows(rows)); err != nil || n != 300 {
		t.Fatalf("COPY FROM STDIN (binary) with replicas configured: %d %v", n, err)
	}
	var n, sum int64
	if err := conn.QueryRow(ctx, `SELECT count(*), sum(v) FROM rw`).Scan(&n, &sum); err != nil || n != 600 || sum != 900 {
		t.Fatalf("read after the COPYs: %d rows, sum %d (%v); want 600 and 900", n, sum, err)
	}
	var out strings.Builder
	if tag, err := conn.PgConn().CopyTo(ctx, &out, `COPY rw TO STDOUT`); err != nil || tag.RowsAffected() != 600 {
		t.Fatalf("COPY TO STDOUT: %v %v", tag, err)
	}
}

// TestWritesThatLookLikeReadsReachThePrimary: EXPLAIN ANALYZE runs its
// statement, so of a write it must run on the primary even with replica
// reads on; a plain EXPLAIN, which runs nothing, may use a replica.
//
// SELECT ... INTO creates a table (on every shard, as CREATE TABLE AS).
func TestWritesThatLookLikeReadsReachThePrimary(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "max_lag: 1h, max_lag_bytes: 1000000000")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	// Reads on shard 0 go to its replicas before each statement below.
	onReplica := func() bool { return readsOnReplica(ctx, conn) }
	for _, q := range []string{
		`EXPLAIN (ANALYZE, COSTS OFF) INSERT INTO rw (k, v) VALUES (7, 1)`,
		`EXPLAIN ANALYZE UPDATE rw SET v = v + 1 WHERE k = 7`,
		`EXPLAIN (ANALYZE true) DELETE FROM rw WHERE k = 8`,
		`EXPLAIN INSERT INTO rw (k, v) VALUES (9, 1)`,
		`EXPLAIN (ANALYZE false) UPDATE rw SET v = 0 WHERE k = 7`,
		`DROP TABLE IF EXISTS rw_copy`,
		`SELECT 7 AS k INTO rw_copy`,
		`DROP TABLE rw_copy`,
	} {
		waitFor(t, 10*time.Second, "reads on replicas", onReplica)
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM rw WHERE k = 7`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("after EXPLAIN ANALYZE INSERT and UPDATE: v = %d (%v), want 2", v, err)
	}
}

// readsOnReplica reports whether a read of key 7 (shard 0) is answered by
// a replica now.
func readsOnReplica(ctx context.Context, conn *pgx.Conn) bool {
	n, err := servedBy(ctx, conn, whoAmI+` FROM rw WHERE k = 7 UNION ALL `+whoAmI+` LIMIT 1`)
	return err == nil && strings.Contains(n, "replica")
}

// TestStagedWriteReadsPrimaries: the subquery of an UPDATE that pgshard
// runs first to find the keys to write (a staged write) reads the
// primaries, as the write's own subquery would on one server: with every
// replica's replay paused behind rows changed on the primaries, a read
// through pgshard still sees the replicas' old rows, but the write finds
// and updates the new ones.
func TestStagedWriteReadsPrimaries(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "max_lag: 1h, max_lag_bytes: 1000000000")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	if _, err := conn.Exec(ctx, `INSERT INTO rw (k, v) SELECT g, 0 FROM generate_series(0, 99) g`); err != nil {
		t.Fatal(err)
	}
	const marked = `SELECT count(*) FROM rw WHERE v = 7`
	// A session of its own: one that wrote reads from the primaries until
	// pgshard knows the replicas have its rows.
	conn = connect(t, p.DSN("app", "app-secret"))
	waitFor(t, 10*time.Second, "reads of every shard on replicas", func() bool {
		rows, err := conn.Query(ctx, whoAmI+` AS node, count(*) FROM rw GROUP BY 1`)
		if err != nil {
			return false
		}
		replicas := 0
		var node string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&node, &n}, func() error {
			if strings.Contains(node, "replica") {
				replicas++
			}
			return nil
		})
		return err == nil && replicas == len(pg.Shards)
	})
	for _, sh := range pg.Shards {
		for _, r := range sh.Replicas {
			if err := r.PauseReplay(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.ResumeReplay(context.Background()) })
		}
	}
	want := int64(0)
	for _, sh := range pg.Shards {
		tag, err := connect(t, sh.Primary.DSN()).Exec(ctx, `UPDATE rw SET v = 7 WHERE k % 10 = 0`)
		if err != nil {
			t.Fatal(err)
		}
		want += tag.RowsAffected()
	}
	var onReplicas int64
	if err := conn.QueryRow(ctx, marked).Scan(&onReplicas); err != nil || onReplicas != 0 {
		t.Fatalf("a read through pgshard found %d marked rows (%v); want 0 from the paused replicas", onReplicas, err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		tag, err := conn.Exec(ctx, `UPDATE rw SET v = 8 WHERE k IN (SELECT k FROM rw WHERE v = 7)`, mode)
		if err != nil || tag.RowsAffected() != want {
			t.Errorf("staged UPDATE (%v): %v %v; want UPDATE %d from the primaries' rows", mode, tag, err, want)
		}
		for _, sh := range pg.Shards {
			if _, err := connect(t, sh.Primary.DSN()).Exec(ctx, `UPDATE rw SET v = 7 WHERE v = 8`); err != nil {
				t.Fatal(err)
			}
		}
	}
}
