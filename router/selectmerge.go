package router

import (
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgshard/pgshard/router/merge"
)

// Column indexes in a merge.Spec built at plan time may be negative: -k is
// the k-th column from the end, for columns pgshard appends after a "*"
// whose width only the RowDescription tells; with Star set, Output is
// "all columns but -Output". Resolve fixes them once the width is known.

// mergePlan derives how to merge the results of a SELECT run on several
// shards, rewriting what each shard is sent where the merge needs other
// columns than the client asked for (avg → sum and count, hidden sort
// keys, HAVING aggregates, LIMIT l OFFSET o → LIMIT l+o).
func (a *analyzer) mergePlan(p *Plan, stmt *pg.Node) error {
	kept, decides := a.orderKept(stmt)
	if kept != nil {
		if err := a.mergeOf(p, kept, true); err == nil {
			return nil
		}
	}
	if decides {
		return fmt.Errorf("pgshard: cannot merge LIMIT or OFFSET over the ORDER BY of a subquery across shards")
	}
	return a.mergeOf(p, stmt, false)
}

// mergeOf plans the merge of stmt; rewritten says stmt is not the
// client's text, so the shards must be sent its own.
func (a *analyzer) mergeOf(p *Plan, stmt *pg.Node, rewritten bool) error {
	sel := stmt.GetSelectStmt()
	m := &mergeBuilder{a: a, sel: sel, spec: &merge.Spec{Limit: -1}, rewritten: rewritten}
	// Grouped by a shard key, every group is whole on one shard: each
	// shard's groups are final, whatever the aggregates, and the rows only
	// need what a plain SELECT's need.
	m.local = a.top != nil && len(sel.GroupClause) > 0 && a.ownKeyIn(sel.GroupClause, a.top)
	if sel.Op != pg.SetOperation_SETOP_NONE {
		if err := m.setOperation(p); err != nil {
			return err
		}
		return m.rewrite(p, stmt)
	}
	if err := m.targets(); err != nil {
		return err
	}
	if err := m.groupBy(); err != nil {
		return err
	}
	if err := m.having(); err != nil {
		return err
	}
	var on []*pg.Node
	if len(sel.DistinctClause) > 0 {
		if d := sel.DistinctClause[0]; d != nil && d.Node != nil {
			if !m.local && (m.aggs || len(sel.GroupClause) > 0) {
				return fmt.Errorf("pgshard: cannot merge SELECT DISTINCT ON with GROUP BY or aggregates across shards unless grouped by the shard key")
			}
			on = sel.DistinctClause
		} else {
			m.spec.Distinct = true
		}
	}
	if err := m.orderBy(); err != nil {
		return err
	}
	if on != nil {
		if err := m.distinctOn(on); err != nil {
			return err
		}
	}
	m.groupByDistinct()
	if err := m.limit(p); err != nil {
		return err
	}
	m.finish()
	p.Merge = m.spec
	return m.rewrite(p, stmt)
}

// rewrite records what the shards are sent when the merge changed it.
func (m *mergeBuilder) rewrite(p *Plan, stmt *pg.Node) error {
	if !m.rewritten {
		return nil
	}
	out, err := pg.Deparse(&pg.ParseResult{Version: m.a.version, Stmts: []*pg.RawStmt{{Stmt: stmt}}})
	if err != nil {
		return fmt.Errorf("pgshard: rewriting the query for the shards: %w", err)
	}
	p.ShardSQL = out
	p.Exact = true
	return nil
}

type mergeBuilder struct {
	a         *analyzer
	sel       *pg.SelectStmt
	spec      *merge.Spec
	star      int // index of the first "*" target, or -1
	lastStar  int // index of the last "*" target, or -1
	visible   int // targets the client asked for
	hidden    []*pg.Node
	keys      []string // exprKey of each visible target
	names     []string // output name of each visible target
	aggs      bool
	rewritten bool
	distinct  []*pg.Node // the x of each count(DISTINCT x), once per expression
	local     bool       // grouped by a shard key: groups are final on their shard
}

// col returns the spec index of visible target i: its own index before
// a "*", and after the last "*" a placeholder counting from the end of
// the visible columns (fixed up by finish); none between two "*".
func (m *mergeBuilder) col(i int) (int, bool) {
	switch {
	case m.star < 0 || i < m.star:
		return i, true
	case i > m.lastStar:
		return tailBase + m.visible - i, true
	}
	return 0, false
}

// aggCol is col for aggregates and expressions over them, which are
// merged only when listed before any "*".
func (m *mergeBuilder) aggCol(i int) (int, bool) {
	if m.star >= 0 && i >= m.star {
		return 0, false
	}
	return i, true
}

// item is the select-list item (of targets) whose column col is, where
// the plan can tell. A position past a "*" may be any column from there
// on: it stands for the first item after the "*" that names a collation,
// so a merge that orders text by it is refused rather than done bytewise.
func (m *mergeBuilder) item(targets []*pg.Node, col int) *pg.Node {
	switch {
	case col >= tailBase:
		return targets[m.visible-(col-tailBase)].GetResTarget().GetVal()
	case col >= hiddenBase:
		return nil
	case m.star >= 0 && col >= m.star:
		for _, t := range targets[m.star:m.visible] {
			if v := t.GetResTarget().GetVal(); collationOf(v) != merge.CollateDefault {
				return v
			}
		}
		return nil
	case col < len(targets):
		return targets[col].GetResTarget().GetVal()
	}
	return nil
}

// addHidden appends a column for the merge only and returns its index
// placeholder, fixed up by finish.
func (m *mergeBuilder) addHidden(n *pg.Node) int {
	m.hidden = append(m.hidden, n)
	m.sel.TargetList = append(m.sel.TargetList, &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{
		Name: fmt.Sprintf("pgshard_%d", len(m.hidden)), Val: n}}})
	m.rewritten = true
	return hiddenBase + len(m.hidden) - 1
}

// Placeholders for the columns whose index finish fixes: hidden ones
// from hiddenBase, those after the last "*" from tailBase. Positions are
// kept below hiddenBase.
const (
	hiddenBase = 1 << 20
	tailBase   = 1 << 21
)

// fix turns placeholders into real (or from-the-end) indexes.
func (m *mergeBuilder) fix(c int) int {
	if c >= tailBase {
		return -(len(m.hidden) + c - tailBase)
	}
	if c < hiddenBase {
		return c
	}
	k := c - hiddenBase
	if m.star >= 0 {
		return -(len(m.hidden) - k)
	}
	return m.visible + k
}

func (m *mergeBuilder) finish() {
	s := m.spec
	for i := range s.GroupBy {
		s.GroupBy[i] = m.fix(s.GroupBy[i])
	}
	for i := range s.Aggs {
		s.Aggs[i].Col = m.fix(s.Aggs[i].Col)
		s.Aggs[i].CountCol = m.fix(s.Aggs[i].CountCol)
	}
	for i := range s.OrderBy {
		s.OrderBy[i].Col = m.fix(s.OrderBy[i].Col)
	}
	for i := range s.Derived {
		s.Derived[i].Col = m.fix(s.Derived[i].Col)
		s.Derived[i].Expr = merge.MapCols(s.Derived[i].Expr, m.fix)
	}
	s.Having = fixExpr(s.Having, m.fix)
	s.Hidden = len(m.hidden)
	if m.star >= 0 {
		s.Output, s.Star = -len(m.hidden), true
	} else {
		s.Output = m.visible
	}
}

var aggKinds = map[string]merge.AggKind{"count": merge.AggCount, "sum": merge.AggSum, "min": merge.AggMin, "max": merge.AggMax,
	"avg": merge.AggAvg, "bool_and": merge.AggBoolAnd, "every": merge.AggBoolAnd, "bool_or": merge.AggBoolOr,
	"string_agg": merge.AggStringAgg, "array_agg": merge.AggArrayAgg, "json_agg": merge.AggJSONAgg, "jsonb_agg": merge.AggJSONAgg}

// aggregate records target (or hidden) column col holding aggregate call
// n, rewriting avg into sum plus a hidden count, and count, sum or
// avg(DISTINCT x) into x itself with the shards grouping by x too (see
// distinctAgg).
func (m *mergeBuilder) aggregate(n *pg.Node, col int) error {
	f := n.GetFuncCall()
	name := funcName(f)
	kind, ok := aggKinds[name]
	if !ok {
		return fmt.Errorf("pgshard: cannot merge aggregate %s() across shards", name)
	}
	if len(f.AggOrder) > 0 && kind != merge.AggCount {
		return fmt.Errorf("pgshard: cannot merge %s(... ORDER BY ...) across shards", name)
	}
	if f.AggDistinct {
		switch {
		case kind == merge.AggMin || kind == merge.AggMax:
			// DISTINCT changes nothing for min and max.
		case f.AggFilter == nil && kind == merge.AggCount:
			return m.distinctAgg(n, col, merge.AggCountDistinct)
		case f.AggFilter == nil && kind == merge.AggSum:
			return m.distinctAgg(n, col, merge.AggSumDistinct)
		case f.AggFilter == nil && kind == merge.AggAvg:
			return m.distinctAgg(n, col, merge.AggAvgDistinct)
		default:
			return fmt.Errorf("pgshard: cannot merge %s(DISTINCT ...) across shards", name)
		}
	}
	agg := merge.Agg{Col: col, Kind: kind}
	if len(f.Args) == 1 {
		agg.Collation = collationOf(f.Args[0])
	}
	if kind == merge.AggStringAgg {
		c := f.Args[len(f.Args)-1].GetAConst()
		if len(f.Args) != 2 || c == nil || c.GetSval() == nil {
			return fmt.Errorf("pgshard: cannot merge string_agg across shards unless its separator is a string constant")
		}
		agg.Sep = c.GetSval().Sval
		m.a.exact = true // the separator is in the plan: cache it by exact text
	}
	if kind == merge.AggAvg {
		count := proto.Clone(f).(*pg.FuncCall)
		count.Funcname = []*pg.Node{pg.MakeStrNode("count")}
		f.Funcname = []*pg.Node{pg.MakeStrNode("sum")}
		agg.CountCol = m.addHidden(&pg.Node{Node: &pg.Node_FuncCall{FuncCall: count}})
		m.rewritten = true
	}
	m.spec.Aggs = append(m.spec.Aggs, agg)
	m.aggs = true
	return nil
}

// distinctAgg plans count, sum or avg(DISTINCT x) in column col: each
// shard returns x itself and groups by x as well as by the query's GROUP
// BY, so it sends every distinct value of every group once, and the merge
// counts, sums or averages the distinct values over all shards. The other aggregates stay exact: a
// shard's count, sum, min or max per (group, x) combines into the group's
// as the shards' partials already do.
func (m *mergeBuilder) distinctAgg(n *pg.Node, col int, kind merge.AggKind) error {
	f := n.GetFuncCall()
	name := funcName(f)
	if len(f.Args) != 1 {
		return fmt.Errorf("pgshard: cannot merge %s(DISTINCT ...) of %d arguments across shards", name, len(f.Args))
	}
	x := f.Args[0]
	if x.GetAConst() != nil {
		// A constant appended to GROUP BY would read as a column position.
		return fmt.Errorf("pgshard: cannot merge %s(DISTINCT constant) across shards", name)
	}
	key := exprKey(x)
	if !slices.ContainsFunc(m.distinct, func(d *pg.Node) bool { return exprKey(d) == key }) {
		m.distinct = append(m.distinct, proto.Clone(x).(*pg.Node))
	}
	n.Node = proto.Clone(x).(*pg.Node).Node
	m.spec.Aggs = append(m.spec.Aggs, merge.Agg{Col: col, Kind: kind})
	m.aggs = true
	m.rewritten = true
	return nil
}

// groupByDistinct adds the DISTINCT expressions to what the shards group
// by: each shard returns one row per group and combination of their
// values, and pgshard counts (or sums) each expression's distinct values
// on its own. Several expressions multiply the rows the shards send.
func (m *mergeBuilder) groupByDistinct() {
	m.sel.GroupClause = append(m.sel.GroupClause, m.distinct...)
}

func (m *mergeBuilder) targets() error {
	m.star, m.lastStar = -1, -1
	m.visible = len(m.sel.TargetList)
	for i, t := range m.sel.TargetList {
		name, star := outputName(t.GetResTarget())
		if star && m.star < 0 {
			m.star = i
		}
		if star {
			m.lastStar = i
		}
		m.names = append(m.names, name)
		m.keys = append(m.keys, exprKey(t.GetResTarget().GetVal()))
	}
	for i, t := range m.sel.TargetList[:m.visible] {
		v := t.GetResTarget().GetVal()
		f := v.GetFuncCall()
		if m.local {
			continue
		}
		if f != nil && m.a.schema.isAggregate(f) && varianceAggs[funcName(f)] != nil {
			if err := m.derived(i, t.GetResTarget()); err != nil {
				return err
			}
			continue
		}
		if f != nil && m.a.schema.isAggregate(f) {
			col, ok := m.aggCol(i)
			if !ok {
				return fmt.Errorf("pgshard: cannot merge aggregates listed after * across shards; name the columns")
			}
			if name := funcName(f); (name == "avg" || f.AggDistinct) && t.GetResTarget().GetName() == "" {
				// The shards compute sum (or return the DISTINCT
				// expression) in its place; the client still sees the
				// column named as PostgreSQL names it.
				t.GetResTarget().Name = name
			}
			if err := m.aggregate(v, col); err != nil {
				return err
			}
			continue
		}
		if m.a.schema.hasAggregate([]*pg.Node{v}) {
			if err := m.derived(i, t.GetResTarget()); err != nil {
				return err
			}
		}
	}
	return nil
}

// outputName is the lower-cased name a select-list item gives its column
// (its alias, or a plain column's own name; "" otherwise), and whether the
// item is a "*".
func outputName(rt *pg.ResTarget) (name string, star bool) {
	name = rt.GetName()
	if cr := rt.GetVal().GetColumnRef(); cr != nil {
		last := cr.Fields[len(cr.Fields)-1]
		if last.GetAStar() != nil {
			return "", true
		}
		if name == "" {
			name = last.GetString_().GetSval()
		}
	}
	return strings.ToLower(name), false
}

// find returns the visible target matching n: a position, an output name
// or the same expression.
func (m *mergeBuilder) find(n *pg.Node, positional bool) (int, bool) {
	if c := n.GetAConst(); c != nil && positional {
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			i := int(iv.Ival.Ival) - 1
			if m.star >= 0 && i >= m.star && i < hiddenBase {
				// A position counts output columns, so from a "*" on it
				// is the same index into the shards' rows, whose width
				// only the RowDescription tells: Resolve checks it.
				return i, true
			}
			if i >= 0 && i < m.visible {
				return m.col(i)
			}
		}
		return 0, false
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
		name := strings.ToLower(cr.Fields[0].GetString_().GetSval())
		for i, tn := range m.names {
			if tn == name && name != "" {
				return m.col(i)
			}
		}
	}
	key := exprKey(n)
	for i, k := range m.keys {
		if k == key {
			return m.col(i)
		}
	}
	return 0, false
}

func (m *mergeBuilder) groupBy() error {
	if m.local {
		return nil
	}
	for _, g := range m.sel.GroupClause {
		if g.GetGroupingSet() != nil {
			return fmt.Errorf("pgshard: cannot merge GROUPING SETS, ROLLUP or CUBE across shards")
		}
		if c := g.GetAConst(); c != nil && m.star >= 0 && c.GetIval().GetIval() > int32(m.star) {
			// Past a "*" the shards, which get hidden columns as well,
			// could group by one of those where PostgreSQL says the
			// position is not in the select list.
			return fmt.Errorf("pgshard: cannot merge GROUP BY a position past a * across shards; name the column")
		}
		col, ok := m.find(g, true)
		if !ok {
			if g.GetAConst() != nil {
				return fmt.Errorf("pgshard: GROUP BY position is not in the select list")
			}
			col = m.addHidden(proto.Clone(g).(*pg.Node))
		}
		m.spec.GroupBy = append(m.spec.GroupBy, col)
	}
	if len(m.sel.GroupClause) > 0 && !m.aggs {
		// GROUP BY without aggregates is a DISTINCT on the group key; the
		// merge needs an aggregate list to group, so count a hidden one.
		m.spec.Aggs = append(m.spec.Aggs, merge.Agg{Col: m.addHidden(countStar()), Kind: merge.AggCount})
		m.aggs = true
	}
	return nil
}

func countStar() *pg.Node {
	return &pg.Node{Node: &pg.Node_FuncCall{FuncCall: &pg.FuncCall{Funcname: []*pg.Node{pg.MakeStrNode("count")}, AggStar: true}}}
}

func (m *mergeBuilder) orderBy() error {
	for _, s := range m.sel.SortClause {
		sb := s.GetSortBy()
		if sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return fmt.Errorf("pgshard: cannot merge ORDER BY ... USING across shards")
		}
		col, ok := m.find(sb.Node, true)
		if !ok {
			if sb.Node.GetAConst() != nil {
				return fmt.Errorf("pgshard: ORDER BY position is not in the select list")
			}
			if f := sb.Node.GetFuncCall(); !m.local && m.a.schema.hasAggregate([]*pg.Node{sb.Node}) && (f == nil || !m.a.schema.isAggregate(f) || varianceAggs[funcName(f)] != nil) {
				c, err := m.hiddenDerived(sb.Node)
				if err != nil {
					return fmt.Errorf("pgshard: cannot merge ORDER BY an expression over an aggregate across shards: %w", err)
				}
				m.spec.OrderBy = append(m.spec.OrderBy, sortKey(sb, c, nil))
				continue
			}
			clone := proto.Clone(sb.Node).(*pg.Node)
			col = m.addHidden(clone)
			// With local groups the shard computes the group's value in the
			// hidden column, aggregates included.
			if f := clone.GetFuncCall(); !m.local && f != nil && m.a.schema.isAggregate(f) {
				if err := m.aggregate(clone, col); err != nil {
					return err
				}
			}
		}
		m.spec.OrderBy = append(m.spec.OrderBy, sortKey(sb, col, m.item(m.sel.TargetList, col)))
	}
	return nil
}

// sortKey is an ORDER BY item's direction and NULLS placement for column
// col, and the collation it names: on the item, or else on the select-list
// item it names (item, nil when none or unknown).
func sortKey(sb *pg.SortBy, col int, item *pg.Node) merge.SortKey {
	desc := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
	nullsFirst := desc
	switch sb.SortbyNulls {
	case pg.SortByNulls_SORTBY_NULLS_FIRST:
		nullsFirst = true
	case pg.SortByNulls_SORTBY_NULLS_LAST:
		nullsFirst = false
	}
	coll := collationOf(sb.Node)
	if item != nil && coll == merge.CollateDefault {
		// ORDER BY an output column by name or position: its collation is
		// the select-list item's.
		coll = collationOf(item)
	}
	return merge.SortKey{Col: col, Desc: desc, NullsFirst: nullsFirst, Collation: coll}
}

// collationOf is the collation expression n names for its text: COLLATE
// "C" (or "POSIX" or "ucs_basic", which order text by its bytes as merges
// do) on n itself, or any other COLLATE on n or within it, which the
// result may inherit (lower(x COLLATE "de_DE") orders by de_DE).
// Without any, n orders by its columns' collations, the default ones for
// all pgshard knows.
func collationOf(n *pg.Node) merge.Collation {
	if cc := n.GetCollateClause(); cc != nil {
		if bytewiseCollation(cc) {
			return merge.CollateBytes
		}
		return merge.CollateNamed
	}
	coll := merge.CollateDefault
	visit(n, func(c *pg.Node) bool {
		if cc := c.GetCollateClause(); cc != nil && !bytewiseCollation(cc) {
			coll = merge.CollateNamed
		}
		// A subquery's COLLATE is its own: only its result reaches n.
		return coll == merge.CollateDefault && c.GetSubLink() == nil
	})
	return coll
}

// bytewiseCollation says whether cc names a collation that orders text by
// its bytes.
func bytewiseCollation(cc *pg.CollateClause) bool {
	if len(cc.Collname) == 0 {
		return false
	}
	switch strings.ToLower(cc.Collname[len(cc.Collname)-1].GetString_().GetSval()) {
	case "c", "posix", "ucs_basic":
		return true
	}
	return false
}

// distinctOn merges SELECT DISTINCT ON (...): each shard keeps the first
// row per key in the query's order, and pgshard sorts all of them the same
// way and keeps the first per key again. PostgreSQL requires DISTINCT ON's
// expressions to lead the ORDER BY; without ORDER BY the rows come in no
// particular order, so sorting by the DISTINCT ON expressions is one.
func (m *mergeBuilder) distinctOn(exprs []*pg.Node) error {
	k := len(exprs)
	if len(m.sel.SortClause) == 0 {
		for _, e := range exprs {
			col, ok := m.find(e, true)
			if !ok {
				if e.GetAConst() != nil {
					return fmt.Errorf("pgshard: DISTINCT ON position is not in the select list")
				}
				col = m.addHidden(proto.Clone(e).(*pg.Node))
			}
			m.spec.OrderBy = append(m.spec.OrderBy, merge.SortKey{Col: col})
		}
		m.spec.DistinctOn = k
		return nil
	}
	errLead := fmt.Errorf("pgshard: cannot merge SELECT DISTINCT ON across shards unless its expressions are written as the leading ORDER BY expressions")
	if len(m.spec.OrderBy) < k {
		return errLead
	}
	lead := map[int]bool{}
	for _, key := range m.spec.OrderBy[:k] {
		lead[key.Col] = true
	}
	for _, e := range exprs {
		col, ok := m.find(e, true)
		if !ok {
			for i, s := range m.sel.SortClause[:k] {
				if exprKey(s.GetSortBy().Node) == exprKey(e) {
					col, ok = m.spec.OrderBy[i].Col, true
					break
				}
			}
		}
		if !ok || !lead[col] {
			return errLead
		}
	}
	m.spec.DistinctOn = k
	return nil
}

// limit records LIMIT/OFFSET for the merge and rewrites what the shards
// get: with aggregation or DISTINCT the shards must return every group;
// otherwise each returns its first limit+offset rows.
func (m *mergeBuilder) limit(p *Plan) error {
	sel := m.sel
	// FETCH ... WITH TIES: the rows of the whole are those ordered no later
	// than its last row within the window; a shard's among them are within
	// its own first limit+offset rows and their ties, so the shards keep
	// the clause and the merge extends the window over the ties.
	m.spec.WithTies = sel.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES
	read := func(n *pg.Node) (*Source, error) {
		if n == nil || n.GetAConst() != nil && n.GetAConst().Isnull {
			return nil, nil
		}
		src, ok := m.a.source(n)
		if !ok {
			return nil, fmt.Errorf("pgshard: cannot merge a LIMIT or OFFSET that is not a constant or parameter across shards")
		}
		return &src, nil
	}
	var err error
	if p.LimitSrc, err = read(sel.LimitCount); err != nil {
		return err
	}
	if p.OffSrc, err = read(sel.LimitOffset); err != nil {
		return err
	}
	switch {
	case p.LimitSrc == nil && p.OffSrc == nil:
	case m.aggs || m.spec.Distinct || m.spec.DistinctOn > 0:
		sel.LimitCount, sel.LimitOffset = unlimited(sel.LimitCount), unlimited(sel.LimitOffset)
		sel.LimitOption = pg.LimitOption_LIMIT_OPTION_DEFAULT
		if sel.LimitCount != nil {
			sel.LimitOption = pg.LimitOption_LIMIT_OPTION_COUNT // LIMIT, not FETCH ... WITH TIES
		}
		m.rewritten = true
	case p.OffSrc != nil:
		if sel.LimitCount != nil {
			// Typed, so parameters of unknown type add up.
			sel.LimitCount = &pg.Node{Node: &pg.Node_AExpr{AExpr: &pg.A_Expr{Kind: pg.A_Expr_Kind_AEXPR_OP,
				Name: []*pg.Node{pg.MakeStrNode("+")}, Lexpr: asBigint(sel.LimitCount), Rexpr: asBigint(sel.LimitOffset)}}}
			sel.LimitOffset = nil
		} else {
			sel.LimitOffset = unlimited(sel.LimitOffset)
		}
		m.rewritten = true
	}
	return nil
}

// unlimited is what stands for a LIMIT or OFFSET the shards must not apply:
// nothing, or, for a parameter, LIMIT/OFFSET CASE WHEN false THEN
// $n::int8 END — NULL, which PostgreSQL reads as no limit or offset —
// because the shards are sent the client's parameters, all of which the
// statement must still take, typed as PostgreSQL types them there.
func unlimited(n *pg.Node) *pg.Node {
	if paramOf(n) == 0 {
		return nil
	}
	return caseWhenFalse(asBigint(n))
}

func asBigint(n *pg.Node) *pg.Node {
	return &pg.Node{Node: &pg.Node_TypeCast{TypeCast: &pg.TypeCast{Arg: n, TypeName: &pg.TypeName{
		Names: []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("int8")}, Typemod: -1}}}}
}

// setOperation merges UNION [ALL] of queries: concatenation, or DISTINCT
// for UNION; then ORDER BY on result columns (each shard sorts its part,
// pgshard merges) and LIMIT/OFFSET (each shard returns its first
// limit+offset rows, which hold the first limit+offset of the whole, also
// after removing duplicates).
func (m *mergeBuilder) setOperation(p *Plan) error {
	sel := m.sel
	left := sel
	leaves := []*pg.SelectStmt{}
	onlyUnion, innerDistinct := true, false
	for s := sel; s.Op != pg.SetOperation_SETOP_NONE; s = s.Larg {
		if s.Op == pg.SetOperation_SETOP_UNION && !s.All {
			// Only the outermost UNION's DISTINCT covers every row; an inner
			// one's (A UNION B) UNION ALL C must not merge C's repeats.
			if s == sel {
				m.spec.Distinct = true
			} else {
				innerDistinct = true
			}
		}
		onlyUnion = onlyUnion && s.Op == pg.SetOperation_SETOP_UNION
		if s.Rarg.Op != pg.SetOperation_SETOP_NONE {
			return fmt.Errorf("pgshard: cannot merge nested set operations across shards")
		}
		left = s.Larg
		leaves = append(leaves, s.Rarg)
	}
	leaves = append(leaves, left)
	if innerDistinct && !m.spec.Distinct && !m.a.keyAligned(leaves) {
		return fmt.Errorf("pgshard: cannot merge a UNION ALL over the result of a UNION without ALL across shards unless every query selects its table's shard key in the same column")
	}
	if !onlyUnion && !m.a.keyAligned(leaves) {
		// Equal rows are then on one shard, so each shard's INTERSECT or
		// EXCEPT of its own rows is its part of the whole.
		return fmt.Errorf("pgshard: cannot merge INTERSECT or EXCEPT across shards unless every query selects its table's shard key in the same column")
	}
	m.spec.Output, m.spec.Star = 0, true // every column
	p.Merge = m.spec
	if len(sel.SortClause) == 0 && sel.LimitCount == nil && sel.LimitOffset == nil {
		return nil
	}
	// The result's columns are named by the first query's select list.
	m.star, m.lastStar = -1, -1
	m.visible = len(left.TargetList)
	for i, t := range left.TargetList {
		name, star := outputName(t.GetResTarget())
		if star && m.star < 0 {
			m.star = i
		}
		if star {
			m.lastStar = i
		}
		m.names = append(m.names, name)
		m.keys = append(m.keys, "\x00") // matched by name or position only
	}
	for _, s := range sel.SortClause {
		sb := s.GetSortBy()
		col, ok := m.find(sb.Node, true)
		if !ok || sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return fmt.Errorf("pgshard: cannot merge this ORDER BY over a UNION across shards; order by result columns, by name or position")
		}
		key := sortKey(sb, col, m.item(left.TargetList, col))
		key.Col = m.fix(col) // no hidden columns: only those after a "*"
		m.spec.OrderBy = append(m.spec.OrderBy, key)
	}
	// limit strips LIMIT from the shards under DISTINCT; over a UNION the
	// pushed-down limit+offset stays correct (see above), so it is kept.
	distinct := m.spec.Distinct
	m.spec.Distinct = false
	err := m.limit(p)
	m.spec.Distinct = distinct
	return err
}

// exprKey identifies an expression regardless of where it is written.
func exprKey(n *pg.Node) string {
	if n == nil {
		return ""
	}
	c := proto.Clone(n)
	clearLocations(c.ProtoReflect())
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	return string(b)
}

func clearLocations(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "location":
			m.Clear(fd)
		case fd.Message() != nil && fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				clearLocations(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			clearLocations(v.Message())
		}
		return true
	})
}

// Resolve returns spec with from-the-end column indexes made absolute for
// a result of ncols columns, and limit and offset set. It fails, as
// PostgreSQL would, when an ORDER BY position past a "*" is beyond the
// columns the client sees: the shards, which also return the hidden
// columns, may have taken it for one of those.
func Resolve(spec *merge.Spec, ncols int, limit, offset int64) (*merge.Spec, error) {
	s := *spec
	abs := func(c int) int {
		if c < 0 {
			return ncols + c
		}
		return c
	}
	if spec.Star {
		visible := ncols + spec.Output
		for _, k := range spec.OrderBy {
			if k.Col >= visible {
				return nil, &merge.Error{Code: codeInvalidColumnReference, Message: fmt.Sprintf("ORDER BY position %d is not in select list", k.Col+1)}
			}
		}
	}
	s.GroupBy = make([]int, len(spec.GroupBy))
	for i, c := range spec.GroupBy {
		s.GroupBy[i] = abs(c)
	}
	s.Aggs = make([]merge.Agg, len(spec.Aggs))
	for i, a := range spec.Aggs {
		a.Col, a.CountCol = abs(a.Col), abs(a.CountCol)
		s.Aggs[i] = a
	}
	s.OrderBy = make([]merge.SortKey, len(spec.OrderBy))
	for i, k := range spec.OrderBy {
		k.Col = abs(k.Col)
		s.OrderBy[i] = k
	}
	s.Derived = make([]merge.Derived, len(spec.Derived))
	for i, d := range spec.Derived {
		d.Col, d.Expr = abs(d.Col), merge.MapCols(d.Expr, abs)
		s.Derived[i] = d
	}
	s.Having = fixExpr(spec.Having, abs)
	if spec.Star {
		s.Output, s.Star = ncols+spec.Output, false
	}
	s.Limit, s.Offset = limit, offset
	return &s, nil
}
