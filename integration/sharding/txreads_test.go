package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestReadsInATransactionAcrossShards: inside a transaction, a read that
// runs on several shards runs in the transaction on each of them, as one
// PostgreSQL would run it: under REPEATABLE READ it keeps seeing the
// transaction's snapshot while another client commits rows on every
// shard, and it sees the transaction's SET LOCALs. Each scenario runs
// through pgshard and on one PostgreSQL, by both protocols and in both
// pool modes, and the transcripts must match. (A shard takes its snapshot
// when the transaction first reaches it, docs/operations.md: the
// scenarios commit other clients' rows after that.)
func TestReadsInATransactionAcrossShards(t *testing.T) {
	k := keysOnShards(70000)
	k2 := keysOnShards(80000)
	scenarios := map[string][]step{
		"repeatable read keeps its snapshot": {
			{'a', "BEGIN ISOLATION LEVEL REPEATABLE READ"},
			{'a', "SELECT count(*), sum(v) FROM txr"},
			{'b', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', "SELECT count(*), sum(v) FROM txr"},
			{'a', fmt.Sprintf("SELECT count(*) FROM txr WHERE k = %d", k[1])},
			{'a', "SELECT k FROM txr ORDER BY k"},
			{'a', "COMMIT"},
			{'a', "SELECT count(*), sum(v) FROM txr"},
		},
		"a single-shard read first, then one over every shard": {
			{'a', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', "BEGIN ISOLATION LEVEL REPEATABLE READ"},
			{'a', fmt.Sprintf("SELECT count(*) FROM txr WHERE k = %d", k[2])},
			{'a', "SELECT sum(v) FROM txr"},
			{'b', fmt.Sprintf("UPDATE txr SET v = v + 10 WHERE k IN (%d, %d, %d)", k[0], k[1], k[2])},
			{'a', "SELECT sum(v) FROM txr"},
			{'a', "ROLLBACK"},
			{'a', "SELECT sum(v) FROM txr"},
		},
		"read committed sees each commit": {
			{'a', "BEGIN"},
			{'a', "SELECT count(*) FROM txr"},
			{'b', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 4), (%d, 5)", k2[0], k2[2])},
			{'a', "SELECT count(*) FROM txr"},
			{'a', "COMMIT"},
		},
		"SET LOCAL holds for the read": {
			{'a', "BEGIN"},
			{'a', "SET LOCAL statement_timeout = '4s'"},
			{'a', "SELECT DISTINCT current_setting('statement_timeout') FROM txr"},
			{'a', "COMMIT"},
			{'a', "SELECT DISTINCT current_setting('statement_timeout') FROM txr"},
		},
		"reads and a write on one shard": {
			{'a', "BEGIN ISOLATION LEVEL REPEATABLE READ"},
			{'a', "SELECT count(*) FROM txr"},
			{'b', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 6)", k2[1])},
			{'a', fmt.Sprintf("UPDATE txr SET v = v * 100 WHERE k = %d", k[0])},
			{'a', "SELECT count(*), sum(v) FROM txr"},
			{'a', "COMMIT"},
			{'a', "SELECT count(*), sum(v) FROM txr"},
		},
	}
	runScenarios(t, scenarios, nil)
}

// runScenarios compares each scenario's transcripts with one PostgreSQL's
// in both pool modes and by both protocols, runs more (if not nil) in each
// pool mode, and checks that no prepared transaction is left behind.
func runScenarios(t *testing.T, scenarios map[string][]step, more func(ctx context.Context, t *testing.T, p *pgshardtest.Proxy)) {
	runScenariosWith(t, scenarioOptions{poolSize: 8, modes: []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}}, scenarios, more)
}

// scenarioOptions are runScenariosWith's pool size and protocols.
type scenarioOptions struct {
	poolSize int
	modes    []pgx.QueryExecMode
}

// runScenariosWith is runScenarios with another pool size or protocols.
func runScenariosWith(t *testing.T, o scenarioOptions, scenarios map[string][]step, more func(ctx context.Context, t *testing.T, p *pgshardtest.Proxy)) {
	for _, pool := range []string{"transaction", "session"} {
		t.Run(pool+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, 2*time.Minute)
			p := startPgshard(t, fmt.Sprintf("pool: {mode: %s, size: %d, queue_timeout: 10s}", pool, o.poolSize))
			for _, mode := range o.modes {
				for name, steps := range scenarios {
					t.Run(fmt.Sprintf("%s/%v", name, mode), func(t *testing.T) {
						compareTranscripts(ctx, t, p, mode, steps)
					})
				}
			}
			if more != nil {
				more(ctx, t, p)
			}
			if n := preparedLeft(ctx, t); n != 0 {
				t.Errorf("%d prepared transactions left behind", n)
			}
		})
	}
}

// A step of a transcript is run by client a or b; its answer goes in the
// transcript.
type step struct {
	client byte
	sql    string
}

// copyStep is a step that runs COPY ... FROM STDIN with data.
func copyStep(client byte, stmt, data string) step { return step{client, stmt + copyData + data} }

// copyData separates a copyStep's statement from its data: a NUL, which
// SQL text cannot hold.
const copyData = "\x00"

// compareTranscripts runs steps on a fresh table txr (k bigint PRIMARY
// KEY, v int NOT NULL) through pgshard and on one PostgreSQL, each with
// two clients, and reports the steps whose answers differ.
func compareTranscripts(ctx context.Context, t *testing.T, p *pgshardtest.Proxy, mode pgx.QueryExecMode, steps []step) {
	t.Helper()
	want := transcript(ctx, t, connect(t, single.Shards[0].Primary.DSN()), connect(t, single.Shards[0].Primary.DSN()), mode, steps)
	got := transcript(ctx, t, connect(t, p.DSN("app", "app-secret")), connect(t, p.DSN("app", "app-secret")), mode, steps)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d:\n pgshard:    %s\n PostgreSQL: %s", i, got[i], want[i])
		}
	}
}

// transcript runs steps and returns each one's rows and command tag, or
// its error's SQLSTATE.
func transcript(ctx context.Context, t *testing.T, a, b *pgx.Conn, mode pgx.QueryExecMode, steps []step) []string {
	t.Helper()
	for _, q := range []string{"DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)"} {
		if _, err := a.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var out []string
	for _, st := range steps {
		c := a
		if st.client == 'b' {
			c = b
		}
		answer := ""
		var err error
		stmt, data, isCopy := strings.Cut(st.sql, copyData)
		switch {
		case isCopy:
			var tag pgconn.CommandTag
			tag, err = c.PgConn().CopyFrom(ctx, strings.NewReader(data), stmt)
			answer = tag.String()
		case strings.HasPrefix(st.sql, "PREPARE "):
			// Sent as it is: pgx would take its $n for its own.
			var res []*pgconn.Result
			res, err = c.PgConn().Exec(ctx, st.sql).ReadAll()
			if err == nil {
				answer = " " + res[0].CommandTag.String()
			}
		default:
			rows, qerr := c.Query(ctx, st.sql, mode)
			if qerr != nil {
				err = qerr
				break
			}
			err = qerr
			var got []string
			got, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				v, err := r.Values()
				return fmt.Sprint(v...), err
			})
			answer = strings.Join(got, ",") + " " + rows.CommandTag().String()
		}
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe):
			answer = "ERROR " + pe.Code
		case err != nil:
			t.Fatalf("%c: %s: %v", st.client, st.sql, err)
		}
		out = append(out, fmt.Sprintf("%c %s -> %s", st.client, stmt, answer))
	}
	return out
}
