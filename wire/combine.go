package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// Combining the shards' answers to a statement into the one answer a single
// server would have given: rows merged as the route's merge.Spec says,
// command tags added up, a reference table's copies checked against each
// other.

// answer is the merged result of a multi-shard statement.
type answer struct {
	desc *pgproto3.RowDescription // nil: the statement returns no rows
	rows []merge.Row
	tag  string
	err  *pgError
	// resort, with err, is a merge a server can do instead (sortOnShard).
	resort *resort
	// unmerged: err is the merge's refusal of the shards' rows.
	unmerged bool
	// cols are the shards' columns as the merge saw them (collations
	// included), when it ran.
	cols []merge.Column
}

// combine merges the shards' answers into one.
func (s *session) combine(rt *router.Route, results []*shardResult) answer {
	var failed, applied []string
	var first *pgError
	for _, r := range results {
		name := s.db.cfg.Shards[r.id].Name
		if r.err != nil {
			failed = append(failed, name)
			if first == nil {
				first = r.err
			}
		} else {
			applied = append(applied, name)
		}
	}
	if first != nil {
		e := *first
		if rt.Plan != nil && !rt.Plan.Read && len(applied) > 0 {
			e.Detail = strings.TrimSpace(e.Detail + fmt.Sprintf(" pgshard: the statement was applied on shard(s) %s and failed on %s.",
				strings.Join(applied, ", "), strings.Join(failed, ", ")))
		}
		return answer{err: &e}
	}
	// One shard ran the statement as written (newMultiJob): its answer
	// is whole, and the plan's merge is for rows of several shards.
	whole := len(results) == 1 && rt.SQL == nil
	if rt.Plan != nil && rt.Plan.Replicated {
		results = s.oneCopy(results)
	}
	var cols []pgproto3.FieldDescription
	for _, r := range results {
		if r.cols != nil {
			cols = r.cols
			break
		}
	}
	a := answer{}
	if cols == nil {
		a.tag = combineTags(results)
		return a
	}
	if rt.Plan != nil && rt.Plan.Explain != "" {
		return s.explainAnswer(rt, cols, results)
	}
	mcols := make([]merge.Column, len(cols))
	for i, f := range cols {
		mcols[i] = merge.Column{Name: string(f.Name), TypeOID: f.DataTypeOID, Format: f.Format}
	}
	parts := make([][]merge.Row, len(results))
	for i, r := range results {
		parts[i] = r.rows
	}
	if rows := valuesOrder(rt, results); rows != nil {
		parts = [][]merge.Row{rows}
	}
	spec := rt.Merge
	if spec == nil || whole {
		spec = &merge.Spec{Limit: -1, Star: true} // every column
	}
	spec, err := router.Resolve(spec, len(cols), spec.Limit, spec.Offset)
	if err != nil {
		return answer{err: mergeError(err)}
	}
	for _, r := range results {
		to := &s.db.textOrder[r.id]
		if to.def.Load() == textOrderCollated {
			spec.CollatedText = true
		}
		// Each shard's RowDescription names its own catalog's tables.
		if facts := to.cols.Load(); facts != nil && len(r.cols) == len(mcols) {
			for i := range r.cols {
				mcols[i].Collation = max(mcols[i].Collation, facts.collationOf(&r.cols[i]))
				mcols[i].Nondeterministic = mcols[i].Nondeterministic || facts.mayHoldUnequalBytesEqual(&r.cols[i])
			}
		}
	}
	rows, err := merge.Merge(mcols, parts, spec)
	if err != nil {
		a := answer{err: mergeError(err), cols: mcols}
		me := (*merge.Error)(nil)
		a.unmerged = errors.As(err, &me) && me.Code == merge.CodeFeatureUnsupported
		if a.unmerged && me.ServerSorts && sortableOnShard(mcols, spec) {
			a.resort = &resort{desc: outDescription(cols, mcols, spec), cols: mcols, parts: parts, spec: spec}
		}
		return a
	}
	a.desc, a.rows, a.cols = outDescription(cols, mcols, spec), rows, mcols
	a.tag = combineTags(results)
	if strings.HasPrefix(a.tag, "SELECT") || a.tag == "" {
		a.tag = "SELECT " + strconv.Itoa(len(rows))
	}
	return a
}

// combineTags adds up the row counts of command tags ("INSERT 0 3",
// "UPDATE 2"); other tags (DDL) are the same on every shard.
// valuesOrder puts the RETURNING rows of a multi-row INSERT split over
// shards back in VALUES order, the order one server returns them in (ORMs
// match returned ids to their objects by position). Each shard returns its
// rows in the order it got them; when a shard returned fewer (ON CONFLICT
// DO NOTHING skipped some), which row is which cannot be told, and the
// shards' order stands. nil means nothing to reorder.
func valuesOrder(rt *router.Route, results []*shardResult) []merge.Row {
	if len(rt.Rows) != len(results) || len(results) < 2 {
		return nil
	}
	total := 0
	for i, r := range results {
		if len(r.rows) != len(rt.Rows[i]) {
			return nil
		}
		total += len(r.rows)
	}
	if total == 0 {
		return nil
	}
	out := make([]merge.Row, total)
	for i, r := range results {
		for j, row := range r.rows {
			pos := rt.Rows[i][j]
			if pos < 0 || pos >= total || out[pos] != nil {
				return nil
			}
			out[pos] = row
		}
	}
	return out
}

// oneCopy keeps one shard's answer to a write on a reference table: every
// shard wrote its own copy of the same rows, and one server would have
// answered once. Copies that answered differently have drifted apart
// (written around pgshard, say); that is logged, not hidden.
func (s *session) oneCopy(results []*shardResult) []*shardResult {
	for _, r := range results[1:] {
		if r.tag != results[0].tag || len(r.rows) != len(results[0].rows) {
			s.log.Warn("reference table copies answered a write differently; they are no longer identical",
				"first", s.db.cfg.Shards[results[0].id].Name, "tag", results[0].tag,
				"other", s.db.cfg.Shards[r.id].Name, "other_tag", r.tag)
			break
		}
	}
	return results[:1]
}

func combineTags(results []*shardResult) string {
	var prefix string
	total := int64(0)
	for _, r := range results {
		i := strings.LastIndexByte(r.tag, ' ')
		if i < 0 {
			return r.tag
		}
		n, err := strconv.ParseInt(r.tag[i+1:], 10, 64)
		if err != nil {
			return r.tag
		}
		prefix = r.tag[:i]
		total += n
	}
	if prefix == "" {
		return ""
	}
	return prefix + " " + strconv.FormatInt(total, 10)
}

// outDescription is the RowDescription of a merge's output: the shards'
// columns the client sees, with the types the merge gives them.
func outDescription(cols []pgproto3.FieldDescription, mcols []merge.Column, spec *merge.Spec) *pgproto3.RowDescription {
	out := merge.OutColumns(mcols, spec)
	desc := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(out))}
	for i, c := range out {
		f := cols[i]
		if c.TypeOID != f.DataTypeOID {
			f.DataTypeOID, f.DataTypeSize, f.TypeModifier = c.TypeOID, merge.TypeLen(c.TypeOID), -1
		}
		desc.Fields[i] = f
	}
	return desc
}

// mergeError is the client's error for a merge that failed: the merge's
// own SQLSTATE where it names one (a numeric overflow, an unsupported
// type), else an internal error.
func mergeError(err error) *pgError {
	var me *merge.Error
	if errors.As(err, &me) {
		return &pgError{Code: me.Code, Message: me.Message, Detail: me.Detail}
	}
	return &pgError{Code: codeInternalError, Message: "pgshard: merging shard results: " + err.Error()}
}
