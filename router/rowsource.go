package router

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// rowsFromShards says whether a query's rows come from a sharded table:
// one its FROM list reads, through joins, derived tables and CTEs, but not
// one read only by a subquery in an expression. A query whose rows do not
// (a reference table's, or no FROM at all) gets them from every shard
// alike, so running it on several shards repeats them, and each copy is
// filtered by that shard's part of the subqueries: such a query cannot be
// merged. For a UNION, INTERSECT or EXCEPT, every branch must qualify.
func (a *analyzer) rowsFromShards(n *pg.Node) bool {
	return a.queryRows(n, map[string]bool{})
}

func (a *analyzer) queryRows(n *pg.Node, seen map[string]bool) bool {
	s := n.GetSelectStmt()
	if s == nil {
		return false
	}
	if s.Op != pg.SetOperation_SETOP_NONE {
		return a.queryRows(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: s.Larg}}, seen) &&
			a.queryRows(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: s.Rarg}}, seen)
	}
	for _, item := range s.FromClause {
		if a.itemRows(item, seen) {
			return true
		}
	}
	return false
}

func (a *analyzer) itemRows(n *pg.Node, seen map[string]bool) bool {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		name, schema := strings.ToLower(rv.Relname), strings.ToLower(rv.Schemaname)
		if q, ok := a.cteQueries[name]; ok && schema == "" {
			if seen[name] {
				return false // a recursive CTE's reference to itself
			}
			seen[name] = true
			defer delete(seen, name)
			return a.queryRows(q, seen)
		}
		role, _ := a.schema.lookup(schema, name)
		return role == roleSharded
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		return a.itemRows(j.Larg, seen) || a.itemRows(j.Rarg, seen)
	case n.GetRangeSubselect() != nil:
		return a.queryRows(n.GetRangeSubselect().Subquery, seen)
	}
	return false
}
