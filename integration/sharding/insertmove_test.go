package sharding_test

import (
	"context"
	"errors"
	"slices"
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
// PostgreSQL in both pool modes and both protocols; the rows' placement is
// checked on the shards.
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
	// Both protocols: through the extended one (pgjdbc's default) the move
	// runs in the batch's transaction.
	runScenarios(t, scenarios, func(ctx context.Context, t *testing.T, p *pgshardtest.Proxy) {
		placedKeys(ctx, t, "txr")
		// With a parameter or RETURNING the COPY cannot carry the rows:
		// pgshard reads them and inserts them from arrays cut per shard
		// (staged), RETURNING rows in the SELECT's order.
		rows, err := connect(t, p.DSN("app", "app-secret")).Query(ctx, `INSERT INTO txr (k, v) SELECT g, $1::int FROM generate_series(1001, 1009) g RETURNING k`, pgx.QueryExecModeCacheStatement, 1)
		var got []int64
		if err == nil {
			got, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if want := []int64{1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009}; err != nil || !slices.Equal(got, want) {
			t.Errorf("with a parameter and RETURNING: %v (%v), want %v", got, err, want)
		}
		placedKeys(ctx, t, "txr")
		// A pipelined batch is one implicit transaction, as on one
		// server: a later statement's error takes the moved rows back.
		conn := connect(t, p.DSN("app", "app-secret"))
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO txr (k, v) SELECT g, 1 FROM generate_series(300, 330) g`)
		b.Queue(`SELECT 1 / 0`)
		if err := conn.SendBatch(ctx, b).Close(); err == nil {
			t.Error("a batch dividing by zero succeeded")
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM txr WHERE k BETWEEN 300 AND 330`).Scan(&n); err != nil || n != 0 {
			t.Errorf("after the failed batch: %d moved rows kept (err %v), want 0", n, err)
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO txr (k, v) SELECT g, 1 FROM generate_series(300, 330) g`)
		b.Queue(`SELECT count(*) FROM txr WHERE k BETWEEN 300 AND 330`)
		br := conn.SendBatch(ctx, b)
		if tag, err := br.Exec(); err != nil || tag.String() != "INSERT 0 31" {
			t.Errorf("a batch's move: %q, %v; want INSERT 0 31", tag, err)
		}
		if err := br.QueryRow().Scan(&n); err != nil || n != 31 {
			t.Errorf("the batch's next statement sees %d moved rows (err %v), want 31", n, err)
		}
		if err := br.Close(); err != nil {
			t.Error(err)
		}
		placedKeys(ctx, t, "txr")
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
