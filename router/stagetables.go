package router

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Joins of sharded tables not on their shard keys (orders o JOIN users u
// ON o.status = u.country), and correlated subqueries whose rows are on
// other shards than their outer row's (countries c WHERE EXISTS (SELECT 1
// FROM users u WHERE u.country = c.code)), cannot run shard by shard. When
// one table's rows are few they can go to every shard instead (a broadcast
// join): pgshard stages that table's rows, narrowed by the WHERE conditions
// that name it alone, and the statement then reads them as constants
// wherever it runs. Which tables to stage is found by trying: the
// statement must route with them taken for constants. Tables with
// conditions of their own go first (likely the smaller side), then later
// ones in the statement. A table that lives on the default shard joined
// with sharded ones (orders o JOIN statuses s ON s.code = o.status, before
// statuses is declared a reference table) is a candidate too, taken
// before sharded ones with as many conditions. The rows travel only
// within the stage bound, so
// this answers statements with a small or well-filtered side and refuses
// the rest, as before.

// tableCandidate is a sharded table, or one on the default shard, read in
// a FROM list of the statement.
type tableCandidate struct {
	item     *pg.Node // the RangeVar's node, replaced in place
	alias    string   // how the query names its columns
	nullable bool     // on the NULL-extended side of an outer join
	local    bool     // a table on the default shard
	pushed   []*pg.Node
	pos      int
}

// tables stages the sharded tables that keep the statement sel from
// routing, and says whether it did.
func (sb *stager) tables(sel *pg.SelectStmt) bool {
	root := &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}
	ctes := map[string]bool{}
	visit(root, func(c *pg.Node) bool {
		if cte := c.GetCommonTableExpr(); cte != nil {
			ctes[cte.Ctename] = true
		}
		return true
	})
	var cands []*tableCandidate
	writes := false
	visit(root, func(c *pg.Node) bool {
		switch {
		case c.GetSelectStmt() != nil:
			cands = sb.fromTables(c.GetSelectStmt(), c.GetSelectStmt() == sel, ctes, cands)
		case c.GetInsertStmt() != nil, c.GetUpdateStmt() != nil, c.GetDeleteStmt() != nil, c.GetMergeStmt() != nil:
			writes = true // a data-modifying WITH: not a read to stage
		}
		return !writes
	})
	if writes || len(cands) == 0 {
		return false
	}
	order := slices.Clone(cands)
	slices.SortStableFunc(order, func(a, b *tableCandidate) int {
		switch {
		case len(a.pushed) != len(b.pushed):
			return len(b.pushed) - len(a.pushed)
		case a.local != b.local:
			// A table on the default shard, staged, leaves a statement of
			// sharded tables only, which routes with all of theirs.
			if a.local {
				return -1
			}
			return 1
		}
		return b.pos - a.pos
	})
	// One table first, then more in that order.
	tries := make([][]*tableCandidate, 0, 2*len(order))
	for _, c := range order {
		tries = append(tries, []*tableCandidate{c})
	}
	for n := 2; n <= len(order); n++ {
		tries = append(tries, order[:n])
	}
	for _, staged := range tries {
		if sb.routesWithout(sel, staged) {
			sb.broadcast = sb.stageTables(staged, qualifiedColumns(root))
			return sb.broadcast
		}
	}
	return false
}

// fromTables adds the sharded tables of sel's FROM list (of each branch,
// for a set operation) to cands, with the conditions of sel's WHERE clause
// a stage of each may copy. top: sel is the statement, not a subquery.
func (sb *stager) fromTables(sel *pg.SelectStmt, top bool, ctes map[string]bool, cands []*tableCandidate) []*tableCandidate {
	switch {
	case sel.Op != pg.SetOperation_SETOP_NONE:
		for _, b := range []*pg.SelectStmt{sel.Larg, sel.Rarg} {
			if b != nil {
				cands = sb.fromTables(b, top, ctes, cands)
			}
		}
		return cands
	case sel.LockingClause != nil:
		return cands // FOR UPDATE locks rows a stage would only copy
	case len(sel.GroupClause) > 0 && hasStar(sel.TargetList):
		// SELECT * ... GROUP BY the primary key counts on the key's
		// constraint, which staged rows do not have.
		return cands
	}
	conjuncts := andArgs(sel.WhereClause)
	// In the statement's own WHERE clause over one table, a column needs
	// no qualifying: there is no outer query it could belong to.
	alone := top && len(sel.FromClause) == 1 && sel.FromClause[0].GetRangeVar() != nil
	var walk func(n *pg.Node, nullable bool)
	walk = func(n *pg.Node, nullable bool) {
		switch {
		case n.GetRangeVar() != nil:
			rv := n.GetRangeVar()
			if rv.Schemaname == "" && ctes[rv.Relname] || rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
				return
			}
			schema, name := strings.ToLower(rv.Schemaname), strings.ToLower(rv.Relname)
			role, _ := sb.r.schema.lookup(schema, name)
			local := role == roleLocal && defaultShardTable(schema, name, ctes)
			if role != roleSharded && !local {
				return
			}
			c := &tableCandidate{item: n, alias: rv.Relname, nullable: nullable, local: local, pos: len(cands)}
			if rv.Alias != nil {
				c.alias = rv.Alias.Aliasname
			}
			// Conditions on the NULL-extended side are checked after the
			// join: filtering its rows first would extend more rows.
			for _, q := range conjuncts {
				if !nullable && pushable(q, c.alias, alone) {
					c.pushed = append(c.pushed, q)
				}
			}
			cands = append(cands, c)
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
	return cands
}

// routesWithout says whether sel routes with the tables staged taken for
// constant rows.
func (sb *stager) routesWithout(sel *pg.SelectStmt, staged []*tableCandidate) bool {
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
// a stage, and puts the stage in the table's place. cols, when not nil,
// are the columns the statement names of each alias (qualifiedColumns):
// a stage then reads only those.
func (sb *stager) stageTables(staged []*tableCandidate, cols map[string][]string) bool {
	before := len(sb.stages)
	replaced := make([]*pg.Node, 0, len(staged))
	for _, c := range staged {
		targets := []*pg.Node{starTarget()}
		if names := cols[c.alias]; len(names) > 0 {
			targets = targets[:0]
			for _, name := range names {
				ref := pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode(c.alias), pg.MakeStrNode(name)}, -1)
				targets = append(targets, pg.MakeResTargetNodeWithVal(ref, -1))
			}
		}
		rows := &pg.SelectStmt{
			TargetList:  targets,
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

// qualifiedColumns are the columns root names of each relation alias
// (u.name), in order, when it names every column so: nil when any column
// reference is unqualified, a whole row or a star (SELECT *, u.*,
// row_to_json(u)), or a join matches columns by name (USING, NATURAL),
// since the staged rows must then carry every column.
func qualifiedColumns(root *pg.Node) map[string][]string {
	cols := map[string][]string{}
	ok := true
	visit(root, func(c *pg.Node) bool {
		switch {
		case c.GetColumnRef() != nil:
			f := c.GetColumnRef().Fields
			last := f[len(f)-1].GetString_()
			if len(f) < 2 || last == nil {
				ok = false
				break
			}
			alias, name := f[len(f)-2].GetString_().GetSval(), last.GetSval()
			if !slices.Contains(cols[alias], name) {
				cols[alias] = append(cols[alias], name)
			}
		case c.GetJoinExpr() != nil:
			ok = ok && len(c.GetJoinExpr().UsingClause) == 0 && !c.GetJoinExpr().IsNatural
		}
		return ok
	})
	if !ok {
		return nil
	}
	return cols
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
// qualified by it, unless alone), and nothing a stage cannot run alone or
// would compute differently (its parameters go with it): a copy of it then narrows alias's staged rows
// without changing the answer, since the statement keeps checking it.
func pushable(q *pg.Node, alias string, alone bool) bool {
	cols, ok := 0, true
	visit(q, func(c *pg.Node) bool {
		switch {
		case c.GetColumnRef() != nil:
			f := c.GetColumnRef().Fields
			switch {
			case len(f) == 1 && alone:
			case len(f) < 2 || f[len(f)-2].GetString_().GetSval() != alias:
				ok = false
			}
			cols++
		case c.GetSubLink() != nil:
			ok = false
		case c.GetFuncCall() != nil:
			ok = pushableFuncs[strings.ToLower(funcName(c.GetFuncCall()))]
		}
		return ok
	})
	return ok && cols > 0
}

// limitStageRows bounds a stage reading a table's rows to the most rows
// that could fit the stage bound (each row takes at least minStagedDataRow
// bytes as a shard sends it), so a table too large to stage is refused
// after that many rows per shard rather than read whole.
func limitStageRows(sel *pg.SelectStmt) {
	sel.LimitCount = pg.MakeAConstIntNode(int64(MaxStagedParamBytes/minStagedDataRow+1), -1)
	sel.LimitOption = pg.LimitOption_LIMIT_OPTION_COUNT
}

func starTarget() *pg.Node {
	return &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{{Node: &pg.Node_AStar{AStar: &pg.A_Star{}}}}}}}}}}
}
