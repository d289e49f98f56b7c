package wire

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/router"
)

// Reading which functions' bodies name a sharded table, and which views
// read one, for the router to refuse statements that would run them on
// the default shard alone (router/bodies.go, router/views.go). Read in refreshTextOrder's rounds, from the default
// shard: functions are created on every shard alike, as DDL.

// tableFunctionsQuery lists "function table" for every function or
// procedure of the database's own (not PostgreSQL's, not an extension's,
// not written in C) whose source names one of tables as a word. A SQL
// function with a standard body (BEGIN ATOMIC) has no source text, so its
// definition is read instead.
func tableFunctionsQuery(tables []*router.Table) string {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		if n := regexp.QuoteMeta(t.Name); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	pattern := quoteLiteral(`\m(` + strings.Join(names, "|") + `)\M`)
	return `SELECT DISTINCT lower(p.proname) || ' ' || substring(b.body FROM ` + pattern + `)
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
CROSS JOIN LATERAL (SELECT lower(CASE WHEN coalesce(p.prosrc, '') = '' THEN pg_catalog.pg_get_functiondef(p.oid) ELSE p.prosrc END) AS body) b
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
  AND l.lanname NOT IN ('internal', 'c') AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e')
  AND b.body ~ ` + pattern
}

// checkTableFunctions reads, on db's default shard, which functions work
// on sharded tables, and tells the router. When the shard cannot be read,
// what was found before stays.
func (srv *Server) checkTableFunctions(ctx context.Context, db *database) {
	rows, ok := srv.shardedCatalog(ctx, db, "which functions work on sharded tables", tableFunctionsQuery)
	if !ok {
		return
	}
	fns := map[string]string{}
	for _, row := range rows {
		if name, table, ok := strings.Cut(row, " "); ok && fns[name] == "" {
			fns[name] = table
		}
	}
	if prev := db.router.TableFunctions(); !maps.Equal(fns, prev) && len(fns) > 0 {
		names := slices.Sorted(maps.Keys(fns))
		srv.log.Info("functions work on sharded tables: a statement calling one without naming a sharded table is refused",
			"database", db.cfg.Name, "functions", strings.Join(names, ", "))
	}
	db.router.SetTableFunctions(fns)
}

// shardedCatalog runs the catalog query q writes for db's sharded tables
// on db's default shard, as pgshard's own work, and returns its rows. It
// returns false when there is nothing to check (one shard holds every
// row; no sharded table; no user to connect as) or the shard could not be
// read (logged).
func (srv *Server) shardedCatalog(ctx context.Context, db *database, what string, q func([]*router.Table) string) ([]string, bool) {
	u := srv.resolverUser(db)
	tables := db.router.Schema().ShardedTables()
	if u == nil || len(tables) == 0 || len(db.cfg.Shards) < 2 {
		return nil, false
	}
	s := &session{srv: srv, db: db, user: u, log: srv.log}
	rows, err := s.onShard(ctx, db.router.Schema().Default, func(sc *serverConn) ([]string, error) {
		return s.hiddenRows(sc, q(tables))
	})
	if err != nil {
		srv.log.Debug("could not read "+what+"; keeping what was known", "database", db.cfg.Name, "err", err)
		return nil, false
	}
	return rows, true
}

// tableViewsQuery lists "view table definition" for every view and
// materialized view (with no definition) of the database's own that reads
// one of tables, directly or through other views: views depend on what they read through their
// rewrite rule (pg_depend), followed here until no new view appears.
func tableViewsQuery(tables []*router.Table) string {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		if n := quoteLiteral(strings.ToLower(t.Name)); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return `WITH RECURSIVE reads(view, source, via) AS (
  SELECT r.ev_class, lower(c.relname), c.oid
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
  JOIN pg_catalog.pg_class c ON c.oid = d.refobjid AND c.relkind IN ('r', 'p', 'f')
  WHERE r.ev_class <> c.oid AND lower(c.relname) IN (` + strings.Join(names, ", ") + `)
UNION
  SELECT r.ev_class, reads.source, reads.view
  FROM reads
  JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = reads.view
    AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
  JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND r.ev_class <> reads.view
)
SELECT DISTINCT ON (v.relname) lower(v.relname) || ' ' || reads.source || ' ' ||
  CASE v.relkind WHEN 'v' THEN pg_catalog.pg_get_viewdef(v.oid) ELSE '' END
FROM reads JOIN pg_catalog.pg_class v ON v.oid = reads.view
JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
WHERE v.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY v.relname, reads.source`
}

// tableChildrenQuery lists "child table" for every partition or
// inheritance child of one of tables, at any depth.
func tableChildrenQuery(tables []*router.Table) string {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		if n := quoteLiteral(strings.ToLower(t.Name)); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return `WITH RECURSIVE kids(child, source) AS (
  SELECT i.inhrelid, lower(p.relname)
  FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
  WHERE lower(p.relname) IN (` + strings.Join(names, ", ") + `)
UNION
  SELECT i.inhrelid, kids.source FROM pg_catalog.pg_inherits i JOIN kids ON i.inhparent = kids.child
)
SELECT DISTINCT ON (c.relname) lower(c.relname) || ' ' || kids.source
FROM kids JOIN pg_catalog.pg_class c ON c.oid = kids.child
WHERE c.relkind IN ('r', 'p', 'f')
ORDER BY c.relname, kids.source`
}

// checkTableViews reads, on db's default shard, which views read sharded
// tables and which tables are their partitions or children, and tells
// the router. When the shard cannot be read, what was found before stays.
func (srv *Server) checkTableViews(ctx context.Context, db *database) {
	rows, ok := srv.shardedCatalog(ctx, db, "which views read sharded tables", tableViewsQuery)
	if !ok {
		return
	}
	kids, ok := srv.shardedCatalog(ctx, db, "which tables are partitions of sharded tables", tableChildrenQuery)
	if !ok {
		return
	}
	views := map[string]router.View{}
	for _, row := range rows {
		if f := strings.SplitN(row, " ", 3); len(f) == 3 {
			views[f[0]] = router.View{Table: f[1], Definition: f[2]}
		}
	}
	for _, row := range kids {
		if child, table, ok := strings.Cut(row, " "); ok {
			views[child] = router.View{Table: table, Child: true}
		}
	}
	if prev := db.router.TableViews(); !maps.Equal(views, prev) && len(views) > 0 {
		srv.log.Info("views read sharded tables: reads are planned through them, writes through them refused",
			"database", db.cfg.Name, "views", strings.Join(slices.Sorted(maps.Keys(views)), ", "))
	}
	db.router.SetTableViews(views)
}
