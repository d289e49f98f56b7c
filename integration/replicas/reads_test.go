package replicas_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const whoAmI = `SELECT current_setting('cluster_name')`

// TestReadsSplitEvenlyBetweenHealthyReplicas: 10,000 reads on one shard
// land on its two replicas within ±20% of an even split, none on the
// primary.
func TestReadsSplitEvenlyBetweenHealthyReplicas(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "max_lag: 10s")
	conn := connect(t, p.DSN("app", "app-secret"))
	waitFor(t, 10*time.Second, "both replicas serving", func() bool {
		seen := map[string]bool{}
		for range 40 {
			n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
			if err == nil {
				seen[n] = true
			}
		}
		return seen["s0_replica1"] && seen["s0_replica2"]
	})
	counts := map[string]int{}
	routed := func(target string) float64 {
		return p.Metric(t, `pgshard_route_statements_total{database="app",kind="any",target="`+target+`"}`)
	}
	onReplicas, onPrimary := routed("replica"), routed("primary")
	for range 10000 {
		n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	t.Logf("reads per node: %v", counts)
	// The metrics tell the same split.
	if got, want := routed("replica")-onReplicas, float64(counts["s0_replica1"]+counts["s0_replica2"]); got != want {
		t.Errorf("route_statements_total{target=replica} +%v, want +%v", got, want)
	}
	if got, want := routed("primary")-onPrimary, float64(counts["s0_primary"]); got != want {
		t.Errorf("route_statements_total{target=primary} +%v, want +%v", got, want)
	}
	for _, r := range []string{"s0_replica1", "s0_replica2"} {
		if c := counts[r]; math.Abs(float64(c)-5000) > 1000 {
			t.Errorf("%s served %d of 10,000 reads, want 5,000 ± 20%%", r, c)
		}
	}
	// A replica counts only while its last successful poll is at most two
	// intervals old (200 ms here); on a loaded CI machine both polls are
	// now and then late at once, and a read goes to the primary then, as
	// it should. Anything beyond such stragglers is a selection bug.
	if c := counts["s0_primary"]; c > 50 {
		t.Errorf("the primary served %d of 10,000 reads while both replicas were healthy", c)
	}
}

// TestPausedReplicaLeavesAndRejoins: a replica whose replay is paused
// stops receiving reads within two poll intervals of going over the lag
// limit, and receives them again after it resumes and catches up. The
// admin listener's /metrics shows its lag growing meanwhile.
func TestPausedReplicaLeavesAndRejoins(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "max_lag_bytes: 65536, max_lag: 300ms")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	primary := connect(t, pg.Shards[0].Primary.DSN())
	paused := pg.Shards[0].Replicas[0]
	if err := paused.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = paused.ResumeReplay(context.Background())
		}
	})
	// Make WAL until the paused replica is over both limits.
	if _, err := primary.Exec(ctx, `CREATE TABLE IF NOT EXISTS filler (x text); INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 500)`); err != nil {
		t.Fatal(err)
	}
	overAt := time.Now()
	lag1 := lagBytes(t, p.Admin, "s0-replica1")
	// Within two poll intervals (2 × 100ms) plus the 300ms time limit the
	// replica is out; from then on no read may reach it.
	took := waitFor(t, 2*time.Second, "paused replica out of rotation", func() bool {
		for range 20 {
			if n, _ := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol); n == paused.Name {
				return false
			}
		}
		return true
	})
	t.Logf("paused replica left the rotation %v after going over max_lag_bytes", took)
	for range 500 {
		n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		if n == paused.Name {
			t.Fatalf("a read reached the paused replica %v after it went over the limit", time.Since(overAt))
		}
	}
	if _, err := primary.Exec(ctx, `INSERT INTO filler SELECT repeat('y', 1000) FROM generate_series(1, 200)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if lag2 := lagBytes(t, p.Admin, "s0-replica1"); !(lag2 > lag1) {
		t.Errorf("/metrics lag of the paused replica did not grow: %v then %v", lag1, lag2)
	}
	if err := paused.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	resumed = true
	waitFor(t, 10*time.Second, "resumed replica back in rotation", func() bool {
		for range 40 {
			if n, _ := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol); n == paused.Name {
				return true
			}
		}
		return false
	})
}

// lagBytes reads pgshard_node_lag_bytes for node from /metrics.
func lagBytes(t *testing.T, adminURL, node string) float64 {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^pgshard_node_lag_bytes\{[^}]*node="` + regexp.QuoteMeta(node) + `"[^}]*\} (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no pgshard_node_lag_bytes for %s in /metrics:\n%s", node, grepLines(string(body), "pgshard_node"))
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReadYourWrites: 1,000 write-then-read pairs while one replica of each
// shard has replay paused (and stays within the generous lag limits, so
// it keeps taking reads): with read-your-writes every read sees its write;
// without it, stale reads happen, so the test can tell.
func TestReadYourWrites(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	setup := startPgshard(t, "")
	resetTable(ctx, t, connect(t, setup.DSN("app", "app-secret")))
	for _, sh := range pg.Shards {
		r := sh.Replicas[0]
		if err := r.PauseReplay(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.ResumeReplay(context.Background()) })
	}
	pairs := func(ryw string, base int) (stale int) {
		p := startPgshard(t, "max_lag_bytes: 1000000000, max_lag: 1h, read_your_writes: "+ryw)
		conn := connect(t, p.DSN("app", "app-secret"))
		for k := base; k < base+1000; k++ {
			if _, err := conn.Exec(ctx, `INSERT INTO rw (k, v) VALUES ($1, $2)`, k, k); err != nil {
				t.Fatal(err)
			}
			var v int
			err := conn.QueryRow(ctx, `SELECT v FROM rw WHERE k = $1`, k).Scan(&v)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				stale++
			case err != nil:
				t.Fatal(err)
			}
		}
		return stale
	}
	if stale := pairs("true", 0); stale != 0 {
		t.Errorf("read-your-writes on: %d of 1,000 reads missed the session's own write", stale)
	}
	if stale := pairs("false", 1000); stale == 0 {
		t.Errorf("read-your-writes off: no stale read in 1,000 pairs with a paused replica in rotation; the test cannot tell")
	} else {
		t.Logf("read-your-writes off: %d of 1,000 reads were stale", stale)
	}
}

// TestNoReplicaReadsWhereTheyWouldBeWrong: inside a transaction that
// wrote, reads stay on the primary; nextval() never goes to a replica.
func TestNoReplicaReadsWhereTheyWouldBeWrong(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "max_lag: 10s")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	if _, err := conn.Exec(ctx, `CREATE SEQUENCE IF NOT EXISTS seq`); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rw (k, v) VALUES ($1, 1)`, 10_000+i); err != nil {
			t.Fatal(err)
		}
		var node string
		if err := tx.QueryRow(ctx, whoAmI).Scan(&node); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(node, "_primary") {
			t.Fatalf("a read inside a transaction that wrote ran on %s", node)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := conn.QueryRow(ctx, `SELECT nextval('seq'), `+strings.TrimPrefix(whoAmI, "SELECT ")).Scan(&n, &node); err != nil {
			t.Fatalf("nextval: %v", err)
		}
		if !strings.HasSuffix(node, "_primary") {
			t.Fatalf("nextval() ran on %s", node)
		}
	}
	// And a READ ONLY transaction may use a replica (once the monitor has
	// seen the replicas within the limits).
	waitFor(t, 10*time.Second, "replicas serving", func() bool {
		n, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		return err == nil && strings.Contains(n, "replica")
	})
	// COMMIT, ROLLBACK and SET are no writes: neither the next READ ONLY
	// transaction nor the read after it waits for the replicas to catch
	// up with them.
	var onReplica, reads int
	for i := range 20 {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		var node string
		if err := tx.QueryRow(ctx, whoAmI).Scan(&node); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			_ = tx.Commit(ctx)
		} else {
			_ = tx.Rollback(ctx)
		}
		after, err := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `SET application_name = 'x'`); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{node, after} {
			reads++
			if strings.Contains(n, "replica") {
				onReplica++
			}
		}
	}
	if onReplica < reads*9/10 {
		t.Errorf("%d of %d reads after READ ONLY transactions ran on a replica, want nearly all", onReplica, reads)
	}

	// A READ ONLY transaction on one shard's replica cannot read the
	// others in that transaction: refused, and the session goes on.
	refused := false
	for i := 0; i < 50 && !refused; i++ {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		var node string
		if err := tx.QueryRow(ctx, whoAmI).Scan(&node); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(node, "replica") {
			_ = tx.Rollback(ctx)
			continue
		}
		var pe *pgconn.PgError
		if _, err := tx.Exec(ctx, `SELECT count(*) FROM rw`); !errors.As(err, &pe) || pe.Code != "25006" {
			t.Errorf("a read over every shard in a READ ONLY transaction on a replica: %v, want 25006", err)
		}
		_ = tx.Rollback(ctx)
		refused = true
	}
	if !refused {
		t.Error("no READ ONLY transaction's first read ran on a replica")
	}
	// One whose first statement reads every shard runs on their primaries,
	// in the transaction: a replica would leave its later statements
	// without a snapshot to share.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT current_setting('cluster_name') || ' ' || current_setting('transaction_read_only') FROM rw`)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(nodes)
	if len(nodes) != len(pg.Shards) || slices.ContainsFunc(nodes, func(n string) bool { return !strings.HasSuffix(n, "_primary on") }) {
		t.Errorf("a READ ONLY transaction's first read over every shard ran on %q, want each shard's primary, read-only", nodes)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReplicaKilledMidLoad: a replica killed while clients read gives them
// no errors; restarted, it rejoins the rotation.
func TestReplicaKilledMidLoad(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "max_lag: 10s")
	victim := pg.Shards[0].Replicas[1]
	var reads, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Half the clients use the simple protocol, half pgx's default
	// (prepared statements over the extended protocol).
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}
	for c := range 6 {
		conn := connect(t, p.DSN("app", "app-secret"))
		mode := modes[c%2]
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := servedBy(ctx, conn, whoAmI, mode); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				reads.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if err := victim.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d reads during the kill, %d failed", reads.Load(), failures.Load())
	if failures.Load() > 0 {
		t.Fatalf("%d reads failed while a replica died (first: %v)", failures.Load(), firstErr.Load())
	}
	if err := victim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The restarted replica listens on a new port: a pgshard configured
	// with it sends reads there again.
	p2 := startPgshard(t, "max_lag: 10s")
	conn := connect(t, p2.DSN("app", "app-secret"))
	waitFor(t, 20*time.Second, "restarted replica serving reads", func() bool {
		for range 40 {
			if n, _ := servedBy(ctx, conn, whoAmI, pgx.QueryExecModeSimpleProtocol); n == victim.Name {
				return true
			}
		}
		return false
	})
}

// TestPrimaryStopped: with a shard's primary stopped, writes fail fast with
// a clear error and reads go on on its replicas; restarted, writes resume.
func TestPrimaryStopped(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "max_lag: 1s")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	primary := pg.Shards[0].Primary
	if err := primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = primary.Start(context.Background())
		}
	})
	start := time.Now()
	_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS never (x int)`, pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "08") || !strings.Contains(pe.Message, "s0") {
		t.Fatalf("write with the primary down: want an 08xxx error naming s0, got %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("the write took %v to fail", d)
	}
	time.Sleep(500 * time.Millisecond) // the monitor notices the primary is gone
	// A client that has not written: this one's own writes would keep its
	// reads on the primary until a replica is known to have them.
	reader := connect(t, p.DSN("app", "app-secret"))
	for i := range 200 {
		n, err := servedBy(ctx, reader, whoAmI, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatalf("read %d with the primary down: %v", i, err)
		}
		if !strings.HasPrefix(n, "s0_replica") {
			t.Fatalf("read %d ran on %s", i, n)
		}
	}
	if err := primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// The primary's port changed: pgshard configured with it writes again.
	p2 := startPgshard(t, "max_lag: 1s")
	conn2 := connect(t, p2.DSN("app", "app-secret"))
	waitFor(t, 20*time.Second, "writes resume", func() bool {
		_, err := conn2.Exec(ctx, `INSERT INTO rw (k, v) VALUES (424242, 1) ON CONFLICT (k) DO NOTHING`)
		return err == nil
	})
	_ = fmt.Sprint()
}
