package sharding_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/shard"
)

// TestEveryRowOnTheShardOwningItsKey inserts 10,000 keys through pgshard in
// every way a client can — single-row INSERT, multi-row INSERT (split per
// shard), prepared multi-row INSERT with parameters, COPY in text, CSV and
// binary (pgx's CopyFrom) —
// then reads each shard directly: every row sits on exactly the shard that
// owns its key's hash, once, and nowhere else.
func TestEveryRowOnTheShardOwningItsKey(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{`DROP TABLE IF EXISTS placed`, `CREATE TABLE placed (k bigint NOT NULL, src text NOT NULL)`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	key := func(i int) int64 { return int64(i)*7919 - 20_000 } // negative keys too
	next := 0
	// 2,500 single-row INSERTs, simple protocol.
	for ; next < 2500; next++ {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO placed (k, src) VALUES (%d, 'single')`, key(next))); err != nil {
			t.Fatal(err)
		}
	}
	// 2,500 in multi-row INSERTs of 100 rows.
	for ; next < 5000; next += 100 {
		var rows []string
		for i := next; i < next+100; i++ {
			rows = append(rows, fmt.Sprintf("(%d, 'multi')", key(i)))
		}
		if _, err := conn.Exec(ctx, `INSERT INTO placed (k, src) VALUES `+strings.Join(rows, ", ")); err != nil {
			t.Fatal(err)
		}
	}
	// 2,500 in prepared five-row INSERTs: parameters split per shard.
	const prepared = `INSERT INTO placed (src, k) VALUES ('prepared', $1), ('prepared', $2), ('prepared', $3), ('prepared', $4), ('prepared', $5)`
	for ; next < 7500; next += 5 {
		if _, err := conn.Exec(ctx, prepared, key(next), key(next+1), key(next+2), key(next+3), key(next+4)); err != nil {
			t.Fatal(err)
		}
	}
	// 1,500 by COPY in text format, 500 in CSV with a header, 500 in binary.
	var text strings.Builder
	for ; next < 9000; next++ {
		fmt.Fprintf(&text, "%d\tcopy text\n", key(next))
	}
	tag, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(text.String()), `COPY placed (k, src) FROM STDIN`)
	if err != nil || tag.RowsAffected() != 1500 {
		t.Fatalf("COPY text: %v %v", tag, err)
	}
	csv := "src,k\n"
	for ; next < 9500; next++ {
		csv += fmt.Sprintf("\"copy, csv\",%d\n", key(next))
	}
	tag, err = conn.PgConn().CopyFrom(ctx, strings.NewReader(csv), `COPY placed (src, k) FROM STDIN WITH (FORMAT csv, HEADER true)`)
	if err != nil || tag.RowsAffected() != 500 {
		t.Fatalf("COPY csv: %v %v", tag, err)
	}
	var binRows [][]any
	for ; next < 10000; next++ {
		binRows = append(binRows, []any{"copy binary", key(next)})
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"placed"}, []string{"src", "k"}, pgx.CopyFromRows(binRows))
	if err != nil || n != 500 {
		t.Fatalf("COPY binary: %d %v", n, err)
	}

	m := shard.EqualMap(len(sharded.Shards))
	var all []int64
	for i, sh := range sharded.Shards {
		direct := connect(t, sh.Primary.DSN())
		rows, err := direct.Query(ctx, `SELECT k FROM placed`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var k int64
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			if owner := m.Lookup(shard.HashInt(k)); int(owner) != i {
				t.Errorf("key %d is on shard %d, but shard %d owns its hash", k, i, owner)
			}
			all = append(all, k)
			n++
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		t.Logf("shard %d holds %d rows", i, n)
		if n < 2500 {
			t.Errorf("shard %d holds only %d of 10,000 rows: the split is uneven", i, n)
		}
	}
	slices.Sort(all)
	if len(all) != 10000 || len(slices.Compact(all)) != 10000 {
		t.Fatalf("%d rows over all shards (%d distinct), want 10,000 once each", len(all), len(slices.Compact(slices.Clone(all))))
	}
	var count int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM placed WHERE src LIKE 'copy%'`).Scan(&count); err != nil || count != 2500 {
		t.Fatalf("count through pgshard: %d %v", count, err)
	}
}
