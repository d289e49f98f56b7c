package router

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Views (and materialized views) over sharded tables. pgshard routes a
// statement by the tables it names and does not see inside a view: SELECT
// * FROM active_users, a view of users, names no sharded table and would
// run on the default shard alone, reading one shard's rows, and a write
// through an updatable view would land there. The wire layer reads, from
// the default shard's catalog, which views read a sharded table (directly
// or through other views), and tells the router (SetTableViews); a
// statement naming one is then refused, unless a hint routes it. DDL
// naming them (CREATE OR REPLACE VIEW, DROP VIEW, GRANT, REFRESH
// MATERIALIZED VIEW) runs on every shard as before.

// SetTableViews replaces the views, by lower-case name, that read a
// sharded table, each with that table; nil or empty clears them.
func (r *Router) SetTableViews(views map[string]string) {
	if len(views) == 0 {
		r.tableViews.Store(nil)
		return
	}
	r.tableViews.Store(&views)
}

// TableViews returns what SetTableViews last set.
func (r *Router) TableViews() map[string]string {
	if v := r.tableViews.Load(); v != nil {
		return *v
	}
	return nil
}

// checkViews refuses rt when its statement names a view that reads a
// sharded table.
func (r *Router) checkViews(rt *Route) *Route {
	views := r.tableViews.Load()
	if views == nil || rt.Err != nil || rt.Plan == nil || len(rt.Plan.locals) == 0 || rt.Kind == KindAll || rt.hinted {
		return rt
	}
	for _, name := range rt.Plan.locals {
		if table, ok := (*views)[name]; ok {
			return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
				Message: "pgshard: view " + name + " reads sharded table " + table + ", and pgshard routes by the tables a statement names: through the view it would read or write one shard's rows only",
				Hint:    "Name the tables in the statement (write the view's query in, as a subquery), or name the shard with /* pgshard: shard=N */ (once per shard)."})
		}
	}
	return rt
}

// localRelations are the names of the relations stmt names that are
// neither sharded nor reference tables (nor its CTEs): tables of the
// default shard, or views.
func (s *Schema) localRelations(stmt *pg.Node) []string {
	ctes := map[string]bool{}
	visit(stmt, func(c *pg.Node) bool {
		if cte := c.GetCommonTableExpr(); cte != nil {
			ctes[strings.ToLower(cte.Ctename)] = true
		}
		return true
	})
	var out []string
	visit(stmt, func(c *pg.Node) bool {
		// A write's target is a RangeVar of its own, not a node.
		var rv *pg.RangeVar
		switch {
		case c.GetRangeVar() != nil:
			rv = c.GetRangeVar()
		case c.GetInsertStmt() != nil:
			rv = c.GetInsertStmt().Relation
		case c.GetUpdateStmt() != nil:
			rv = c.GetUpdateStmt().Relation
		case c.GetDeleteStmt() != nil:
			rv = c.GetDeleteStmt().Relation
		case c.GetMergeStmt() != nil:
			rv = c.GetMergeStmt().Relation
		}
		if rv == nil {
			return true
		}
		name, schema := strings.ToLower(rv.Relname), strings.ToLower(rv.Schemaname)
		if schema == "" && ctes[name] || slices.Contains(out, name) {
			return true
		}
		if role, _ := s.lookup(schema, name); role == roleLocal {
			out = append(out, name)
		}
		return true
	})
	return out
}
