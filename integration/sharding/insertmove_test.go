package sharding_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestInsertSelectOfUnshardedRowsMatchesOnePostgres: INSERT ... SELECT
// into a sharded table from rows that are not sharded (generate_series, a
// staging table on the default shard) computes each row's key, so pgshard
// reads the rows where they are and sends each to the shard owning its
// key, atomically (streaming outside a transaction, a SELECT failing
// midway keeps nothing), inside the client's transaction too. Compared with one
// PostgreSQL in both pool modes; the rows' placement is checked on the
// shards.
func TestInsertSelectOfUnshardedRowsMatchesOnePostgres(t *testing.T) {
	count := step{'a', `SELECT count(*), coalesce(sum(v), 0) FROM txr`}
	staging := []step{{'a', `DROP TABLE IF EXISTS staging`}, {'a', `CREATE TABLE staging (k bigint, v int)`},
		{'a', `INSERT INTO staging SELECT g, g % 7 FROM generate_series(100, 160) g`}}
	scenarios := map[string][]step{
		"from a function": {
			{'a', `INSERT INTO txr (k, v) SELECT g, g * 2 FROM generate_series(1, 50) g`}, count,
			{'a', `INSERT INTO txr (v, k) SELECT 1, g FROM generate_series(51, 60) g WHERE g % 2 = 0`}, count,
		},
		"rolled back": {
			{'a', `BEGIN`}, {'a', `INSERT INTO txr (k, v) SELECT g, 1 FROM generate_series(1, 30) g`}, count,
			{'b', `SELECT count(*) FROM txr`}, {'a', `ROLLBACK`}, count,
		},
		"the SELECT fails midway": {
			{'a', `INSERT INTO txr (k, v) SELECT g, 10 / (g - 40) FROM generate_series(1, 60) g`}, count,
			{'a', `BEGIN`}, {'a', `INSERT INTO txr VALUES (70, 1)`},
			{'a', `INSERT INTO txr (k, v) SELECT g, 10 / (g - 40) FROM generate_series(1, 60) g`},
			{'a', `SELECT 1`}, {'a', `ROLLBACK`}, count,
		},
		"a duplicate key fails the whole statement": {
			{'a', `INSERT INTO txr VALUES (5, 1)`}, {'a', `INSERT INTO txr (k, v) SELECT g, 1 FROM generate_series(1, 10) g`}, count,
			{'a', `INSERT INTO txr (k, v) SELECT g, NULL FROM generate_series(20, 25) g`}, count,
		},
		"from an unsharded table, in a transaction that wrote it": append(append([]step{}, staging...),
			step{'a', `BEGIN`}, step{'a', `INSERT INTO staging VALUES (200, 3)`},
			step{'a', `INSERT INTO txr SELECT * FROM staging`}, count, step{'a', `COMMIT`}, count,
			step{'a', `DROP TABLE staging`}),
	}
	// The simple protocol only: through the extended one such a statement
	// is refused (the split COPY answers in the simple protocol's flow).
	simple := scenarioOptions{poolSize: 8, modes: []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol}}
	runScenariosWith(t, simple, scenarios, func(ctx context.Context, t *testing.T, p *pgshardtest.Proxy) {
		placedKeys(ctx, t, "txr")
		// (pgx's Exec without arguments would use the simple protocol.)
		rows, err := connect(t, p.DSN("app", "app-secret")).Query(ctx, `INSERT INTO txr (k, v) SELECT g, 1 FROM generate_series(1, 3) g`, pgx.QueryExecModeCacheStatement)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("through the extended protocol: %v, want 0A000", err)
		}
	})
}

// TestCancelledMoveKeepsNothing: a CancelRequest reaches the shard
// running a move's SELECT, which ends with 57014 within two seconds, and
// none of the rows already sent to their shards is kept.
func TestCancelledMoveKeepsNothing(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	mustExec(ctx, t, connect(t, p.DSN("app", "app-secret")), `DROP TABLE IF EXISTS txr`, `CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)`)
	pc, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	// Streamed outside a transaction, read whole inside one.
	for _, begin := range []string{"", "BEGIN"} {
		if begin != "" {
			if _, err := pc.Exec(ctx, begin).ReadAll(); err != nil {
				t.Fatal(err)
			}
		}
		go func() {
			time.Sleep(500 * time.Millisecond)
			_ = pc.CancelRequest(context.Background())
		}()
		start := time.Now()
		// The first rows come at once; the last one only after 30 s.
		_, err = pc.Exec(ctx, `INSERT INTO txr (k, v) SELECT g, CASE WHEN g < 1000 THEN 1 ELSE (SELECT 1 FROM pg_sleep(30)) END
			FROM generate_series(1, 1000) g`).ReadAll()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" || time.Since(start) > 2*time.Second {
			t.Fatalf("cancelled move (%q): %v after %s, want 57014 within 2s", begin, err, time.Since(start))
		}
		if begin != "" {
			if _, err := pc.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(placedKeys(ctx, t, "txr")); n != 0 {
			t.Fatalf("%d rows kept after the cancelled move (%q)", n, begin)
		}
		if _, err := pc.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
			t.Fatalf("session after cancel: %v", err)
		}
	}
}
