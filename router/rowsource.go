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
	if t := dmlTarget(n); t != nil {
		// A write's RETURNING rows (a data-modifying CTE's) are the rows
		// it wrote, each on the shard of its key when the table is sharded.
		role, _ := a.schema.lookup(strings.ToLower(t.Schemaname), strings.ToLower(t.Relname))
		return role == roleSharded
	}
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
		if q := a.viewQuery(schema, name); q != nil && !seen["view "+name] {
			seen["view "+name] = true
			defer delete(seen, "view "+name)
			return a.queryRows(q, seen)
		}
		role, _ := a.schema.lookup(schema, name)
		return role == roleSharded
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		return a.itemRows(j.Larg, seen) || a.itemRows(j.Rarg, seen)
	case n.GetRangeSubselect() != nil:
		return a.queryRows(n.GetRangeSubselect().Subquery, seen)
	case n.GetRangeTableSample() != nil:
		return a.itemRows(n.GetRangeTableSample().Relation, seen)
	}
	return false
}

// outerJoinRepeats says whether a query joins, outside of subqueries in
// expressions, a side without sharded rows to a side with them by an
// outer join that keeps the former (countries LEFT JOIN users): each
// shard would return the kept side's rows that match none of its own
// rows, NULL-extended, whether or not another shard matches them.
func (a *analyzer) outerJoinRepeats(n *pg.Node) bool {
	return a.queryRepeats(n, map[string]bool{})
}

func (a *analyzer) queryRepeats(n *pg.Node, seen map[string]bool) bool {
	s := n.GetSelectStmt()
	switch {
	case s == nil:
		return false
	case s.Op != pg.SetOperation_SETOP_NONE:
		return a.queryRepeats(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: s.Larg}}, seen) ||
			a.queryRepeats(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: s.Rarg}}, seen)
	}
	for _, item := range s.FromClause {
		if a.itemRepeats(item, seen) {
			return true
		}
	}
	return false
}

func (a *analyzer) itemRepeats(n *pg.Node, seen map[string]bool) bool {
	switch {
	case n.GetRangeVar() != nil:
		name := strings.ToLower(n.GetRangeVar().Relname)
		if q, ok := a.cteQueries[name]; ok && n.GetRangeVar().Schemaname == "" && !seen[name] {
			seen[name] = true
			defer delete(seen, name)
			return a.queryRepeats(q, seen)
		}
		if q := a.viewQuery(strings.ToLower(n.GetRangeVar().Schemaname), name); q != nil && !seen["view "+name] {
			seen["view "+name] = true
			defer delete(seen, "view "+name)
			return a.queryRepeats(q, seen)
		}
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		if a.itemRepeats(j.Larg, seen) || a.itemRepeats(j.Rarg, seen) {
			return true
		}
		left, right := a.itemRows(j.Larg, map[string]bool{}), a.itemRows(j.Rarg, map[string]bool{})
		switch j.Jointype {
		case pg.JoinType_JOIN_LEFT:
			return !left && right
		case pg.JoinType_JOIN_RIGHT:
			return left && !right
		case pg.JoinType_JOIN_FULL:
			return left != right
		}
	case n.GetRangeSubselect() != nil:
		return a.queryRepeats(n.GetRangeSubselect().Subquery, seen)
	}
	return false
}

// readsSharded says whether a query reads a sharded table anywhere: in
// FROM, in subqueries, or through a CTE. One that does not computes the
// same on every shard (reference tables are whole on each), so nothing in
// it needs merging.
func (a *analyzer) readsSharded(s *pg.SelectStmt) bool {
	return a.nodeReadsSharded(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: s}}, map[string]bool{})
}

func (a *analyzer) nodeReadsSharded(n *pg.Node, seen map[string]bool) bool {
	found := false
	visit(n, func(c *pg.Node) bool {
		rv := c.GetRangeVar()
		if found || rv == nil {
			return !found
		}
		name, schema := strings.ToLower(rv.Relname), strings.ToLower(rv.Schemaname)
		if q, ok := a.cteQueries[name]; ok && schema == "" {
			if !seen[name] {
				seen[name] = true
				found = a.nodeReadsSharded(q, seen)
			}
			return false
		}
		if q := a.viewQuery(schema, name); q != nil {
			if !seen["view "+name] {
				seen["view "+name] = true
				found = a.nodeReadsSharded(q, seen)
			}
			return false
		}
		role, _ := a.schema.lookup(schema, name)
		found = role == roleSharded
		return false
	})
	return found
}
