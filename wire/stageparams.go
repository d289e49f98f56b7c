package wire

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// A stage's result can reach its statement as Bind parameters instead of
// constants (router.Staging.Params): rows become one text array per
// column, unnested in the statement's FROM list (ROWS FROM
// (pg_catalog.unnest($3::pg_catalog."int8"[]), ...) AS pgshard_stage_0(...)),
// a value or an IN list one parameter. The filled statement is then as
// short as the client's, the same text on every run: parsed once, its
// plan cached, where constants cost pgshard about 500 ms of parsing per
// MiB on every run. Its shards are sent the parameters with an extended
// query of their own.

// boxOID is the one built-in type whose array elements are separated by
// ';', not ','.
const boxOID = 603

// paramStage writes stage i's result (rows, of cols) as parameters
// numbered from next: the SQL for the stage's place and the parameters'
// values, in text format. ok is false where a column cannot go that way
// (an array type, which unnest would flatten; box; a type names does not
// hold; no columns at all), or
// the form is EXISTS, whose true or false is shorter written in; the
// stage is then written as constants.
//
// Rows an INSERT ... SELECT inserts (positional) take the column names c0,
// c1, ...: the statement names them so, whatever the stage's own names
// (router.insertedFromMarker).
func paramStage(i int, form router.StageForm, positional bool, cols []pgproto3.FieldDescription, names typeNames, rows []merge.Row, next int) (sql string, params [][]byte, ok bool, pe *pgError) {
	if e := router.StageError(form, len(cols), len(rows)); e != nil {
		return "", nil, false, routeError(e)
	}
	if form == router.StageExists || len(cols) == 0 {
		return "", nil, false, nil
	}
	types := make([]string, len(cols))
	for k, c := range cols {
		t, known := names.sqlName(c.DataTypeOID)
		if !known || strings.HasSuffix(t, "[]") || c.DataTypeOID == boxOID {
			return "", nil, false, nil
		}
		types[k] = t
	}
	switch form {
	case router.StageValue:
		var v []byte
		if len(rows) > 0 {
			v = rows[0][0]
		}
		return fmt.Sprintf("($%d::%s)", next, types[0]), [][]byte{v}, true, nil
	case router.StageArray:
		return fmt.Sprintf("$%d::%s[]", next, types[0]), [][]byte{arrayText(rows, 0)}, true, nil
	}
	var b strings.Builder
	b.WriteString("ROWS FROM (")
	aliases := make([]string, len(cols))
	for k, c := range cols {
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "pg_catalog.unnest($%d::%s[])", next+k, types[k])
		params = append(params, arrayText(rows, k))
		aliases[k] = quoteIdent(string(c.Name))
		if positional {
			aliases[k] = "c" + strconv.Itoa(k)
		}
	}
	b.WriteString(") AS " + router.StageMarker(i) + "(" + strings.Join(aliases, ", ") + ")")
	return b.String(), params, true, nil
}

// arrayText is column k of rows as an array literal: each element quoted
// (so any text reads back as itself), NULL unquoted.
func arrayText(rows []merge.Row, k int) []byte {
	n := 2
	for _, r := range rows {
		n += len(r[k]) + 3
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, r := range rows {
		if i > 0 {
			out = append(out, ',')
		}
		v := r[k]
		if v == nil {
			out = append(out, "NULL"...)
			continue
		}
		out = append(out, '"')
		for _, c := range v {
			if c == '"' || c == '\\' {
				out = append(out, '\\')
			}
			out = append(out, c)
		}
		out = append(out, '"')
	}
	return append(out, '}')
}

// stageRoute routes a filled statement: as a simple query when its stages
// were written in as constants (params nil), else as a Bind of the
// client's parameters (client, nil for a simple query) followed by the
// stages'.
func (s *session) stageRoute(client *router.Params) func(sql string, params [][]byte, gen *router.GeneratedKeys) *router.Route {
	return func(sql string, params [][]byte, gen *router.GeneratedKeys) *router.Route {
		if params == nil && client == nil {
			if gen == nil {
				return s.simpleRoute(sql)
			}
			if stmts := s.db.router.SimpleFilled(sql, s.shardKey(), nil, gen); len(stmts) == 1 {
				return stmts[0].Route
			}
			return nil
		}
		all := router.Params{}
		if client != nil {
			all.Values = append(all.Values, client.Values...)
			all.Formats = append(all.Formats, client.Formats...)
			all.OIDs = client.OIDs
		}
		all.Values = append(all.Values, params...)
		all.Formats = append(all.Formats, make([]int16, len(params))...)
		return s.db.router.BindFilled(s.db.router.Prepare(sql), sql, all, s.shardKey(), nil, gen)
	}
}

// A stage of a Bind's statement may take some of its parameters (a
// subquery's WHERE y = $3: router.Stage.Params), renumbered from $1 for
// the stage alone. The stage's server infers their types from the stage
// alone, which could differ from what the whole statement gives them; a
// value in binary format must be read as the type it was encoded for, so
// where the client left such a type open, pgshard asks a server for the
// statement's own once (statementParamTypes) and declares it.

// stageParams are the statement's parameters (all) a stage takes (nums),
// as its $1, $2, ...; nil when it takes none. ok is false when it takes
// some that the statement does not have (a simple query has none).
func stageParams(all *router.Params, nums []int) (*router.Params, bool) {
	if len(nums) == 0 {
		return nil, true
	}
	if all == nil {
		return nil, false
	}
	out := &router.Params{Values: make([][]byte, len(nums)), Formats: make([]int16, len(nums)), OIDs: make([]uint32, len(nums))}
	for k, n := range nums {
		i := n - 1
		if i < 0 || i >= len(all.Values) {
			return nil, false
		}
		out.Values[k], out.Formats[k] = all.Values[i], all.Formats[i]
		if i < len(all.OIDs) {
			out.OIDs[k] = all.OIDs[i]
		}
	}
	return out, true
}

// openBinaryParam says whether a stage of st takes a parameter in binary
// format whose type params leave open.
func openBinaryParam(st *router.Staging, params *router.Params) bool {
	for _, stage := range st.Stages {
		for _, n := range stage.Params {
			i := n - 1
			if i < len(params.Formats) && params.Formats[i] == pgtype.BinaryFormatCode && (i >= len(params.OIDs) || params.OIDs[i] == 0) {
				return true
			}
		}
	}
	return false
}

// statementParamTypes returns the parameter types a server infers for
// st's text (the client's declared ones kept), asking once, on an idle
// connection of the session's shard; on failure, what the client
// declared.
func (s *session) statementParamTypes(ctx context.Context, st *statement) []uint32 {
	if st.paramTypes != nil {
		return st.paramTypes
	}
	p, err := s.shardPool(s.currentShard())
	if err != nil {
		return st.oids
	}
	sc, err := p.acquire(ctx)
	if err != nil {
		return st.oids
	}
	defer p.release(sc)
	sc.unnamed = ""
	for _, m := range []encoder{&pgproto3.Parse{Query: st.query, ParameterOIDs: st.oids}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}} {
		if err := writeMsg(sc.w, &s.scratch, m); err != nil {
			sc.broken = true
			return st.oids
		}
	}
	if err := sc.w.Flush(); err != nil {
		sc.broken = true
		return st.oids
	}
	var types []uint32
	for {
		typ, body, err := sc.r.next()
		if err != nil {
			sc.broken = true
			return st.oids
		}
		switch typ {
		case 't':
			var pd pgproto3.ParameterDescription
			if pd.Decode(body) == nil {
				types = pd.ParameterOIDs
			}
		case 'Z':
			if types == nil {
				return st.oids
			}
			st.paramTypes = types
			return types
		}
	}
}
