package router

import (
	"maps"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// Views (and materialized views) over sharded tables, and partitions of
// them. pgshard routes a
// statement by the tables it names, and a view names none: the wire layer
// reads, from the default shard's catalog, which views read a sharded
// table (directly or through other views) and their definitions, and
// tells the router (SetTableViews).
//
// A read of a view is planned as if the view's query were written in as a
// subquery (the statement sent to the shards still names the view, so
// its permissions and options hold): SELECT * FROM active_users WHERE
// user_id = 42 runs on user 42's shard, SELECT count(*) FROM active_users
// on every shard, merged. A view whose query is computed over all its
// rows (an aggregate, DISTINCT, LIMIT inside) is staged: its query runs
// first, merged, and its rows take its place (stager.view). A
// materialized view (its rows are each shard's own snapshot) and a write
// through a view are refused,
// rather than run on the default shard alone. DDL naming them runs on
// every shard as before; a hint routes any of them. A partition (or an
// inheritance child) of a sharded table holds each shard's rows of it: it
// is refused by name too.

// View is what the catalog says of a view that reads a sharded table.
type View struct {
	Table string // a sharded table it reads, for messages
	// Definition is its query (pg_get_viewdef); empty for a materialized
	// view, which is not planned through.
	Definition string
	// Child: not a view but a partition (or inheritance child) of Table,
	// which holds each shard's rows of it; statements naming it are
	// refused.
	Child bool
}

// viewSet is SetTableViews's views, with their queries parsed.
type viewSet struct {
	views map[string]View
	trees map[string]*pg.Node
}

// SetTableViews replaces the views, by lower-case name, that read a
// sharded table; nil or empty clears them. Cached plans are dropped when
// they change.
func (r *Router) SetTableViews(views map[string]View) {
	old := r.tableViews.Load()
	if old == nil && len(views) == 0 || old != nil && maps.Equal(old.views, views) {
		return
	}
	if len(views) == 0 {
		r.tableViews.Store(nil)
	} else {
		vs := &viewSet{views: views, trees: map[string]*pg.Node{}}
		for name, v := range views {
			tree, err := pg.Parse(v.Definition)
			if err == nil && len(tree.Stmts) == 1 && tree.Stmts[0].Stmt.GetSelectStmt() != nil {
				vs.trees[name] = tree.Stmts[0].Stmt
			}
		}
		r.tableViews.Store(vs)
	}
	r.catalogGen.Add(1)
	r.cache.Purge()
}

// CatalogGen changes whenever the views or the aggregates do: a plan a
// client's prepared statement holds from before a change is made again
// (Prepare).
func (r *Router) CatalogGen() uint64 { return r.catalogGen.Load() }

// TableViews returns what SetTableViews last set.
func (r *Router) TableViews() map[string]View {
	if v := r.tableViews.Load(); v != nil {
		return v.views
	}
	return nil
}

// viewTrees are the parsed queries of the views to plan through, by name.
func (r *Router) viewTrees() map[string]*pg.Node {
	if v := r.tableViews.Load(); v != nil {
		return v.trees
	}
	return nil
}

// checkViews refuses rt when its statement names a view that reads a
// sharded table and was not planned through (plan.locals).
func (r *Router) checkViews(rt *Route) *Route {
	vs := r.tableViews.Load()
	if vs == nil || rt.Err != nil || rt.Plan == nil || len(rt.Plan.locals) == 0 || rt.Kind == KindAll || rt.hinted {
		return rt
	}
	if e := r.viewRefusal(rt.Plan.locals); e != nil {
		return refuseRoute(rt, e)
	}
	return rt
}

// viewRefusal is the refusal of a statement that names, among the
// relations it did not plan through (locals), a view or a partition of a
// sharded table; nil when it names none.
func (r *Router) viewRefusal(locals []string) *Error {
	vs := r.tableViews.Load()
	if vs == nil {
		return nil
	}
	for _, name := range locals {
		v, ok := vs.views[name]
		if ok && v.Child {
			return &Error{Code: codeFeatureNotSupported,
				Message: "pgshard: table " + name + " is a partition of sharded table " + v.Table + ", and pgshard routes by the sharded table's name: through the partition it would read or write one shard's rows only",
				Hint:    "Name " + v.Table + " instead (a condition on its partition key keeps the query to the partition), or name the shard with /* pgshard: shard=N */."}
		}
		if ok {
			return &Error{Code: codeFeatureNotSupported,
				Message: "pgshard: view " + name + " reads sharded table " + v.Table + ", and pgshard cannot plan this statement through it (a write through a view, or a materialized view): it would read or write one shard's rows only",
				Hint:    "Name the tables in the statement, or name the shard with /* pgshard: shard=N */ (once per shard)."}
		}
	}
	return nil
}

// maxViewDepth bounds views planned through views.
const maxViewDepth = 16

// view returns a copy of the query of the view rv names, to plan it as a
// subquery, or nil when rv is not such a view (or a CTE shadows it).
func (a *analyzer) view(rv *pg.RangeVar) *pg.Node {
	name := strings.ToLower(rv.Relname)
	if a.views == nil || rv.Schemaname == "" && a.ctes[name] || a.viewDepth >= maxViewDepth {
		return nil
	}
	tree, ok := a.views[name]
	if !ok {
		return nil
	}
	if !slices.Contains(a.expanded, name) {
		a.expanded = append(a.expanded, name)
	}
	return proto.Clone(tree).(*pg.Node)
}

// viewQuery is the query of the view schema.name to plan through, to read
// (not to change), or nil.
func (a *analyzer) viewQuery(schema, name string) *pg.Node {
	if a.views == nil || schema == "" && a.ctes[name] {
		return nil
	}
	return a.views[name]
}

// viewItem plans a FROM item naming a view as the subquery it stands for,
// under the view's name or the item's alias.
func (a *analyzer) viewItem(rv *pg.RangeVar, def *pg.Node, sc *scope) {
	alias := &pg.Alias{Aliasname: rv.Relname}
	if rv.Alias != nil {
		alias = rv.Alias
	}
	rs := &pg.RangeSubselect{Subquery: def, Alias: alias}
	inner := &scope{parent: sc}
	a.viewDepth++
	a.query(def, inner)
	a.viewDepth--
	a.derivedKey(rs, inner, sc)
}

// localRelations are the names of the relations stmt names that are
// neither sharded nor reference tables (nor its CTEs, nor the views
// planned through, expanded): tables of the default shard, or views. In a
// statement that writes, no view counts as planned through: the write
// paths do not plan through them.
func (s *Schema) localRelations(stmt *pg.Node, expanded []string) []string {
	ctes := map[string]bool{}
	visit(stmt, func(c *pg.Node) bool {
		if cte := c.GetCommonTableExpr(); cte != nil {
			ctes[strings.ToLower(cte.Ctename)] = true
		}
		if writeTarget(c) != nil {
			expanded = nil
		}
		return true
	})
	var out []string
	visit(stmt, func(c *pg.Node) bool {
		rv := c.GetRangeVar()
		if rv == nil {
			// A write's target is a RangeVar of its own, not a node.
			rv = writeTarget(c)
		}
		if rv == nil {
			return true
		}
		name, schema := strings.ToLower(rv.Relname), strings.ToLower(rv.Schemaname)
		if schema == "" && ctes[name] || slices.Contains(out, name) || slices.Contains(expanded, name) {
			return true
		}
		if role, _ := s.lookup(schema, name); role == roleLocal {
			out = append(out, name)
		}
		return true
	})
	return out
}

// writeTarget is the table an INSERT, UPDATE, DELETE or MERGE node
// writes, or a COPY reads or writes (never a view: PostgreSQL copies
// tables only).
func writeTarget(c *pg.Node) *pg.RangeVar {
	switch {
	case c.GetMergeStmt() != nil:
		return c.GetMergeStmt().Relation
	case c.GetCopyStmt() != nil:
		return c.GetCopyStmt().Relation
	}
	return dmlTarget(c)
}
