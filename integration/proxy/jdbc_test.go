package proxy_test

import (
	"testing"
	"time"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// A JDBC application through pgshard sees exactly what it sees on
// PostgreSQL: testdata/jdbc/Transcript.java (its header lists the pgjdbc
// habits it covers) runs once directly and once through pgshard, each in a
// schema of its own, and the transcripts must be identical. Both pool
// modes: in session pooling pgjdbc's transactions (BEGIN through the
// extended protocol, savepoints, portals read in chunks) run on the
// session's own connection, their BEGIN deferred to their first statement.
func TestJDBCTranscriptMatchesPostgres(t *testing.T) {
	jdbc := pgshardtest.NeedJDBC(t)
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			// Enough connections for the transcript's concurrent clients,
			// which session pooling gives one each.
			p := startProxy(t, proxyOptions{pool: "mode: " + mode + "\nsize: 12"})
			ctx := ctxFor(t, 3*time.Minute)
			admin := connect(t, pg.Shards[0].Primary.DSN())
			if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS jdbc_direct, jdbc_proxy CASCADE; CREATE SCHEMA jdbc_direct; CREATE SCHEMA jdbc_proxy; GRANT ALL ON SCHEMA jdbc_proxy TO PUBLIC"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = admin.Exec(ctxFor(t, time.Minute), "DROP SCHEMA IF EXISTS jdbc_direct, jdbc_proxy CASCADE")
			})

			jdbc.CompareTranscripts(t, ctx, "testdata/jdbc/Transcript.java",
				pgshardtest.Endpoint{URL: pgshardtest.URL(pg.Shards[0].Primary.Addr(), "postgres", "jdbc_direct"), User: "postgres", Password: cluster.Password},
				pgshardtest.Endpoint{URL: pgshardtest.URL(p.Addr, "app", "jdbc_proxy"), User: "app", Password: "app-secret"},
				[]string{
					"prepared int 7 row 14 | V7 |",
					"batch mixed counts [10, 5, 1]",
					"tx result row 1003 | kept too |",
					"tx isolation row serializable |",
					"fetch interleaved a1:11 b1 a2:21 b2",
					"error syntax 42601 ERROR: syntax error at or near \"SELEC\"   Position: 1",
					"timeout 57014 within 3s: true",
					"keys deleted row 3 | deleted |",
					"copy out rows 100 same as copied in: true",
					"simple mode syntax 42601 ERROR: syntax error at or near \"items\"   Position: 28",
					"concurrent clients all ok",
					"concurrent total row 300 | 2400 |",
					"done",
				})
		})
	}
}
