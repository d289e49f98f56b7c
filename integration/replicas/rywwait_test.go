package replicas_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/shard"
)

// keyOnShard0 returns the i-th key owned by shard 0 of the two-shard map.
func keyOnShard0(i int) int64 {
	m := shard.EqualMap(2)
	for k, found := int64(500_000), 0; ; k++ {
		if m.Lookup(shard.HashInt(k)) == 0 {
			if found == i {
				return k
			}
			found++
		}
	}
}

// TestReadYourWritesWait: right after a write, a read goes to the primary
// (the write's position is not known yet); with read_your_writes_wait it
// waits for a replica that has the write instead.
func TestReadYourWritesWait(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	simple := pgx.QueryExecModeSimpleProtocol
	run := func(reads string) (onReplica int) {
		t.Helper()
		p := startPgshard(t, reads)
		conn := connect(t, p.DSN("app", "app-secret"))
		waitFor(t, 10*time.Second, "replicas serving", func() bool {
			n, err := servedBy(ctx, conn, whoAmI+` /* warm-up */`, simple)
			return err == nil && strings.Contains(n, "replica")
		})
		// A session that writes, then reads at once: the read is on shard 0
		// (no table: the default shard), as is the write below.
		for i := range 20 {
			if _, err := conn.Exec(ctx, `INSERT INTO rw (k, v) VALUES ($1, 1) ON CONFLICT (k) DO NOTHING`, keyOnShard0(i)); err != nil {
				t.Fatal(err)
			}
			n, err := servedBy(ctx, conn, whoAmI, simple)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(n, "replica") {
				onReplica++
			}
		}
		return onReplica
	}
	setup := startPgshard(t, "")
	resetTable(ctx, t, connect(t, setup.DSN("app", "app-secret")))
	if n := run("max_lag: 10s"); n > 2 {
		t.Errorf("without a wait, %d of 20 reads right after a write went to a replica; the floor should keep them on the primary until a poll", n)
	}
	if n := run("max_lag: 10s, read_your_writes_wait: 2s"); n < 18 {
		t.Errorf("with read_your_writes_wait, only %d of 20 reads after a write went to a replica", n)
	}
}
