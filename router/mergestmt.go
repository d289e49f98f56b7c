package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// shardedMerge plans MERGE into sharded table t. It runs where a co-located
// write runs: the join condition equates t's key with the key of a sharded
// source (or pins it), so the source rows a target row can match sit on its
// shard, and a row WHEN NOT MATCHED inserts takes its key from that source
// key, so it lands on the shard that inserts it. Each shard then merges its
// own rows, and together they do what one server would.
func (a *analyzer) shardedMerge(m *pg.MergeStmt, t *Table) *Plan {
	refuseIt := func(why, hint string) *Plan {
		return refuse(codeFeatureNotSupported, fmt.Sprintf("pgshard: MERGE into sharded table %s: %s", t, why), hint)
	}
	colocate := fmt.Sprintf("Join on the shard key (ON target.%[1]s = source.%[1]s) with a source sharded on it, and insert source.%[1]s as %[1]s.", t.Key)
	a.writes = true
	// The MERGE is the top level, as a SELECT is: a derived source is
	// nested, and what it computes over several shards must be merged.
	a.depth++
	sc := &scope{}
	a.with(m.WithClause, sc)
	target := a.addRel(m.Relation)
	if target >= 0 {
		sc.rels = append(sc.rels, target)
	}
	a.fromItem(m.SourceRelation, sc)
	a.conjuncts(m.JoinCondition, sc)
	a.expr(m.JoinCondition, sc)
	bySource := false
	for _, n := range m.MergeWhenClauses {
		w := n.GetMergeWhenClause()
		a.expr(w.Condition, sc)
		bySource = bySource || w.MatchKind == pg.MergeMatchKind_MERGE_WHEN_NOT_MATCHED_BY_SOURCE
		switch w.CommandType {
		case pg.CmdType_CMD_UPDATE:
			for _, set := range w.TargetList {
				if strings.EqualFold(set.GetResTarget().GetName(), t.Key) {
					a.depth--
					return refuseIt(fmt.Sprintf("UPDATE of shard key %s would move the row to another shard", t.Key), "")
				}
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
				a.depth--
				return refuseIt(fmt.Sprintf("its INSERT does not name shard key %s in a column list", t.Key), colocate)
			}
			src, ok := a.keyColumn(w.Values[key], sc)
			if !ok || target < 0 || a.rels[src].table.KeyType != t.KeyType || a.find(src) != a.find(target) {
				a.depth--
				return refuseIt(fmt.Sprintf("its INSERT takes %s from something other than the key of a sharded source the join condition equates with it, so the row could be inserted on another shard than its own", t.Key), colocate)
			}
			for _, v := range w.Values {
				a.expr(v, sc)
			}
		}
	}
	for _, r := range m.ReturningList {
		a.expr(r, sc)
	}
	a.depth--
	p := a.decide("MERGE")
	p.Exact = p.Exact || a.exact
	switch {
	case p.Kind == KindRefuse:
		return p
	case a.refWrite != "":
		return refuseIt(fmt.Sprintf("it writes reference table %s in a WITH clause; a reference table is written on every shard", a.refWrite),
			"Write the reference table in a statement of its own.")
	case p.Kind == KindScatter:
		// Without WHEN NOT MATCHED BY SOURCE a MERGE touches only the
		// target rows its source names, as INSERT ... SELECT does; with it,
		// every other row of the table too, which keyless_writes guards.
		if bySource && !a.schema.KeylessWrites {
			return keyless(refuseIt(fmt.Sprintf("WHEN NOT MATCHED BY SOURCE without a condition on shard key %s would touch every shard", t.Key),
				fmt.Sprintf("Pin %s in the join condition, or set sharding.keyless_writes: all_shards to allow it.", t.Key)))
		}
		if why := a.unmergeable(); why != "" {
			return keyless(refuseScatter(why, a))
		}
		p.Kind = KindAll
	case p.Kind == KindShard:
		p.mergeErr = a.unmergeable()
	}
	return p
}
