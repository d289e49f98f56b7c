package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// A cursor whose query needs several shards (router.KindCursor) is held by
// the session: DECLARE runs the query once over the shards, merged as a
// SELECT would be, and FETCH, MOVE and CLOSE are answered from those rows
// with PostgreSQL's cursor rules. The rows are what one server's
// insensitive cursor would return, since PostgreSQL fixes them at DECLARE
// too; they are held in pgshard's memory, as a SELECT over several shards
// is while it is merged. Cursors whose query stays on one shard are the
// server's own.

const (
	codeDuplicateCursor  = "42P03"
	codeNoActiveSQLTx    = "25P01"
	codeObjectNotInState = "55000"
	codeSyntaxError      = "42601"
)

// vcursor is a cursor pgshard holds.
type vcursor struct {
	desc   *pgproto3.RowDescription
	rows   []merge.Row
	pos    int // 0 before the first row, len(rows)+1 after the last
	scroll bool
	hold   bool
	// tentative: WITH HOLD, declared in a transaction block that has not
	// committed yet, so it dies if that block rolls back.
	tentative bool
}

// cursorStatement reports whether stmt is pgshard's to answer as a cursor
// statement: a DECLARE the router made a KindCursor, or a FETCH, MOVE or
// CLOSE naming a cursor the session holds. CLOSE ALL closes the held
// cursors and still goes to the server, for the server's own.
func (s *session) cursorStatement(text string, rt *router.Route) (*router.CursorOp, bool) {
	if rt.Kind == router.KindCursor {
		return nil, true
	}
	if s.mode == config.PoolTransaction && rt.Plan != nil && rt.Plan.Cursor != nil && rt.Plan.Cursor.Hold && rt.Kind != router.KindRefuse {
		// A WITH HOLD cursor outlives its transaction, and in transaction
		// pooling the server connection does not: pgshard holds it, as it
		// holds a cursor over several shards. PostgreSQL itself keeps
		// such a cursor's rows aside when its transaction commits.
		return nil, true
	}
	if len(s.vcursors) == 0 && len(s.portals) == 0 {
		return nil, false
	}
	if w := sqltext.FirstWords(text); !w.Is(0, "fetch") && !w.Is(0, "move") && !w.Is(0, "close") {
		return nil, false
	}
	op, ok := router.ParseCursorOp(text)
	if !ok {
		return nil, false
	}
	if op.Close && op.Name == "" {
		clear(s.vcursors)
		clear(s.portals)
		return nil, false
	}
	if _, held := s.vcursors[op.Name]; held {
		return op, true
	}
	// A portal of the extended protocol is a cursor too (asyncpg moves
	// through its own with MOVE): one pgshard runs is answered here.
	vp := s.portals[op.Name]
	return op, vp != nil && vp.rowSource()
}

// runCursor answers a cursor statement cursorStatement claimed. bind is
// the extended protocol's Bind (nil for a simple query): its parameters
// are the DECLARE query's, its result formats those of FETCH's rows.
func (s *session) runCursor(ctx context.Context, text string, rt *router.Route, op *router.CursorOp, bind *pgproto3.Bind, oids []uint32) answer {
	if s.txStatus == 'E' {
		return answer{err: errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")}
	}
	if op == nil {
		return s.declareCursor(ctx, text, rt.Plan.Cursor, bind, oids)
	}
	c := s.vcursors[op.Name]
	if c == nil {
		return s.portalCursor(ctx, op)
	}
	if op.Close {
		delete(s.vcursors, op.Name)
		return answer{tag: "CLOSE CURSOR"}
	}
	rows, pe := c.fetch(op)
	if pe != nil {
		return answer{err: pe}
	}
	if op.Move {
		return answer{tag: "MOVE " + strconv.Itoa(rows.moved)}
	}
	a := answer{desc: c.desc, rows: rows.rows, tag: "FETCH " + strconv.Itoa(len(rows.rows))}
	if bind != nil {
		return inFormats(a, bind.ResultFormatCodes)
	}
	return a
}

// declareCursor runs the cursor's query over the shards and keeps its rows.
func (s *session) declareCursor(ctx context.Context, text string, c *router.Cursor, bind *pgproto3.Bind, oids []uint32) answer {
	switch {
	case !c.Hold && s.txStatus == 'I':
		return answer{err: errorf(codeNoActiveSQLTx, "DECLARE CURSOR can only be used in transaction blocks")}
	case c.Binary:
		return answer{err: &pgError{Code: codeFeatureNotSupported,
			Message: "pgshard: a BINARY cursor over rows of several shards is not supported",
			Hint:    "Declare the cursor without BINARY, or pin its query to one shard key."}}
	case s.vcursors[c.Name] != nil:
		return answer{err: errorf(codeDuplicateCursor, fmt.Sprintf("cursor %q already exists", c.Name))}
	}
	query, ok := router.CursorQuery(text)
	if !ok {
		return answer{err: errorf(codeSyntaxError, "pgshard: cannot find the query of this DECLARE")}
	}
	var rt *router.Route
	var j *multiJob
	if bind != nil && len(bind.Parameters) > 0 {
		// The rows are kept as text: a FETCH asks for its own formats.
		formats := make([]int16, len(bind.Parameters))
		for i := range formats {
			formats[i] = formatOf(bind.ParameterFormatCodes, i)
		}
		rt = s.db.router.BindKeyed(s.db.router.Prepare(query), query, router.Params{Values: bind.Parameters, Formats: formats, OIDs: oids}, s.shardKey())
		j = newMultiJob(rt, query)
		j.bind = &pgproto3.Bind{ParameterFormatCodes: bind.ParameterFormatCodes, Parameters: bind.Parameters}
		j.oids = oids
	} else {
		stmts := s.db.router.SimpleKeyed(query, s.shardKey())
		if len(stmts) != 1 {
			return answer{err: errorf(codeSyntaxError, "pgshard: a cursor's query must be one statement")}
		}
		rt = stmts[0].Route
		j = newMultiJob(rt, query)
	}
	if rt.Err != nil {
		return answer{err: routeError(rt.Err)}
	}
	limit := s.srv.conf().Pool.CursorMaxMiB << 20
	s.rowBudget = limit
	results, err := s.runMulti(ctx, j)
	s.rowBudget = 0
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = &pgError{Code: codeConnectionFailure, Message: "pgshard: running the cursor's query: " + err.Error()}
		}
		return answer{err: pe}
	}
	for _, r := range results {
		if r.err == errStageOverBudget {
			return answer{err: &pgError{Code: codeProgramLimitExceeded,
				Message: fmt.Sprintf("pgshard: the rows of cursor %q take more than pool.cursor_max_mib (%d MiB), which pgshard holds at most for a cursor", c.Name, limit>>20),
				Hint:    cursorLimitHint}}
		}
	}
	a := s.combine(rt, results)
	if a.err != nil {
		return a
	}
	if s.vcursors == nil {
		s.vcursors = map[string]*vcursor{}
	}
	// In a transaction block, or in a pipeline's implicit transaction: it
	// outlives what declared it only if that commits.
	tentative := c.Hold && (s.txStatus != 'I' || s.batchOpen)
	s.vcursors[c.Name] = &vcursor{desc: a.desc, rows: a.rows, scroll: c.Scroll, hold: c.Hold, tentative: tentative}
	s.tentativeCursors = s.tentativeCursors || tentative
	return answer{tag: "DECLARE CURSOR"}
}

// cursorLimitHint says what to do about a cursor too large to hold.
const cursorLimitHint = "pgshard holds a cursor's rows in memory when its query reads several shards, and in transaction pooling when it is declared WITH HOLD. " +
	"Narrow the query (a WHERE on the key range, a LIMIT), read it without a cursor, declare it without WITH HOLD inside a transaction (the server then keeps it) or use session pooling (pool_mode: session for the user), or raise pool.cursor_max_mib."

// dropTxCursors closes, once the transaction that declared them has ended,
// the held cursors that were not declared WITH HOLD, and the WITH HOLD ones
// declared in it unless it committed: cursorTxEnd dropped them at a
// rollback, and a COMMIT asked for (commitAsked) shows here whether it
// failed, as one refused by a deferred constraint does.
func (s *session) dropTxCursors() {
	failed := s.commitAsked && s.lastTag != "COMMIT"
	for name, c := range s.vcursors {
		if !c.hold || c.tentative && failed {
			delete(s.vcursors, name)
		}
		c.tentative = false
	}
	s.tentativeCursors, s.commitAsked = false, false
}

// dropTentativeCursors closes the WITH HOLD cursors whose transaction did
// not commit.
func (s *session) dropTentativeCursors() { s.settleTentativeCursors(false) }

// settleTentativeCursors keeps the WITH HOLD cursors declared in a
// transaction that has ended if it committed, else closes them.
func (s *session) settleTentativeCursors(committed bool) {
	for name, c := range s.vcursors {
		if c.tentative && !committed {
			delete(s.vcursors, name)
		}
		c.tentative = false
	}
	s.tentativeCursors, s.commitAsked = false, false
}

// noteTxEnd records how a transaction pgshard ended itself ended: tag, or
// pe when it failed. A server's own COMMIT shows in lastTag as relayed.
func (s *session) noteTxEnd(tag string, pe *pgError) {
	if pe == nil {
		s.lastTag = tag
	} else {
		s.lastTag = ""
	}
	if s.listenTx != nil {
		s.noteListenOutcome(s.lastTag)
	}
}

// cursorTxEnd closes the WITH HOLD cursors declared in the client's
// transaction block when q ends that block without committing: ROLLBACK,
// or COMMIT of a failed transaction. PostgreSQL keeps a holdable cursor
// only once its transaction commits. It runs only while such a cursor is
// open (session.tentativeCursors).
func (s *session) cursorTxEnd(q string) {
	for i := 0; ; {
		var stmt string
		if stmt, _, i = sqltext.NextStatement(q, i); stmt == "" {
			return
		}
		c := txControl(stmt)
		if c == "COMMIT" && s.txStatus == 'T' {
			// Whether it commits shows once the transaction has ended
			// (dropTxCursors); a tag left from before must not count.
			s.commitAsked, s.lastTag = true, ""
			return
		}
		if c == "ROLLBACK" || c == "COMMIT" && s.txStatus == 'E' {
			s.dropTentativeCursors()
			return
		}
	}
}

// fetched is what a FETCH returns, or how many rows a MOVE passed.
type fetched struct {
	rows  []merge.Row
	moved int
}

// errNoScroll is PostgreSQL's answer to a backward move on a NO SCROLL cursor.
var errNoScroll = &pgError{Code: codeObjectNotInState, Message: "cursor can only scan forward",
	Hint: "Declare it with SCROLL option to enable backward scan."}

// fetch moves the cursor as PostgreSQL's DoPortalRunFetch does and returns
// the rows it passes (FETCH) or their count (MOVE).
func (c *vcursor) fetch(op *router.CursorOp) (fetched, *pgError) {
	n := len(c.rows)
	switch op.Dir {
	case router.FetchAbsolute:
		target := int(min(max(op.Count, -int64(n)-1), int64(n)+1))
		if op.Count < 0 {
			target = n + 1 + target
		}
		// A row at or before the current position needs a rewind, and
		// counting from the end (LAST) reads backward; a cursor that has
		// not moved yet rewinds for free.
		if !c.scroll && (op.Count < 0 || c.pos != 0 && op.Count <= int64(c.pos)) {
			return fetched{}, errNoScroll
		}
		return c.positionAt(target), nil
	case router.FetchRelative:
		if op.Count == 0 {
			return c.refetch(op)
		}
		if !c.scroll && op.Count < 0 {
			return fetched{}, errNoScroll
		}
		target := int(min(max(int64(c.pos)+op.Count, -1), int64(n)+1))
		return c.positionAt(target), nil
	}
	count, forward := op.Count, op.Dir == router.FetchForward
	if count < 0 {
		count, forward = -count, !forward
	}
	if count == 0 {
		return c.refetch(op)
	}
	if !forward && !c.scroll {
		return fetched{}, errNoScroll
	}
	var out fetched
	for k := int64(0); k < count; k++ {
		if forward {
			if c.pos > n {
				break
			}
			c.pos++
		} else {
			if c.pos < 1 {
				break
			}
			c.pos--
		}
		if c.pos < 1 || c.pos > n {
			break
		}
		out.rows = append(out.rows, c.rows[c.pos-1])
	}
	out.moved = len(out.rows)
	return out, nil
}

// positionAt puts the cursor on row target (clamped to just before the
// first or after the last) and returns that row if there is one.
func (c *vcursor) positionAt(target int) fetched {
	c.pos = min(max(target, 0), len(c.rows)+1)
	return c.current()
}

// refetch is FETCH 0 (or RELATIVE 0): the row the cursor is on, which
// PostgreSQL reads again by stepping back one row, so a NO SCROLL cursor
// sitting on a row refuses it; MOVE 0 only reports whether it is on one.
func (c *vcursor) refetch(op *router.CursorOp) (fetched, *pgError) {
	f := c.current()
	if !op.Move && !c.scroll && f.moved == 1 {
		return fetched{}, errNoScroll
	}
	return f, nil
}

// current is the row the cursor is on, if any.
func (c *vcursor) current() fetched {
	if c.pos < 1 || c.pos > len(c.rows) {
		return fetched{}
	}
	return fetched{rows: []merge.Row{c.rows[c.pos-1]}, moved: 1}
}

// inFormats returns a FETCH's answer in the result formats its Bind asked
// for. The rows are held as text; a column asked for in binary is
// converted with pgx's codec for its type.
func inFormats(a answer, codes []int16) answer {
	if a.desc == nil || !slices.Contains(codes, 1) {
		return a
	}
	return reformat(a, func(col int, _ int16) int16 { return formatOf(codes, col) }, &pgError{Code: codeFeatureNotSupported,
		Message: "pgshard: cannot return column %q of a cursor over several shards in binary format: %v",
		Hint:    "Fetch it in text format."})
}

// reformat is a with each column in the format want gives it (from the
// column's position and current format), converted by transcode; a value
// that cannot be converted gives fail, whose message takes the column's
// name and the reason.
func reformat(a answer, want func(col int, now int16) int16, fail *pgError) answer {
	desc := &pgproto3.RowDescription{Fields: slices.Clone(a.desc.Fields)}
	rows := make([]merge.Row, len(a.rows))
	for i := range rows {
		rows[i] = slices.Clone(a.rows[i])
	}
	for col := range desc.Fields {
		f := &desc.Fields[col]
		to := want(col, f.Format)
		if to == f.Format {
			continue
		}
		from := f.Format
		f.Format = to
		for _, row := range rows {
			if row[col] == nil {
				continue
			}
			b, err := transcode(f.DataTypeOID, from, to, row[col])
			if err != nil {
				return answer{err: &pgError{Code: fail.Code, Message: fmt.Sprintf(fail.Message, f.Name, err), Hint: fail.Hint}}
			}
			row[col] = b
		}
	}
	return answer{desc: desc, rows: rows, tag: a.tag}
}

// typeMap knows PostgreSQL's built-in types. Only its lookups
// (TypeForOID) are safe for concurrent use: decoding and encoding memoize
// plans in the map, so they take one from typeMaps.
var typeMap = pgtype.NewMap()

// typeMaps lends each encoding or decoding a map of its own.
var typeMaps = sync.Pool{New: func() any { return pgtype.NewMap() }}

// transcode converts a value of built-in type oid from one format to the
// other.
func transcode(oid uint32, from, to int16, v []byte) ([]byte, error) {
	t, ok := typeMap.TypeForOID(oid)
	if !ok {
		return nil, fmt.Errorf("type %d is not a built-in type", oid)
	}
	m := typeMaps.Get().(*pgtype.Map)
	defer typeMaps.Put(m)
	x, err := t.Codec.DecodeValue(m, oid, from, v)
	if err != nil {
		return nil, err
	}
	return m.Encode(oid, to, x, nil)
}

func textToBinary(oid uint32, text []byte) ([]byte, error) {
	return transcode(oid, pgtype.TextFormatCode, pgtype.BinaryFormatCode, text)
}

// describeCursorFetch answers a statement Describe of a FETCH from a held
// cursor, which no server could describe: no parameters, the cursor's
// columns in text format.
func (s *session) describeCursorFetch(st *statement) (bool, error) {
	if len(s.vcursors) == 0 {
		return false, nil
	}
	op, ok := s.cursorStatement(st.query, &router.Route{})
	if !ok || op.Close {
		return false, nil
	}
	if err := s.drainServer(); err != nil || s.batchError {
		return true, err
	}
	if err := writeMsg(s.w, &s.scratch, &pgproto3.ParameterDescription{}); err != nil {
		return true, errClientGone
	}
	if c := s.vcursors[op.Name]; !op.Move && c.desc != nil {
		return true, writeMsgOrGone(s, c.desc)
	}
	return true, writeMsgOrGone(s, &pgproto3.NoData{})
}

// portalCursor answers FETCH, MOVE or CLOSE naming a portal of the
// extended protocol that pgshard runs (rowSource): PostgreSQL's portals are
// NO SCROLL cursors, the rows an Execute sent are behind the position, and
// a FETCH sends its rows in text, whatever formats the Bind asked for.
func (s *session) portalCursor(ctx context.Context, op *router.CursorOp) answer {
	vp := s.portals[op.Name]
	if op.Close {
		delete(s.portals, op.Name)
		return answer{tag: "CLOSE CURSOR"}
	}
	if err := s.runPortal(ctx, vp); err != nil {
		return answer{err: asPgError(err, "running portal "+op.Name)}
	}
	if vp.answer.err != nil {
		return answer{err: vp.answer.err}
	}
	c := &vcursor{desc: vp.answer.desc, rows: vp.answer.rows, pos: vp.next}
	got, pe := c.fetch(op)
	if pe != nil {
		return answer{err: pe}
	}
	vp.next = min(c.pos, len(c.rows))
	if op.Move {
		return answer{tag: "MOVE " + strconv.Itoa(got.moved)}
	}
	return inText(answer{desc: c.desc, rows: got.rows, tag: "FETCH " + strconv.Itoa(len(got.rows))})
}

// inText is a with its binary columns in text.
func inText(a answer) answer {
	if a.desc == nil || !slices.ContainsFunc(a.desc.Fields, func(f pgproto3.FieldDescription) bool { return f.Format == 1 }) {
		return a
	}
	return reformat(a, func(int, int16) int16 { return pgtype.TextFormatCode }, &pgError{Code: codeFeatureNotSupported,
		Message: "pgshard: cannot FETCH column %q of a portal over several shards bound in binary format: %v",
		Hint:    "Read the portal with Execute, or bind it in text format."})
}

// describeCursor answers Describe of a portal that is a cursor the session
// holds: a DECLAREd cursor is a portal in PostgreSQL, and drivers (psycopg's
// server-side cursors) learn its columns this way before the first FETCH.
func (s *session) describeCursor(c *vcursor) error {
	if err := s.drainServer(); err != nil || s.batchError {
		return err
	}
	if c.desc != nil {
		return writeMsgOrGone(s, c.desc)
	}
	return writeMsgOrGone(s, &pgproto3.NoData{})
}

func writeMsgOrGone(s *session, m encoder) error {
	if err := writeMsg(s.w, &s.scratch, m); err != nil {
		return errClientGone
	}
	return nil
}

// simpleCursor answers a simple query that is one cursor statement.
func (s *session) simpleCursor(ctx context.Context, st router.Statement, op *router.CursorOp) error {
	a := s.runCursor(ctx, st.Text, st.Route, op, nil, nil)
	if a.err != nil {
		return s.refuse(a.err)
	}
	if err := s.writeAnswer(a, true, 0, len(a.rows)); err != nil {
		return err
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}
