package sharding_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestLostConnectionEndsTheTransaction: when a server connection of a
// transaction dies (its backend is terminated), the transaction is rolled
// back on every shard, not only there, and the session holds a failed
// transaction, as after an error on one server: the client's next
// statements are refused with 25P02 rather than run on their own, its
// COMMIT is answered ROLLBACK, and nothing of the transaction is kept.
// Over several shards and on one, by both protocols and in both pool
// modes.
func TestLostConnectionEndsTheTransaction(t *testing.T) {
	k := keysOnShards(99000)
	for _, pool := range []string{"transaction", "session"} {
		t.Run(pool+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, 2*time.Minute)
			p := startPgshard(t, "pool: {mode: "+pool+", size: 8, queue_timeout: 10s}")
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
				for _, spread := range []bool{true, false} {
					t.Run(fmt.Sprintf("%v/spread=%v", mode, spread), func(t *testing.T) {
						conn := connect(t, p.DSN("app", "app-secret"))
						exec := func(q string) error {
							_, err := conn.Exec(ctx, q, mode)
							return err
						}
						mustExec(ctx, t, conn, "DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)",
							fmt.Sprintf("INSERT INTO txr VALUES (%d, 0), (%d, 0), (%d, 0)", k[0], k[1], k[2]), "BEGIN")
						last := k[0]
						if err := exec(fmt.Sprintf("UPDATE txr SET v = 1 WHERE k = %d", k[0])); err != nil {
							t.Fatal(err)
						}
						if spread {
							last = k[1]
							if err := exec(fmt.Sprintf("UPDATE txr SET v = 1 WHERE k = %d", k[1])); err != nil {
								t.Fatal(err)
							}
						}
						var pid int
						if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT pg_backend_pid() FROM txr WHERE k = %d", last), mode).Scan(&pid); err != nil {
							t.Fatal(err)
						}
						shard := 0
						if spread {
							shard = 1
						}
						if _, err := connect(t, sharded.Shards[shard].Primary.DSN()).Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
							t.Fatal(err)
						}
						time.Sleep(100 * time.Millisecond)
						if err := exec(fmt.Sprintf("UPDATE txr SET v = 2 WHERE k = %d", last)); err == nil {
							t.Fatal("a statement on the lost connection succeeded")
						}
						var pe *pgconn.PgError
						for _, q := range []string{
							fmt.Sprintf("SELECT v FROM txr WHERE k = %d", k[0]),
							fmt.Sprintf("UPDATE txr SET v = 3 WHERE k = %d", k[2]),
							"SELECT count(*) FROM txr",
						} {
							if err := exec(q); !errors.As(err, &pe) || pe.Code != "25P02" {
								t.Errorf("%s after the lost connection: %v, want 25P02", q, err)
							}
						}
						tag, err := conn.Exec(ctx, "COMMIT", mode)
						if err != nil || tag.String() != "ROLLBACK" {
							t.Errorf("COMMIT of the lost transaction: %q, %v, want ROLLBACK", tag, err)
						}
						rows, _ := queryRows(ctx, t, conn, "SELECT v FROM txr")
						if fmt.Sprint(rows) != "[0 0 0]" {
							t.Errorf("rows after the lost transaction: %v, want all 0", rows)
						}
						// The next transaction works.
						mustExec(ctx, t, conn, "BEGIN", fmt.Sprintf("UPDATE txr SET v = 4 WHERE k = %d", k[1]), "COMMIT")
					})
				}
			}
		})
	}
}
