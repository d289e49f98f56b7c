package wire

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// explainAnswer lays out an EXPLAIN that every shard answered, in the shape
// of one plan: the router's line on how pgshard merges the rows, then each
// shard's plan indented under a node naming the shard, as Postgres nests a
// child plan.
//
//	pgshard: Scatter to every shard, rows merged in ORDER BY order, LIMIT applied
//	  ->  Shard s0
//	        Limit  (cost=...)
//	          ->  Sort ...
//	  ->  Shard s1
//	        ...
func (s *session) explainAnswer(rt *router.Route, cols []pgproto3.FieldDescription, results []*shardResult) answer {
	desc := &pgproto3.RowDescription{Fields: cols}
	if len(cols) != 1 {
		return answer{err: &pgError{Code: codeInternalError,
			Message: fmt.Sprintf("pgshard: EXPLAIN returned %d columns, expected the one QUERY PLAN column", len(cols))}}
	}
	line := func(b []byte) merge.Row { return merge.Row{b} }
	rows := []merge.Row{line([]byte(rt.Plan.Explain))}
	for _, r := range results {
		rows = append(rows, line([]byte("  ->  Shard "+s.db.cfg.Shards[r.id].Name)))
		for _, row := range r.rows {
			if len(row) != 1 || row[0] == nil {
				continue
			}
			rows = append(rows, line(append([]byte("        "), row[0]...)))
		}
	}
	return answer{desc: desc, rows: rows, tag: "EXPLAIN"}
}
