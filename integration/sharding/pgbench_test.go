package sharding_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPgbenchTPCBAcrossShards runs pgbench's own workload over three
// shards: pgbench_accounts and pgbench_history sharded by aid,
// pgbench_tellers and pgbench_branches unsharded (the default shard).
// pgbench -i loads it in one transaction (TRUNCATE everywhere, INSERTs on
// the default shard, the accounts COPY split by aid). Each TPC-B
// transaction then writes an account's shard and the default shard, so
// every one that touches another shard commits with two-phase commit,
// eight at a time. None may fail, and the money must add up as on one
// server: each transaction adds the same delta to an account, a teller, a
// branch and the history.
func TestPgbenchTPCBAcrossShards(t *testing.T) {
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		pgbench = "/usr/lib/postgresql/15/bin/pgbench"
	}
	ctx := ctxFor(t, 3*time.Minute)
	for _, pool := range []string{"transaction", "session"} {
		t.Run(pool+" pooling", func(t *testing.T) {
			p := startPgshard(t, "pool: {mode: "+pool+", size: 10, queue_timeout: 10s}")
			dsn := p.DSN("app", "app-secret")
			if out, err := exec.CommandContext(ctx, pgbench, "-i", "-s", "1", "-q", dsn).CombinedOutput(); err != nil {
				t.Fatalf("pgbench -i: %v\n%s", err, out)
			}
			if n := len(placedKeys(ctx, t, "pgbench_accounts", "aid")); n != 100000 {
				t.Fatalf("pgbench_accounts: %d rows on the shards, want 100000", n)
			}
			for _, mode := range []string{"simple", "extended", "prepared"} {
				out, err := exec.CommandContext(ctx, pgbench, "-n", "-M", mode, "-c", "8", "-j", "2", "-t", "100", dsn).CombinedOutput()
				s := string(out)
				if err != nil || !strings.Contains(s, "actually processed: 800/800") ||
					strings.Contains(s, "failed transactions: ") && !strings.Contains(s, "failed transactions: 0 ") {
					t.Fatalf("pgbench -M %s: %v\n%s", mode, err, s)
				}
			}
			conn := connect(t, dsn)
			var accounts, tellers, branches, history, n int64
			err := conn.QueryRow(ctx, `SELECT sum(abalance) FROM pgbench_accounts`).Scan(&accounts)
			if err == nil {
				err = conn.QueryRow(ctx, `SELECT sum(tbalance) FROM pgbench_tellers`).Scan(&tellers)
			}
			if err == nil {
				err = conn.QueryRow(ctx, `SELECT sum(bbalance) FROM pgbench_branches`).Scan(&branches)
			}
			if err == nil {
				err = conn.QueryRow(ctx, `SELECT sum(delta), count(*) FROM pgbench_history`).Scan(&history, &n)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != 2400 || accounts != history || tellers != history || branches != history {
				t.Fatalf("after 2400 transactions: %d in history; balances: accounts %d, tellers %d, branches %d, history %d",
					n, accounts, tellers, branches, history)
			}
			placedKeys(ctx, t, "pgbench_history", "aid")
			if left := preparedLeft(ctx, t); left != 0 {
				t.Errorf("%d prepared transactions left behind", left)
			}
		})
	}
}
