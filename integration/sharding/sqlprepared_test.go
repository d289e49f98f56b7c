package sharding_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestSQLPreparedStatementsMatchOnePostgres: SQL-level PREPARE, EXECUTE
// and DEALLOCATE over three shards, in both pool modes (transaction
// pooling gives each statement any server connection): each client's
// statements are its own, EXECUTE runs on the shard its arguments name,
// and errors, failed transactions and rollbacks (which do not undo a
// PREPARE) behave as on one server. Simple protocol, as psql and pg_dump
// send them.
func TestSQLPreparedStatementsMatchOnePostgres(t *testing.T) {
	k := keysOnShards(60000)
	scenarios := map[string][]step{
		"each client's own statements": {
			{'a', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', "PREPARE q(bigint) AS SELECT k, v FROM txr WHERE k = $1"},
			{'a', fmt.Sprintf("EXECUTE q(%d)", k[0])}, {'a', fmt.Sprintf("EXECUTE q(%d)", k[1])}, {'a', fmt.Sprintf("EXECUTE q('%d')", k[2])},
			{'b', "EXECUTE q(1)"}, {'b', "PREPARE q(int) AS SELECT $1 * 2"}, {'b', "EXECUTE q(21)"},
			{'a', fmt.Sprintf("EXECUTE q(%d)", k[0])}, {'a', fmt.Sprintf("EXECUTE q(%d)", k[1])}, {'b', "EXECUTE q(4)"},
			{'a', "DEALLOCATE q"}, {'a', "EXECUTE q(1)"}, {'a', "DEALLOCATE PREPARE q"},
			{'a', "PREPARE q AS SELECT 'again'"}, {'a', "EXECUTE q"}, {'b', "EXECUTE q(5)"},
		},
		"writes in and out of transactions": {
			{'a', "PREPARE ins(bigint, int) AS INSERT INTO txr (k, v) VALUES ($1, $2) RETURNING v"},
			{'a', fmt.Sprintf("EXECUTE ins(%d, 10)", k[0])}, {'a', "BEGIN"}, {'a', fmt.Sprintf("EXECUTE ins(%d, 20)", k[1])},
			{'a', fmt.Sprintf("EXECUTE ins(%d, 30)", k[2])}, {'b', "SELECT count(*) FROM txr"}, {'a', "COMMIT"},
			{'a', "BEGIN"}, {'a', fmt.Sprintf("EXECUTE ins(%d, 40)", k[0]+3)}, {'a', "ROLLBACK"},
			{'b', "SELECT k, v FROM txr ORDER BY k"},
		},
		"errors and rollbacks": {
			{'a', "PREPARE bad AS SELECT * FROM nowhere"}, {'a', "EXECUTE bad"},
			{'a', "PREPARE dup AS SELECT 1"}, {'a', "PREPARE dup AS SELECT 2"}, {'a', "EXECUTE dup"},
			{'a', "BEGIN"}, {'a', "SELECT 1/0"}, {'a', "EXECUTE dup"}, {'a', "PREPARE later AS SELECT 3"}, {'a', "ROLLBACK"},
			{'a', "BEGIN"}, {'a', "PREPARE intx AS SELECT 4"}, {'a', "DEALLOCATE dup"}, {'a', "ROLLBACK"},
			{'a', "EXECUTE intx"}, {'a', "EXECUTE dup"}, {'a', "DEALLOCATE ALL"}, {'a', "EXECUTE intx"},
			{'a', "PREPARE intx AS SELECT 5"}, {'a', "EXECUTE intx"}, {'a', "DISCARD ALL"}, {'a', "EXECUTE intx"},
		},
		"keys of other declared types": {
			{'a', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', "PREPARE f(float8) AS SELECT k, v FROM txr WHERE k = $1"},
			{'a', fmt.Sprintf("EXECUTE f(%d)", k[1])}, {'a', fmt.Sprintf("EXECUTE f(%d.0)", k[2])}, {'a', fmt.Sprintf("EXECUTE f(%d.5)", k[0])},
			{'a', "PREPARE n(numeric, numeric) AS SELECT k, v FROM txr WHERE k = ANY(ARRAY[$1, $2])"},
			{'a', fmt.Sprintf("EXECUTE n(%d.000, %d)", k[0], k[0])}, {'a', fmt.Sprintf("EXECUTE n(%d.25, 0.5)", k[1])},
		},
		"statements over several shards": {
			{'a', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', "PREPARE agg(int) AS SELECT count(*), sum(v), avg(v) FROM txr WHERE v >= $1"},
			{'a', "EXECUTE agg(1)"}, {'a', "EXECUTE agg(3)"}, {'b', "EXECUTE agg(1)"},
			{'a', "PREPARE top AS SELECT k, v FROM txr ORDER BY v DESC LIMIT 2"}, {'a', "EXECUTE top"},
			{'a', "PREPARE pick(bigint, bigint) AS SELECT k, v FROM txr WHERE k IN ($1, $2) ORDER BY k"},
			{'a', fmt.Sprintf("EXECUTE pick(%d, %d)", k[0], k[2])},
			{'a', "PREPARE bump(int, bigint, bigint) AS UPDATE txr SET v = v + $1 WHERE k IN ($2, $3)"},
			{'a', "BEGIN"}, {'a', fmt.Sprintf("EXECUTE bump(10, %d, %d)", k[0], k[1])}, {'b', "EXECUTE agg(1)"}, {'a', "EXECUTE agg(1)"}, {'a', "ROLLBACK"},
			{'a', fmt.Sprintf("EXECUTE bump(100, %d, %d)", k[1], k[2])}, {'b', "SELECT k, v FROM txr ORDER BY k"},
			{'a', "PREPARE two(bigint, bigint, int) AS INSERT INTO txr (k, v) VALUES ($1, $3), ($2, $3) RETURNING k, v"},
			{'a', fmt.Sprintf("EXECUTE two(%d, %d, 7)", k[0]+3, k[1]+3)}, {'a', "EXECUTE agg(0)"},
			{'a', "PREPARE odd(date, int[]) AS SELECT count(*), max($1), max($2[2]) FROM txr"}, {'a', "EXECUTE odd('2026-01-01', '{5,6}')"},
		},
		"catalog queries as pg_dump prepares them": {
			{'a', "PREPARE cols(pg_catalog.oid) AS SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attnum > 0 ORDER BY attnum"},
			{'a', "EXECUTE cols('txr'::regclass)"}, {'b', "SELECT 1"}, {'a', "EXECUTE cols('txr'::regclass)"},
		},
	}
	// Two connections per shard, so that clients take turns on them.
	runScenariosWith(t, scenarioOptions{poolSize: 2, modes: []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol}}, scenarios, nil)
}

// SQL's DEALLOCATE frees protocol-level statements too, PREPARE and Parse
// naming statements in one namespace: Rails' statement cache and PHP's PDO
// free theirs with `DEALLOCATE name` as a query. Through pgshard the name
// must be free again afterwards, exactly as on one PostgreSQL.
func TestDeallocateFreesProtocolStatements(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
			transcript := func(dsn string) string {
				c, err := pgconn.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(ctx)
				var b strings.Builder
				note := func(what string, err error) {
					var pe *pgconn.PgError
					switch {
					case errors.As(err, &pe):
						fmt.Fprintf(&b, "%s: %s\n", what, pe.Code)
					case err != nil:
						t.Fatalf("%s: %v", what, err)
					default:
						fmt.Fprintf(&b, "%s: ok\n", what)
					}
				}
				const q = "SELECT $1::int + 1"
				_, err = c.Prepare(ctx, "pdo_stmt_1", q, nil)
				note("prepare", err)
				_, err = c.Exec(ctx, "DEALLOCATE pdo_stmt_1").ReadAll()
				note("deallocate", err)
				_, err = c.Prepare(ctx, "pdo_stmt_1", q, nil)
				note("prepare again", err)
				note("execute", c.ExecPrepared(ctx, "pdo_stmt_1", [][]byte{[]byte("3")}, nil, nil).Read().Err)
				_, err = c.Exec(ctx, "DEALLOCATE PREPARE pdo_stmt_1").ReadAll()
				note("deallocate prepare", err)
				note("execute deallocated", c.ExecPrepared(ctx, "pdo_stmt_1", [][]byte{[]byte("3")}, nil, nil).Read().Err)
				_, err = c.Exec(ctx, "DEALLOCATE pdo_stmt_1").ReadAll()
				note("deallocate twice", err)
				_, err = c.Exec(ctx, "BEGIN").ReadAll()
				note("begin", err)
				_, err = c.Prepare(ctx, "a1", q, nil)
				note("prepare in a transaction", err)
				_, err = c.Exec(ctx, "DEALLOCATE a1").ReadAll()
				note("deallocate in a transaction", err)
				_, err = c.Exec(ctx, "COMMIT").ReadAll()
				note("commit", err)
				_, err = c.Prepare(ctx, "a1", q, nil)
				note("prepare after", err)
				return b.String()
			}
			want := transcript(single.Shards[0].Primary.DSN())
			if got := transcript(p.DSN("app", "app-secret")); got != want {
				t.Errorf("through pgshard:\n%s\none PostgreSQL:\n%s", got, want)
			}
			if !strings.Contains(want, "prepare again: ok") || !strings.Contains(want, "execute deallocated: 26000") {
				t.Errorf("PostgreSQL's transcript is not what the test expects:\n%s", want)
			}
		})
	}
}
