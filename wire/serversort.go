package wire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// Sorting on a shard. pgshard merges ordered results by comparing values
// itself, which it cannot do for text under the database's own collation
// (en_US, ICU) or for types whose order their text does not follow
// (arrays, jsonb, inet, ranges). A server can: the shards' rows, already
// cut to each shard's LIMIT + OFFSET, are written into a VALUES list and
// one shard orders them and applies LIMIT and OFFSET, as one server would
// have ordered the whole. Only plain ordered reads (no aggregates,
// DISTINCT or HAVING to merge) of built-in types, up to maxSortedBytes;
// values the client asked for in binary are written as text
// and come back in binary from the sorting shard.

// maxSortedBytes bounds the rows, as SQL, a shard is sent to order. The
// statement goes to the shard as written, without pgshard parsing it (so
// more than a stage may hold), and the rows are in memory already.
const maxSortedBytes = 8 << 20

// resort is a merge that failed for want of an order pgshard can compute.
type resort struct {
	desc  *pgproto3.RowDescription
	cols  []merge.Column
	parts [][]merge.Row
	spec  *merge.Spec
}

// sortableOnShard says whether a server can do spec's merge: rows only
// sorted and cut, every sort key in the database's collation (or "C"),
// every column in text format.
func sortableOnShard(cols []merge.Column, spec *merge.Spec) bool {
	if len(spec.Aggs) > 0 || len(spec.GroupBy) > 0 || len(spec.Derived) > 0 || spec.Having != nil ||
		spec.Distinct || spec.DistinctOn > 0 || len(spec.OrderBy) == 0 {
		return false
	}
	for _, k := range spec.OrderBy {
		if k.Collation == merge.CollateNamed || k.Collation == merge.CollateUnknown ||
			k.Collation == merge.CollateDefault && cols[k.Col].Collation != merge.CollateDefault {
			return false // a collation pgshard cannot name to the server
		}
	}
	for _, c := range cols {
		if _, ok := sqlTypeName(c.TypeOID); !ok {
			return false
		}
	}
	return true
}

// textOf is a value in text format: as it came, or transcoded from binary
// by pgx's codec for its built-in type.
func textOf(oid uint32, format int16, v []byte) ([]byte, error) {
	if v == nil || format == pgtype.TextFormatCode {
		return v, nil
	}
	return transcode(oid, format, pgtype.TextFormatCode, v)
}

// sortOnShard answers a's merge by having one shard order the rows; a
// itself (the refusal) when the rows cannot be written as SQL.
func (s *session) sortOnShard(ctx context.Context, a answer) answer {
	r := a.resort
	types := make([]string, len(r.cols))
	names := make([]string, len(r.cols))
	for i, c := range r.cols {
		t, ok := sqlTypeName(c.TypeOID)
		if !ok {
			return a
		}
		types[i], names[i] = t, "c"+strconv.Itoa(i+1)
	}
	var b strings.Builder
	b.WriteString("SELECT * FROM (VALUES ")
	n := 0
	for _, part := range r.parts {
		for _, row := range part {
			if n > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteByte('(')
			for i, v := range row {
				if i > 0 {
					b.WriteString(", ")
				}
				text, err := textOf(r.cols[i].TypeOID, r.cols[i].Format, v)
				if err != nil {
					return a
				}
				writeLiteral(&b, text, types[i])
			}
			b.WriteByte(')')
			if b.Len() > maxSortedBytes {
				return a
			}
		}
	}
	if n == 0 {
		return answer{desc: r.desc, tag: "SELECT 0"}
	}
	fmt.Fprintf(&b, ") AS pgshard_sort(%s) ORDER BY ", strings.Join(names, ", "))
	for i, k := range r.spec.OrderBy {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(names[k.Col])
		if k.Collation == merge.CollateBytes {
			b.WriteString(` COLLATE "C"`)
		}
		if k.Desc {
			b.WriteString(" DESC")
		}
		if k.NullsFirst {
			b.WriteString(" NULLS FIRST")
		} else {
			b.WriteString(" NULLS LAST")
		}
	}
	if r.spec.Offset > 0 {
		fmt.Fprintf(&b, " OFFSET %d ROWS", r.spec.Offset)
	}
	switch {
	case r.spec.Limit >= 0 && r.spec.WithTies:
		fmt.Fprintf(&b, " FETCH FIRST %d ROWS WITH TIES", r.spec.Limit)
	case r.spec.Limit >= 0:
		fmt.Fprintf(&b, " FETCH FIRST %d ROWS ONLY", r.spec.Limit)
	}
	rt := &router.Route{Kind: router.KindAny, Shards: []shard.ShardID{s.currentShard()},
		Plan: &router.Plan{Kind: router.KindAny, Command: "SELECT", Read: true}}
	j := newMultiJob(rt, b.String())
	formats := make([]int16, len(r.cols))
	binary := false
	for i, c := range r.cols {
		formats[i], binary = c.Format, binary || c.Format != pgtype.TextFormatCode
	}
	if binary {
		// The rows go back in the formats the client asked the shards for.
		j.bind = &pgproto3.Bind{ResultFormatCodes: formats}
	}
	results, err := s.runMulti(ctx, j)
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = &pgError{Code: codeConnectionFailure, Message: "pgshard: ordering the rows on a shard: " + err.Error()}
		}
		return answer{err: pe}
	}
	res := results[0]
	if res.err != nil {
		return answer{err: res.err}
	}
	out := len(r.desc.Fields)
	for i, row := range res.rows {
		res.rows[i] = row[:out:out]
	}
	s.dbm.Helped(metrics.HelpedSorted)
	return answer{desc: r.desc, rows: res.rows, tag: "SELECT " + strconv.Itoa(len(res.rows))}
}
