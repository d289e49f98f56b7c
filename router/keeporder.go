package router

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// A query that reads one derived table (or a CTE) whose own ORDER BY it
// does not override — SELECT * FROM (SELECT ... ORDER BY created) t, WITH
// t AS (... ORDER BY x) SELECT * FROM t LIMIT 10 — gets its rows from
// PostgreSQL in that order: filtering and projecting keep it. SQL leaves
// the order unspecified, but applications count on it, and with a LIMIT
// outside it decides which rows come back. Across shards, each shard's
// rows come sorted but their concatenation would not be. So the shards
// are sent the derived table's query in place of SELECT * FROM it, or the
// inner ORDER BY is written out again on the outer query, over the
// derived table's columns; either is merged like any other ORDER BY. If
// neither can be merged, the query is planned as before, and refused
// (then staged, where it can be) when an outer LIMIT or OFFSET would pick
// other rows.

// orderSource is the derived table or CTE an outer query reads alone.
type orderSource struct {
	query    *pg.SelectStmt
	qualify  string   // the name the outer query knows it by
	colnames []string // column aliases given to it, if any
}

// orderKept returns a copy of stmt that sorts its rows as PostgreSQL
// would return them, when stmt reads one derived table with an ORDER BY
// and does not sort its rows itself; nil when there is nothing to keep or
// no way to keep it. decides says that the order decides which rows come
// back (an outer LIMIT or OFFSET), so that losing it would change them.
func (a *analyzer) orderKept(stmt *pg.Node) (kept *pg.Node, decides bool) {
	sel := stmt.GetSelectStmt()
	if !a.keepsOrder(sel) {
		return nil, false
	}
	src := derivedSource(sel)
	if src == nil {
		return nil, false
	}
	decides = len(src.query.SortClause) > 0 && !(isNull(sel.LimitCount) && isNull(sel.LimitOffset))
	if c := a.collapsed(stmt); c != nil {
		return c, decides
	}
	c := proto.Clone(stmt).(*pg.Node)
	if a.liftOrder(c.GetSelectStmt(), derivedSource(c.GetSelectStmt())) {
		return c, decides
	}
	return nil, decides
}

// collapsed is SELECT * FROM (inner) t [LIMIT ...] as inner itself with
// that LIMIT, when inner has an ORDER BY: the same rows in the same order,
// and inner's ORDER BY is then merged as any other, whatever it sorts by.
// Nil for any other statement.
func (a *analyzer) collapsed(stmt *pg.Node) *pg.Node {
	sel := stmt.GetSelectStmt()
	if len(sel.TargetList) != 1 || sel.WhereClause != nil || len(sel.LockingClause) > 0 || sel.IntoClause != nil {
		return nil
	}
	src := derivedSource(sel)
	if len(src.colnames) > 0 {
		return nil
	}
	cr := sel.TargetList[0].GetResTarget().GetVal().GetColumnRef()
	if cr == nil || cr.Fields[len(cr.Fields)-1].GetAStar() == nil || len(cr.Fields) > 2 ||
		len(cr.Fields) == 2 && cr.Fields[0].GetString_().GetSval() != src.qualify {
		return nil
	}
	if src.query.Op != pg.SetOperation_SETOP_NONE || len(src.query.SortClause) == 0 || !isNull(src.query.LimitCount) ||
		!zeroConst(src.query.LimitOffset) || len(src.query.LockingClause) > 0 {
		return nil
	}
	in := proto.Clone(src.query).(*pg.SelectStmt)
	if with := sel.WithClause; with != nil {
		if with.Recursive || in.WithClause != nil {
			return nil
		}
		// The other CTEs stay, now inner's: it is what may read them.
		var rest []*pg.Node
		for _, c := range with.Ctes {
			if c.GetCommonTableExpr().GetCtequery().GetSelectStmt() != src.query {
				rest = append(rest, c)
			}
		}
		if len(rest) > 0 {
			in.WithClause = &pg.WithClause{Ctes: rest, Location: -1}
		}
	}
	in.LimitCount, in.LimitOffset, in.LimitOption = sel.LimitCount, sel.LimitOffset, sel.LimitOption
	return &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: in}}
}

// zeroConst says whether an OFFSET is absent, NULL or the constant 0
// (not a parameter: the statement would then lose it).
func zeroConst(n *pg.Node) bool {
	if isNull(n) {
		return true
	}
	iv, ok := n.GetAConst().GetVal().(*pg.A_Const_Ival)
	return ok && iv.Ival.Ival == 0
}

// keepsOrder says whether sel returns its one FROM item's rows in their
// order: it filters and computes columns, but does not group, sort, join
// or number them.
func (a *analyzer) keepsOrder(sel *pg.SelectStmt) bool {
	if sel.Op != pg.SetOperation_SETOP_NONE || len(sel.SortClause) > 0 || len(sel.GroupClause) > 0 || sel.HavingClause != nil ||
		len(sel.DistinctClause) > 0 || len(sel.WindowClause) > 0 || len(sel.FromClause) != 1 {
		return false
	}
	vals := make([]*pg.Node, len(sel.TargetList))
	for i, t := range sel.TargetList {
		vals[i] = t.GetResTarget().GetVal()
	}
	if a.schema.hasAggregate(vals) {
		return false
	}
	window := false
	for _, v := range vals {
		visit(v, func(c *pg.Node) bool {
			if f := c.GetFuncCall(); f != nil && f.Over != nil {
				window = true
			}
			return !window && c.GetSubLink() == nil
		})
	}
	return !window
}

// derivedSource finds what sel's one FROM item reads: a derived table, or
// a CTE of sel's own WITH referenced nowhere else (its columns may then be
// added to).
func derivedSource(sel *pg.SelectStmt) *orderSource {
	from := sel.FromClause[0]
	if rs := from.GetRangeSubselect(); rs != nil {
		q := rs.Subquery.GetSelectStmt()
		if rs.Lateral || q == nil || rs.Alias == nil {
			return nil
		}
		return &orderSource{query: q, qualify: rs.Alias.Aliasname, colnames: strs(rs.Alias.Colnames)}
	}
	rv := from.GetRangeVar()
	if rv == nil || rv.Schemaname != "" || rv.Catalogname != "" || sel.WithClause == nil || sel.WithClause.Recursive {
		return nil
	}
	var cte *pg.CommonTableExpr
	for _, c := range sel.WithClause.Ctes {
		if c.GetCommonTableExpr().Ctename == rv.Relname {
			cte = c.GetCommonTableExpr()
		}
	}
	if cte == nil || cte.Ctequery.GetSelectStmt() == nil {
		return nil
	}
	defined, refs := 0, 0
	visit(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}, func(n *pg.Node) bool {
		if c := n.GetCommonTableExpr(); c != nil && c.Ctename == cte.Ctename {
			defined++
		}
		if r := n.GetRangeVar(); r != nil && r.Schemaname == "" && r.Relname == cte.Ctename {
			refs++
		}
		return true
	})
	if defined != 1 || refs != 1 {
		return nil
	}
	src := &orderSource{query: cte.Ctequery.GetSelectStmt(), qualify: rv.Relname, colnames: strs(cte.Aliascolnames)}
	if rv.Alias != nil {
		src.qualify = rv.Alias.Aliasname
		if len(rv.Alias.Colnames) > 0 {
			src.colnames = strs(rv.Alias.Colnames)
		}
	}
	return src
}

func strs(nodes []*pg.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.GetString_().GetSval()
	}
	return out
}

// liftOrder writes src's ORDER BY onto sel as an ORDER BY of src's
// columns, adding to src the sort keys it does not return (and spelling
// out a "*" of sel's that would show them). Nested derived tables are
// lifted first, from the inside out. False, with nothing changed, when
// src has no ORDER BY to lift or one that cannot be.
func (a *analyzer) liftOrder(sel *pg.SelectStmt, src *orderSource) bool {
	in := src.query
	if a.keepsOrder(in) {
		if inner := derivedSource(in); inner != nil {
			a.liftOrder(in, inner)
		}
	}
	if in.Op != pg.SetOperation_SETOP_NONE || len(in.SortClause) == 0 || !a.noLimit(in) {
		return false
	}
	cols := newDerivedColumns(in, src.colnames)
	var sorts []*pg.Node
	var added []*pg.Node
	for _, s := range in.SortClause {
		sb := s.GetSortBy()
		if sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return false
		}
		key, collate := sb.Node, (*pg.CollateClause)(nil)
		if cc := key.GetCollateClause(); cc != nil {
			key, collate = cc.Arg, cc
		}
		name, ok := cols.find(key)
		if !ok {
			if len(in.DistinctClause) > 0 && in.DistinctClause[0].GetNode() == nil {
				return false // PostgreSQL requires DISTINCT's sort keys in its select list
			}
			name = fmt.Sprintf("pgshard_order_%d", len(added)+1)
			added = append(added, &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Name: name, Val: proto.Clone(key).(*pg.Node)}}})
		}
		ref := &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(src.qualify), pg.MakeStrNode(name)}, Location: -1}}}
		if collate != nil {
			ref = &pg.Node{Node: &pg.Node_CollateClause{CollateClause: &pg.CollateClause{Arg: ref, Collname: collate.Collname, Location: -1}}}
		}
		sorts = append(sorts, &pg.Node{Node: &pg.Node_SortBy{SortBy: &pg.SortBy{Node: ref, SortbyDir: sb.SortbyDir, SortbyNulls: sb.SortbyNulls, Location: -1}}})
	}
	if len(added) > 0 {
		// The added columns must not reach the client through a "*".
		expanded, ok := cols.expandStars(sel.TargetList, src.qualify)
		if !ok {
			return false
		}
		sel.TargetList = expanded
		in.TargetList = append(in.TargetList, added...)
	}
	sel.SortClause = sorts
	return true
}

// derivedColumns are the columns a derived table returns, as the query
// reading it names them.
type derivedColumns struct {
	targets []*pg.ResTarget
	own     []string // each column's name inside the derived table
	names   []string // each column's name outside it; "" where not known
	star    bool     // the select list has a "*": its columns are not all known
	oneRel  bool     // ... over a single table or derived table
}

func newDerivedColumns(in *pg.SelectStmt, colnames []string) *derivedColumns {
	c := &derivedColumns{}
	for i, t := range in.TargetList {
		rt := t.GetResTarget()
		c.targets = append(c.targets, rt)
		name := rt.Name
		if cr := rt.GetVal().GetColumnRef(); cr != nil {
			last := cr.Fields[len(cr.Fields)-1]
			if last.GetAStar() != nil {
				c.star = true
			} else if name == "" {
				name = last.GetString_().GetSval()
			}
		}
		c.own = append(c.own, name)
		if i < len(colnames) {
			name = colnames[i]
		}
		c.names = append(c.names, name)
	}
	c.oneRel = len(in.TargetList) == 1 && c.star && len(colnames) == 0 && len(in.FromClause) == 1 &&
		(in.FromClause[0].GetRangeVar() != nil || in.FromClause[0].GetRangeSubselect() != nil)
	return c
}

// find returns the name of the column that sort key n sorts by, as
// PostgreSQL resolves an ORDER BY item: a position, an output column's
// name, then an expression of the select list. A "*" over one relation
// returns every column of it, so a plain column is among them.
func (c *derivedColumns) find(n *pg.Node) (string, bool) {
	idx := -1
	switch {
	case n.GetAConst() != nil:
		iv, ok := n.GetAConst().Val.(*pg.A_Const_Ival)
		if !ok || c.star || iv.Ival.Ival < 1 || int(iv.Ival.Ival) > len(c.targets) {
			return "", false
		}
		idx = int(iv.Ival.Ival) - 1
	case n.GetColumnRef() != nil && len(n.GetColumnRef().Fields) == 1 && n.GetColumnRef().Fields[0].GetString_() != nil:
		name := n.GetColumnRef().Fields[0].GetString_().GetSval()
		for i, own := range c.own {
			if own == name {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		key := exprKey(n)
		for i, t := range c.targets {
			if exprKey(t.GetVal()) == key {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		if cr := n.GetColumnRef(); c.oneRel && cr != nil && len(cr.Fields) <= 2 {
			if last := cr.Fields[len(cr.Fields)-1].GetString_(); last != nil {
				return last.Sval, true
			}
		}
		return "", false
	}
	if c.star || !c.unique(c.names[idx]) {
		return "", false
	}
	return c.names[idx], true
}

// unique says whether name names exactly one column.
func (c *derivedColumns) unique(name string) bool {
	if name == "" {
		return false
	}
	n := 0
	for _, x := range c.names {
		if x == name {
			n++
		}
	}
	return n == 1
}

// expandStars replaces each "*" and "qualify.*" of targets by the derived
// table's columns, named, so that columns added to it stay out of sight.
// False when a column's name is not known.
func (c *derivedColumns) expandStars(targets []*pg.Node, qualify string) ([]*pg.Node, bool) {
	var out []*pg.Node
	for _, t := range targets {
		cr := t.GetResTarget().GetVal().GetColumnRef()
		if cr == nil || cr.Fields[len(cr.Fields)-1].GetAStar() == nil {
			out = append(out, t)
			continue
		}
		if len(cr.Fields) == 2 && cr.Fields[0].GetString_().GetSval() != qualify || len(cr.Fields) > 2 {
			return nil, false
		}
		if c.star {
			return nil, false
		}
		for _, name := range c.names {
			if !c.unique(name) {
				return nil, false
			}
			out = append(out, &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Location: -1,
				Val: &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(qualify), pg.MakeStrNode(name)}, Location: -1}}}}}})
		}
	}
	return out, true
}
