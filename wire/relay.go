package wire

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// relay passes the attached server's responses to the client until the
// server is done with what it was sent: until ReadyForQuery when wantRFQ,
// otherwise (after a Flush) until no pending response is owed by the server.
// Synthetic and hidden responses are resolved in queue order on the way.
func (s *session) relay(wantRFQ bool) error {
	sc := s.sc
	s.sawError = false
	s.holding = s.readRetry || s.holdForm
	defer func() { s.holding, s.held = false, s.held[:0] }()
	for {
		if !wantRFQ && !s.owesServer() {
			return s.emitSynthetics(len(s.pending))
		}
		if sc.r.buffered() == 0 {
			if err := s.w.Flush(); err != nil {
				return s.clientLost()
			}
		}
		typ, body, err := sc.r.next()
		if err != nil {
			return s.serverLost(err, wantRFQ)
		}
		if i := s.headServer(); i > 0 && !asyncMsg(typ) {
			// The message answers the server's first pending response:
			// pgshard's own answers queued ahead of it go first (a
			// ParameterDescription must follow the ParseComplete pgshard
			// owes for a Parse it kept to itself).
			if err := s.emitSynthetics(i); err != nil {
				return err
			}
		}
		switch typ {
		case '1', '2', '3', 'T', 'n', 'C', 'I', 's':
			if typ == 'C' {
				// Compared first so a repeated tag costs no allocation.
				if tag := bytes.TrimRight(body, "\x00"); s.lastTag != string(tag) {
					s.lastTag = string(tag)
					if s.listenTx != nil {
						s.noteListenOutcome(s.lastTag)
					}
				}
			}
			if i := s.headServer(); i >= 0 && completes(s.pending[i].kind, typ) {
				if err := s.emitSynthetics(i); err != nil {
					return err
				}
				p := s.pending[0]
				s.pending = s.pending[1:]
				if p.action == actHidden || p.action == actRowDescription && typ == 'n' {
					continue
				}
			}
		case 'E':
			if s.terminated.Load() && serverError(body).Code == codeQueryCanceled {
				// Terminate's own cancel: the client gets what
				// pg_terminate_backend gives, FATAL 57P01 and nothing
				// after it, once the server is ready again (end rolls
				// back an open transaction).
				s.cutByTerminate = true
				continue
			}
			s.sawError = true
			if s.victim.Load() != nil {
				if pe := deadlockError(&s.victim, sc, serverError(body)); pe != nil {
					body = encodeBody(pe)
				}
			}
			if s.readRetry && s.relayed == 0 && s.retryable() && (isFatal(body) || recoveryConflict(body)) {
				// A replica failed a read before anything reached the
				// client: the caller runs it again elsewhere.
				return s.abandonRead(sc, isFatal(body))
			}
			if isFatal(body) {
				return s.serverFatal(body, wantRFQ)
			}
			if i := s.headServer(); i >= 0 && s.pending[i].fallback {
				if pe := serverError(body); refusesForm(pe.Code) {
					// Nothing ran: the caller sends the query as it came.
					s.formRefused = &formRefusal{pgError: pe, at: s.pending[i].kind}
					s.failBatch(sc)
					s.swallowRFQ = true
					continue
				}
			}
			if i := s.headServer(); i >= 0 {
				if err := s.emitSynthetics(i); err != nil {
					return err
				}
				if p := s.pending[0]; p.action == actInjected {
					if err := s.releaseHeld(); err != nil {
						return s.clientLost()
					}
					if err := writeMsg(s.w, &s.scratch, p.err.response()); err != nil {
						return s.clientLost()
					}
					s.failBatch(sc)
					continue
				}
			}
			s.failBatch(sc)
		case 'Z':
			if s.cutByTerminate {
				if len(body) == 1 {
					s.txStatus = body[0]
				}
				return terminatedError()
			}
			if err := s.emitSynthetics(len(s.pending)); err != nil {
				return err
			}
			if len(body) == 1 {
				s.txStatus = body[0]
				if s.failTxHere == sc && body[0] == 'T' {
					// The transaction failed on another shard while this
					// connection was inside the client's batch.
					s.hiddenOrBreak(sc, failOtherShards)
					s.txStatus, body = 'E', []byte{'E'}
				}
				s.failTxHere = nil
			}
			if s.swallowRFQ {
				// pgshard's own Sync (syncAway): the client's comes later.
				return nil
			}
			if err := s.emit(typ, body, false); err != nil {
				return s.clientLost()
			}
			if wantRFQ {
				return nil
			}
			continue
		case 'G':
			if err := s.emit(typ, body, false); err != nil {
				return s.clientLost()
			}
			if err := s.copyIn(); err != nil {
				return err
			}
			continue
		case 'S':
			s.noteParameterStatus(body)
			s.tell(body)
		case 'A':
			ownNotification(sc, s.key.pid, body)
		}
		if err := s.emit(typ, body, false); err != nil {
			return s.clientLost()
		}
	}
}

// asyncMsg reports the messages a server may send at any point, which
// answer none of the client's messages.
func asyncMsg(typ byte) bool { return typ == 'N' || typ == 'S' || typ == 'A' }

// heldMsg is a response held back while a replica read may still be run
// again elsewhere.
type heldMsg struct {
	typ       byte
	body      []byte
	synthetic bool // pgshard's own answer, which a retry does not repeat
}

// emit passes a message to the client. While a read on a replica may still
// be retried (holding), the messages that precede its rows — ParseComplete,
// BindComplete, RowDescription, notices — are held back, so a replica that
// fails the read before its first row leaves no trace the retry would
// repeat; the first row, completion, error or ReadyForQuery releases them.
func (s *session) emit(typ byte, body []byte, synthetic bool) error {
	if s.holding {
		switch typ {
		case '1', '2', '3', 'T', 'n', 't', 'S', 'N':
			s.held = append(s.held, heldMsg{typ: typ, body: append([]byte(nil), body...), synthetic: synthetic})
			return nil
		}
		if err := s.releaseHeld(); err != nil {
			return err
		}
	}
	s.relayed++
	return writeFrame(s.w, typ, body)
}

// releaseHeld sends what emit held back, in order.
func (s *session) releaseHeld() error {
	s.holding = false
	for _, m := range s.held {
		s.relayed++
		if err := writeFrame(s.w, m.typ, m.body); err != nil {
			return err
		}
	}
	s.held = s.held[:0]
	return nil
}

// retryable says whether the pending responses allow running the batch
// again elsewhere: every answer pgshard makes itself comes before every
// answer the server owes, so dropping the server's keeps the order.
func (s *session) retryable() bool {
	serverSeen := false
	for _, p := range s.pending {
		if p.action != actSynthetic {
			serverSeen = true
		} else if serverSeen {
			return false
		}
	}
	return true
}

// recoveryConflict reports SQLSTATE 40001, which a replica raises when
// replay cancels a query (a recovery conflict) — the same read succeeds on
// the primary.
func recoveryConflict(body []byte) bool {
	return bytes.Contains(body, []byte("\x00C40001\x00")) || bytes.HasPrefix(body, []byte("C40001\x00"))
}

// abandonRead gives up a replica read that failed before any response
// reached the client. The connection is discarded when the server ended
// it, else drained to ReadyForQuery and kept.
func (s *session) abandonRead(sc *serverConn, fatal bool) error {
	s.retryRead = true
	held := s.held
	s.holding, s.held = false, s.held[:0]
	for _, m := range held {
		if m.synthetic {
			if err := writeFrame(s.w, m.typ, m.body); err != nil {
				return s.clientLost()
			}
		}
	}
	// What the server owed goes with it; pgshard's own answers stay queued,
	// ahead of what the retry will owe (retryable checked the order).
	kept := s.pending[:0]
	for _, p := range s.pending {
		if p.action == actSynthetic {
			kept = append(kept, p)
		}
	}
	s.pending = kept
	if !fatal {
		for {
			typ, _, err := sc.r.next()
			if err != nil {
				sc.broken = true
				break
			}
			if typ == 'Z' {
				break
			}
		}
	} else {
		sc.broken = true
	}
	s.detach()
	s.txStatus = 'I'
	return nil
}

// failBatch records that the server hit an error: it now discards messages
// until Sync, so nothing else queued is answered, and statements it was
// preparing for pgshard were not prepared.
func (s *session) failBatch(sc *serverConn) {
	for _, p := range s.pending {
		if (p.action == actHidden || p.action == actRelay) && p.kind == 'P' && p.server != "" {
			sc.prepared.Remove(p.server)
		}
	}
	s.dropPending(true)
	sc.unnamed = ""
	if s.batchOpen {
		s.batchError = true
	}
}

// headServer is the index of the first pending response the server owes,
// or -1.
func (s *session) headServer() int {
	for i, p := range s.pending {
		if p.action != actSynthetic {
			return i
		}
	}
	return -1
}

func (s *session) owesServer() bool { return s.headServer() >= 0 }

// emitSynthetics sends the first n pending responses, which must all be
// pgshard's own, and drops them from the queue.
func (s *session) emitSynthetics(n int) error {
	for _, p := range s.pending[:n] {
		if p.action != actSynthetic {
			continue // only reachable at ReadyForQuery after an error
		}
		if err := s.emit(p.synth, nil, true); err != nil {
			return s.clientLost()
		}
	}
	s.pending = s.pending[n:]
	return nil
}

// copyIn forwards the client's COPY data to the server until CopyDone or
// CopyFail.
func (s *session) copyIn() error {
	if err := s.w.Flush(); err != nil {
		return s.clientLost()
	}
	sc := s.sc
	for {
		typ, body, err := s.r.next()
		if err != nil {
			// The client left mid-COPY: the server is mid-statement, so the
			// connection cannot be cleaned with a query. Close it.
			sc.broken = true
			return errClientGone
		}
		if err := writeFrame(sc.w, typ, body); err != nil {
			return s.serverLost(err, true)
		}
		switch typ {
		case 'c', 'f':
			if err := sc.w.Flush(); err != nil {
				return s.serverLost(err, true)
			}
			return nil
		}
	}
}

// isFatal reports whether an ErrorResponse body has severity FATAL or
// PANIC: the server is about to close the connection.
func isFatal(body []byte) bool {
	return bytes.HasPrefix(body, []byte("SFATAL\x00")) || bytes.HasPrefix(body, []byte("SPANIC\x00"))
}

// serverFatal relays a server's FATAL error (a terminated backend, a
// server shutting down) as an ERROR: the server connection ends, but the
// client's session with pgshard does not.
func (s *session) serverFatal(body []byte, wantRFQ bool) error {
	if err := s.releaseHeld(); err != nil {
		return errClientGone
	}
	er := serverError(body)
	er.Severity = "ERROR"
	sc := s.sc
	sc.broken = true
	s.dropPending(false)
	inTx := s.txStatus != 'I'
	s.detach()
	s.batchUsed = false // nothing is under way on a server any more
	s.abandonTransaction(inTx)
	extra := "pgshard will use a new server connection for the next statement."
	if inTx {
		extra = hintAbandoned
	}
	er.Hint = strings.TrimSpace(er.Hint + " " + extra)
	if err := writeMsg(s.w, &s.scratch, er.response()); err != nil {
		return errClientGone
	}
	if s.batchOpen && !wantRFQ {
		s.batchError = true
		return nil
	}
	if err := writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus}); err != nil {
		return errClientGone
	}
	return nil
}

// clientLost marks the server connection unusable: the client went away in
// the middle of a response, so the server is mid-statement.
func (s *session) clientLost() error {
	if s.sc != nil {
		s.sc.broken = true
	}
	return errClientGone
}

// serverLost tells the client its server connection died and keeps the
// session usable: the next statement gets a fresh connection.
func (s *session) serverLost(err error, wantRFQ bool) error {
	sc := s.sc
	sc.broken = true
	if s.readRetry && s.relayed == 0 && s.retryable() {
		s.log.Info("replica connection lost during a read; running it again elsewhere", "pool", sc.pool.name(), "err", err)
		return s.abandonRead(sc, true)
	}
	if err := s.releaseHeld(); err != nil {
		return errClientGone
	}
	s.log.Warn("server connection lost", "pool", sc.pool.name(), "err", err)
	s.dropPending(false)
	inTx := s.txStatus != 'I'
	s.detach()
	s.batchUsed = false // nothing is under way on a server any more
	s.abandonTransaction(inTx)
	pe := &pgError{
		Code:    codeConnectionFailure,
		Message: fmt.Sprintf("pgshard: lost the connection to shard %s node %s: %v", sc.pool.shard, sc.pool.node.Name, err),
		Hint:    "The statement may or may not have been applied. The next statement uses a new connection.",
	}
	if inTx {
		pe.Hint = "The statement may or may not have been applied. " + hintAbandoned
	}
	if werr := writeMsg(s.w, &s.scratch, pe.response()); werr != nil {
		return errClientGone
	}
	if s.batchOpen && !wantRFQ {
		s.batchError = true
		return nil
	}
	if werr := writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus}); werr != nil {
		return errClientGone
	}
	return nil
}
