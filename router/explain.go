package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// explainPlan plans EXPLAIN. On one shard it is that shard's answer. A read
// that runs on every shard is explained by every shard: each shard's plan
// comes back under the shard's name, below a line saying how pgshard merges
// their rows (wire/explain.go), and each shard explains the query it would
// really run (rewritten for merging: avg as sum and count, OFFSET folded
// into LIMIT...). Writes on every shard are not explained: EXPLAIN ANALYZE
// would run them outside the two-phase commit that guards such writes.
func (s *Schema) explainPlan(stmt *pg.Node, lits []sqltext.Literal, version int32, views map[string]*pg.Node) *Plan {
	ex := stmt.GetExplainStmt()
	inner := s.buildThrough(ex.Query, lits, version, views)
	if inner.Kind == KindRefuse {
		return inner
	}
	if inner.Kind != KindScatter && inner.Kind != KindAll {
		// EXPLAIN ANALYZE runs the statement: of a write, it is a write.
		read := inner.Read || !explainAnalyze(ex)
		return &Plan{Kind: inner.Kind, Class: inner.Class, Read: read, Exact: inner.Exact, mergeErr: "pgshard: cannot merge EXPLAIN across shards", calls: inner.calls, through: inner.through}
	}
	if inner.Kind != KindScatter || !inner.Read {
		return refuse(codeFeatureNotSupported, "pgshard: EXPLAIN of a statement that writes on every shard is not supported",
			"Add a shard key condition, or a /* pgshard: shard=N */ hint to explain it on one shard.")
	}
	for _, o := range ex.Options {
		d := o.GetDefElem()
		if d != nil && strings.EqualFold(d.Defname, "format") && !strings.EqualFold(defElemString(d), "text") {
			return refuse(codeFeatureNotSupported,
				fmt.Sprintf("pgshard: EXPLAIN (FORMAT %s) of a query that reads every shard is not supported", strings.ToUpper(defElemString(d))),
				"Use FORMAT TEXT: pgshard lists every shard's plan under the shard's name.")
		}
	}
	p := &Plan{Kind: KindScatter, Command: "EXPLAIN", Read: true, Tables: inner.Tables, Exact: inner.Exact, through: inner.through,
		Explain: "pgshard: Scatter to every shard, " + mergeSummary(inner)}
	if inner.ShardSQL != "" {
		// build rewrote ex.Query in place: explain what the shards run.
		out, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: stmt}}})
		if err != nil {
			return refuse(codeFeatureNotSupported, "pgshard: rewriting EXPLAIN for the shards: "+err.Error(), "")
		}
		p.ShardSQL = out
		p.Exact = true
	}
	return p
}

// explainAnalyze reports whether EXPLAIN runs its statement: ANALYZE, in
// the option list or the old syntax (EXPLAIN ANALYZE ...), unless set false.
func explainAnalyze(ex *pg.ExplainStmt) bool {
	for _, o := range ex.Options {
		d := o.GetDefElem()
		if d == nil || !strings.EqualFold(d.Defname, "analyze") {
			continue
		}
		switch strings.ToLower(defElemString(d)) {
		case "false", "off", "0", "no":
			return false
		}
		return true
	}
	return false
}

// mergeSummary says in words how pgshard combines a scatter read's rows.
func mergeSummary(p *Plan) string {
	s := p.Merge
	if s == nil {
		return "rows concatenated"
	}
	var parts []string
	if len(s.Aggs) > 0 || len(s.GroupBy) > 0 {
		parts = append(parts, "aggregates combined")
	}
	if s.Having != nil {
		parts = append(parts, "HAVING applied")
	}
	if s.DistinctOn > 0 {
		parts = append(parts, "DISTINCT ON applied")
	}
	if s.Distinct {
		parts = append(parts, "DISTINCT applied")
	}
	if len(s.OrderBy) > 0 {
		parts = append(parts, "rows merged in ORDER BY order")
	}
	if s.Limit >= 0 || p.LimitSrc != nil {
		parts = append(parts, "LIMIT applied")
	}
	if s.Offset > 0 || p.OffSrc != nil {
		parts = append(parts, "OFFSET applied")
	}
	if len(parts) == 0 {
		return "rows concatenated"
	}
	return strings.Join(parts, ", ")
}
