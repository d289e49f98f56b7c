package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// A statement in stages (router/stage.go): each subquery that spans
// shards runs first as a statement of its own, routed and merged, and its
// result is passed to the statement as Bind parameters (stageparams.go)
// or written into it as constants; the statement is then routed and run
// as if the client had sent it that way.

// maxStagedBytes bounds the constants a stage writes into a statement.
const maxStagedBytes = router.MaxStagedBytes

// stageBounds names both bounds, for the errors past them.
var stageBounds = fmt.Sprintf("%d KiB written into the statement, %d MiB passed as parameters", maxStagedBytes>>10, router.MaxStagedParamBytes>>20)

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
	final, rt, params, pe := s.fillStages(ctx, st, nil, firstParam(st, 0), s.stageRoute(nil))
	if pe != nil {
		return s.refuse(pe)
	}
	s.dbm.Helped(helpedBy(st))
	return s.answerFilled(ctx, final, rt, params)
}

// answerFilled answers a simple query with its filled statement: as the
// client could have sent it when the stages were written in, else with
// the stages' parameters over the statement's shards.
func (s *session) answerFilled(ctx context.Context, final string, rt *router.Route, params [][]byte) error {
	if params == nil {
		return s.simpleQuery(ctx, append([]byte(final), 0))
	}
	if len(rt.Shards) == 0 {
		rt.Shards = []shard.ShardID{s.currentShard()}
	}
	j := newMultiJob(rt, final)
	j.bind = &pgproto3.Bind{Parameters: params}
	return s.answerMulti(ctx, rt, j, final)
}

// firstParam is the number of a staging's first stage parameter after a
// statement's own n, or 0 when its stages must be written in as constants.
func firstParam(st *router.Staging, n int) int {
	if !st.Params {
		return 0
	}
	return n + 1
}

// helpedBy is the metric's name for how st answers its statement.
func helpedBy(st *router.Staging) metrics.Helped {
	switch {
	case st.PullUp:
		return metrics.HelpedPulledUp
	case st.Broadcast:
		return metrics.HelpedBroadcast
	case st.Decorrelated:
		return metrics.HelpedDecorrelated
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
	if vp.route.Plan.Command == "COPY" {
		return answer{err: &pgError{Code: codeFeatureNotSupported, Message: st.Refusal.Message,
			Hint: "Send it as a simple query (psql's \\copy, pgx: QueryExecModeSimpleProtocol): pgshard runs the query first then."}}
	}
	for _, n := range st.Unnamed {
		if n > len(vp.st.oids) || vp.st.oids[n-1] == 0 {
			// The server's answer to the statement's Parse.
			return answer{err: errorf(codeIndeterminateDatatype, fmt.Sprintf("could not determine data type of parameter $%d", n))}
		}
	}
	if want := max(len(vp.st.oids), st.Highest); len(vp.bind.Parameters) != want {
		// Stages' parameters follow the client's: a count the server
		// would refuse must be refused here, as the server words it.
		return answer{err: errorf(codeProtocolViolation, fmt.Sprintf("bind message supplies %d parameters, but prepared statement \"%s\" requires %d",
			len(vp.bind.Parameters), vp.bind.PreparedStatement, want))}
	}
	params := router.Params{Values: vp.bind.Parameters, Formats: make([]int16, len(vp.bind.Parameters)), OIDs: vp.st.oids}
	for i := range params.Formats {
		params.Formats[i] = formatOf(vp.bind.ParameterFormatCodes, i)
	}
	if openBinaryParam(st, &params) {
		params.OIDs = s.statementParamTypes(ctx, vp.st)
	}
	final, rt, staged, pe := s.fillStages(ctx, st, &params, firstParam(st, len(params.Values)), s.stageRoute(&params))
	if pe != nil {
		return answer{err: pe}
	}
	s.dbm.Helped(helpedBy(st))
	if len(rt.Shards) == 0 {
		rt.Shards = []shard.ShardID{s.currentShard()}
	}
	j := newMultiJob(rt, final)
	j.bind, j.oids = vp.bind, vp.st.oids
	if len(staged) > 0 || len(st.Dropped) > 0 {
		b := *vp.bind
		b.Parameters = append(slices.Clip(params.Values), staged...)
		b.ParameterFormatCodes = append(slices.Clip(params.Formats), make([]int16, len(staged))...)
		b.Parameters, j.oids = dropParams(st, b.Parameters, params.OIDs, len(params.Values))
		j.bind = &b
	}
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

// dropParams returns a filled statement's parameters (values, the first
// own of them the statement's own, of types oids) with those only st's
// stages took made NULLs of type text, and their types: the filled
// statement no longer names them, so a server could not infer their
// types.
func dropParams(st *router.Staging, values [][]byte, oids []uint32, own int) ([][]byte, []uint32) {
	if len(st.Dropped) == 0 {
		return values, oids
	}
	values = slices.Clone(values)
	types := make([]uint32, own)
	copy(types, oids)
	for _, n := range st.Dropped {
		if n-1 < own {
			values[n-1], types[n-1] = nil, pgtype.TextOID
		}
	}
	return values, types
}

// fillStages runs st's stages, which may take the statement's own
// parameters (all; nil for a simple query), and returns the statement with
// their results, the stages' parameters (numbered from first; none when
// first is 0, every result then written in as constants), and its route
// (by route), checked to route without staging again.
func (s *session) fillStages(ctx context.Context, st *router.Staging, all *router.Params, first int, route func(string, [][]byte, *router.GeneratedKeys) *router.Route) (string, *router.Route, [][]byte, *pgError) {
	refusal := routeError(st.Refusal)
	if st.KnownTooLarge(time.Now()) {
		r := *refusal
		r.Detail = fmt.Sprintf("The rows pgshard would stage for it passed its bounds (%s) less than %v ago.", stageBounds, router.TooLargeFor)
		return "", nil, nil, &r
	}
	if st.Write && !s.stagesOfWrite {
		s.stagesOfWrite = true
		defer func() { s.stagesOfWrite = false }()
	}
	results := make([]router.StageResult, len(st.Stages))
	var params [][]byte
	for i, stage := range st.Stages {
		next := 0
		if first > 0 {
			next = first + len(params)
		}
		res, ps, pe := s.runStage(ctx, i, stage, all, next)
		if pe != nil {
			if pe.Hint == stageTooLargeHint {
				st.MarkTooLarge(time.Now())
			}
			if stage.Table != "" && pe.Hint == stageTooLargeHint {
				// A table's rows for a join or a pull-up: the statement's
				// own refusal says what to change.
				r := *refusal
				r.Detail = fmt.Sprintf("pgshard tried to stage the rows of %s that the statement needs, but they pass its bounds (%s).", stage.Table, stageBounds)
				pe = &r
			}
			if pe.Code == codeUndefinedColumn || pe.Code == codeUndefinedTable {
				// Correlated after all, or a name that is not there:
				// the statement's refusal, and what the server said.
				r := *refusal
				r.Detail = "Run on its own, the subquery " + abbreviate(stage.SQL) + " failed: " + pe.Message
				pe = &r
			}
			return "", nil, nil, pe
		}
		results[i] = res
		params = append(params, ps...)
	}
	final := st.Fill(results)
	rt := route(final, params, nil)
	if rt != nil && rt.NeedKeys != nil {
		// An INSERT that leaves its key to the default, its subqueries'
		// values now written in: the keys are taken as for a COPY, on a
		// connection of the default shard's pool, whatever the stages
		// left attached (a table created earlier in the transaction is
		// not found there).
		gen, err := s.pooledKeys(ctx, rt.NeedKeys)
		if err != nil {
			return "", nil, nil, asPgError(err, "taking the shard keys of "+rt.NeedKeys.Table.Name)
		}
		rt = route(final, params, gen)
	}
	switch {
	case rt == nil || rt.Staging() != nil || rt.Err != nil && rt.Err.Code == codeFeatureNotSupported:
		return "", nil, nil, refusal
	case rt.Plan != nil && rt.Plan.Move != nil && (all != nil || params != nil):
		// Rows written in as constants, to be moved with COPY: only a
		// simple query runs that (answerFilled).
		return "", nil, nil, refusal
	case rt.Err != nil:
		return "", nil, nil, routeError(rt.Err)
	}
	return final, rt, params, nil
}

// runStage runs stage i and returns its result as SQL for its place, and
// the parameters it takes, numbered from next (0: written in as
// constants).
func (s *session) runStage(ctx context.Context, i int, stage router.Stage, all *router.Params, next int) (router.StageResult, [][]byte, *pgError) {
	res := router.StageResult{}
	text, cols, params, pe := s.stageRows(ctx, i, stage, all, next)
	if pe != nil {
		return res, nil, pe
	}
	res.SQL = text
	if len(cols) > 0 {
		res.Column = string(cols[0].Name)
	}
	return res, params, nil
}

// stageRows runs stage i, with the statement's parameters it takes (of
// all): its result as SQL for its place, its columns, and its parameters
// (next as for runStage).
func (s *session) stageRows(ctx context.Context, i int, stage router.Stage, all *router.Params, next int) (string, []pgproto3.FieldDescription, [][]byte, *pgError) {
	sql := stage.SQL
	own, ok := stageParams(all, stage.Params)
	if !ok {
		return "", nil, nil, errorf(codeFeatureNotSupported, "pgshard: the subquery "+abbreviate(sql)+" takes parameters the statement does not have")
	}
	var rt *router.Route
	if own == nil {
		stmts := s.db.router.SimpleKeyed(sql, s.shardKey())
		if len(stmts) != 1 {
			return "", nil, nil, errorf(codeInternalError, "pgshard: a staged subquery is not one statement")
		}
		rt = stmts[0].Route
	} else {
		rt = s.db.router.BindKeyed(s.db.router.Prepare(sql), sql, *own, s.shardKey())
	}
	var inner [][]byte
	stagedRoute := rt
	if st := rt.Staging(); st != nil {
		// A subquery with stages of its own (a subquery in it spans
		// shards too): those first.
		n := 0
		if own != nil {
			n = len(own.Values)
		}
		var pe *pgError
		if sql, rt, inner, pe = s.fillStages(ctx, st, own, firstParam(st, n), s.stageRoute(own)); pe != nil {
			return "", nil, nil, pe
		}
	}
	if rt.Err != nil {
		return "", nil, nil, routeError(rt.Err)
	}
	if len(rt.Shards) == 0 {
		// Reference tables only (the subquery's own stages made the
		// rest constants): the session's shard, as for a statement.
		rt.Shards = []shard.ShardID{s.currentShard()}
	}
	// A subquery's rows beyond what may be written into the statement are
	// not kept (the first shard past the bound is reported).
	s.rowBudget = maxStagedBytes
	if next > 0 {
		s.rowBudget = router.MaxStagedParamBytes
	}
	j := newMultiJob(rt, sql)
	if own != nil || inner != nil {
		b := &pgproto3.Bind{}
		if own != nil {
			b.Parameters, b.ParameterFormatCodes, j.oids = own.Values, own.Formats, own.OIDs
		}
		b.Parameters = append(slices.Clip(b.Parameters), inner...)
		b.ParameterFormatCodes = append(slices.Clip(b.ParameterFormatCodes), make([]int16, len(inner))...)
		if st := stagedRoute.Staging(); st != nil && own != nil {
			b.Parameters, j.oids = dropParams(st, b.Parameters, own.OIDs, len(own.Values))
		}
		j.bind = b
	}
	results, err := s.runMulti(ctx, j)
	s.rowBudget = 0
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = &pgError{Code: codeConnectionFailure, Message: "pgshard: running a subquery: " + err.Error()}
		}
		return "", nil, nil, pe
	}
	a := s.combine(rt, results)
	if a.resort != nil {
		a = s.sortOnShard(ctx, a)
	}
	if a.err != nil {
		return "", nil, nil, a.err
	}
	if a.desc == nil {
		return "", nil, nil, errorf(codeInternalError, "pgshard: a staged subquery returned no rows description")
	}
	for _, c := range a.cols {
		// Constants take the database's collation: a column with its own
		// would be compared, grouped and ordered otherwise.
		if c.Nondeterministic || merge.Textual(c.TypeOID) && c.Collation != merge.CollateDefault && c.Collation != merge.CollateBytes {
			return "", nil, nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: cannot write the subquery's column %q into the statement: its text has a collation of its own, or pgshard cannot tell its collation", c.Name),
				Hint:    "Pin the query to a shard key."}
		}
	}
	names, err := s.stageTypeNames(ctx, describedBy(results), a.desc.Fields)
	if err != nil {
		return "", nil, nil, asPgError(err, "reading the names of the subquery's column types")
	}
	if next > 0 {
		text, params, ok, pe := paramStage(i, stage.Form, stage.Inserted > 0, a.desc.Fields, names, a.rows, next)
		if ok || pe != nil {
			return text, a.desc.Fields, params, pe
		}
	}
	text, pe := stageText(i, stage.Form, stage.Inserted > 0, a.desc.Fields, names, a.rows)
	return text, a.desc.Fields, nil, pe
}

// describedBy is the shard whose row description combine gives a
// multi-shard answer: the first that sent one.
func describedBy(results []*shardResult) shard.ShardID {
	for _, r := range results {
		if r.cols != nil {
			return r.id
		}
	}
	return 0
}

// stageText writes a subquery's rows as SQL for its place: a VALUES list
// aliased as the marker it replaces (its columns named c0, c1, ... when
// positional, as paramStage names them), a value, an array, or a boolean.
func stageText(i int, form router.StageForm, positional bool, cols []pgproto3.FieldDescription, names typeNames, rows []merge.Row) (string, *pgError) {
	if e := router.StageError(form, len(cols), len(rows)); e != nil {
		return "", routeError(e)
	}
	types := make([]string, len(cols))
	for k, c := range cols {
		t, ok := names.sqlName(c.DataTypeOID)
		if !ok || form == router.StageArray && strings.HasSuffix(t, "[]") {
			return "", &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: cannot write the subquery's column %q (type OID %d) into the statement: pgshard writes only built-in types that are not arrays, enums and domains", c.Name, c.DataTypeOID),
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
			if positional {
				names[k] = "c" + strconv.Itoa(k)
			}
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
	Message: "pgshard: the subquery's rows pass what pgshard may stage (" + stageBounds + "); pgshard stopped keeping them",
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
