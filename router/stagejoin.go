package router

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Joins of sharded tables not on their shard keys (orders o JOIN users u
// ON o.status = u.country) cannot run shard by shard: matching rows may
// live on different shards. When one side's rows are few, they can go to
// every shard instead (a broadcast join): pgshard stages that table's
// rows, narrowed by the WHERE conditions that name it alone, and the
// statement then joins each shard's rows of the other tables with all of
// them. Which tables to stage is found by trying: the statement must route
// with them taken for constants. Tables with conditions of their own go
// first (likely the smaller side), then later ones in the FROM list. The
// rows travel only within the stage bound, so this answers joins with a
// small or well-filtered side and refuses the rest, as before.

// joinCandidate is a sharded table of a FROM list's join tree.
type joinCandidate struct {
	item     *pg.Node // the RangeVar's node, replaced in place
	alias    string   // how the query names its columns
	nullable bool     // on the NULL-extended side of an outer join
	pushed   []*pg.Node
	pos      int
}

// joins stages the sharded tables of sel's joins that keep it from
// routing, and says whether it did.
func (sb *stager) joins(sel *pg.SelectStmt) bool {
	if sel.Op != pg.SetOperation_SETOP_NONE {
		return false
	}
	ctes := map[string]bool{}
	if sel.WithClause != nil {
		for _, c := range sel.WithClause.Ctes {
			ctes[c.GetCommonTableExpr().GetCtename()] = true
		}
	}
	var cands []*joinCandidate
	var walk func(n *pg.Node, nullable bool)
	walk = func(n *pg.Node, nullable bool) {
		switch {
		case n.GetRangeVar() != nil:
			rv := n.GetRangeVar()
			if rv.Schemaname == "" && ctes[rv.Relname] || rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
				return
			}
			if role, _ := sb.r.schema.lookup(strings.ToLower(rv.Schemaname), strings.ToLower(rv.Relname)); role != roleSharded {
				return
			}
			alias := rv.Relname
			if rv.Alias != nil {
				alias = rv.Alias.Aliasname
			}
			cands = append(cands, &joinCandidate{item: n, alias: alias, nullable: nullable, pos: len(cands)})
		case n.GetJoinExpr() != nil:
			j := n.GetJoinExpr()
			left, right := nullable, nullable
			switch j.Jointype {
			case pg.JoinType_JOIN_LEFT:
				right = true
			case pg.JoinType_JOIN_RIGHT:
				left = true
			case pg.JoinType_JOIN_FULL:
				left, right = true, true
			}
			walk(j.Larg, left)
			walk(j.Rarg, right)
		}
	}
	for _, item := range sel.FromClause {
		walk(item, false)
	}
	if len(cands) < 2 {
		return false
	}
	conjuncts := andArgs(sel.WhereClause)
	for _, c := range cands {
		if c.nullable {
			// Conditions on the NULL-extended side are checked after the
			// join: filtering its rows first would extend more rows.
			continue
		}
		for _, q := range conjuncts {
			if pushable(q, c.alias) {
				c.pushed = append(c.pushed, q)
			}
		}
	}
	order := slices.Clone(cands)
	slices.SortStableFunc(order, func(a, b *joinCandidate) int {
		if len(a.pushed) != len(b.pushed) {
			return len(b.pushed) - len(a.pushed)
		}
		return b.pos - a.pos
	})
	// One table first, then more in that order; at least one stays.
	tries := make([][]*joinCandidate, 0, 2*len(order))
	for _, c := range order {
		tries = append(tries, []*joinCandidate{c})
	}
	for n := 2; n < len(order); n++ {
		tries = append(tries, order[:n])
	}
	for _, staged := range tries {
		if sb.routesWithout(sel, staged) {
			return sb.stageTables(staged)
		}
	}
	return false
}

// routesWithout says whether sel routes with the tables staged taken for
// constant rows.
func (sb *stager) routesWithout(sel *pg.SelectStmt, staged []*joinCandidate) bool {
	saved := make([]*pg.Node, len(staged))
	for i, c := range staged {
		saved[i] = &pg.Node{Node: c.item.Node}
		empty := &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: &pg.SelectStmt{}}}
		c.item.Node = &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{Subquery: empty, Alias: &pg.Alias{Aliasname: c.alias}}}
	}
	sql, err := pg.Deparse(&pg.ParseResult{Version: sb.version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}}}})
	for i, c := range staged {
		c.item.Node = saved[i].Node
	}
	if err != nil {
		return false
	}
	p := sb.r.planStaged(sql, sqltext.Normalize(sql).Literals, true, false)
	return p.Kind != KindRefuse
}

// stageTables makes each table's rows, narrowed by its pushed conditions,
// a stage, and puts the stage in the table's place.
func (sb *stager) stageTables(staged []*joinCandidate) bool {
	before := len(sb.stages)
	replaced := make([]*pg.Node, 0, len(staged))
	for _, c := range staged {
		rows := &pg.SelectStmt{
			TargetList:  []*pg.Node{starTarget()},
			FromClause:  []*pg.Node{proto.Clone(c.item).(*pg.Node)},
			WhereClause: andOf(c.pushed),
		}
		limitStageRows(rows)
		if !sb.addStage(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: rows}}, StageRows, false) {
			// Not expected: a table's rows always route. Put back what
			// was replaced.
			sb.stages = sb.stages[:before]
			for i, n := range replaced {
				staged[i].item.Node = n.Node
			}
			return false
		}
		sb.stages[len(sb.stages)-1].Table = c.alias
		replaced = append(replaced, &pg.Node{Node: c.item.Node})
		c.item.Node = &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{
			Subquery: selectFromMarker(len(sb.stages) - 1), Alias: &pg.Alias{Aliasname: c.alias}}}
	}
	return true
}

// andArgs splits a WHERE clause into its AND-ed conditions.
func andArgs(n *pg.Node) []*pg.Node {
	if n == nil {
		return nil
	}
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		var out []*pg.Node
		for _, a := range b.Args {
			out = append(out, andArgs(a)...)
		}
		return out
	}
	return []*pg.Node{n}
}

// andOf joins conditions with AND (nil for none); each is a copy.
func andOf(conds []*pg.Node) *pg.Node {
	switch len(conds) {
	case 0:
		return nil
	case 1:
		return proto.Clone(conds[0]).(*pg.Node)
	}
	args := make([]*pg.Node, len(conds))
	for i, c := range conds {
		args[i] = proto.Clone(c).(*pg.Node)
	}
	return &pg.Node{Node: &pg.Node_BoolExpr{BoolExpr: &pg.BoolExpr{Boolop: pg.BoolExprType_AND_EXPR, Args: args, Location: -1}}}
}

// pushableFuncs are functions a condition copied into a stage may call:
// the same answer on each call, so a row the stage drops the statement
// would have dropped too (random() would not).
var pushableFuncs = map[string]bool{
	"lower": true, "upper": true, "length": true, "char_length": true, "abs": true,
	"btrim": true, "ltrim": true, "rtrim": true, "substr": true, "substring": true,
	"left": true, "right": true, "round": true, "floor": true, "ceil": true,
	"date_trunc": true, "date_part": true, "extract": true, "now": true, "concat": true,
}

// pushable says whether condition q names columns of alias only (each
// qualified by it), and nothing a stage cannot run alone or would compute
// differently: a copy of it then narrows alias's staged rows without
// changing the answer, since the statement keeps checking it.
func pushable(q *pg.Node, alias string) bool {
	cols, ok := 0, true
	visit(q, func(c *pg.Node) bool {
		switch {
		case c.GetColumnRef() != nil:
			f := c.GetColumnRef().Fields
			if len(f) < 2 || f[len(f)-2].GetString_().GetSval() != alias {
				ok = false
			}
			cols++
		case c.GetSubLink() != nil, c.GetParamRef() != nil:
			ok = false
		case c.GetFuncCall() != nil:
			ok = pushableFuncs[strings.ToLower(funcName(c.GetFuncCall()))]
		}
		return ok
	})
	return ok && cols > 0
}

// limitStageRows bounds a stage reading a table's rows to the most rows
// that could fit the stage bound (each row takes at least minStagedRow
// bytes of SQL), so a table too large to stage is refused after that
// many rows per shard rather than read whole.
func limitStageRows(sel *pg.SelectStmt) {
	sel.LimitCount = pg.MakeAConstIntNode(int64(MaxStagedBytes/minStagedRow+1), -1)
	sel.LimitOption = pg.LimitOption_LIMIT_OPTION_COUNT
}

func starTarget() *pg.Node {
	return &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{{Node: &pg.Node_AStar{AStar: &pg.A_Star{}}}}}}}}}}
}
