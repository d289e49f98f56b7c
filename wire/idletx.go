package wire

import (
	"errors"
	"os"
	"time"
)

// codeIdleInTransactionTimeout is PostgreSQL's SQLSTATE for a session its
// idle_in_transaction_session_timeout ended.
const codeIdleInTransactionTimeout = "25P03"

// armIdleTransaction bounds the wait for the client's next message by
// idle_transaction_timeout when the client has been told its transaction is
// open (ReadyForQuery 'T' or 'E') and owes nothing more of a batch: the
// moment PostgreSQL arms idle_in_transaction_session_timeout. A client idle
// outside a transaction, or sending a pipelined batch, is never timed. It
// returns the deadline, zero when none applies. The wait's start is kept
// across wake-ups that are not the client's (a shutdown's drain), so they
// do not extend it.
func (s *session) armIdleTransaction() time.Time {
	if s.txStatus == 'I' || s.batchOpen || s.r.buffered() > 0 {
		return time.Time{}
	}
	d := s.srv.conf().IdleTransactionTimeout
	if d <= 0 {
		return time.Time{}
	}
	if s.idleTxSince.IsZero() {
		s.idleTxSince = time.Now()
	}
	deadline := s.idleTxSince.Add(d)
	wait := deadline
	if hard := s.srv.hardDeadline(); s.srv.draining.Load() && hard.Before(wait) {
		wait = hard
	}
	_ = s.conn.SetReadDeadline(wait)
	return deadline
}

// disarmIdleTransaction clears what armIdleTransaction set once the client
// has sent a message.
func (s *session) disarmIdleTransaction() {
	s.idleTxSince = time.Time{}
	_ = s.conn.SetReadDeadline(time.Time{})
}

// idleTransactionEnded says whether err ended a wait armed with deadline
// because the client stayed silent in its transaction past it.
func idleTransactionEnded(err error, deadline time.Time) bool {
	return !deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(deadline)
}

// endIdleTransaction tells the client why its session ends, as PostgreSQL
// words it; session.end then rolls its transaction back and releases the
// server connections it held.
func (s *session) endIdleTransaction() {
	d := s.srv.conf().IdleTransactionTimeout
	s.log.Info("session ended: idle in transaction longer than idle_transaction_timeout", "timeout", d)
	s.dbm.IdleTransactionEnded()
	s.sendFatal(&pgError{Code: codeIdleInTransactionTimeout,
		Message: "terminating connection due to idle-in-transaction timeout",
		Detail:  "pgshard's idle_transaction_timeout is " + d.String() + "; the transaction has been rolled back.",
		Hint:    "Commit or roll back transactions promptly, or raise idle_transaction_timeout in pgshard's configuration."})
}
