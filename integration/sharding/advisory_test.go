package sharding_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestAdvisoryLocksAreOneLockSpace: two clients whose transactions live on
// different shards still exclude each other with the same advisory lock,
// as on one server: advisory locks are taken on the default shard (a
// query that would take one where its sharded rows live is refused:
// router/testdata/routes.golden).
// Compared with one PostgreSQL in both pool modes and protocols.
func TestAdvisoryLocksAreOneLockSpace(t *testing.T) {
	k := keysOnShards(70000)
	ins := func(key int64) string { return fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1)", key) }
	runScenarios(t, map[string][]step{
		"transaction locks": {
			{'a', "BEGIN"}, {'a', ins(k[1])}, {'a', "SELECT pg_advisory_xact_lock(4242)"},
			{'b', "BEGIN"}, {'b', ins(k[2])}, {'b', "SELECT pg_try_advisory_xact_lock(4242)"},
			{'a', "COMMIT"}, {'b', "SELECT pg_try_advisory_xact_lock(4242)"}, {'b', "ROLLBACK"},
		},
	}, func(ctx context.Context, t *testing.T, p *pgshardtest.Proxy) {
		// Session locks, which transaction pooling refuses: each client's
		// session sits on another shard.
		if !strings.Contains(t.Name(), "session") {
			return
		}
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			compareTranscripts(ctx, t, p, mode, []step{
				{'a', fmt.Sprintf("SELECT count(*) FROM txr WHERE k = %d", k[1])}, {'a', "SELECT pg_try_advisory_lock(4343)"},
				{'b', fmt.Sprintf("SELECT count(*) FROM txr WHERE k = %d", k[2])}, {'b', "SELECT pg_try_advisory_lock(4343)"},
				{'a', "SELECT pg_advisory_unlock(4343)"}, {'b', "SELECT pg_try_advisory_lock(4343)"}, {'b', "SELECT pg_advisory_unlock_all()"},
			})
		}
	})
}

// pool.session_state: pin lets transaction pooling take session advisory
// locks over several shards: the session keeps its connections from the
// lock on, so the lock holds across its transactions, whatever shards
// they write on, as on one PostgreSQL (both protocols).
func TestSessionLocksPinTransactionPooling(t *testing.T) {
	k, k2 := keysOnShards(71000), keysOnShards(72000)
	p := startPgshard(t, "pool: {mode: transaction, size: 8, queue_timeout: 10s, session_state: pin}")
	ctx := ctxFor(t, 2*time.Minute)
	ins := func(key int64) string { return fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1)", key) }
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			compareTranscripts(ctx, t, p, mode, []step{
				{'a', ins(k[0])}, {'a', "SELECT pg_try_advisory_lock(4545)"},
				{'a', ins(k[1])}, {'a', "BEGIN"}, {'a', ins(k[2])}, {'a', "COMMIT"},
				{'b', ins(k2[0])}, {'b', "SELECT pg_try_advisory_lock(4545)"},
				{'a', "SELECT count(*) FROM txr"}, {'b', "SELECT pg_try_advisory_lock(4545)"},
				{'a', "SELECT pg_advisory_unlock(4545)"}, {'b', "SELECT pg_try_advisory_lock(4545)"},
				{'b', "SELECT pg_advisory_unlock_all()"},
			})
		})
	}
}
