package sharding_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgshard/pgshard/internal/seqrange"
)

// TestSequenceColumnsOfShardedTablesAreReported: serial and identity
// columns of a sharded table take values from each shard's own sequence,
// which repeat across shards (a shard key's come from the default shard's
// alone, as pgshard fills it in); pgshard finds them after the DDL that makes
// or drops them and counts them in pgshard_sharded_sequence_columns (and
// logs a warning naming each). The count is compared with the default
// shard's catalog, read directly. Once `pgshard sequences --apply` has
// given each shard's sequences blocks of their own (seqrange.Arrange),
// ids no longer repeat and the columns are no longer counted.
func TestSequenceColumnsOfShardedTablesAreReported(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	c := connect(t, p.DSN("app", "app-secret"))
	var tables, keys []string
	for _, st := range p.Config.Databases[0].Sharding.Tables {
		tables, keys = append(tables, st.Name), append(keys, st.Key)
	}
	shard0 := connect(t, sharded.Shards[0].Primary.DSN())
	const series = `pgshard_sharded_sequence_columns{database="app"}`
	// reportedAs checks the series against the catalog's count plus
	// delta: columns whose shards' sequences keep apart are not counted.
	reportedAs := func(what string, delta int) {
		t.Helper()
		eventually(t, 15*time.Second, func() error {
			var want int
			if err := shard0.QueryRow(ctx, `SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
				LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
				WHERE c.relname = ANY($1) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
				  AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%')
				  AND (c.relname, a.attname::text) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))`, tables, keys).Scan(&want); err != nil {
				return err
			}
			want += delta
			if got := p.Metric(t, series); got != float64(want) {
				return fmt.Errorf("%s = %v %s, want %d (the catalog's count %+d)", series, got, what, want, delta)
			}
			return nil
		})
	}
	reported := func(what string) { t.Helper(); reportedAs(what, 0) }
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

	// Each shard's sequences count from 1: ids repeat across shards.
	const insert = `INSERT INTO seqorders (user_id) SELECT g FROM generate_series(1, 40) g`
	distinct := func() (rows, ids, lines int) {
		t.Helper()
		if err := c.QueryRow(ctx, `SELECT count(*), count(DISTINCT id), count(DISTINCT line) FROM seqorders`).Scan(&rows, &ids, &lines); err != nil {
			t.Fatal(err)
		}
		return rows, ids, lines
	}
	mustExec(ctx, t, c, insert)
	if rows, ids, lines := distinct(); ids == rows || lines == rows {
		t.Fatalf("before confining: %d rows with %d distinct ids and %d lines; want repeats", rows, ids, lines)
	}
	// pgshard sequences: a dry run alters nothing; --apply gives each
	// shard's two sequences (bigint and integer) blocks of their own.
	primaries := shardPrimaries(ctx, t)
	only := []seqrange.Table{{Name: "seqorders"}}
	var out strings.Builder
	if n, err := seqrange.Arrange(ctx, primaries, only, false, &out); err != nil || n != 2*len(primaries) {
		t.Fatalf("dry run: %d to alter (%v), want %d:\n%s", n, err, 2*len(primaries), out.String())
	}
	reported("after a dry run")
	if n, err := seqrange.Arrange(ctx, primaries, only, true, &out); err != nil || n != 2*len(primaries) {
		t.Fatalf("--apply: %d altered (%v), want %d:\n%s", n, err, 2*len(primaries), out.String())
	}
	mustExec(ctx, t, c, `TRUNCATE seqorders`, insert)
	if rows, ids, lines := distinct(); ids != rows || lines != rows || rows != 40 {
		t.Errorf("after confining: %d rows with %d distinct ids and %d lines; want 40 of each", rows, ids, lines)
	}
	// pgshard reads the catalogs again within a minute, or at once after
	// DDL sent through it.
	mustExec(ctx, t, c, `COMMENT ON TABLE seqorders IS 'ids in blocks per shard'`)
	reportedAs("with seqorders' sequences confined", -2)
	out.Reset()
	if n, err := seqrange.Arrange(ctx, primaries, only, true, &out); err != nil || n != 0 {
		t.Errorf("again: %d altered (%v), want none:\n%s", n, err, out.String())
	}

	mustExec(ctx, t, c, "DROP TABLE seqorders")
	reported("after dropping seqorders")
}
