package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// shardedMerge plans MERGE into sharded table t. It runs where a co-located
// write runs: the join condition equates t's key with the key of a sharded
// source, so the source rows a target row can match sit on its shard, and
// a row WHEN NOT MATCHED inserts takes its key from that source key, so it
// lands on the shard that inserts it. Each shard then merges its own rows,
// and together they do what one server would. A source of one row of
// values (USING (SELECT $1 AS id, $2 AS name) s ON t.id = s.id, as
// Hibernate's upsert writes) pins the MERGE to that row's key instead;
// a source of several rows of values (USING (VALUES (1, 'a'), (7, 'b'))
// s(id, name), a batch upsert) is split like a multi-row INSERT, each
// shard merging only the rows of its keys.
//
// Keys the join condition pins narrow where the MERGE runs only when it
// acts on matched rows alone: WHEN NOT MATCHED inserts every source row the
// condition rejects, and WHEN NOT MATCHED BY SOURCE acts on every target
// row it rejects, wherever they are.
func (a *analyzer) shardedMerge(m *pg.MergeStmt, t *Table) *Plan {
	refuseIt := func(why, hint string) *Plan {
		return refuse(codeFeatureNotSupported, fmt.Sprintf("pgshard: MERGE into sharded table %s: %s", t, why), hint)
	}
	colocate := fmt.Sprintf("Join on the shard key (ON target.%[1]s = source.%[1]s) with a source sharded on it and insert source.%[1]s as %[1]s, or merge rows of values whose %[1]s is a constant or a parameter (USING (SELECT $1 AS %[1]s, ...) s, USING (VALUES ($1, ...), ...) s(%[1]s, ...), ON target.%[1]s = s.%[1]s) and insert s.%[1]s.", t.Key)
	inserts, bySource := false, false
	for _, n := range m.MergeWhenClauses {
		w := n.GetMergeWhenClause()
		inserts = inserts || w.CommandType == pg.CmdType_CMD_INSERT
		bySource = bySource || w.MatchKind == pg.MergeMatchKind_MERGE_WHEN_NOT_MATCHED_BY_SOURCE
	}
	a.writes = true
	// The MERGE is the top level, as a SELECT is: a derived source is
	// nested, and what it computes over several shards must be merged.
	a.depth++
	defer func() { a.depth-- }()
	sc := &scope{}
	a.with(m.WithClause, sc)
	target := a.addRel(m.Relation)
	if target < 0 {
		return refuseIt("pgshard could not read its target", "")
	}
	sc.rels = append(sc.rels, target)
	a.fromItem(m.SourceRelation, sc)
	kept := make([]int, len(a.rels))
	for i := range a.rels {
		kept[i] = len(a.rels[i].pins)
	}
	a.conjuncts(m.JoinCondition, sc)
	if inserts || bySource {
		for i := range kept {
			a.rels[i].pins = a.rels[i].pins[:kept[i]]
		}
	}
	row := a.sourceRowKeys(m, t, target, sc)
	if row != nil && !bySource {
		a.addPin(target, row.keys)
	}
	a.expr(m.JoinCondition, sc)
	var newKeys []Source
	for _, n := range m.MergeWhenClauses {
		w := n.GetMergeWhenClause()
		a.expr(w.Condition, sc)
		switch w.CommandType {
		case pg.CmdType_CMD_UPDATE:
			// A matched row's key equals the source key the join
			// condition equates with it: setting it to that keeps it.
			self := strings.ToLower(visibleName(m.Relation))
			keys, e := a.keyAssignments(w.TargetList, t, "MERGE", func(v *pg.Node) bool {
				if sameColumn(v, t.Key, true, self) || row.inserted(a, v) {
					return true
				}
				src, ok := a.keyColumn(v, sc)
				return ok && a.rels[src].table.KeyType == t.KeyType && a.find(src) == a.find(target)
			})
			if e != nil {
				return &Plan{Kind: KindRefuse, Err: e}
			}
			newKeys = append(newKeys, keys...)
			for _, set := range w.TargetList {
				a.expr(set, sc)
			}
		case pg.CmdType_CMD_INSERT:
			key := -1
			for i, col := range w.TargetList {
				if strings.EqualFold(col.GetResTarget().GetName(), t.Key) {
					key = i
				}
			}
			if key < 0 || key >= len(w.Values) {
				return refuseIt(fmt.Sprintf("its INSERT does not name shard key %s in a column list", t.Key), colocate)
			}
			if !row.inserted(a, w.Values[key]) {
				src, ok := a.keyColumn(w.Values[key], sc)
				if !ok || a.rels[src].table.KeyType != t.KeyType || a.find(src) != a.find(target) {
					return refuseIt(fmt.Sprintf("its INSERT takes %s from something other than the key of a sharded source the join condition equates with it, so the row could be inserted on another shard than its own", t.Key), colocate)
				}
			}
			for _, v := range w.Values {
				a.expr(v, sc)
			}
		}
	}
	for _, r := range m.ReturningList {
		a.expr(r, sc)
	}
	p := a.decide("MERGE")
	p.Exact = p.Exact || a.exact
	switch {
	case p.Kind == KindRefuse:
		return p
	case a.refWrite != "":
		return refuseIt(fmt.Sprintf("it writes reference table %s in a WITH clause; a reference table is written on every shard", a.refWrite),
			"Write the reference table in a statement of its own.")
	case p.Kind == KindScatter && bySource && !a.schema.KeylessWrites:
		// Without WHEN NOT MATCHED BY SOURCE a MERGE touches only the
		// target rows its source names, as INSERT ... SELECT does; with it,
		// every other row of the table too, which keyless_writes guards.
		return keyless(refuseIt(fmt.Sprintf("WHEN NOT MATCHED BY SOURCE without a condition on shard key %s would touch every shard", t.Key),
			fmt.Sprintf("Pin %s in the source, or set sharding.keyless_writes: all_shards to allow it.", t.Key)))
	}
	if len(newKeys) > 0 {
		p.newKeys = &keyWrite{Pin: Pin{Table: t, Values: newKeys}, command: "MERGE", schema: a.schema}
	}
	if p.Kind == KindShard && row != nil && len(row.keys) > 1 && !bySource {
		// Each shard gets its rows only: the others' would be NOT MATCHED
		// there, and inserted on the wrong shard.
		p.Insert = &insertSplit{Table: t, Rows: row.keys, merge: true}
	}
	return a.spreadWrite(p)
}

// rowKey is the key of each row of a MERGE whose source is rows of
// values, as the join condition equates it with the target's key.
type rowKey struct {
	alias, column string // the source column holding it
	keys          []Source
}

// sourceRowKeys finds a source of rows of values — USING (SELECT $1 AS
// id, ...) s or USING (VALUES ($1, ...), ...) s(id, ...) — whose column
// the join condition equates with t's key (ON t.id = s.id, among ANDed
// conditions), and that column's value in each row as a key; nil when
// there is none. Several rows are split by their text (splitInsert), so
// their VALUES must be the statement's first: no WITH clause.
func (a *analyzer) sourceRowKeys(m *pg.MergeStmt, t *Table, target int, sc *scope) *rowKey {
	rs := m.SourceRelation.GetRangeSubselect()
	sel := rs.GetSubquery().GetSelectStmt()
	if rs == nil || rs.Alias == nil || sel == nil || sel.Op != pg.SetOperation_SETOP_NONE || len(sel.FromClause) > 0 ||
		sel.WhereClause != nil || len(sel.GroupClause) > 0 || sel.HavingClause != nil || sel.WithClause != nil || sel.LimitCount != nil || sel.LimitOffset != nil ||
		len(sel.ValuesLists) > 1 && m.WithClause != nil {
		return nil
	}
	// rows holds each source row's values by column name.
	var rows []map[string]*pg.Node
	switch {
	case len(sel.ValuesLists) > 0:
		for _, list := range sel.ValuesLists {
			cols := map[string]*pg.Node{}
			for i, v := range list.GetList().GetItems() {
				name := fmt.Sprintf("column%d", i+1)
				if i < len(rs.Alias.Colnames) {
					name = rs.Alias.Colnames[i].GetString_().GetSval()
				}
				cols[name] = v
			}
			rows = append(rows, cols)
		}
	default:
		cols := map[string]*pg.Node{}
		for i, tl := range sel.TargetList {
			res := tl.GetResTarget()
			name := res.GetName()
			if i < len(rs.Alias.Colnames) {
				name = rs.Alias.Colnames[i].GetString_().GetSval()
			}
			if name != "" {
				cols[name] = res.GetVal()
			}
		}
		rows = append(rows, cols)
	}
	var conds []*pg.Node
	if b := m.JoinCondition.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		conds = b.Args
	} else {
		conds = []*pg.Node{m.JoinCondition}
	}
	for _, c := range conds {
		e := c.GetAExpr()
		if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || opName(e) != "=" {
			continue
		}
		for _, sides := range [][2]*pg.Node{{e.Lexpr, e.Rexpr}, {e.Rexpr, e.Lexpr}} {
			i, dom, ok := a.keyColumnIn(sides[0], sc)
			if !ok || i != target || dom == domOpaque {
				continue
			}
			fields := sides[1].GetColumnRef().GetFields()
			if len(fields) != 2 || fields[0].GetString_().GetSval() != rs.Alias.Aliasname {
				continue
			}
			col := fields[1].GetString_().GetSval()
			if keys := a.rowKeys(rows, col, t, dom); keys != nil {
				return &rowKey{alias: rs.Alias.Aliasname, column: col, keys: keys}
			}
		}
	}
	return nil
}

// rowKeys is column col of each of rows as a key of t, or nil when one is
// not a constant or a parameter.
func (a *analyzer) rowKeys(rows []map[string]*pg.Node, col string, t *Table, dom domain) []Source {
	keys := make([]Source, 0, len(rows))
	for _, cols := range rows {
		v, ok := cols[col]
		if !ok {
			return nil
		}
		s, ok := a.keySource(v, t.KeyType, dom)
		if !ok {
			return nil
		}
		s.assign = true // the row inserted takes it as its key
		keys = append(keys, s)
	}
	return keys
}

// inserted says whether v, the key an INSERT of the MERGE gives, is the
// source row's key: its column (s.id, or id unqualified, which can only
// name a source column there) or the same parameter.
func (r *rowKey) inserted(a *analyzer, v *pg.Node) bool {
	if r == nil {
		return false
	}
	if fields := v.GetColumnRef().GetFields(); len(fields) > 0 {
		name := fields[len(fields)-1].GetString_().GetSval()
		return name == r.column && (len(fields) == 1 || len(fields) == 2 && fields[0].GetString_().GetSval() == r.alias)
	}
	s, ok := a.source(v)
	return ok && len(r.keys) == 1 && r.keys[0].Param > 0 && s.Param == r.keys[0].Param
}
