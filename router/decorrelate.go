package router

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// Correlated subqueries tied to their outer row by one equality are the
// ORM's favourite shapes (Django's Exists(...) and Subquery(...) with
// OuterRef): EXISTS (SELECT 1 FROM users u WHERE u.country = c.code AND
// ...) and (SELECT count(*) FROM orders o WHERE o.status = u.country).
// Staging the table's rows for them (stagetables.go) works for small
// tables only; these are answered for any size by staging what the outer
// row is compared with instead:
//
//   - EXISTS becomes COALESCE(c.code = ANY(<the distinct u.country values
//     the rest of the WHERE clause keeps>), false), which is false, not
//     NULL, where no value matches (so NOT EXISTS stays exact);
//   - a single aggregate becomes a lookup in the aggregate grouped by the
//     inner side of the equality: (SELECT v FROM <status, count(*) ...
//     GROUP BY status> g(k, v) WHERE g.k = u.country), with COALESCE(...,
//     0) for count, which counts no rows as 0 where the lookup finds none.
//
// Both compare with = as the subquery did, so a NULL on either side matches
// nothing, as in the subquery.

// groupedAggregates are the aggregates a grouped stage computes exactly
// (merged over shards), with what each gives over no rows when not NULL.
var groupedAggregates = map[string]string{
	"count": "0", "sum": "", "min": "", "max": "", "avg": "",
	"bool_and": "", "bool_or": "", "every": "",
}

// semiJoin stages EXISTS (sub) correlated by one equality as the values
// the outer row is compared with, and returns what replaces the sublink;
// nil when sub is not of that shape or the values cannot be staged.
func (sb *stager) semiJoin(sub *pg.SelectStmt) *pg.Node {
	if !plainSubquery(sub) || len(sub.GroupClause) > 0 || sub.HavingClause != nil || !positiveLimit(sub.LimitCount) {
		return nil
	}
	for _, t := range sub.TargetList {
		// An aggregate makes EXISTS true whatever the rows; a set-returning
		// function can make it false. Neither is a semi-join.
		if hasCall(t) {
			return nil
		}
	}
	inner, outer, rest, ok := correlation(sub)
	if !ok {
		return nil
	}
	values := &pg.SelectStmt{
		DistinctClause: []*pg.Node{{}},
		TargetList:     []*pg.Node{pg.MakeResTargetNodeWithVal(proto.Clone(inner).(*pg.Node), -1)},
		FromClause:     cloneNodes(sub.FromClause),
		WhereClause:    andOf(rest),
	}
	if !sb.add(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: values}}, StageArray) {
		return nil
	}
	return exprWith("COALESCE(pgshard_outer = ANY("+StageMarker(len(sb.stages)-1)+"), false)", outer)
}

// groupedValue stages (SELECT agg(...) FROM ... WHERE inner = outer AND
// ...) as the aggregate grouped by inner, and returns what replaces the
// sublink and the column name PostgreSQL gives the subquery; nil when sub
// is not of that shape or the groups cannot be staged.
func (sb *stager) groupedValue(sub *pg.SelectStmt) (*pg.Node, string) {
	if !plainSubquery(sub) || len(sub.GroupClause) > 0 || sub.HavingClause != nil || sub.LimitCount != nil || len(sub.DistinctClause) > 0 || len(sub.TargetList) != 1 {
		return nil, ""
	}
	rt := sub.TargetList[0].GetResTarget()
	fc := rt.GetVal().GetFuncCall()
	if fc == nil || fc.AggDistinct || len(fc.AggOrder) > 0 || fc.AggWithinGroup || fc.Over != nil || fc.AggFilter != nil {
		return nil, ""
	}
	empty, ok := groupedAggregates[funcName(fc)]
	if !ok || len(fc.Funcname) > 1 && !strings.EqualFold(fc.Funcname[0].GetString_().GetSval(), "pg_catalog") {
		return nil, ""
	}
	for _, a := range fc.Args {
		if hasCall(a) {
			return nil, ""
		}
	}
	inner, outer, rest, ok := correlation(sub)
	if !ok {
		return nil, ""
	}
	groups := &pg.SelectStmt{
		TargetList: []*pg.Node{
			pg.MakeResTargetNodeWithVal(proto.Clone(inner).(*pg.Node), -1),
			pg.MakeResTargetNodeWithVal(proto.Clone(rt.Val).(*pg.Node), -1),
		},
		FromClause:  cloneNodes(sub.FromClause),
		WhereClause: andOf(rest),
		GroupClause: []*pg.Node{pg.MakeAConstIntNode(1, -1)},
	}
	if !sb.add(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: groups}}, StageRows) {
		return nil, ""
	}
	lookup := "(SELECT pgshard_grouped.v FROM (SELECT * FROM " + StageMarker(len(sb.stages)-1) + ") pgshard_grouped(k, v) WHERE pgshard_grouped.k = pgshard_outer)"
	if empty != "" {
		lookup = "COALESCE(" + lookup + ", " + empty + ")"
	}
	name := rt.Name
	if name == "" {
		name = funcName(fc)
	}
	return exprWith(lookup, outer), name
}

// plainSubquery: one SELECT, with nothing that makes its rows more than
// its FROM list filtered by its WHERE clause (no set operation, WITH,
// window, lock, OFFSET).
func plainSubquery(sub *pg.SelectStmt) bool {
	return sub != nil && sub.Op == pg.SetOperation_SETOP_NONE && sub.WithClause == nil && sub.LockingClause == nil &&
		len(sub.WindowClause) == 0 && sub.LimitOffset == nil && sub.IntoClause == nil && len(sub.ValuesLists) == 0
}

// positiveLimit: no LIMIT, or a LIMIT of at least one row (Django's
// Exists adds LIMIT 1), which leaves EXISTS as it is.
func positiveLimit(n *pg.Node) bool {
	if n == nil {
		return true
	}
	c := n.GetAConst()
	return c != nil && c.GetIval() != nil && c.GetIval().Ival >= 1
}

// correlation splits sub's WHERE clause into the one condition tying it to
// the outer row, inner = outer (inner naming sub's relations only, outer
// the outer query's only), and the rest, which must not name the outer
// query; nor may anything else of sub. ok is false for any other shape.
func correlation(sub *pg.SelectStmt) (inner, outer *pg.Node, rest []*pg.Node, ok bool) {
	defined := definedNames(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sub}})
	for _, q := range andArgs(sub.WhereClause) {
		if !namesOutside(q, defined) {
			rest = append(rest, q)
			continue
		}
		e := q.GetAExpr()
		if inner != nil || e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 || e.Name[0].GetString_().GetSval() != "=" {
			return nil, nil, nil, false
		}
		switch {
		case !namesOutside(e.Lexpr, defined) && outerOnly(e.Rexpr, defined):
			inner, outer = e.Lexpr, e.Rexpr
		case !namesOutside(e.Rexpr, defined) && outerOnly(e.Lexpr, defined):
			inner, outer = e.Rexpr, e.Lexpr
		default:
			return nil, nil, nil, false
		}
	}
	if inner == nil {
		return nil, nil, nil, false
	}
	for _, part := range [][]*pg.Node{sub.TargetList, sub.FromClause, sub.DistinctClause} {
		for _, n := range part {
			if namesOutside(n, defined) {
				return nil, nil, nil, false
			}
		}
	}
	return inner, outer, rest, true
}

// definedNames are the relation names and aliases q defines, anywhere in
// it.
func definedNames(q *pg.Node) map[string]bool {
	defined := map[string]bool{}
	visit(q, func(c *pg.Node) bool {
		switch {
		case c.GetRangeVar() != nil:
			rv := c.GetRangeVar()
			defined[strings.ToLower(rv.Relname)] = true
			if rv.Alias != nil {
				defined[strings.ToLower(rv.Alias.Aliasname)] = true
			}
		case c.GetRangeSubselect() != nil && c.GetRangeSubselect().Alias != nil:
			defined[strings.ToLower(c.GetRangeSubselect().Alias.Aliasname)] = true
		case c.GetRangeFunction() != nil && c.GetRangeFunction().Alias != nil:
			defined[strings.ToLower(c.GetRangeFunction().Alias.Aliasname)] = true
		case c.GetCommonTableExpr() != nil:
			defined[strings.ToLower(c.GetCommonTableExpr().Ctename)] = true
		case c.GetJoinExpr() != nil && c.GetJoinExpr().Alias != nil:
			defined[strings.ToLower(c.GetJoinExpr().Alias.Aliasname)] = true
		}
		return true
	})
	return defined
}

// namesOutside says whether n qualifies a column with a relation that is
// not among defined.
func namesOutside(n *pg.Node, defined map[string]bool) bool {
	outside := false
	visit(n, func(c *pg.Node) bool {
		if cr := c.GetColumnRef(); cr != nil && len(cr.Fields) >= 2 {
			rel := cr.Fields[len(cr.Fields)-2].GetString_().GetSval()
			outside = rel != "" && !defined[strings.ToLower(rel)]
		}
		return !outside
	})
	return outside
}

// outerOnly says whether every column n names is qualified by a relation
// not among defined (an outer query's), and it names one at least.
func outerOnly(n *pg.Node, defined map[string]bool) bool {
	cols, ok := 0, true
	visit(n, func(c *pg.Node) bool {
		switch {
		case c.GetColumnRef() != nil:
			f := c.GetColumnRef().Fields
			cols++
			ok = len(f) >= 2 && !defined[strings.ToLower(f[len(f)-2].GetString_().GetSval())]
		case c.GetSubLink() != nil, c.GetParamRef() != nil:
			ok = false
		}
		return ok
	})
	return ok && cols > 0
}

// hasCall says whether n calls a function or holds a subquery.
func hasCall(n *pg.Node) bool {
	found := false
	visit(n, func(c *pg.Node) bool {
		found = found || c.GetFuncCall() != nil || c.GetSubLink() != nil
		return !found
	})
	return found
}

func cloneNodes(ns []*pg.Node) []*pg.Node {
	out := make([]*pg.Node, len(ns))
	for i, n := range ns {
		out[i] = proto.Clone(n).(*pg.Node)
	}
	return out
}

// exprWith parses the SQL expression template and puts a copy of outer in
// place of its column pgshard_outer.
func exprWith(template string, outer *pg.Node) *pg.Node {
	tree, err := pg.Parse("SELECT " + template)
	if err != nil {
		panic("pgshard: a decorrelation template does not parse: " + err.Error())
	}
	expr := tree.Stmts[0].Stmt.GetSelectStmt().TargetList[0].GetResTarget().Val
	visit(expr, func(c *pg.Node) bool {
		if cr := c.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetString_().GetSval() == "pgshard_outer" {
			c.Node = proto.Clone(outer).(*pg.Node).Node
			return false
		}
		return true
	})
	return expr
}
