package sharding_test

import (
	"testing"
	"time"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// A JDBC application over a sharded table gets through pgshard exactly
// the answers one PostgreSQL gives: testdata/jdbc/Sharded.java (its header
// lists what it covers) runs against both and the transcripts must match.
func TestJDBCOverShardsMatchesOnePostgres(t *testing.T) {
	jdbc := pgshardtest.NeedJDBC(t)
	// Both pool modes: in session pooling the session's own connections
	// carry the transactions, whose BEGIN (sent by pgjdbc through the
	// extended protocol) waits for the shard of their first statement.
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, 3*time.Minute)
			p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
			jdbc.CompareTranscripts(t, ctx, "testdata/jdbc/Sharded.java",
				pgshardtest.Endpoint{URL: pgshardtest.URL(single.Shards[0].Primary.Addr(), "postgres", "public"), User: "postgres", Password: cluster.Password},
				pgshardtest.Endpoint{URL: pgshardtest.URL(p.Addr, "app", "public"), User: "app", Password: "app-secret"},
				[]string{
					"batch insert 120 statements, 120 rows",
					"failing batch 23505",
					"after failing batch: count=120 count=0",
					"fetch in chunks: 120 rows, first 120, sum 7260",
					"batch delete in a transaction: 11",
					"double key 77: id=77 owner=owner-5",
					"double key 7.5 done",
					"decimal key 45.000: id=45 owner=owner-0",
					"float key 47: id=47 owner=owner-2",
					"stored with other types: id=500 owner=other type",
					"stored with other types: id=501 owner=other type",
					"moved 41 rows",
					"a moved row by key: id=617 balance=7.00",
					"duplicate 23505",
					"deposit 23: 86.35",
					"opened by key 903: owner=opened balance=0.00",
					"generated key: id=6 account=6 amount=6.60",
					"generated-key batch 14 statements, 14 rows",
					"ledger: id=20 account=20 amount=10.00",
					"notifications [jjobs one, jjobs two]",
					"done",
				})
			// The table was spread: every shard holds some of its rows.
			for i, sh := range sharded.Shards {
				var n int
				if err := connect(t, sh.Primary.DSN()).QueryRow(ctx, `SELECT count(*) FROM jaccounts`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Errorf("shard %d holds no rows of jaccounts", i)
				}
			}
		})
	}
}
