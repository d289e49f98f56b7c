package router

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// inlineCTEs replaces the one reference to each CTE of *w in stmt by the
// CTE's query as a derived table, and drops the WITH clause, as PostgreSQL
// itself inlines a CTE that only reads and is referenced once (unless
// MATERIALIZED). An UPDATE or DELETE is staged by its derived tables and
// subqueries, not its CTEs, so WITH stale AS (SELECT ...) DELETE ... WHERE
// k IN (SELECT k FROM stale) is then staged as the IN (subquery) it
// means. False when a CTE cannot be inlined: it writes, the clause is
// recursive, it is MATERIALIZED, it is not referenced exactly once, or a
// CTE of the same name is defined elsewhere in stmt; stmt may then be
// half changed, so the caller drops it.
func inlineCTEs(stmt *pg.Node, w **pg.WithClause) bool {
	if (*w).Recursive {
		return false
	}
	defined := map[string]int{}
	visit(stmt, func(c *pg.Node) bool {
		if cte := c.GetCommonTableExpr(); cte != nil {
			defined[cte.Ctename]++
		}
		return true
	})
	for _, c := range (*w).Ctes {
		cte := c.GetCommonTableExpr()
		if cte.GetCtequery().GetSelectStmt() == nil || cte.Ctematerialized == pg.CTEMaterialize_CTEMaterializeAlways || defined[cte.Ctename] != 1 {
			return false
		}
	}
	// In the order they are defined: a later CTE may read an earlier one,
	// which is inlined into it first.
	for _, c := range (*w).Ctes {
		cte := c.GetCommonTableExpr()
		var refs []*pg.Node
		visit(stmt, func(n *pg.Node) bool {
			if rv := n.GetRangeVar(); rv != nil && rv.Schemaname == "" && rv.Catalogname == "" && rv.Relname == cte.Ctename {
				refs = append(refs, n)
			}
			return true
		})
		if len(refs) != 1 {
			return false
		}
		rv := refs[0].GetRangeVar()
		alias := rv.Alias
		if alias == nil {
			alias = &pg.Alias{Aliasname: rv.Relname}
		}
		if len(alias.Colnames) == 0 && len(cte.Aliascolnames) > 0 {
			alias = &pg.Alias{Aliasname: alias.Aliasname, Colnames: cte.Aliascolnames}
		}
		query := proto.Clone(cte.Ctequery).(*pg.Node)
		refs[0].Node = &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{Subquery: query, Alias: alias}}
	}
	*w = nil
	return true
}
