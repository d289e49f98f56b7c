package wire

import (
	"errors"
	"fmt"
	"time"
)

// codeAdminTerminated is PostgreSQL's SQLSTATE for pg_terminate_backend.
const codeAdminTerminated = "57P01"

// ErrNoSuchSession is Terminate's answer for a pid no session has.
var ErrNoSuchSession = errors.New("no client session has this pid")

// Terminate ends the client session pid (the process ID pgshard gave the
// client, as /clients lists it), as pg_terminate_backend ends a backend:
// a statement it is running is cancelled on its server, then the client
// gets FATAL 57P01 and its transaction is rolled back. In transaction
// pooling pg_terminate_backend on a shard would hit a pooled server
// connection, not the client behind it; this ends the client.
func (srv *Server) Terminate(pid uint32) error {
	srv.sessMu.Lock()
	s := srv.sessions[pid]
	srv.sessMu.Unlock()
	if s == nil {
		cfg := srv.conf()
		if owner := peerOf(pid); cfg.PeerID != 0 && owner != cfg.PeerID {
			where := "not listed in peers"
			if p := cfg.Peer(owner); p != nil {
				where = "serving clients on " + p.Address
			}
			return fmt.Errorf("%w: the pid is one peer %d gave (%s); ask that pgshard's admin listener", ErrNoSuchSession, owner, where)
		}
		return ErrNoSuchSession
	}
	s.terminated.Store(true)
	srv.log.Info("client session terminated through the admin listener", "pid", pid, "user", s.user.Name, "database", s.about.database)
	// A session waiting for its client wakes now; one busy on a server
	// has its statement cancelled there, and its next wait for the client
	// ends at once.
	_ = s.conn.SetReadDeadline(time.Now())
	s.cancelStatement()
	return nil
}

// endTerminated tells the client its session was terminated, in
// PostgreSQL's words.
func (s *session) endTerminated() { s.sendFatal(terminatedError()) }

// terminatedError is the FATAL a terminated session ends with.
func terminatedError() *pgError {
	return &pgError{Severity: "FATAL", Code: codeAdminTerminated, Message: "terminating connection due to administrator command",
		Detail: "pgshard's admin listener terminated this session (pgshard terminate)."}
}
