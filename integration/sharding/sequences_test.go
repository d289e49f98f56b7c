package sharding_test

import (
	"testing"
	"time"
)

// TestSequenceColumnsOfShardedTablesAreReported: serial and identity
// columns of a sharded table take values from each shard's own sequence,
// which repeat across shards; pgshard finds them after the DDL that makes
// or drops them and counts them in pgshard_sharded_sequence_columns (and
// logs a warning naming each).
func TestSequenceColumnsOfShardedTablesAreReported(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	c := connect(t, p.DSN("app", "app-secret"))
	const series = `pgshard_sharded_sequence_columns{database="app"}`
	// DDL through pgshard makes the session's next statement wait for the
	// catalog to be read again.
	mustExec(ctx, t, c, "DROP TABLE IF EXISTS seqorders", "SELECT 1")
	before := p.Metric(t, series)
	mustExec(ctx, t, c, `CREATE TABLE seqorders (id bigserial PRIMARY KEY, line int GENERATED ALWAYS AS IDENTITY,
		user_id bigint NOT NULL, at timestamptz DEFAULT now(), total numeric DEFAULT 0)`, "SELECT 1")
	if got := p.Metric(t, series); got != before+2 {
		t.Errorf("%s = %v after creating a table with a bigserial and an identity column, want %v", series, got, before+2)
	}
	mustExec(ctx, t, c, "DROP TABLE seqorders", "SELECT 1")
	if got := p.Metric(t, series); got != before {
		t.Errorf("%s = %v after dropping it, want %v", series, got, before)
	}
}
