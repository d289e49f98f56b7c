package wire

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// Checking the shard key columns against the configuration: a key column
// of another type than key_type says (numeric for bigint, citext or a
// case-insensitive collation for text) would make keyed routes silently
// miss rows, so the router refuses them (router/keycheck.go). The columns
// are read with the collated columns, in refreshTextOrder's rounds.

// keyTypeOIDs are the column types (domains resolved to their base type)
// each key type hashes exactly.
var keyTypeOIDs = map[shard.KeyType][]uint32{
	shard.KeyInt:  {20, 21, 23}, // int8, int2, int4
	shard.KeyText: {25, 1043},   // text, varchar
	shard.KeyUUID: {2950},
}

// keyColumnsQuery lists, for each configured sharded table (tables, by
// index), every table of that name on the shard with its key column's
// base type OID and type name, and whether its collation is
// deterministic: "index oid deterministic schema type", oid 0 when the
// table has no such column.
func keyColumnsQuery(tables []*router.Table) string {
	var vals []string
	for i, t := range tables {
		schema := "NULL"
		if t.Schema != "" {
			schema = quoteLiteral(t.Schema)
		}
		vals = append(vals, fmt.Sprintf("(%d, %s, %s, %s)", i, schema, quoteLiteral(t.Name), quoteLiteral(t.Key)))
	}
	return `WITH k(i, nsp, rel, col) AS (VALUES ` + strings.Join(vals, ", ") + `)
SELECT k.i || ' ' || coalesce(nullif(ty.typbasetype, 0), ty.oid, 0) || ' ' || coalesce(co.collisdeterministic, true) || ' ' || n.nspname || ' ' || coalesce(pg_catalog.format_type(a.atttypid, a.atttypmod), '-')
FROM k JOIN pg_catalog.pg_class c ON c.relname = k.rel AND c.relkind IN ('r', 'p', 'f')
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND (k.nsp IS NULL OR n.nspname = k.nsp)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = k.col AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation`
}

// checkKeyColumns reads db's key columns on each shard's primary and tells
// the router which tables' keys do not match the configuration. A shard
// that cannot be read keeps what was last found for it.
func (srv *Server) checkKeyColumns(ctx context.Context, db *database) {
	u := srv.resolverUser(db)
	tables := db.router.Schema().ShardedTables()
	if u == nil || len(tables) == 0 || len(db.cfg.Shards) < 2 {
		return // one shard holds every key whatever its hash
	}
	s := &session{srv: srv, db: db, user: u, log: srv.log}
	q := keyColumnsQuery(tables)
	problems := map[*router.Table]string{}
	prev := db.router.KeyProblems()
	for i := range db.cfg.Shards {
		name := db.cfg.Shards[i].Name
		rows, err := s.onShard(ctx, shard.ShardID(i), func(sc *serverConn) ([]string, error) {
			return s.hiddenRows(sc, q)
		})
		if err != nil {
			for t, why := range prev {
				if strings.Contains(why, "on shard "+name+",") {
					problems[t] = why
				}
			}
			continue
		}
		for _, row := range rows {
			t, why := keyColumnProblem(tables, row)
			if t != nil && problems[t] == "" {
				problems[t] = "on shard " + name + ", " + why
			}
		}
	}
	if !maps.Equal(problems, prev) {
		for t, why := range problems {
			srv.log.Error("shard key column does not match the configuration; keyed statements on the table are refused",
				"database", db.cfg.Name, "table", t.String(), "key", t.Key, "problem", why)
		}
		if len(problems) == 0 && len(prev) > 0 {
			srv.log.Info("shard key columns match the configuration again", "database", db.cfg.Name)
		}
	}
	db.router.SetKeyProblems(problems)
	db.dbm.KeyMismatches(len(problems))
}

// keyColumnProblem reads one row of keyColumnsQuery: the table and what
// is wrong with its key column, or nil when it is fine.
func keyColumnProblem(tables []*router.Table, row string) (*router.Table, string) {
	f := strings.SplitN(row, " ", 5)
	if len(f) != 5 {
		return nil, ""
	}
	i, err1 := strconv.Atoi(f[0])
	oid, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || i < 0 || i >= len(tables) {
		return nil, ""
	}
	t := tables[i]
	where := f[3] + "." + t.Name + "." + t.Key
	switch {
	case oid == 0:
		return t, fmt.Sprintf("table %s.%s has no column %s", f[3], t.Name, t.Key)
	case !containsOID(keyTypeOIDs[t.KeyType], uint32(oid)):
		return t, fmt.Sprintf("%s is %s, which pgshard cannot hash as the configured key type (%s)", where, f[4], t.KeyType)
	case f[2] != "true":
		return t, fmt.Sprintf("%s has a nondeterministic collation: values the server holds equal would hash apart", where)
	}
	return nil, ""
}

func containsOID(oids []uint32, oid uint32) bool {
	for _, o := range oids {
		if o == oid {
			return true
		}
	}
	return false
}
