package wire

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/router"
)

// Columns of sharded tables filled from a sequence. DDL creates a table on
// every shard, and with a serial or identity column each shard's own
// sequence, so ids that one PostgreSQL would give once repeat across
// shards. pgshard does not rewrite them (docs/operations.md, Sequences);
// it finds such columns in refreshTextOrder's rounds and says so, in the
// log once per column and in pgshard_sharded_sequence_columns.

// sequenceColumnsQuery lists "schema.table.column" for every column of the
// sharded tables that is an identity column or defaults to nextval().
func sequenceColumnsQuery(tables []*router.Table) string {
	vals := make([]string, 0, len(tables))
	for _, t := range tables {
		schema := "NULL"
		if t.Schema != "" {
			schema = quoteLiteral(t.Schema)
		}
		vals = append(vals, fmt.Sprintf("(%s, %s)", schema, quoteLiteral(t.Name)))
	}
	return `WITH k(nsp, rel) AS (VALUES ` + strings.Join(vals, ", ") + `)
SELECT DISTINCT n.nspname || '.' || c.relname || '.' || a.attname
FROM k JOIN pg_catalog.pg_class c ON c.relname = k.rel AND c.relkind IN ('r', 'p')
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND (k.nsp IS NULL OR n.nspname = k.nsp)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE a.attidentity <> '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) ~ '^nextval\('`
}

// checkSequenceColumns reads, on db's default shard, which columns of
// sharded tables come from a sequence, and warns of the ones not seen
// before. Only refreshTextOrder's goroutine calls it.
func (srv *Server) checkSequenceColumns(ctx context.Context, db *database) {
	cols, ok := srv.shardedCatalog(ctx, db, "the sharded tables' sequence columns", sequenceColumnsQuery)
	if !ok {
		return
	}
	slices.Sort(cols)
	for _, c := range cols {
		if !slices.Contains(db.seqColumns, c) {
			srv.log.Warn("a column of a sharded table is filled from a sequence of each shard: its values repeat across shards",
				"database", db.cfg.Name, "column", c,
				"fix", "use the shard key, a uuid or one sequence on the default shard for ids, or give each shard's sequence its own offset (docs/operations.md, Sequences)")
		}
	}
	db.seqColumns = cols
	db.dbm.SequenceColumns(len(cols))
}
