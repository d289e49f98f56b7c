package sharding_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
