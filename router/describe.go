package router

import (
	"fmt"
	"strings"

	"github.com/pgshard/pgshard/router/merge"
)

// Describe prints a route for people: `pgshard route`, the admin SHOW
// ROUTE statement and the golden files of the router's tests.
func (r *Route) Describe() string {
	var b strings.Builder
	if c := r.NeedColumns; c != nil {
		// Not a refusal: the session reads the column order and routes.
		fmt.Fprintf(&b, "kind=shard shards chosen at run time: each row's value for %s.%s, found by the table's column order on a server", c.Table, c.Table.Key)
		return b.String()
	}
	if k := r.NeedKeys; k != nil {
		// Not a refusal: the session takes the keys and routes.
		fmt.Fprintf(&b, "kind=shard shards chosen at run time: %d key(s) for %s.%s from the column's default, evaluated on the default shard", k.Rows, k.Table.Table, k.Table.Table.Key)
		return b.String()
	}
	if st := r.Staging(); st != nil {
		return describeStaging(st)
	}
	fmt.Fprintf(&b, "kind=%s", r.Kind)
	if r.Err != nil {
		fmt.Fprintf(&b, " error=%s %q", r.Err.Code, r.Err.Message)
		return b.String()
	}
	if len(r.Shards) > 0 {
		fmt.Fprintf(&b, " shards=%v", r.Shards)
	}
	if r.Plan != nil && r.Plan.Read {
		b.WriteString(" read")
	}
	for i, sql := range r.SQL {
		fmt.Fprintf(&b, "\n  shard %d: %s", r.Shards[i], sql)
		if r.Params != nil && len(r.Params[i]) > 0 {
			fmt.Fprintf(&b, " params=%v", r.Params[i])
		}
	}
	if r.Plan != nil && r.Plan.ShardSQL != "" && len(r.Shards) > 1 {
		fmt.Fprintf(&b, "\n  sent: %s", r.Plan.ShardSQL)
	}
	if r.Plan != nil && r.Plan.Explain != "" {
		fmt.Fprintf(&b, "\n  explain: %s", r.Plan.Explain)
	}
	if mv := r.Plan.moveOf(); mv != nil {
		where := "the default shard"
		if mv.SourceKind == KindAny {
			where = "the session's shard"
		}
		fmt.Fprintf(&b, "\n  rows read on %s: %s\n  split by key into: %s", where, mv.Source, mv.Target)
	}
	if m := r.KeyMove; m != nil {
		if m.Stay {
			fmt.Fprintf(&b, "\n  updated in place on shard %d", m.To)
		}
		fmt.Fprintf(&b, "\n  key move: rows updated on shard(s) %v: %s\n  deleted there by tableoid and ctid, inserted with the new key on shard %d into %s", m.From, m.Update, m.To, m.Relation)
		if m.Returning != "" {
			fmt.Fprintf(&b, " returning %s", m.Returning)
		}
		return b.String()
	}
	if r.Merge != nil && len(r.Shards) > 1 {
		fmt.Fprintf(&b, "\n  merge: %s", describeSpec(r.Merge))
	}
	return b.String()
}

func describeSpec(s *merge.Spec) string {
	var parts []string
	if len(s.GroupBy) > 0 {
		parts = append(parts, fmt.Sprintf("group=%v", s.GroupBy))
	}
	for _, a := range s.Aggs {
		name := [...]string{"count", "sum", "min", "max", "avg", "bool_and", "bool_or", "count_distinct", "sum_distinct", "avg_distinct",
			"string_agg", "array_agg", "json_agg"}[a.Kind]
		if a.Kind == merge.AggAvg {
			parts = append(parts, fmt.Sprintf("%s(%d/%d)", name, a.Col, a.CountCol))
		} else {
			parts = append(parts, fmt.Sprintf("%s(%d%s)", name, a.Col, describeCollation(a.Collation)))
		}
	}
	for _, d := range s.Derived {
		parts = append(parts, fmt.Sprintf("derive(%d = %s)", d.Col, d.Expr))
	}
	if s.Having != nil {
		parts = append(parts, fmt.Sprintf("having=%+v", s.Having))
	}
	if s.DistinctOn > 0 {
		parts = append(parts, fmt.Sprintf("distinct-on=%d", s.DistinctOn))
	}
	if s.Distinct {
		parts = append(parts, "distinct")
	}
	for _, k := range s.OrderBy {
		dir := "asc"
		if k.Desc {
			dir = "desc"
		}
		nulls := "last"
		if k.NullsFirst {
			nulls = "first"
		}
		parts = append(parts, fmt.Sprintf("order(%d %s nulls %s%s)", k.Col, dir, nulls, describeCollation(k.Collation)))
	}
	if s.Limit >= 0 {
		parts = append(parts, fmt.Sprintf("limit=%d", s.Limit))
	}
	if s.Offset > 0 {
		parts = append(parts, fmt.Sprintf("offset=%d", s.Offset))
	}
	if s.WithTies {
		parts = append(parts, "with-ties")
	}
	switch {
	case s.Star && s.Output == 0:
		parts = append(parts, "output=all")
	case s.Star:
		parts = append(parts, fmt.Sprintf("output=all%d", s.Output))
	default:
		parts = append(parts, fmt.Sprintf("output=%d", s.Output))
	}
	if len(parts) == 1 {
		return "concat " + parts[0]
	}
	return strings.Join(parts, " ")
}

func describeCollation(c merge.Collation) string {
	switch c {
	case merge.CollateBytes:
		return " collate-c"
	case merge.CollateNamed:
		return " collate-named"
	}
	return ""
}

// moveOf is p's Move, nil for a nil plan.
func (p *Plan) moveOf() *Move {
	if p == nil {
		return nil
	}
	return p.Move
}
