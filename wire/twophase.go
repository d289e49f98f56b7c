package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// Two-phase commit across shards.
//
// A transaction that wrote on several shards commits with PREPARE
// TRANSACTION on every participant but one, the coordinator, then a plain
// COMMIT of the coordinator, then COMMIT PREPARED of the others. The
// decision is made durable by the coordinator's commit: it inserts the
// global transaction id into pgshard_2pc_decisions inside the transaction
// itself. So, after a crash, an in-doubt prepared transaction is committed
// exactly when its coordinator's decision row exists, and rolled back
// otherwise (presumed abort). The resolver (resolveInDoubt) applies that
// rule to prepared transactions older than a grace period, so it never
// races a live pgshard between its PREPAREs and the coordinator's COMMIT.
// Committing the coordinator in one phase (the last-agent optimization)
// spares it two round trips, and lets a transaction commit that did on one
// shard what PREPARE TRANSACTION refuses: a NOTIFY (txNotified) makes that
// shard the coordinator.

const (
	gidPrefix      = "pgshard:"
	decisionsTable = "pgshard_2pc_decisions"
	createDecision = "CREATE TABLE IF NOT EXISTS " + decisionsTable + " (gid text PRIMARY KEY, decided_at timestamptz NOT NULL DEFAULT now())"
	// qualifiedDecisions names the table the server user's search_path
	// finds, by its schema.
	qualifiedDecisions = "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c" +
		" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass('" + decisionsTable + "')"
)

var gidCounter atomic.Uint64

// participant is one shard's connection in a transaction being committed.
type participant struct {
	id shard.ShardID
	sc *serverConn
}

// participants lists the connections of the open transaction in shard
// order.
func (s *session) participants() []participant {
	var ps []participant
	if s.sc != nil {
		ps = append(ps, participant{s.shardOf(s.sc), s.sc})
	}
	for id, sc := range s.parked {
		if slices.Contains(s.txShards, id) {
			ps = append(ps, participant{id, sc})
		}
	}
	slices.SortFunc(ps, func(a, b participant) int { return int(a.id) - int(b.id) })
	return ps
}

// commitAll commits a transaction spread over several shards with
// two-phase commit. It returns the error to report, or nil when the
// transaction committed. Every participant ends outside a transaction.
func (s *session) commitAll(ctx context.Context, ps []participant) *pgError {
	// The coordinator: the first shard that ran a NOTIFY, else the lowest.
	c := max(slices.IndexFunc(ps, func(p participant) bool { return slices.Contains(s.txNotified, p.id) }), 0)
	coord := ps[c]
	gid := fmt.Sprintf("%s%d:%d.%d.%d", gidPrefix, coord.id, time.Now().UnixNano(), s.key.pid, gidCounter.Add(1))
	decisions, err := s.srv.ensureDecisions(ctx, s, coord.id)
	if err != nil {
		s.rollbackAll(ps)
		return err
	}
	record := "INSERT INTO " + decisions + " (gid) VALUES (" + quoteLiteral(gid) + ")"
	// A transaction that made itself READ ONLY after writing cannot insert
	// the decision: it is recorded in a transaction of its own once every
	// participant, the coordinator too, is prepared, and before any
	// commits. Lost before that, the resolver rolls them back.
	readOnly := s.madeReadOnly()
	if !readOnly {
		// The decision row commits with the coordinator's transaction.
		if err := s.hiddenQuery(coord.sc, record, 1); err != nil {
			s.rollbackAll(ps)
			return twoPhaseError(err, "recording the commit decision on shard "+s.db.cfg.Shards[coord.id].Name)
		}
	}
	prepared := make([]bool, len(ps))
	undo := func() {
		for j, q := range ps {
			if prepared[j] {
				s.hiddenOrBreak(q.sc, "ROLLBACK PREPARED "+quoteLiteral(gid))
			} else {
				s.hiddenOrBreak(q.sc, "ROLLBACK")
			}
		}
	}
	for i, p := range ps {
		if i == c && !readOnly {
			continue
		}
		if err := s.hiddenQuery(p.sc, "PREPARE TRANSACTION "+quoteLiteral(gid), 1); err != nil {
			// PREPARE failing aborts that participant (its ROLLBACK is
			// then a no-op); the others roll back.
			undo()
			return twoPhaseError(err, "preparing the transaction on shard "+s.db.cfg.Shards[p.id].Name)
		}
		prepared[i] = true
	}
	commit := "COMMIT"
	if readOnly {
		if err := s.recordAside(ctx, coord.id, record); err != nil {
			undo()
			return twoPhaseError(err, "recording the commit decision on shard "+s.db.cfg.Shards[coord.id].Name)
		}
		commit = "COMMIT PREPARED " + quoteLiteral(gid)
	}
	if err := s.hiddenQuery(coord.sc, commit, 1); err != nil {
		var pe *pgError
		if errors.As(err, &pe) && !readOnly {
			// The server refused the commit (a deferred constraint, a
			// serialization failure) and rolled the coordinator back:
			// nothing was decided, so nothing commits.
			undo()
			return twoPhaseError(err, "committing on shard "+s.db.cfg.Shards[coord.id].Name)
		}
		// The outcome is whatever the coordinator did; the resolver
		// finishes the others either way.
		coord.sc.broken = true
		s.log.Error("two-phase commit: outcome unknown", "gid", gid, "err", err)
		return &pgError{Code: "08007", Message: "pgshard: lost the connection while committing; the transaction's outcome is unknown until pgshard resolves it",
			Detail: "Global transaction id " + gid + "."}
	}
	for i, p := range ps {
		if i == c {
			continue
		}
		if err := s.hiddenQuery(p.sc, "COMMIT PREPARED "+quoteLiteral(gid), 1); err != nil {
			// Committed logically: the resolver completes this shard.
			p.sc.broken = true
			s.log.Warn("two-phase commit: a participant will be committed by the resolver", "gid", gid, "shard", s.db.cfg.Shards[p.id].Name, "err", err)
		}
	}
	s.hiddenOrBreak(coord.sc, "DELETE FROM "+decisions+" WHERE gid = "+quoteLiteral(gid))
	return nil
}

// commitParticipants commits the open transaction on every participant.
// Only shards it may have written on need two-phase commit, and only when
// there are two or more of them; one writer commits with a plain COMMIT.
// Shards it only read on (reads, SETs, SAVEPOINTs) have nothing to make
// atomic: they commit after the writers, so what they hold until then
// (their snapshot, the locks of what they read) outlasts the writes, as
// on one server. Their commit cannot undo the writers', so a failure
// there only closes the connection.
func (s *session) commitParticipants(ctx context.Context, ps []participant) *pgError {
	var writers, readers []participant
	for _, p := range ps {
		if s.pendingWrites[p.id] {
			writers = append(writers, p)
		} else {
			readers = append(readers, p)
		}
	}
	var pe *pgError
	switch len(writers) {
	case 0:
	case 1:
		pe = s.commitOne(writers[0])
	default:
		pe = s.commitAll(ctx, writers)
	}
	if pe != nil {
		s.rollbackAll(readers)
		return pe
	}
	for _, p := range readers {
		s.hiddenOrBreak(p.sc, "COMMIT")
	}
	return nil
}

// commitOne commits the one shard a transaction wrote on.
func (s *session) commitOne(p participant) *pgError {
	err := s.hiddenQuery(p.sc, "COMMIT", 1)
	if err == nil {
		return nil
	}
	var pe *pgError
	if errors.As(err, &pe) {
		return pe // PostgreSQL rolled it back: a deferred constraint, say
	}
	p.sc.broken = true
	return &pgError{Code: "08007", Message: "pgshard: lost the connection to shard " + s.db.cfg.Shards[p.id].Name + " while committing; the transaction's outcome is unknown",
		Detail: err.Error()}
}

// madeReadOnly says whether the open transaction may have made itself
// READ ONLY after it started (SET TRANSACTION READ ONLY, SET
// transaction_read_only, a BEGIN ... READ ONLY inside it).
func (s *session) madeReadOnly() bool {
	for _, q := range s.txSets {
		if q = strings.ToLower(q); strings.Contains(q, "read only") || strings.Contains(q, "transaction_read_only") {
			return true
		}
	}
	return false
}

// recordAside runs q on shard id's primary in a transaction of its own,
// over an idle pooled connection or one opened for it.
func (s *session) recordAside(ctx context.Context, id shard.ShardID, q string) error {
	p, err := s.shardPool(id)
	if err != nil {
		return err
	}
	sc := p.tryAcquire()
	if sc == nil {
		if sc, err = p.dialOutside(ctx); err != nil {
			return err
		}
		defer sc.close()
	} else {
		defer p.release(sc)
	}
	if err := s.hiddenQuery(sc, q, 1); err != nil {
		sc.broken = true
		return err
	}
	return nil
}

// rollbackAll rolls every participant back.
func (s *session) rollbackAll(ps []participant) {
	for _, p := range ps {
		s.hiddenOrBreak(p.sc, "ROLLBACK")
	}
}

// hiddenOrBreak runs q, and marks the connection broken if that fails: it
// is then closed rather than reused in an unknown state.
func (s *session) hiddenOrBreak(sc *serverConn, q string) {
	if sc.broken {
		return
	}
	if err := s.hiddenQuery(sc, q, 1); err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			sc.broken = true
		}
	}
}

// twoPhaseError explains a failed two-phase step.
func twoPhaseError(err error, step string) *pgError {
	var pe *pgError
	if !errors.As(err, &pe) {
		return &pgError{Code: codeConnectionFailure, Message: "pgshard: " + step + ": " + err.Error(),
			Hint: "The transaction was rolled back on every shard."}
	}
	e := *pe
	if e.Code == "55000" && strings.Contains(e.Message, "prepared transactions are disabled") {
		return &pgError{Code: codeFeatureNotSupported,
			Message: "pgshard: this transaction wrote to several shards, which needs two-phase commit, but the servers have max_prepared_transactions = 0",
			Hint:    "Set max_prepared_transactions on every shard, or keep each transaction on one shard key. The transaction was rolled back."}
	}
	e.Detail = strings.TrimSpace(e.Detail + " pgshard: while " + step + "; the transaction was rolled back on every shard.")
	return &e
}

// errBatchEnded: an error already reported to the client ended the batch
// while pgshard moved it to another shard; the message that asked for the
// move is skipped, as PostgreSQL skips messages until Sync after an error.
var errBatchEnded = errors.New("batch ended by an error")

// openBatchTx turns the batch's implicit transaction on the attached server
// into a transaction block that pgshard can commit with two-phase commit
// (BEGIN inside an implicit transaction keeps what it already did). What
// the server owes for the batch is read first: an error there has ended
// the batch, and the server would ignore the BEGIN until Sync.
func (s *session) openBatchTx() error {
	if err := s.drainServer(); err != nil {
		return err
	}
	if s.sc == nil || s.batchError {
		return errBatchEnded
	}
	if err := s.hiddenQuery(s.sc, "BEGIN", 1); err != nil {
		s.sc.broken = true
		return s.serverLost(err, false)
	}
	s.txStatus = 'T'
	s.txBegin = "BEGIN"
	s.batchTx = true
	return nil
}

// batchTxForWrite makes the pipelined batch a transaction over several
// shards before a statement over several shards runs in it: a write then
// commits or rolls back with the rest of the batch at Sync, as one
// server's batch would, instead of committing on its own, and a read sees
// what the batch already wrote. What the batch did on the attached
// connection joins the transaction if it wrote there; a part that only
// read is completed where it ran.
func (s *session) batchTxForWrite() error {
	switch {
	case s.sc != nil && s.batchUsed && s.batchWrote:
		if err := s.openBatchTx(); err != nil {
			return err
		}
		s.keep()
	case s.sc != nil && s.batchUsed:
		if err := s.syncAway(); err != nil {
			return err
		}
		if s.batchError {
			return errBatchEnded
		}
		if s.sc != nil {
			s.park()
		}
	case s.sc != nil:
		s.park()
	}
	s.txStatus = 'T'
	s.txBegin = "BEGIN"
	s.batchTx = true
	return nil
}

// inMovedBatch answers a transaction statement in a batch that pgshard made
// a transaction over several shards (batchTxForWrite), where PostgreSQL
// would still be in the batch's implicit transaction: BEGIN makes that
// transaction the client's, left open at Sync as PostgreSQL leaves it
// (its options, if any, run on the shards first); a savepoint statement is
// refused as outside a transaction block (25P01). done: vp is answered.
func (s *session) inMovedBatch(vp *vportal) (done bool, err error) {
	w := sqltext.FirstWords(vp.st.query)
	switch vp.local {
	case "BEGIN", "START TRANSACTION":
		if err := s.drainServer(); err != nil {
			return true, err
		}
		vp.answer = answer{tag: vp.local}
		if w.Len() > 2 {
			// BEGIN ISOLATION LEVEL ...: its options apply on the shards,
			// and may be refused there, which leaves the batch as it was.
			if pe := s.runEverywhere(vp.st.query); pe != nil {
				vp.answer = answer{err: pe}
				return true, nil
			}
		}
		s.batchTx = false
		s.txBegin = vp.st.query
		return true, nil
	case "SAVEPOINT", "RELEASE", "ROLLBACK":
		if err := s.drainServer(); err != nil {
			return true, err
		}
		vp.answer = answer{err: errorf(codeNoActiveSQLTx, savepointCommand[vp.local]+" can only be used in transaction blocks")}
		return true, nil
	}
	return false, nil
}

// syncBatchTx ends, at the client's Sync, a batch whose writes spread over
// several shards: committed on all of them with two-phase commit, or, after
// any error, rolled back on all. The client sees what PostgreSQL sends for
// a batch, ending in ReadyForQuery idle.
func (s *session) syncBatchTx(ctx context.Context) error {
	s.batchTx = false
	if s.sc != nil {
		if err := writeFrame(s.sc.w, 'S', nil); err != nil {
			return s.serverLost(err, true)
		}
		if err := s.sc.w.Flush(); err != nil {
			return s.serverLost(err, true)
		}
		s.swallowRFQ = true
		err := s.relay(true)
		s.swallowRFQ = false
		if err != nil {
			return err
		}
		if s.sc == nil {
			// The connection was lost, and the client told so (with its
			// ReadyForQuery): the other shards roll back.
			s.finishTransaction(ctx, false)
			return nil
		}
	} else if err := s.emitSynthetics(len(s.pending)); err != nil {
		// pgshard's own answers after the batch's last server message
		// (a Bind of a portal it runs over several shards).
		return err
	}
	_, pe := s.finishTransaction(ctx, s.txStatus == 'T' && !s.batchError)
	if pe != nil {
		if err := writeMsg(s.w, &s.scratch, pe.response()); err != nil {
			return errClientGone
		}
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: 'I'})
}

// endTransaction answers COMMIT or ROLLBACK of a transaction spread over
// several shards.
func (s *session) endTransaction(ctx context.Context, commit bool) error {
	tag, pe := s.finishTransaction(ctx, commit)
	s.noteTxEnd(tag, pe)
	if pe != nil {
		if err := writeMsg(s.w, &s.scratch, pe.response()); err != nil {
			return errClientGone
		}
		return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	}
	return s.complete(tag)
}

// finishTransaction ends the transaction on every participant: two-phase
// commit, or rollback (also of a COMMIT of a failed transaction, which
// Postgres answers with ROLLBACK).
func (s *session) finishTransaction(ctx context.Context, commit bool) (string, *pgError) {
	ps := s.participants()
	// The end undoes SET LOCALs and rolled-back SETs: the client hears it.
	s.reportHidden = true
	defer func() { s.reportHidden = false }()
	failed := s.txStatus == 'E'
	for _, p := range ps {
		if p.sc.broken {
			failed = true
		}
	}
	var pe *pgError
	tag := "ROLLBACK"
	if commit && !failed {
		pe = s.commitParticipants(ctx, ps)
		tag = "COMMIT"
	} else {
		s.rollbackAll(ps)
	}
	if len(s.txSets) > 0 || len(s.settings.staged) > 0 {
		// SETs ran on some participants: what each holds now depends on
		// where they ran and on the outcome, so each is brought in line
		// (RESET ALL and the client's settings) before its next use.
		for _, p := range ps {
			p.sc.settings = staleSettings
		}
		if tag == "COMMIT" && pe == nil {
			for _, c := range s.settings.staged {
				s.settings.apply(c)
			}
		}
		s.settings.staged = nil
	}
	s.txSets = s.txSets[:0]
	s.txShards = s.txShards[:0]
	s.txSavepoints = s.txSavepoints[:0]
	s.txNotified = s.txNotified[:0]
	s.txBegin = ""
	s.txStatus = 'I'
	s.settleWrites()
	s.releaseParticipants()
	return tag, pe
}

// abandonTransaction ends what is left of the open transaction after the
// connection it was running on was lost, which rolled it back there. It
// is rolled back on every other shard too, or the client's next
// statements would run, and its COMMIT commit, inside what remains of it
// there. When the client was in a transaction block (inTx), the session
// then holds a failed transaction of its own, as PostgreSQL would after an
// error: every statement is refused (25P02) until the client ends it,
// and its COMMIT is answered ROLLBACK; so statements the client meant for
// the lost transaction never run, and commit, on their own.
func (s *session) abandonTransaction(inTx bool) {
	if len(s.txShards) > 0 {
		ps := s.participants()
		s.rollbackAll(ps)
		for _, p := range ps {
			p.sc.settings = staleSettings
		}
		s.txShards = s.txShards[:0]
		s.releaseParticipants()
	}
	s.settings.staged = nil
	s.txSets = s.txSets[:0]
	s.txBegin, s.deferred = "", ""
	s.txSavepoints = s.txSavepoints[:0]
	s.txNotified = s.txNotified[:0]
	s.txStatus, s.localTx = 'I', false
	if inTx {
		s.txStatus, s.localTx = 'E', true
	}
}

// hintAbandoned tells a client in a transaction block what became of it.
const hintAbandoned = "The transaction was rolled back on every shard: end it with ROLLBACK; the next one uses a new connection."

// releaseParticipants returns every connection of a finished transaction
// to its pool (session pooling keeps them).
func (s *session) releaseParticipants() {
	if s.mode != config.PoolSession {
		s.detach()
		for id, sc := range s.parked {
			s.unpark(id)
			sc.pool.release(sc)
		}
	}
}

// ensureDecisions creates the decisions table on a shard once per server
// run, on a connection of its own: not the transaction's (a CREATE racing
// another pgshard's would fail the client's transaction), and not one from
// the pool, which session pooling may have handed out entirely to clients
// that are waiting on this very commit. Concurrent first commits share one
// attempt: two CREATE TABLE IF NOT EXISTS racing in the catalog make one
// fail with 23505.
//
// It returns the table's schema-qualified name. The table is created
// where the server user's default search_path puts it, and named by its
// schema afterwards: the statements that use it run on connections that
// carry a client's settings, and a client's search_path (pg_dump's is
// empty) must not hide the table or find another of the same name.
//
// The first time, it creates the table on the database's other shards
// too, as far as they answer: DDL and LOCK TABLE run on every shard, so a
// pg_dump through pgshard, which locks every table the default shard's
// catalog lists, needs the table wherever any shard has it.
func (srv *Server) ensureDecisions(ctx context.Context, s *session, id shard.ShardID) (string, *pgError) {
	name, pe := srv.decisionsOn(ctx, s, id)
	if pe == nil {
		for i := range s.db.cfg.Shards {
			if other := shard.ShardID(i); other != id {
				if _, err := srv.decisionsOn(ctx, s, other); err != nil {
					s.log.Warn("two-phase commit: cannot create the decisions table", "shard", s.db.cfg.Shards[i].Name, "err", err)
				}
			}
		}
	}
	return name, pe
}

// decisionsOn is ensureDecisions for one shard.
func (srv *Server) decisionsOn(ctx context.Context, s *session, id shard.ShardID) (string, *pgError) {
	key := s.db.cfg.Name + "/" + strconv.Itoa(int(id))
	if name, ok := srv.decisionsReady.Load(key); ok {
		return name.(string), nil
	}
	name, err, _ := srv.decisionsOnce.Do(key, func() (any, error) {
		if name, ok := srv.decisionsReady.Load(key); ok {
			return name, nil
		}
		p, err := s.shardPool(id)
		if err != nil {
			return nil, err
		}
		sc, err := p.dialOutside(ctx)
		if err != nil {
			return nil, err
		}
		defer sc.close()
		err = s.hiddenQuery(sc, createDecision, 1)
		var pe *pgError
		if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07") {
			err = nil // created by another pgshard at the same moment
		}
		if err != nil {
			return nil, err
		}
		rows, err := s.hiddenRows(sc, qualifiedDecisions)
		if err != nil {
			return nil, err
		}
		if len(rows) != 1 {
			return nil, fmt.Errorf("%s not found after creating it", decisionsTable)
		}
		srv.decisionsReady.Store(key, rows[0])
		return rows[0], nil
	})
	if err != nil {
		return "", twoPhaseError(err, "creating "+decisionsTable+" on shard "+s.db.cfg.Shards[id].Name)
	}
	return name.(string), nil
}
