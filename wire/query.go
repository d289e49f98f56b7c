package wire

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
)

// simpleQuery runs a Query message: one or more statements, answered up to
// ReadyForQuery.
func (s *session) simpleQuery(ctx context.Context, body []byte) error {
	q, _, ok := cutCString(body)
	if !ok {
		return fatalf(codeProtocolViolation, "invalid Query message")
	}
	if !s.batchError {
		// PostgreSQL runs a simple query in the unnamed statement and
		// portal, in place of the client's: Bind finds neither after it.
		delete(s.stmts, "")
		delete(s.portals, "")
		delete(s.portalSets, "")
	}
	routed := s.db.router.SimpleKeyed(q, s.shardKey())
	plain := allPlain(routed)
	if !plain {
		if ok, err := s.adminRoute(q); ok {
			return err
		}
		if ok, err := s.pgshardSet(q); ok {
			return err
		}
	}
	defer func() {
		// The routes the query ran by: routed is routed again below once
		// column positions or generated keys are known.
		for i := range routed {
			s.noteRoute(routed[i].Route, routed[i].Text)
		}
	}()
	if !plain && s.allHubListens(routed) {
		return s.hubStatements(ctx, routed)
	}
	if len(routed) == 1 && !plain && s.listeningChannelsQuery(routed[0].Text) {
		if s.txStatus == 'E' {
			return s.refuse(errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block"))
		}
		a := s.listeningChannels(0)
		if err := s.writeAnswer(a, true, 0, len(a.rows)); err != nil {
			return err
		}
		return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
	}
	if apartShape(routed, s.txStatus != 'I') {
		return s.runApart(ctx, q, routed)
	}
	if len(routed) == 1 {
		if st := routed[0].Route.Staging(); st != nil {
			return s.runStaged(ctx, st)
		}
	}
	if refs := needColumns(routed); refs != nil {
		cols, err := s.keyColumns(ctx, refs)
		switch {
		case err == nil:
			routed = s.db.router.SimpleWith(q, s.shardKey(), cols)
			if apartShape(routed, s.txStatus != 'I') {
				// INSERTs without a column list, found to need other
				// shards once their key's position was known.
				return s.runApart(ctx, q, routed)
			}
		case errors.Is(err, errOwnConnLost):
			return s.serverLost(err, true)
		default:
			return s.refuse(asPgError(err, "reading the column order of "+refs[0].Name))
		}
	}
	if len(routed) == 1 && routed[0].Route.NeedKeys != nil {
		// Only the query's one statement: the keys are taken before it
		// runs, and a statement before it could create the table.
		req := routed[0].Route.NeedKeys
		gen, err := s.generatedKeys(ctx, req)
		switch {
		case err == nil:
			routed = s.db.router.SimpleFilled(q, s.shardKey(), nil, gen)
		case errors.Is(err, errOwnConnLost):
			return s.serverLost(err, true)
		default:
			return s.refuse(asPgError(err, "taking the shard keys of "+req.Table.Name))
		}
	}
	var sqlOp *router.SQLPrepared
	var sqlStmt *sqlStatement
	if len(routed) == 1 && !plain {
		op, stmt, pe := s.sqlPrepared(&routed[0])
		switch {
		case pe != nil:
			return s.refuse(pe)
		case op != nil && op.Kind == "DEALLOCATE":
			return s.complete("DEALLOCATE")
		case op != nil && op.Kind == "EXECUTE" && sqlOverShards(routed[0].Route):
			return s.executeOverShards(ctx, routed[0].Route, stmt, op)
		}
		sqlOp, sqlStmt = op, stmt
	}
	if (s.mode == config.PoolTransaction || s.pinned) && sqlOp == nil && !plain {
		var pin *pgError
		for _, st := range routed {
			pe := unsupportedInTransactionMode(st.Text)
			if pe == nil && st.Route.Plan != nil && st.Route.Plan.SessionEffects {
				pe = hiddenEffectRefusal(st.Text)
			}
			if pe == nil && st.Route.Plan != nil && st.Route.Plan.Command == "LISTEN" {
				pe = listenWithOthers()
			}
			switch {
			case s.pinned:
				s.notePinned(st.Text, pe)
			case pe == nil:
			case s.pinsFor(pe):
				if pin == nil || pe.unverifiable {
					pin = pe
				}
			default:
				return s.refuse(pe)
			}
		}
		if pin != nil {
			s.pin(routed[0].Text, pin)
		}
	}
	for i := range routed {
		s.noteDDL(routed[i].Route.Plan, routed[i].Text)
	}
	for i := range routed {
		if plain {
			break
		}
		op, ok := s.cursorStatement(routed[i].Text, routed[i].Route)
		switch {
		case ok && len(routed) == 1:
			return s.simpleCursor(ctx, routed[0], op)
		case ok:
			return s.refuse(&pgError{Code: codeFeatureNotSupported,
				Message: "pgshard: a cursor over rows of several shards must be declared, fetched and closed in queries of their own: " + abbreviate(routed[i].Text),
				Hint:    "Send the statement separately from the others."})
		}
	}
	if len(routed) == 0 {
		// Only comments or semicolons: Postgres answers EmptyQueryResponse.
		if err := writeFrame(s.w, 'I', nil); err != nil {
			return errClientGone
		}
		return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
	}
	if len(s.txShards) > 0 && s.txStatus != 'I' && len(routed) == 1 && !plain {
		switch txControl(routed[0].Text) {
		case "COMMIT":
			return s.endTransaction(ctx, true)
		case "ROLLBACK":
			return s.endTransaction(ctx, false)
		case "other":
			return s.refuse(errNotAcrossShards)
		}
		if w := sqltext.FirstWords(routed[0].Text); everywhereTag(w) != "" && (s.txStatus == 'T' || savepointTag(w) == "ROLLBACK") {
			if pe := s.runEverywhere(routed[0].Text); pe != nil {
				return s.refuse(pe)
			}
			return s.complete(everywhereTag(w))
		}
	}
	if len(s.txShards) > 0 && s.txStatus != 'I' && len(routed) > 1 && !plain {
		for i := range routed {
			if w := sqltext.FirstWords(routed[i].Text); txControl(routed[i].Text) != "" || everywhereTag(w) != "" {
				return s.refuse(&pgError{Code: codeFeatureNotSupported,
					Message: "pgshard: in a transaction over several shards, transaction control must be sent as a query of its own: " + abbreviate(routed[i].Text),
					Hint:    "Send it separately from the other statements."})
			}
		}
	}
	if s.deferred != "" && (s.sc == nil || s.localTx) && len(routed) == 1 && !plain {
		// So do savepoints (an ORM's nested transaction, opened before
		// its first statement), checked as the server will check them.
		w := sqltext.FirstWords(routed[0].Text)
		if savepointTag(w) != "" {
			return s.deferSavepoint(routed[0].Text, savepointTag(w))
		}
		if (w.Is(0, "begin") || w.Is(0, "start")) && s.txStatus == 'T' {
			// BEGIN inside the transaction: PostgreSQL warns, and still
			// applies its isolation level and access mode.
			s.deferred += ";\n" + routed[0].Text
			warn := &pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: "25001", Message: "there is already a transaction in progress"}
			if err := writeMsg(s.w, &s.scratch, warn); err != nil {
				return errClientGone
			}
			return s.complete(beginTag(w))
		}
	}
	t := s.targetOf(q, routed)
	if (s.sc == nil || s.localTx) && s.txStatus == 'E' && t.end == "" {
		return s.refuse(errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block"))
	}
	switch {
	case t.err != nil:
		return s.refuse(t.err)
	case t.begin:
		return s.deferBegin(routed[0].Text)
	case t.end != "":
		return s.endDeferred(t.end)
	case t.multi != nil && t.multi.Route.Kind == router.KindCopyIn:
		return s.copySplit(ctx, t.multi)
	case t.multi != nil && t.multi.Route.Kind == router.KindCopyOut:
		return s.copyOut(ctx, t.multi)
	case t.multi != nil:
		return s.multiSimple(ctx, t.multi)
	}
	if s.deferred != "" && (s.sc == nil || s.localTx) && len(routed) == 1 && routed[0].Route.Kind == router.KindSession {
		if w := sqltext.FirstWords(routed[0].Text); w.Is(0, "set") {
			// SET inside a transaction that has no shard yet: it goes with
			// the BEGIN to whichever shard the transaction picks, and is
			// the client's if the transaction commits.
			s.deferred += ";\n" + routed[0].Text
			if c, ok := settingChangeOf(routed[0].Text, sqltext.LeadingWords(routed[0].Text, 3)); ok {
				s.settings.staged = append(s.settings.staged, c)
			}
			return s.complete("SET")
		}
	}
	if err := s.attachFor(ctx, t.id, t.read, t.write, t.primary); err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return s.refuse(pe)
		}
		if err == errBatchEnded {
			return nil // a Query inside a failed batch is ignored until Sync
		}
		return err
	}
	if sqlOp != nil {
		if err := s.ensureSQLPrepared(s.sc, sqlOp, sqlStmt); err != nil {
			return s.sqlPreparedFailed(err)
		}
	}
	var err error
	if s.useServerForm(routed) {
		err = s.runServerForm(body, &routed[0])
	} else {
		err = s.runQuery(body)
	}
	if err != nil {
		return err
	}
	if s.retryRead {
		// The replica failed the read before any of it reached the client:
		// ban it and run the read on the primary.
		s.retryRead = false
		s.banNode(t.id, s.lastNode, errors.New("read failed on the replica"))
		if err := s.attachShard(ctx, t.id); err != nil {
			var pe *pgError
			if errors.As(err, &pe) && pe.Severity != "FATAL" {
				return s.refuse(pe)
			}
			return err
		}
		s.onReplica = false
		if sqlOp != nil {
			if err := s.ensureSQLPrepared(s.sc, sqlOp, sqlStmt); err != nil {
				return s.sqlPreparedFailed(err)
			}
		}
		if err := s.runQuery(body); err != nil {
			return err
		}
	}
	if s.sc == nil {
		return nil // the server was lost; the client has been told
	}
	sc := s.sc
	s.batchUsed = false
	// A simple query replaces the unnamed prepared statement.
	sc.unnamed = ""
	s.observeRouted(sc, routed)
	if sqlOp != nil && sqlOp.Kind == "PREPARE" && !s.sawError {
		if s.sqlStmts == nil {
			s.sqlStmts = map[string]*sqlStatement{}
		}
		s.sqlStmts[sqlOp.Name] = sqlStmt
		sc.keepSQLStatement(sqlOp.Name, sqlStmt.prepare)
		s.noteServerTypes(sc, sqlOp.Name, sqlStmt)
	}
	s.settleWrites()
	s.maybeDetach()
	return nil
}

// allPlain reports whether every statement's plan is router.Plan.Plain:
// then none of the session's checks on statement words applies, and a
// query of such statements, the common case, skips them.
func allPlain(routed []router.Statement) bool {
	for i := range routed {
		if p := routed[i].Route.Plan; p == nil || !p.Plain || routed[i].Route.Kind == router.KindSession {
			return false
		}
	}
	return len(routed) > 0
}

// txControl classifies a statement that ends a transaction or works on its
// savepoints: "COMMIT", "ROLLBACK", "SAVEPOINT" (savepointTag), "other"
// (PREPARE TRANSACTION, AND CHAIN), or "" for anything else.
func txControl(stmt string) string {
	w := sqltext.FirstWords(stmt)
	switch {
	case w.Is(0, "commit") || w.Is(0, "end"):
		if w.Is(1, "prepared") || w.Is(1, "and") || w.Is(2, "and") {
			return "other"
		}
		return "COMMIT"
	case savepointTag(w) != "":
		return "SAVEPOINT" // runEverywhere's
	case w.Is(0, "rollback") || w.Is(0, "abort"):
		if w.Is(1, "prepared") || w.Is(1, "and") || w.Is(2, "and") {
			return "other"
		}
		return "ROLLBACK"
	case w.Is(0, "prepare") && w.Is(1, "transaction"):
		return "other"
	}
	return ""
}

// endsTransaction says whether a failed transaction block accepts stmt:
// COMMIT, ROLLBACK, ROLLBACK TO SAVEPOINT or PREPARE TRANSACTION (as
// PostgreSQL's IsTransactionExitStmt), or no statement at all.
func endsTransaction(stmt string) bool {
	w := sqltext.FirstWords(stmt)
	switch {
	case w.Is(0, "commit") || w.Is(0, "end") || w.Is(0, "rollback") || w.Is(0, "abort"):
		return !w.Is(1, "prepared") // COMMIT PREPARED is another transaction's
	case w.Is(0, "prepare"):
		return w.Is(1, "transaction")
	}
	return strings.Trim(stmt, " \t\r\n;") == ""
}

// runQuery sends a Query to the attached server and relays the answer. A
// read on a replica may come back with retryRead set instead.
func (s *session) runQuery(body []byte) error {
	sc := s.sc
	s.lastNode = sc.pool.node
	s.readRetry = s.onReplica && s.txStatus == 'I'
	s.relayed = 0
	defer func() { s.readRetry = false }()
	s.beginServerBatch()
	if err := writeFrame(sc.w, 'Q', body); err != nil {
		return s.serverLost(err, true)
	}
	if err := sc.w.Flush(); err != nil {
		return s.serverLost(err, true)
	}
	return s.relay(true)
}

// deferBegin answers BEGIN without a server: the transaction's shard is not
// known until its first statement that touches data.
func (s *session) deferBegin(stmt string) error {
	s.deferred = stmt
	s.txSavepoints = s.txSavepoints[:0]
	s.txStatus = 'T'
	s.localTx = true
	return s.complete(beginTag(sqltext.FirstWords(stmt)))
}

// beginTag is the command tag of BEGIN or START TRANSACTION.
func beginTag(w sqltext.Words) string {
	if w.Is(0, "start") {
		return "START TRANSACTION"
	}
	return "BEGIN"
}

// endDeferred ends a transaction that never reached a server.
func (s *session) endDeferred(tag string) error {
	if s.txStatus == 'E' {
		tag = "ROLLBACK"
	}
	if tag == "COMMIT" {
		for _, c := range s.settings.staged {
			s.settings.apply(c)
		}
	}
	s.settings.staged = nil
	s.deferred = ""
	s.txSavepoints = s.txSavepoints[:0]
	s.txStatus = 'I'
	s.localTx = false
	s.noteTxEnd(tag, nil)
	return s.complete(tag)
}

// complete answers a statement pgshard handled itself.
func (s *session) complete(tag string) error {
	if err := writeMsg(s.w, &s.scratch, &pgproto3.CommandComplete{CommandTag: []byte(tag)}); err != nil {
		return errClientGone
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// refuse answers a Query with an error, as Postgres would: inside a
// transaction the transaction fails too, so pgshard makes the server fail
// it and reports its own error instead.
func (s *session) refuse(pe *pgError) error {
	if pe.Severity == "FATAL" {
		return pe // the session's end (pgshard terminate, say): its loop sends it
	}
	if s.sc != nil && s.txStatus != 'I' && !s.localTx {
		s.beginServerBatch()
		if err := writeMsg(s.sc.w, &s.scratch, &pgproto3.Query{String: "pgshard: injected error"}); err != nil {
			return s.serverLost(err, true)
		}
		s.pending = append(s.pending, pendingResp{kind: 'P', action: actInjected, err: pe})
		if err := s.sc.w.Flush(); err != nil {
			return s.serverLost(err, true)
		}
		err := s.relay(true)
		s.batchUsed = false
		return err
	}
	if err := writeMsg(s.w, &s.scratch, pe.response()); err != nil {
		return errClientGone
	}
	if (s.sc == nil || s.localTx) && s.txStatus != 'I' {
		// A transaction that has not reached a server fails here, as the
		// server's would; what it deferred stays for a ROLLBACK TO.
		s.txStatus = 'E'
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// sendFatal tells the client why its session ends.
func (s *session) sendFatal(pe *pgError) {
	pe.Severity = "FATAL"
	s.endReason = pe.Code + " " + pe.Message
	_ = writeMsg(s.w, &s.scratch, pe.response())
	_ = s.w.Flush()
}
