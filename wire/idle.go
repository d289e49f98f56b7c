package wire

import (
	"errors"
	"os"
	"time"

	"github.com/pgshard/pgshard/internal/metrics"
)

// PostgreSQL's SQLSTATEs for sessions its idle_in_transaction_session_timeout
// and idle_session_timeout ended.
const (
	codeIdleInTransactionTimeout = "25P03"
	codeIdleSessionTimeout       = "57P05"
)

// idleLimit bounds one wait for the client's next message.
type idleLimit struct {
	deadline time.Time // zero: the wait is not bounded
	timeout  metrics.IdleTimeout
	d        time.Duration
}

// armIdle bounds the wait for the client's next message once the client
// has been told it may send one (ReadyForQuery) and owes nothing more of a
// batch, the moment PostgreSQL arms its idle timeouts: inside a
// transaction block by idle_transaction_timeout, outside one by
// client_idle_timeout. A client sending a pipelined batch is never timed.
// The wait's start is kept across wake-ups that are not the client's (a
// shutdown's drain), so they do not extend it.
func (s *session) armIdle() idleLimit {
	if s.batchOpen || s.r.buffered() > 0 {
		return idleLimit{}
	}
	cfg := s.srv.conf()
	l := idleLimit{timeout: metrics.IdleSession, d: cfg.ClientIdleTimeout}
	if s.txStatus != 'I' {
		l.timeout, l.d = metrics.IdleInTransaction, cfg.IdleTransactionTimeout
	}
	if l.d <= 0 {
		return idleLimit{}
	}
	if s.idleSince.IsZero() {
		s.idleSince = time.Now()
	}
	l.deadline = s.idleSince.Add(l.d)
	wait := l.deadline
	draining := s.srv.draining.Load()
	if hard := s.srv.hardDeadline(); draining && hard.Before(wait) {
		wait = hard
	}
	_ = s.conn.SetReadDeadline(wait)
	if (!draining && s.srv.draining.Load()) || s.terminated.Load() {
		// The wake-up of a drain or a Terminate (a deadline of now) may
		// have come just before the line above replaced it.
		_ = s.conn.SetReadDeadline(time.Now())
	}
	return l
}

// disarm clears what armIdle set once the client has sent a message.
func (s *session) disarmIdle() {
	s.idleSince = time.Time{}
	_ = s.conn.SetReadDeadline(time.Time{})
}

// ended says whether err ended the wait because the client stayed silent
// past the limit.
func (l idleLimit) ended(err error) bool {
	return !l.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(l.deadline)
}

// endIdle tells the client why its session ends, in PostgreSQL's words;
// session.end then rolls back a transaction it left open and releases the
// server connections it held.
func (s *session) endIdle(l idleLimit) {
	s.log.Info("session ended: client idle longer than "+l.timeout.String(), "timeout", l.d)
	s.dbm.IdleTimedOut(l.timeout)
	pe := &pgError{Code: codeIdleSessionTimeout,
		Message: "terminating connection due to idle-session timeout",
		Detail:  "pgshard's client_idle_timeout is " + l.d.String() + ".",
		Hint:    "Reconnect; keep pooled connections' idle lifetime below client_idle_timeout, or raise it in pgshard's configuration."}
	if l.timeout == metrics.IdleInTransaction {
		pe = &pgError{Code: codeIdleInTransactionTimeout,
			Message: "terminating connection due to idle-in-transaction timeout",
			Detail:  "pgshard's idle_transaction_timeout is " + l.d.String() + "; the transaction has been rolled back.",
			Hint:    "Commit or roll back transactions promptly, or raise idle_transaction_timeout in pgshard's configuration."}
	}
	s.sendFatal(pe)
}
