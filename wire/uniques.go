package wire

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/router"
)

// Unique indexes of sharded tables that leave out the shard key. Each
// shard enforces a unique index (a PRIMARY KEY, a UNIQUE constraint, an
// exclusion constraint) over its own rows only, so one that does not
// include the key lets two shards hold the same value — users.email
// unique on one PostgreSQL, duplicated across shards — and an INSERT ...
// ON CONFLICT on it finds only its own shard's row. Citus refuses to
// create such constraints; pgshard runs the DDL as sent (a restored dump
// must go through) and says so instead: in the log once per index and in
// pgshard_sharded_unique_without_key.

// checkUniqueIndexes reads on the default shard the unique and exclusion
// indexes of sharded tables that do not include the table's shard key,
// and warns of the ones not seen before. Only refreshTextOrder's
// goroutine calls it.
func (srv *Server) checkUniqueIndexes(ctx context.Context, db *database) {
	rows, ok := srv.shardedCatalog(ctx, db, "the sharded tables' unique indexes", uniquesQuery)
	if !ok {
		return
	}
	// Each row is "schema.table index" to show, then the table's schema,
	// its name and the index's, unquoted, and its columns (see
	// uniquesQuery).
	shown := make([]string, 0, len(rows))
	keyless := map[*router.Table][]router.KeylessIndex{}
	tables := db.router.Schema().ShardedTables()
	var apart map[string]bool
	if p := db.seqApart.Load(); p != nil {
		apart = *p
	}
	for _, r := range rows {
		f := strings.Split(r, "\x1f")
		if len(f) != 5 {
			continue
		}
		shown = append(shown, f[0])
		idx := router.KeylessIndex{Name: f[3]}
		if f[4] != "" {
			idx.Generated = strings.Split(f[4], "\x1e")
			for _, c := range idx.Generated {
				if !apart[f[1]+"."+f[2]+"."+c] {
					idx.Generated = nil
					break
				}
			}
		}
		for _, t := range tables {
			if t.Name == f[2] && (t.Schema == "" || t.Schema == f[1]) {
				keyless[t] = append(keyless[t], idx)
			}
		}
	}
	db.router.SetKeylessUniques(keyless)
	rows = shown
	slices.Sort(rows)
	for _, r := range rows {
		if old := db.uniques.Load(); old != nil && slices.Contains(*old, r) {
			continue
		}
		table, index, _ := strings.Cut(r, " ")
		srv.log.Warn("a unique index of a sharded table does not include its shard key: each shard enforces it over its own rows only, so its values can repeat across shards",
			"database", db.cfg.Name, "table", table, "index", index,
			"fix", "include the shard key in the index (UNIQUE (user_id, email)), or keep such values in a reference or unsharded table (docs/operations.md, Unique indexes)")
	}
	db.uniques.Store(&rows)
	db.dbm.UniqueWithoutKey(len(rows))
}

// uniquesQuery lists, for each unique or exclusion index of tables whose
// key column it does not include (an expression index counts as not
// including it), "schema.table index" quoted as identifiers, then the
// schema, table and index names as they are, and the index's columns
// separated by \x1e ("" when one is an expression), all separated by \x1f.
func uniquesQuery(tables []*router.Table) string {
	vals := make([]string, 0, len(tables))
	for _, t := range tables {
		schema := "NULL"
		if t.Schema != "" {
			schema = quoteLiteral(t.Schema)
		}
		vals = append(vals, fmt.Sprintf("(%s, %s, %s)", schema, quoteLiteral(t.Name), quoteLiteral(t.Key)))
	}
	return `SELECT pg_catalog.concat_ws(E'\x1f', pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || ' ' || pg_catalog.quote_ident(i.relname),
  n.nspname, c.relname, i.relname,
  CASE WHEN 0 = ANY (x.indkey::pg_catalog.int2[]) THEN '' ELSE (SELECT pg_catalog.string_agg(a.attname, E'\x1e' ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (x.indkey::pg_catalog.int2[])) END)
FROM (VALUES ` + strings.Join(vals, ", ") + `) k(nsp, rel, key)
JOIN pg_catalog.pg_class c ON c.relname = k.rel AND c.relkind IN ('r', 'p')
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND (k.nsp IS NULL OR n.nspname = k.nsp)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
JOIN pg_catalog.pg_index x ON x.indrelid = c.oid AND (x.indisunique OR x.indisexclusion)
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
  WHERE a.attrelid = c.oid AND a.attname = k.key AND a.attnum = ANY (x.indkey::pg_catalog.int2[]))
ORDER BY 1`
}
