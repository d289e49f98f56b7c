package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// A statement in stages (router/stage.go): each subquery that spans
// shards runs first as a statement of its own, routed and merged, and its
// result is written into the statement as constants; the statement is
// then routed and run as if the client had sent it that way.

// maxStagedBytes bounds the constants a stage writes into a statement.
const maxStagedBytes = router.MaxStagedBytes

// SQLSTATEs of subqueries that, run on their own, name what only the
// outer query defines: they were correlated after all.
const (
	codeUndefinedColumn = "42703"
	codeUndefinedTable  = "42P01"
)

// runStaged answers a simple query whose one statement the router staged.
func (s *session) runStaged(ctx context.Context, st *router.Staging) error {
	if pe := s.multiAllowed(nil); pe != nil {
		return s.refuse(pe)
	}
	final, _, pe := s.fillStages(ctx, st, s.simpleRoute)
	if pe != nil {
		return s.refuse(pe)
	}
	s.dbm.Helped(helpedBy(st))
	return s.simpleQuery(ctx, append([]byte(final), 0))
}

// helpedBy is the metric's name for how st answers its statement.
func helpedBy(st *router.Staging) metrics.Helped {
	if st.PullUp {
		return metrics.HelpedPulledUp
	}
	return metrics.HelpedStaged
}

// simpleRoute routes sql as a simple query of one statement (nil if it is
// not one).
func (s *session) simpleRoute(sql string) *router.Route {
	if stmts := s.db.router.SimpleKeyed(sql, s.shardKey()); len(stmts) == 1 {
		return stmts[0].Route
	}
	return nil
}

// runStagedPortal answers a portal whose statement the router staged
// (extended protocol): the stages, then the filled statement over its
// shards with the Bind's parameters and result formats, as any portal
// pgshard runs itself.
func (s *session) runStagedPortal(ctx context.Context, vp *vportal) answer {
	st := vp.route.Staging()
	if vp.route.Plan.Command != "SELECT" {
		return answer{err: &pgError{Code: codeFeatureNotSupported, Message: st.Refusal.Message,
			Hint: "Send it as a simple query (psql's \\copy, pgx: QueryExecModeSimpleProtocol): pgshard runs the query first then."}}
	}
	params := router.Params{Values: vp.bind.Parameters, Formats: make([]int16, len(vp.bind.Parameters)), OIDs: vp.st.oids}
	for i := range params.Formats {
		params.Formats[i] = formatOf(vp.bind.ParameterFormatCodes, i)
	}
	final, rt, pe := s.fillStages(ctx, st, func(sql string) *router.Route {
		return s.db.router.BindKeyed(s.db.router.Prepare(sql), sql, params, s.shardKey())
	})
	if pe != nil {
		return answer{err: pe}
	}
	s.dbm.Helped(helpedBy(st))
	if len(rt.Shards) == 0 {
		rt.Shards = []shard.ShardID{s.currentShard()}
	}
	j := newMultiJob(rt, final)
	j.bind, j.oids = vp.bind, vp.st.oids
	results, err := s.runMulti(ctx, j)
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = &pgError{Code: codeConnectionFailure, Message: "pgshard: running a staged statement: " + err.Error()}
		}
		return answer{err: pe}
	}
	return s.combine(rt, results)
}

// fillStages runs st's stages and returns the statement with their
// results, and its route (by route), checked to route without staging
// again.
func (s *session) fillStages(ctx context.Context, st *router.Staging, route func(string) *router.Route) (string, *router.Route, *pgError) {
	refusal := routeError(st.Refusal)
	if st.KnownTooLarge(time.Now()) {
		r := *refusal
		r.Detail = fmt.Sprintf("The rows pgshard would stage for it passed the %d KiB it writes into a statement less than %v ago.", maxStagedBytes>>10, router.TooLargeFor)
		return "", nil, &r
	}
	results := make([]router.StageResult, len(st.Stages))
	for i, stage := range st.Stages {
		res, pe := s.runStage(ctx, i, stage)
		if pe != nil {
			if pe.Hint == stageTooLargeHint {
				st.MarkTooLarge(time.Now())
			}
			if stage.Table != "" && pe.Hint == stageTooLargeHint {
				// A table's rows for a join or a pull-up: the statement's
				// own refusal says what to change.
				r := *refusal
				r.Detail = fmt.Sprintf("pgshard tried to stage the rows of %s that the statement needs, but they pass the %d KiB it writes into a statement.", stage.Table, maxStagedBytes>>10)
				pe = &r
			}
			if pe.Code == codeUndefinedColumn || pe.Code == codeUndefinedTable {
				// Correlated after all, or a name that is not there:
				// the statement's refusal, and what the server said.
				r := *refusal
				r.Detail = "Run on its own, the subquery " + abbreviate(stage.SQL) + " failed: " + pe.Message
				pe = &r
			}
			return "", nil, pe
		}
		results[i] = res
	}
	final := st.Fill(results)
	rt := route(final)
	switch {
	case rt == nil || rt.Staging() != nil || rt.Err != nil && rt.Err.Code == codeFeatureNotSupported:
		return "", nil, refusal
	case rt.Err != nil:
		return "", nil, routeError(rt.Err)
	}
	return final, rt, nil
}

// runStage runs stage i and returns its result as SQL text for its place.
func (s *session) runStage(ctx context.Context, i int, stage router.Stage) (router.StageResult, *pgError) {
	res := router.StageResult{}
	text, cols, pe := s.stageRows(ctx, i, stage)
	if pe != nil {
		return res, pe
	}
	res.SQL = text
	if len(cols) > 0 {
		res.Column = string(cols[0].Name)
	}
	return res, nil
}

// stageRows runs stage i: its result as SQL text, and its columns.
func (s *session) stageRows(ctx context.Context, i int, stage router.Stage) (string, []pgproto3.FieldDescription, *pgError) {
	sql := stage.SQL
	stmts := s.db.router.SimpleKeyed(sql, s.shardKey())
	if len(stmts) != 1 {
		return "", nil, errorf(codeInternalError, "pgshard: a staged subquery is not one statement")
	}
	rt := stmts[0].Route
	if st := rt.Staging(); st != nil {
		// A subquery with stages of its own (a subquery in it spans
		// shards too): those first.
		var pe *pgError
		if sql, rt, pe = s.fillStages(ctx, st, s.simpleRoute); pe != nil {
			return "", nil, pe
		}
	}
	if rt.Err != nil {
		return "", nil, routeError(rt.Err)
	}
	if len(rt.Shards) == 0 {
		// Reference tables only (the subquery's own stages made the
		// rest constants): the session's shard, as for a statement.
		rt.Shards = []shard.ShardID{s.currentShard()}
	}
	// A subquery's rows beyond what may be written into the statement are
	// not kept (the first shard past the bound is reported).
	s.rowBudget = maxStagedBytes
	results, err := s.runMulti(ctx, newMultiJob(rt, sql))
	s.rowBudget = 0
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = &pgError{Code: codeConnectionFailure, Message: "pgshard: running a subquery: " + err.Error()}
		}
		return "", nil, pe
	}
	a := s.combine(rt, results)
	if a.resort != nil {
		a = s.sortOnShard(ctx, a)
	}
	if a.err != nil {
		return "", nil, a.err
	}
	if a.desc == nil {
		return "", nil, errorf(codeInternalError, "pgshard: a staged subquery returned no rows description")
	}
	for _, c := range a.cols {
		// Constants take the database's collation: a column with its own
		// would be compared, grouped and ordered otherwise.
		if c.Nondeterministic || merge.Textual(c.TypeOID) && c.Collation != merge.CollateDefault && c.Collation != merge.CollateBytes {
			return "", nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: cannot write the subquery's column %q into the statement: its text has a collation of its own, or pgshard cannot tell its collation", c.Name),
				Hint:    "Pin the query to a shard key."}
		}
	}
	text, pe := stageText(i, stage.Form, a.desc.Fields, a.rows)
	return text, a.desc.Fields, pe
}

// stageText writes a subquery's rows as SQL for its place: a VALUES list
// aliased as the marker it replaces, a value, an array, or a boolean.
func stageText(i int, form router.StageForm, cols []pgproto3.FieldDescription, rows []merge.Row) (string, *pgError) {
	if e := router.StageError(form, len(cols), len(rows)); e != nil {
		return "", routeError(e)
	}
	types := make([]string, len(cols))
	for k, c := range cols {
		t, ok := sqlTypeName(c.DataTypeOID)
		if !ok || form == router.StageArray && strings.HasSuffix(t, "[]") {
			return "", &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: cannot write the subquery's column %q (type OID %d) into the statement: pgshard writes only built-in types that are not arrays", c.Name, c.DataTypeOID),
				Hint:    "Pin the subquery to a shard key, or cast the column to a built-in type."}
		}
		types[k] = t
	}
	var b strings.Builder
	lit := func(v []byte, t string) { writeLiteral(&b, v, t) }
	switch form {
	case router.StageExists:
		return fmt.Sprint(len(rows) > 0), nil
	case router.StageValue:
		if len(rows) == 0 {
			return "(NULL::" + types[0] + ")", nil
		}
		b.WriteByte('(')
		lit(rows[0][0], types[0])
		b.WriteByte(')')
	case router.StageArray:
		if len(rows) == 0 {
			return "'{}'::" + types[0] + "[]", nil
		}
		b.WriteString("ARRAY[")
		for k, r := range rows {
			if k > 0 {
				b.WriteString(", ")
			}
			lit(r[0], types[0])
			if b.Len() > maxStagedBytes {
				return "", tooLargeToStage(len(rows))
			}
		}
		b.WriteString("]::" + types[0] + "[]")
	case router.StageRows:
		names := make([]string, len(cols))
		for k, c := range cols {
			names[k] = quoteIdent(string(c.Name))
		}
		alias := router.StageMarker(i) + "(" + strings.Join(names, ", ") + ")"
		if len(rows) == 0 {
			b.WriteString("(SELECT ")
			for k := range cols {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString("NULL::" + types[k])
			}
			b.WriteString(" WHERE false) AS " + alias)
			return b.String(), nil
		}
		b.WriteString("(VALUES ")
		for k, r := range rows {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c, v := range r {
				if c > 0 {
					b.WriteString(", ")
				}
				lit(v, types[c])
			}
			b.WriteByte(')')
			if b.Len() > maxStagedBytes {
				return "", tooLargeToStage(len(rows))
			}
		}
		b.WriteString(") AS " + alias)
	}
	return b.String(), nil
}

// stageTooLargeHint marks the errors of a stage past maxStagedBytes.
const stageTooLargeHint = "Pin the subquery to a shard key, or let it return fewer rows."

func tooLargeToStage(rows int) *pgError {
	return &pgError{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: the subquery's %d rows take more than the %d KiB pgshard writes into a statement", rows, maxStagedBytes>>10),
		Hint:    stageTooLargeHint}
}

// errStageOverBudget is a shard's result when the rows a stage read passed
// rowBudget (readMulti).
var errStageOverBudget = &pgError{Code: codeFeatureNotSupported,
	Message: fmt.Sprintf("pgshard: the subquery's rows pass the %d KiB pgshard writes into a statement; pgshard stopped keeping them", maxStagedBytes>>10),
	Hint:    stageTooLargeHint}

// sqlTypeName is a built-in type's name as SQL can cast to it, whatever
// the search_path ("char", the one-byte type, needs its quotes).
func sqlTypeName(oid uint32) (string, bool) {
	t, ok := typeMap.TypeForOID(oid)
	if !ok || t.Name == "" {
		return "", false
	}
	if name, isArray := strings.CutPrefix(t.Name, "_"); isArray {
		return `pg_catalog."` + name + `"[]`, true
	}
	return `pg_catalog."` + t.Name + `"`, true
}

// writeLiteral writes v (text format; nil is NULL) as a constant of SQL
// type t.
func writeLiteral(b *strings.Builder, v []byte, t string) {
	if v == nil {
		b.WriteString("NULL::" + t)
		return
	}
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(string(v), "'", "''"))
	b.WriteString("'::" + t)
}
