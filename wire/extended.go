package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// The extended protocol. Prepared statements are virtual: Parse is answered
// by pgshard and only recorded; the statement is prepared on whichever server
// connection a later Bind or Describe runs on, under a name derived from its
// text, and kept there in an LRU. That is what lets client-named statements
// (pgx's cache, JDBC, pgbench -M prepared) work in transaction pooling, and
// what lets a router choose the shard at Bind, when parameters are known.

func (s *session) parse(ctx context.Context, body []byte) error {
	if s.batchError {
		return nil
	}
	s.batchOpen = true
	var m pgproto3.Parse
	if err := m.Decode(body); err != nil {
		return fatalf(codeProtocolViolation, "invalid Parse message: "+err.Error())
	}
	// A Parse of the unnamed statement drops the one before it first,
	// whether or not it then fails.
	prev := s.stmts[m.Name]
	dropped := restore{stmt: true, name: m.Name, prevStmt: prev}
	if m.Name == "" {
		delete(s.stmts, "")
	}
	// PostgreSQL parses first: a syntax error comes before the failed
	// transaction's refusal and before a name used twice.
	gen := s.db.router.CatalogGen()
	plan := s.db.router.Prepare(m.Query)
	if e := plan.ParseError(); e != nil {
		return s.parseFail(routeError(e), dropped)
	}
	if s.txStatus == 'E' && !s.batchRan && !endsTransaction(m.Query) {
		// PostgreSQL parses nothing but the transaction's end in a failed
		// transaction (unless the batch ran that end already), and keeps
		// no statement, before it looks at the name: a client that
		// prepares statements before it runs them (pgx's cache) prepares
		// this one again later, under the same name.
		return s.parseFail(errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block"), dropped)
	}
	if prev != nil && m.Name != "" || s.sqlStmts[m.Name] != nil {
		// The server looks at the name last, once the statement has
		// parsed and its names resolved: an error there comes first.
		if pe, err := s.checkParseDuplicate(ctx, m.Query, m.ParameterOIDs); err != nil || pe != nil {
			if err != nil {
				return err
			}
			return s.batchFail(pe)
		}
		return s.batchFail(errorf(codeDuplicatePreparedStmt, fmt.Sprintf("prepared statement %q already exists", m.Name)))
	}
	if s.mode == config.PoolTransaction || s.pinned {
		pe := unsupportedInTransactionMode(m.Query)
		if pe == nil && router.MentionsSessionEffects(m.Query) {
			pe = hiddenEffectRefusal(m.Query)
		}
		switch {
		case s.pinned:
			s.notePinned(m.Query, pe)
		case pe == nil:
		case s.pinsFor(pe):
			s.pin(m.Query, pe)
		default:
			return s.parseFail(pe, dropped)
		}
	}
	st := &statement{query: m.Query, oids: m.ParameterOIDs, key: statementKey(m.Query, m.ParameterOIDs),
		setsConfig: router.MentionsSessionEffects(m.Query), plan: plan, planGen: gen}
	if m.Name != "" {
		st.server = "pgshard_" + st.key
	}
	if st.setsConfig {
		settings := router.SessionEffectsOf(m.Query).Settings
		if slices.ContainsFunc(settings, func(c router.ConfigSetting) bool { return c.ValueParam > 0 }) {
			st.boundSettings = settings
		}
	}
	eager, pe, err := s.checkParse(ctx, st, dropped)
	switch {
	case err != nil:
		return err
	case pe != nil:
		return s.parseFail(pe, dropped)
	}
	s.stmts[m.Name] = st
	if !eager {
		s.pending = append(s.pending, pendingResp{kind: 'P', action: actSynthetic, synth: '1', restore: dropped})
	}
	return nil
}

// parseFail fails the batch at a Parse, whose unnamed statement's drop
// stands unless an error before it means the server skips it too.
func (s *session) parseFail(pe *pgError, dropped restore) error {
	n := len(s.pending)
	if err := s.batchFail(pe); err != nil {
		return err
	}
	if len(s.pending) > n {
		s.pending[n].restore = dropped
	}
	return nil
}

// describeDetached answers Describe of a statement from a connection the
// session does not keep: Parse (unnamed), Describe, Sync there, and the
// ParameterDescription and RowDescription (or NoData) relayed in this
// message's place.
func (s *session) describeDetached(ctx context.Context, st *statement) error {
	if err := s.drainServer(); err != nil || s.batchError {
		return err
	}
	sc := s.sc // session pooling: idle, no transaction yet
	if sc == nil {
		p, err := s.shardPool(s.currentShard())
		if err != nil {
			return s.batchFail(toPgError(err))
		}
		if sc, err = p.acquire(ctx); err != nil {
			return s.batchFail(toPgError(err))
		}
		defer p.release(sc)
	}
	sc.unnamed = ""
	for _, m := range []encoder{&pgproto3.Parse{Query: st.query, ParameterOIDs: st.oids}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}} {
		if err := writeMsg(sc.w, &s.scratch, m); err != nil {
			sc.broken = true
			return s.batchFail(toPgError(err))
		}
	}
	if err := sc.w.Flush(); err != nil {
		sc.broken = true
		return s.batchFail(toPgError(err))
	}
	var failed *pgError
	for {
		typ, body, err := sc.r.next()
		if err != nil {
			sc.broken = true
			return s.batchFail(toPgError(err))
		}
		switch typ {
		case 't', 'T', 'n':
			if failed == nil {
				if err := writeFrame(s.w, typ, body); err != nil {
					return errClientGone
				}
			}
		case 'E':
			if failed == nil {
				failed = serverError(body)
			}
		case 'Z':
			if failed != nil {
				return s.batchFail(failed)
			}
			return nil
		}
	}
}

// toPgError makes any error something a client can be told.
func toPgError(err error) *pgError {
	var pe *pgError
	if errors.As(err, &pe) {
		return pe
	}
	return &pgError{Code: codeConnectionFailure, Message: "pgshard: " + err.Error()}
}

// statementKey identifies a statement's text and parameter types.
func statementKey(query string, oids []uint32) string {
	d := xxhash.New()
	_, _ = d.WriteString(query)
	var b [4]byte
	for _, o := range oids {
		binary.BigEndian.PutUint32(b[:], o)
		_, _ = d.Write(b[:])
	}
	return strconv.FormatUint(d.Sum64(), 16)
}

func (s *session) lookup(name string) (*statement, *pgError) {
	if st := s.stmts[name]; st != nil {
		return st, nil
	}
	if sq := s.sqlStmts[name]; sq != nil {
		// PREPARE's statements are Parse's too: one namespace.
		return sq.asProtocol(s.db.router), nil
	}
	if name == "" {
		return nil, errorf(codeInvalidSQLStatementName, "unnamed prepared statement does not exist")
	}
	return nil, errorf(codeInvalidSQLStatementName, fmt.Sprintf("prepared statement %q does not exist", name))
}

func (s *session) bind(ctx context.Context, body []byte) error {
	if s.batchError {
		return nil
	}
	s.batchOpen = true
	portal, rest, ok1 := cutCString(body)
	name, params, ok2 := cutCString(rest)
	if !ok1 || !ok2 {
		return fatalf(codeProtocolViolation, "invalid Bind message")
	}
	st, pe := s.lookup(name)
	if pe != nil {
		return s.batchFail(pe)
	}
	if got, want := bindParamCount(params), max(len(st.oids), st.plan.HighestParam); got >= 0 && got != want {
		// Checked first, as the server does: pgshard routes by the
		// values, and runs some statements without a server's Bind.
		return s.batchFail(errorf(codeProtocolViolation, fmt.Sprintf("bind message supplies %d parameters, but prepared statement \"%s\" requires %d", got, name, want)))
	}
	if s.tentativeCursors {
		s.cursorTxEnd(st.query)
	}
	if gen := s.db.router.CatalogGen(); st.plan == nil || st.planGen != gen {
		// Views changed since it was planned: the plan may name one as
		// a table, or plan through one that changed.
		st.plan, st.planGen = s.db.router.Prepare(st.query), gen
	}
	id, rt, vp, pe := s.routeBind(ctx, st, body)
	if pe != nil {
		return s.batchFail(pe)
	}
	prevPortal := s.portals[portal]
	delete(s.portals, portal)
	if st.plan.Kind == router.KindSession || st.plan.Command == "LISTEN" || st.plan.Command == "UNLISTEN" || st.setsConfig {
		if s.portalSets == nil {
			s.portalSets = map[string]string{}
		}
		s.portalSets[portal] = st.query
		if st.boundSettings != nil {
			s.portalSets[portal] = bindSetConfig(st.boundSettings, body)
		}
	} else if len(s.portalSets) > 0 {
		delete(s.portalSets, portal)
	}
	if vp != nil {
		if s.portals == nil {
			s.portals = map[string]*vportal{}
		}
		s.portals[portal] = vp
		s.pending = append(s.pending, pendingResp{kind: 'B', action: actSynthetic, synth: '2',
			restore: restore{portal: true, name: portal, prevPortal: prevPortal}})
		return nil
	}
	if s.sc == nil && s.txStatus == 'E' && rt.Kind != router.KindSession {
		// A failed transaction whose connections are set aside (or that
		// failed before reaching a server): as the simple protocol,
		// nothing but its end runs.
		return s.batchFail(errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block"))
	}
	read := rt.Kind == router.KindSession || rt.Plan != nil && rt.Plan.Read
	if err := s.attachFor(ctx, id, read, !read, rt.Target == "primary"); err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return s.batchFail(pe)
		}
		if err == errBatchEnded {
			return nil
		}
		return err
	}
	s.batchWrote = s.batchWrote || !read
	if s.onReplica && s.txStatus == 'I' && !s.recording {
		// A read batch on a replica: recorded from here to Sync.
		s.recording = true
		s.relayed = 0
		s.lastNode = s.sc.pool.node
		s.recordMsg('B', body)
	}
	if err := s.serverFor(ctx, st, id); err != nil || s.sc == nil {
		return err // nil: the batch failed and the client was told
	}
	if st.plan.Notifies {
		s.noteNotify(s.sc)
	}
	// Rewrite only the statement name; parameters pass through as bytes.
	out := s.scratch[:0]
	out = append(out, portal...)
	out = append(out, 0)
	out = append(out, st.server...)
	out = append(out, 0)
	out = append(out, params...)
	s.scratch = out
	if err := s.forward('B', out, 'B'); err != nil || prevPortal == nil {
		return err
	}
	s.pending[len(s.pending)-1].restore = restore{portal: true, name: portal, prevPortal: prevPortal}
	return nil
}

func (s *session) describe(ctx context.Context, body []byte) error {
	if s.batchError {
		return nil
	}
	s.batchOpen = true
	if len(body) < 2 {
		return fatalf(codeProtocolViolation, "invalid Describe message")
	}
	if body[0] != 'S' {
		name, _, _ := cutCString(body[1:])
		if vp := s.portals[name]; vp != nil {
			return s.describePortal(ctx, vp)
		}
		if c := s.vcursors[name]; c != nil {
			return s.describeCursor(c)
		}
		if pe := s.missingPortal(name); pe != nil {
			return s.batchFail(pe)
		}
		if err := s.serverFor(ctx, nil, s.currentShard()); err != nil || s.sc == nil {
			return err // nil: the batch failed and the client was told
		}
		return s.forward('D', body, 'D')
	}
	name, _, ok := cutCString(body[1:])
	if !ok {
		return fatalf(codeProtocolViolation, "invalid Describe message")
	}
	st, pe := s.lookup(name)
	if pe != nil {
		return s.batchFail(pe)
	}
	if ok, err := s.describeCursorFetch(st); ok {
		return err
	}
	if (s.sc == nil || s.localTx) && s.deferred != "" || s.sc == nil && s.txStatus == 'E' {
		// A transaction that has not chosen its shard and node yet, or a
		// failed one whose connections are set aside: a statement
		// description is the same everywhere, so it comes from a
		// connection of its own rather than pinning the transaction (in
		// session pooling, the idle one the session keeps).
		return s.describeDetached(ctx, st)
	}
	if err := s.serverFor(ctx, st, s.currentShard()); err != nil || s.sc == nil {
		return err // nil: the batch failed and the client was told
	}
	out := append(append(append(s.scratch[:0], 'S'), st.server...), 0)
	s.scratch = out
	return s.forward('D', out, 'D')
}

func (s *session) execute(ctx context.Context, body []byte) error {
	if s.batchError {
		return nil
	}
	s.batchOpen, s.batchRan = true, true
	name, rest, ok := cutCString(body)
	if !ok || len(rest) < 4 {
		return fatalf(codeProtocolViolation, "invalid Execute message")
	}
	if vp := s.portals[name]; vp != nil {
		return s.executePortal(ctx, vp, int(int32(binary.BigEndian.Uint32(rest))))
	}
	if pe := s.missingPortal(name); pe != nil {
		return s.batchFail(pe)
	}
	spread := ""
	if q, ok := s.portalSets[name]; ok {
		// A SET through the extended protocol: carried like a simple one
		// once the batch succeeds, and inside a transaction replayed at
		// once on the shards the transaction reaches later in the batch.
		s.batchSets = append(s.batchSets, q)
		switch w := sqltext.FirstWords(q); {
		case s.txStatus == 'T' && (w.Is(0, "set") || w.Is(0, "reset") || w.Is(0, "begin") || w.Is(0, "start")),
			s.txStatus != 'I' && savepointTag(w) != "": // ROLLBACK TO in a failed one too
			s.noteTxSet(q)
		case s.txStatus == 'T' && len(router.SessionEffectsOf(q).Settings) > 0:
			s.noteTxSet(q)
			spread = q
		}
	}
	if err := s.serverFor(ctx, nil, s.currentShard()); err != nil || s.sc == nil {
		return err // nil: the batch failed and the client was told
	}
	if spread != "" {
		s.spreadSetConfig(s.sc, spread)
	}
	return s.forward('E', body, 'E')
}

func (s *session) closeMsg(ctx context.Context, body []byte) error {
	if s.batchError {
		return nil
	}
	s.batchOpen = true
	if len(body) < 2 {
		return fatalf(codeProtocolViolation, "invalid Close message")
	}
	if body[0] == 'S' {
		// The server-side twin stays cached for other clients and later
		// Parses; closing a name that does not exist is no error in Postgres.
		name, _, _ := cutCString(body[1:])
		prev, prevSQL := s.stmts[name], s.sqlStmts[name]
		delete(s.stmts, name)
		delete(s.sqlStmts, name) // PREPARE's statements are Parse's too
		s.pending = append(s.pending, pendingResp{kind: 'C', action: actSynthetic, synth: '3',
			restore: restore{stmt: prev != nil, name: name, prevStmt: prev, prevSQL: prevSQL}})
		return nil
	}
	if name, _, _ := cutCString(body[1:]); s.portals[name] != nil || s.vcursors[name] != nil {
		// A cursor is a portal too: Close of a held cursor's name closes it.
		r := restore{portal: true, name: name, prevPortal: s.portals[name], prevCursor: s.vcursors[name]}
		delete(s.portals, name)
		delete(s.vcursors, name)
		s.pending = append(s.pending, pendingResp{kind: 'C', action: actSynthetic, synth: '3', restore: r})
		return nil
	}
	if s.sc == nil {
		// No server, so no portal: Postgres answers CloseComplete for a
		// portal that does not exist.
		s.pending = append(s.pending, pendingResp{kind: 'C', action: actSynthetic, synth: '3'})
		return nil
	}
	// The batch now owes the server's answer: its Sync goes there too.
	s.beginServerBatch()
	return s.forward('C', body, 'C')
}

func (s *session) flush() error {
	// After an error the server still owes what came before it (and
	// pgshard's injected error): only then is the queue all pgshard's own.
	if s.sc == nil || !s.owesServer() {
		return s.emitSynthetics(len(s.pending))
	}
	if err := writeFrame(s.sc.w, 'H', nil); err != nil {
		return s.serverLost(err, false)
	}
	if err := s.sc.w.Flush(); err != nil {
		return s.serverLost(err, false)
	}
	return s.relay(false)
}

func (s *session) sync(ctx context.Context) error {
	defer func() {
		if s.tentativeCursors && s.txStatus == 'I' {
			// The batch's transaction has ended: committed, or rolled
			// back by an error.
			s.settleTentativeCursors(!s.batchError)
		}
		s.batchOpen, s.batchUsed, s.batchError, s.batchWrote, s.batchRan = false, false, false, false, false
		if s.txStatus == 'I' {
			clear(s.portals) // portals end with their transaction
		}
		s.settleWrites()
		s.maybeDetach()
	}()
	sc := s.sc
	s.readRetry = s.recording && s.onReplica && s.txStatus == 'I'
	err := s.syncServer(ctx)
	s.readRetry = false
	if err == nil && s.retryRead {
		err = s.retryBatch(ctx)
	}
	s.recording = false
	clear(s.replay)
	s.replay = s.replay[:0]
	if len(s.batchSets) > 0 {
		if err == nil && !s.batchError && s.sc == sc {
			s.observe(sc, s.batchSets)
		}
		s.batchSets = s.batchSets[:0]
	}
	return err
}

// syncServer ends the batch on the attached server (or answers the Sync
// itself when the batch never reached one).
func (s *session) syncServer(ctx context.Context) error {
	if s.batchTx {
		return s.syncBatchTx(ctx)
	}
	if s.sc == nil || !s.batchUsed {
		if err := s.emitSynthetics(len(s.pending)); err != nil {
			return err
		}
		s.pending = s.pending[:0]
		return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
	}
	if err := writeFrame(s.sc.w, 'S', nil); err != nil {
		return s.serverLost(err, true)
	}
	if err := s.sc.w.Flush(); err != nil {
		return s.serverLost(err, true)
	}
	return s.relay(true)
}

// recordMsg keeps a copy of a client message of a read batch running on a
// replica, to run the batch again on the primary should the replica fail
// it before any response reached the client.
func (s *session) recordMsg(typ byte, body []byte) {
	s.replay = append(s.replay, clientMsg{typ: typ, body: append([]byte(nil), body...)})
}

// clientMsg is a recorded client message.
type clientMsg struct {
	typ  byte
	body []byte
}

// retryBatch runs a read batch a replica failed again on the primary: the
// replica is banned, the recorded messages are handled once more with the
// primary as target, and the batch is synced there.
func (s *session) retryBatch(ctx context.Context) error {
	s.retryRead = false
	if s.lastNode != nil {
		s.banNode(s.shardOfNode(s.lastNode), s.lastNode, errors.New("read failed on the replica"))
	}
	replay := s.replay
	s.replay, s.recording = nil, false
	saved := s.target
	s.target = targetPrimary
	defer func() { s.target = saved }()
	s.batchUsed, s.batchError, s.batchOpen = false, false, true
	for _, m := range replay {
		if err := s.handle(ctx, m.typ, m.body); err != nil {
			return err
		}
	}
	return s.syncServer(ctx)
}

// serverFor attaches a server connection and, if st is given, makes sure
// st is prepared on it. A failure ends the batch with an error.
func (s *session) serverFor(ctx context.Context, st *statement, id shard.ShardID) error {
	if s.sc != nil && s.shardOf(s.sc) == id && !s.localTx {
		// Stay on the attached node (a replica serving this batch's read).
	} else if err := s.attachShard(ctx, id); err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return s.batchFail(pe)
		}
		if err == errBatchEnded {
			return nil
		}
		return err
	}
	s.beginServerBatch()
	if st == nil {
		return nil
	}
	sc := s.sc
	if st.server == "" {
		if sc.unnamed == st.key {
			return nil
		}
		sc.unnamed = st.key
	} else {
		if _, ok := sc.prepared.Get(st.server); ok {
			return nil
		}
		// Marked now, not at ParseComplete, so a second Bind in the same
		// batch does not prepare it twice; failBatch unmarks it.
		sc.prepared.Add(st.server, struct{}{})
	}
	m := &pgproto3.Parse{Name: st.server, Query: st.query, ParameterOIDs: st.oids}
	if err := writeMsg(sc.w, &s.scratch, m); err != nil {
		return s.serverLost(err, false)
	}
	s.pending = append(s.pending, pendingResp{kind: 'P', action: actHidden, server: st.server})
	return nil
}

// beginServerBatch runs before the first message of a batch goes to the
// server: statements the LRU evicted are closed then, never mid-batch, so a
// Bind in flight cannot lose its statement.
func (s *session) beginServerBatch() {
	if s.batchUsed {
		return
	}
	s.batchUsed = true
	sc := s.sc
	for _, name := range sc.evicted {
		_ = writeMsg(sc.w, &s.scratch, &pgproto3.Close{ObjectType: 'S', Name: name})
		s.pending = append(s.pending, pendingResp{kind: 'C', action: actHidden})
	}
	sc.evicted = sc.evicted[:0]
}

// forward writes a client message to the server and expects its response.
func (s *session) forward(typ byte, body []byte, kind byte) error {
	if err := writeFrame(s.sc.w, typ, body); err != nil {
		return s.serverLost(err, false)
	}
	s.pending = append(s.pending, pendingResp{kind: kind, action: actRelay})
	return nil
}

// batchFail reports a pgshard-side error inside an extended batch exactly
// as Postgres would: in its place among the responses, aborting the batch's
// implicit transaction, then skipping messages until Sync. When the server
// already ran part of the batch, pgshard makes the server fail at this point
// (a Parse that cannot parse) and puts its own error in place of the
// server's, so the server rolls back what the batch did.
func (s *session) batchFail(pe *pgError) error {
	if s.sc != nil && (s.batchUsed || s.txStatus != 'I' && !s.localTx) {
		// Also inside a transaction block that reached a server, so
		// that the error fails it there as it would on one server.
		s.beginServerBatch()
		m := &pgproto3.Parse{Query: "pgshard: injected error"}
		if err := writeMsg(s.sc.w, &s.scratch, m); err != nil {
			return s.serverLost(err, false)
		}
		s.sc.unnamed = ""
		s.pending = append(s.pending, pendingResp{kind: 'P', action: actInjected, err: pe})
		s.batchError = true
		return nil
	}
	if err := s.emitSynthetics(len(s.pending)); err != nil {
		return err
	}
	s.batchError = true
	if (s.sc == nil || s.localTx) && s.txStatus != 'I' {
		// A transaction that has not reached a server fails here, as
		// the server's would (refuse does the same).
		s.txStatus = 'E'
	}
	return writeMsg(s.w, &s.scratch, pe.response())
}

// missingPortal is PostgreSQL's answer to a portal a failed transaction
// that never reached a server names: it looks the portal up before it
// refuses to run anything (25P02), and no server holds one of this
// transaction. nil where a server may hold it.
func (s *session) missingPortal(name string) *pgError {
	if s.sc != nil || s.txStatus != 'E' || len(s.txShards) > 0 || len(s.parked) > 0 {
		return nil
	}
	return errorf(codeInvalidCursorName, fmt.Sprintf("portal %q does not exist", name))
}

// bindParamCount reads how many parameter values a Bind brings from what
// follows its statement name: the format codes, then the count; -1 when
// the message is too short to tell.
func bindParamCount(b []byte) int {
	if len(b) < 2 {
		return -1
	}
	at := 2 + 2*int(binary.BigEndian.Uint16(b))
	if len(b) < at+2 {
		return -1
	}
	return int(binary.BigEndian.Uint16(b[at:]))
}

// cutCString splits b after its first NUL.
func cutCString(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// bindSetConfig is what a Bind makes of a statement whose set_config
// calls take their values from parameters: the same calls with the
// values as constants, which the session carries like SETs once the
// batch succeeds (observe) and replays on the shards a transaction
// reaches. A Bind it cannot read gives a statement carrying nothing.
func bindSetConfig(settings []router.ConfigSetting, body []byte) string {
	var bind pgproto3.Bind
	if err := bind.Decode(append([]byte(nil), body...)); err != nil {
		return ""
	}
	calls := make([]string, 0, len(settings))
	for _, c := range settings {
		c, ok := c.Bound(bind.Parameters)
		if !ok {
			return ""
		}
		value := "NULL"
		if !c.Reset {
			value = quoteLiteral(c.Value)
		}
		calls = append(calls, "pg_catalog.set_config("+quoteLiteral(c.Name)+", "+value+", false)")
	}
	return "SELECT " + strings.Join(calls, ", ")
}
