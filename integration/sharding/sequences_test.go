package sharding_test

import (
	"fmt"
	"testing"
	"time"
)

// TestSequenceColumnsOfShardedTablesAreReported: serial and identity
// columns of a sharded table take values from each shard's own sequence,
// which repeat across shards; pgshard finds them after the DDL that makes
// or drops them and counts them in pgshard_sharded_sequence_columns (and
// logs a warning naming each). The count is compared with the default
// shard's catalog, read directly.
func TestSequenceColumnsOfShardedTablesAreReported(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	c := connect(t, p.DSN("app", "app-secret"))
	var tables []string
	for _, st := range p.Config.Databases[0].Sharding.Tables {
		tables = append(tables, st.Name)
	}
	shard0 := connect(t, sharded.Shards[0].Primary.DSN())
	const series = `pgshard_sharded_sequence_columns{database="app"}`
	reported := func(what string) {
		t.Helper()
		eventually(t, 15*time.Second, func() error {
			var want int
			if err := shard0.QueryRow(ctx, `SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
				LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
				WHERE c.relname = ANY($1) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
				  AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%')`, tables).Scan(&want); err != nil {
				return err
			}
			if got := p.Metric(t, series); got != float64(want) {
				return fmt.Errorf("%s = %v %s, want %d (the catalog's count)", series, got, what, want)
			}
			return nil
		})
	}
	mustExec(ctx, t, c, "DROP TABLE IF EXISTS seqorders")
	reported("without seqorders")
	mustExec(ctx, t, c, `CREATE TABLE seqorders (id bigserial PRIMARY KEY, line int GENERATED ALWAYS AS IDENTITY,
		user_id bigint NOT NULL, at timestamptz DEFAULT now(), total numeric DEFAULT 0)`)
	reported("with seqorders (a bigserial and an identity column)")
	var cols int
	if err := shard0.QueryRow(ctx, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'seqorders'::regclass
		AND (attidentity <> '' OR attname = 'id')`).Scan(&cols); err != nil || cols != 2 {
		t.Fatalf("seqorders has %d sequence columns (%v), want 2", cols, err)
	}
	mustExec(ctx, t, c, "DROP TABLE seqorders")
	reported("after dropping seqorders")
}
