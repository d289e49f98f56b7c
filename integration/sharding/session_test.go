package sharding_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSessionPoolingUsesTheSessionsOwnConnections: in session pooling a
// client holds one server connection per shard it has used, and a statement
// over several shards — a read, a write, inside a transaction or not — runs
// on those, not on more from the pool. With a pool exactly as large as the
// number of clients, anything else would wait for a connection nobody
// gives back. Session state (a SET) holds on every shard it reaches.
func TestSessionPoolingUsesTheSessionsOwnConnections(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	const clients = 2
	p := startPgshard(t, fmt.Sprintf("pool: {mode: session, size: %d, queue_timeout: 3s}", clients))
	var conns []*pgx.Conn
	for range clients {
		conns = append(conns, connect(t, p.DSN("app", "app-secret")))
	}
	execOnEach(ctx, t, conns[:1], `DROP TABLE IF EXISTS placed`, `CREATE TABLE placed (k bigint PRIMARY KEY, src text NOT NULL)`)
	k := keysOnShards(70000)
	for i, c := range conns {
		// Every client takes a connection on every shard, and keeps them.
		execOnEach(ctx, t, []*pgx.Conn{c}, `SET application_name = 'client`+fmt.Sprint(i)+`'`)
		for _, key := range k {
			execOnEach(ctx, t, []*pgx.Conn{c}, fmt.Sprintf(`SELECT * FROM placed WHERE k = %d`, key))
		}
	}
	for i, c := range conns {
		base := int64(100000 * (i + 1))
		steps := []string{
			`SELECT count(*) FROM placed`,
			fmt.Sprintf(`INSERT INTO placed VALUES (%d, 'a'), (%d, 'a'), (%d, 'a')`, k[0]+base, k[1]+base, k[2]+base),
			fmt.Sprintf(`UPDATE placed SET src = 'b' WHERE k IN (%d, %d, %d)`, k[0]+base, k[1]+base, k[2]+base),
			`BEGIN`,
			fmt.Sprintf(`INSERT INTO placed VALUES (%d, 'tx'), (%d, 'tx'), (%d, 'tx')`, k[0]+base+1, k[1]+base+1, k[2]+base+1),
			`SELECT count(*) FROM placed`,
			`COMMIT`,
		}
		for _, q := range steps {
			if _, err := c.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("client %d: %s: %v", i, q, err)
			}
		}
		rows, err := c.Query(ctx, `SELECT DISTINCT current_setting('application_name') FROM placed`)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("client%d", i); len(names) != 1 || names[0] != want {
			t.Errorf("client %d: application_name on the shards %q, want only %q", i, names, want)
		}
	}
	var n int
	if err := conns[0].QueryRow(ctx, `SELECT count(*) FROM placed`).Scan(&n); err != nil || n != 6*clients {
		t.Fatalf("rows: %d %v, want %d", n, err, 6*clients)
	}
}

// TestFailedStatementOverShardsLeavesSessionUsable: an extended-protocol
// statement over several shards that the shards fail — at Parse (an
// unknown column) or while running (division by zero) — is answered with
// the error, and the session's next statements run, in both pool modes,
// in a transaction too. In session pooling the session keeps its shard
// connections; one left waiting for a Sync after the error used to ignore
// everything after it, and the session hung.
func TestFailedStatementOverShardsLeavesSessionUsable(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			through, ref := loadedPair(ctx, t, startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}"))
			want, _ := queryRows(ctx, t, ref, `SELECT count(*) FROM users WHERE score > 10`)
			failing := []string{`SELECT count(nope) FROM users WHERE score > $1`, `SELECT count(*) FROM users WHERE score / ($1 - $1) > 0`}
			for _, tx := range []bool{false, true} {
				for _, bad := range failing {
					if tx {
						if _, err := through.Exec(ctx, `BEGIN`); err != nil {
							t.Fatal(err)
						}
					}
					rr := through.PgConn().ExecParams(ctx, bad, [][]byte{[]byte("10")}, nil, nil, nil)
					if res := rr.Read(); res.Err == nil {
						t.Fatalf("%s: no error", bad)
					}
					if tx {
						if _, err := through.Exec(ctx, `ROLLBACK`); err != nil {
							t.Fatalf("ROLLBACK after %s: %v", bad, err)
						}
					}
					got, _ := queryRows(ctx, t, through, `SELECT count(*) FROM users WHERE score > $1`, 10)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("after %s (transaction %v): got %v, want %v", bad, tx, got, want)
					}
				}
			}
		})
	}
}

// In session pooling, a statement that leaves state in the server session
// (a temporary table made on every shard, a LISTEN) runs on the session's
// own connections even in a pipeline that has already used one of them:
// taken from the pool instead, that shard's temporary table would have gone
// back to the pool with the connection, for the next session to find.
func TestSessionStateInAPipelineStaysWithTheSession(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "pool: {mode: session, size: 4, queue_timeout: 3s}")
	c := connect(t, p.DSN("app", "app-secret"))
	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	b.Queue("CREATE TEMP TABLE piped_tmp (x int)")
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	for n := range 3 {
		q := fmt.Sprintf("/* pgshard: shard=%d */ SELECT count(*) FROM piped_tmp", n)
		var rows int
		if err := c.QueryRow(ctx, q, pgx.QueryExecModeSimpleProtocol).Scan(&rows); err != nil {
			t.Errorf("the session's temporary table on shard %d: %v", n, err)
		}
	}
}
