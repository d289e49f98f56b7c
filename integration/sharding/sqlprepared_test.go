package sharding_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
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
