package sharding_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestArrayInsertMatchesOnePostgres: the bulk insert drivers send as one
// array per column (INSERT ... SELECT * FROM unnest($1, $2, $3)) puts each
// row on the shard owning its key — arrays in text and binary format,
// elements with commas, quotes, backslashes and NULLs — with RETURNING rows
// in the arrays' order and ON CONFLICT per row, as one PostgreSQL does.
func TestArrayInsertMatchesOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())

	var keys []int64
	var vs []int32
	var tags []*string
	for i := range 40 {
		keys = append(keys, int64(5000+i*13))
		vs = append(vs, int32(i))
		tag := fmt.Sprintf(`t%d, "q" \b {x}`, i)
		tags = append(tags, &tag)
	}
	null := "NULL"
	tags[3], tags[7] = &null, &null // the text NULL, quoted in the array
	upd := make([]*string, len(tags))
	for i := range upd {
		s := "upd" + fmt.Sprint(i)
		upd[i] = &s
	}
	writes := []swriteStep{
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[]) RETURNING k, tag", []any{keys[:20], vs[:20], tags[:20]}},
		{"INSERT INTO swrite (tag, k, v) SELECT unnest($3::text[]), unnest($1::int8[]), unnest($2::int4[])", []any{keys[20:30], vs[20:30], tags[20:30]}},
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM ROWS FROM (unnest($1::bigint[]), unnest($2::int[]), unnest($3::text[])) RETURNING k, v", []any{keys[30:], vs[30:], tags[30:]}},
		// Half of them exist: updated in place, on their shards.
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[]) ON CONFLICT (k) DO UPDATE SET tag = excluded.tag RETURNING k, tag", []any{append(keys[10:15:15], 90001, 90002), []int32{1, 2, 3, 4, 5, 6, 7}, upd[:7]}},
		// A tag array shorter than the keys: NULL tags, refused by the table.
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[])", []any{[]int64{91001, 91002}, []int32{1, 2}, upd[:1]}},
		// A key array shorter than the others: a NULL key.
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[])", []any{[]int64{92001}, []int32{1, 2}, upd[:2]}},
		// A duplicate key on one shard fails the batch on every shard.
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[])", []any{[]int64{93001, 93002, 93003, keys[0]}, []int32{1, 2, 3, 4}, upd[:4]}},
		{"INSERT INTO swrite (k, v, tag) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[]) RETURNING k", []any{[]int64{}, []int32{}, []*string{}}},
	}
	matchWrites(ctx, t, through, ref, []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement},
		writes, orderedAnswer, func() { placedKeys(ctx, t, "swrite") })
}
