package wire

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// vportal is a portal pgshard runs itself: its statement goes to several
// shards (and is merged), or it is a BEGIN/COMMIT of a transaction that has
// not reached a server yet.
type vportal struct {
	route *router.Route
	st    *statement
	bind  *pgproto3.Bind
	local string // BEGIN, COMMIT or ROLLBACK answered by pgshard
	// twoPhase: local ends a transaction spread over several shards;
	// everywhere: local is a statement run on each of its shards
	// (runEverywhere).
	twoPhase, everywhere bool
	// cursor: the statement is a cursor statement pgshard answers
	// (cursor.go); cursorOp is nil for the DECLARE.
	cursor   bool
	cursorOp *router.CursorOp
	// staged: the statement runs in stages (staged.go).
	staged bool
	// listen: a LISTEN or UNLISTEN pgshard runs through the hub.
	listen bool
	ran    bool
	answer answer
	next   int // rows already sent (Execute with a row limit)
}

// rowSource says whether the portal is a statement's rows pgshard merges,
// which FETCH and MOVE can walk like a cursor's.
func (vp *vportal) rowSource() bool {
	return !vp.cursor && !vp.twoPhase && !vp.everywhere && vp.local == "" &&
		vp.route != nil && vp.route.Kind != router.KindCopyIn && vp.route.Plan != nil && vp.route.Plan.Read
}

// routeBind decides where a Bind runs: a shard, or a virtual portal.
func (s *session) routeBind(ctx context.Context, st *statement, body []byte) (shard.ShardID, *router.Route, *vportal, *pgError) {
	p := st.plan
	var bind *pgproto3.Bind
	var pe *pgError
	var params [][]byte
	var formats []int16
	if p.UsesParams() {
		if bind, pe = decodeBind(body); pe != nil {
			return 0, nil, nil, pe
		}
		params = bind.Parameters
		formats = make([]int16, len(params))
		for i := range formats {
			formats[i] = formatOf(bind.ParameterFormatCodes, i)
		}
	}
	rt := s.db.router.BindKeyed(p, st.query, router.Params{Values: params, Formats: formats, OIDs: st.oids}, s.shardKey())
	s.noteDDL(p, st.query)
	if op, ok := s.cursorStatement(st.query, rt); ok {
		s.noteRoute(rt, st.query)
		if bind == nil {
			// Its parameters go to the cursor's query, its result formats
			// shape what FETCH returns.
			if bind, pe = decodeBind(body); pe != nil {
				return 0, nil, nil, pe
			}
		}
		return 0, rt, &vportal{route: rt, st: st, bind: bind, cursor: true, cursorOp: op}, nil
	}
	if rt.NeedColumns != nil {
		cols, err := s.keyColumns(ctx, []*router.TableRef{rt.NeedColumns})
		if errors.Is(err, errOwnConnLost) {
			// Nothing of this batch reached it: close it, and the error
			// below ends the batch; the next statement gets a fresh one.
			s.sc.broken = true
			s.detach()
		}
		if err != nil {
			return 0, nil, nil, asPgError(err, "reading the column order of "+rt.NeedColumns.Name)
		}
		rt = s.db.router.BindWith(p, st.query, router.Params{Values: params, Formats: formats, OIDs: st.oids}, s.shardKey(), cols)
	}
	if req := rt.NeedKeys; req != nil {
		gen, err := s.generatedKeys(ctx, req)
		if errors.Is(err, errOwnConnLost) {
			s.sc.broken = true
			s.detach()
		}
		if err != nil {
			return 0, nil, nil, asPgError(err, "taking the shard keys of "+req.Table.Name)
		}
		rt = s.db.router.BindFilled(p, st.query, router.Params{Values: params, Formats: formats, OIDs: st.oids}, s.shardKey(), nil, gen)
	}
	s.noteRoute(rt, st.query)
	switch {
	case s.hubListens(p):
		return 0, rt, &vportal{route: rt, st: st, listen: true}, nil
	case s.listeningChannelsQuery(st.query) && s.txStatus != 'E':
		if bind == nil {
			if bind, pe = decodeBind(body); pe != nil {
				return 0, nil, nil, pe
			}
		}
		var format int16
		if len(bind.ResultFormatCodes) > 0 {
			format = bind.ResultFormatCodes[0]
		}
		return 0, rt, &vportal{route: rt, st: st, ran: true, answer: s.listeningChannels(format)}, nil
	case rt.Staging() != nil:
		if pe := s.multiAllowed(rt); pe != nil {
			return 0, nil, nil, pe
		}
		if bind == nil {
			if bind, pe = decodeBind(body); pe != nil {
				return 0, nil, nil, pe
			}
		}
		return 0, rt, &vportal{route: rt, st: st, bind: bind, staged: true}, nil
	case rt.Err != nil:
		return 0, nil, nil, routeError(rt.Err)
	case rt.Kind == router.KindSession && len(s.txShards) > 0 && s.txStatus != 'I':
		switch tag := txControl(st.query); tag {
		case "COMMIT", "ROLLBACK":
			return 0, rt, &vportal{local: tag, st: st, twoPhase: true}, nil
		case "other":
			return 0, nil, nil, errNotAcrossShards
		}
		if w := sqltext.FirstWords(st.query); everywhereTag(w) != "" && (s.txStatus == 'T' || savepointTag(w) == "ROLLBACK") {
			return 0, rt, &vportal{local: everywhereTag(w), st: st, everywhere: true}, nil
		}
		return s.currentShard(), rt, nil, nil
	case rt.Kind == router.KindSession || rt.Kind == router.KindAny:
		if tag := s.localTransactionTag(st.query); tag != "" {
			return 0, rt, &vportal{local: tag, st: st}, nil
		}
		return s.currentShard(), rt, nil, nil
	case rt.Single():
		return rt.Shards[0], rt, nil, nil
	case rt.Kind == router.KindCopyIn && rt.Plan.Move == nil:
		// A split COPY reads its rows from the client's CopyData and
		// answers with ReadyForQuery: the simple protocol's flow.
		return 0, nil, nil, &pgError{Code: codeFeatureNotSupported,
			Message: "pgshard: COPY into a table of several shards is supported only as a simple query",
			Hint:    "Send it with the simple query protocol (pgx: QueryExecModeSimpleProtocol, or Exec without arguments; pgjdbc: CopyManager)."}
	}
	if pe := s.multiAllowed(rt); pe != nil {
		return 0, nil, nil, pe
	}
	if bind == nil {
		if bind, pe = decodeBind(body); pe != nil {
			return 0, nil, nil, pe
		}
	}
	if rt.Kind == router.KindCopyIn && len(bind.Parameters) > 0 {
		// A move runs its SELECT as COPY (SELECT ...) TO STDOUT, which
		// takes no parameters.
		return 0, nil, nil, &pgError{Code: codeFeatureNotSupported,
			Message: "pgshard: INSERT ... SELECT into a sharded table of rows that are not sharded cannot take parameters",
			Hint:    "Write the values into the statement, or select them from a table."}
	}
	return 0, rt, &vportal{route: rt, st: st, bind: bind}, nil
}

// decodeBind decodes a Bind message's body, which the caller keeps (the
// Bind keeps slices of what it decodes, so it gets a copy).
func decodeBind(body []byte) (*pgproto3.Bind, *pgError) {
	bind := &pgproto3.Bind{}
	if err := bind.Decode(append([]byte(nil), body...)); err != nil {
		return nil, fatalf(codeProtocolViolation, "invalid Bind message: "+err.Error())
	}
	return bind, nil
}

// localTransactionTag says whether pgshard answers a transaction statement
// itself: BEGIN while no shard is chosen, and the end of a transaction that
// never reached a server.
func (s *session) localTransactionTag(q string) string {
	if !s.mayDeferBegin() {
		return ""
	}
	w := sqltext.FirstWords(q)
	if w.Len() == 0 || w.Is(1, "prepared") || savepointTag(w) != "" {
		return ""
	}
	switch {
	case w.Is(0, "begin") || w.Is(0, "start"):
		if s.txStatus == 'I' && s.deferred == "" {
			return beginTag(w)
		}
	case w.Is(0, "commit") || w.Is(0, "end"):
		if s.txStatus != 'I' && (s.sc == nil || s.localTx) {
			return "COMMIT"
		}
	case w.Is(0, "rollback") || w.Is(0, "abort"):
		if s.txStatus != 'I' && (s.sc == nil || s.localTx) {
			return "ROLLBACK"
		}
	}
	return ""
}

// drainServer makes the attached server answer everything sent so far in
// the batch, so what pgshard writes itself comes in protocol order.
func (s *session) drainServer() error {
	if s.sc != nil && s.owesServer() {
		if err := writeFrame(s.sc.w, 'H', nil); err != nil {
			return s.serverLost(err, false)
		}
		if err := s.sc.w.Flush(); err != nil {
			return s.serverLost(err, false)
		}
		return s.relay(false)
	}
	return s.emitSynthetics(len(s.pending))
}

// runPortal executes a virtual portal once.
func (s *session) runPortal(ctx context.Context, vp *vportal) error {
	if vp.ran {
		return nil
	}
	vp.ran = true
	if vp.listen {
		tag, pe := s.hubStatement(ctx, vp.route.Plan)
		vp.answer = answer{tag: tag, err: pe}
		return nil
	}
	if vp.cursor {
		vp.answer = s.runCursor(ctx, vp.st.query, vp.route, vp.cursorOp, vp.bind, vp.st.oids)
		return nil
	}
	if vp.twoPhase {
		if err := s.drainServer(); err != nil {
			return err
		}
		tag, pe := s.finishTransaction(ctx, vp.local == "COMMIT")
		s.noteTxEnd(tag, pe)
		vp.answer = answer{tag: tag, err: pe}
		return nil
	}
	if vp.everywhere && s.batchTx {
		if done, err := s.inMovedBatch(vp); done || err != nil {
			return err
		}
	}
	if vp.everywhere {
		if err := s.drainServer(); err != nil {
			return err
		}
		vp.answer = answer{tag: vp.local}
		if pe := s.runEverywhere(vp.st.query); pe != nil {
			vp.answer = answer{err: pe}
		}
		return nil
	}
	if vp.local != "" {
		s.txSavepoints = s.txSavepoints[:0]
		switch vp.local {
		case "BEGIN", "START TRANSACTION":
			s.deferred = vp.st.query
			s.txStatus = 'T'
			s.localTx = true
		default:
			if s.txStatus == 'E' {
				vp.local = "ROLLBACK"
			}
			s.deferred = ""
			s.txStatus = 'I'
			s.localTx = false
			s.noteTxEnd(vp.local, nil)
		}
		vp.answer = answer{tag: vp.local}
		return nil
	}
	// A write over several shards inside a batch, or any statement over
	// several shards after the batch wrote: one transaction with the rest
	// of the batch, so it commits with it and sees the batch's own rows.
	write := isDML(vp.route.Plan) && (vp.route.Plan == nil || !vp.route.Plan.Read)
	if s.txStatus == 'I' && s.batchOpen && (write || s.sc != nil && s.batchUsed && s.batchWrote) {
		if err := s.batchTxForWrite(); err != nil {
			if err == errBatchEnded {
				return nil
			}
			return err
		}
	}
	if vp.staged {
		vp.answer = s.runStagedPortal(ctx, vp)
		return nil
	}
	if vp.route.Kind == router.KindCopyIn {
		// A move (INSERT ... SELECT of rows that are not sharded): in the
		// batch's transaction, so its rows are read whole first.
		tag, pe, err := s.splitCopy(ctx, vp.route, vp.st.query)
		if err != nil {
			return err
		}
		vp.answer = answer{tag: tag, err: pe}
		return nil
	}
	j := newMultiJob(vp.route, vp.st.query)
	j.bind, j.oids = vp.bind, vp.st.oids
	results, err := s.runMulti(ctx, j)
	if err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			vp.answer = answer{err: pe}
			return nil
		}
		return err
	}
	vp.answer = s.combine(vp.route, results)
	if vp.answer.resort != nil {
		vp.answer = s.sortOnShard(ctx, vp.answer)
	}
	return nil
}

func (s *session) describePortal(ctx context.Context, vp *vportal) error {
	if err := s.drainServer(); err != nil || s.batchError {
		return err
	}
	if err := s.runPortal(ctx, vp); err != nil {
		return err
	}
	if vp.answer.err != nil {
		return s.portalError(vp)
	}
	if vp.answer.desc == nil {
		if err := writeFrame(s.w, 'n', nil); err != nil {
			return errClientGone
		}
		return nil
	}
	if err := writeMsg(s.w, &s.scratch, vp.answer.desc); err != nil {
		return errClientGone
	}
	return nil
}

func (s *session) executePortal(ctx context.Context, vp *vportal, maxRows int) error {
	if err := s.drainServer(); err != nil || s.batchError {
		return err
	}
	if err := s.runPortal(ctx, vp); err != nil {
		return err
	}
	a := vp.answer
	if a.err != nil {
		return s.portalError(vp)
	}
	to := len(a.rows)
	if maxRows > 0 && vp.next+maxRows < to {
		to = vp.next + maxRows
	}
	if strings.HasPrefix(a.tag, "SELECT ") && (vp.next > 0 || to < len(a.rows)) {
		// A portal run in parts: as a server, each Execute's tag counts
		// the rows it sent, 0 once the portal is done.
		a.tag = "SELECT " + strconv.Itoa(to-vp.next)
	}
	if err := s.writeAnswer(a, false, vp.next, to); err != nil {
		return err
	}
	if vp.route != nil && vp.route.Plan != nil && vp.st != nil && !vp.listen {
		if c := vp.route.Plan.Command; c == "LISTEN" || c == "UNLISTEN" {
			s.trackListen(vp.st.query)
		}
	}
	vp.next = to
	if to < len(a.rows) {
		if err := writeFrame(s.w, 's', nil); err != nil {
			return errClientGone
		}
	}
	return nil
}

// portalError reports a virtual portal's failure in its place in the batch
// and skips the rest of the batch, as Postgres does.
func (s *session) portalError(vp *vportal) error {
	if vp.answer.err.Severity == "FATAL" {
		return vp.answer.err // the session's end: its loop sends it
	}
	if s.txStatus == 'T' && s.sc == nil {
		s.txStatus = 'E'
	}
	s.batchError = true
	if err := writeMsg(s.w, &s.scratch, vp.answer.err.response()); err != nil {
		return errClientGone
	}
	return nil
}

// syncAway completes the part of a batch already sent to the attached
// server with a Sync of pgshard's own, whose ReadyForQuery the client does
// not see, so the batch can go on on another node. The implicit
// transaction of the batch is thereby split at this point: what ran before
// is committed. A failure there ends the batch as Postgres would.
func (s *session) syncAway() error {
	sc := s.sc
	if err := writeFrame(sc.w, 'S', nil); err != nil {
		return s.serverLost(err, false)
	}
	if err := sc.w.Flush(); err != nil {
		return s.serverLost(err, false)
	}
	s.swallowRFQ = true
	err := s.relay(true)
	s.swallowRFQ = false
	if err != nil || s.sc == nil {
		return err
	}
	s.batchUsed = false
	return nil
}
