package wire

import (
	"errors"
	"strings"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
)

// pinsFor says whether refusal pe of a statement in transaction pooling
// is one pool.session_state: pin turns into pinning the session: the
// statement leaves state in the server session (a session advisory lock,
// LISTEN, a temporary table, a role), which a session keeps only if it
// keeps its server connection. Not in a READ ONLY transaction on a
// replica: the session would keep the replica's connection as its shard's
// and send its later writes there.
func (s *session) pinsFor(pe *pgError) bool {
	return pe.sessionState && !s.onReplica && s.srv.conf().Pool.SessionState == config.SessionStatePin
}

// pin makes the session one of session pooling: the server connections
// it holds or takes from now on stay with it, and are cleaned with
// ROLLBACK; DISCARD ALL when it ends (resetServer), so its locks,
// temporary tables and LISTENs never reach another client. SQL-level
// prepared statements stay pgshard's (emulateSQLPrepared), as they were
// before. The cost is session pooling's: one server connection per pinned
// client and shard it uses, until tryUnpin finds the state gone. pe is
// the refusal the statement would have had.
func (s *session) pin(stmt string, pe *pgError) {
	s.mode = config.PoolSession
	s.pinned = true
	s.pinnedForever = pe.unverifiable
	s.about.pinned.Store(true)
	s.dbm.Pinned()
	s.log.Info("session pinned to its server connections: it took session state (pool.session_state: pin)",
		"pid", s.key.pid, "statement", withoutLiterals(stmt))
}

// notePinned looks at a statement of a pinned session: pe is what
// transaction pooling would have answered it. State pgshard cannot check
// for keeps the session pinned for good; a statement that may let go of
// state (an unlock, a DROP, a DISCARD, an UNLISTEN, RESET, CLOSE) asks
// for a check at the next idle moment.
func (s *session) notePinned(stmt string, pe *pgError) {
	if pe != nil && pe.unverifiable {
		s.pinnedForever = true
	}
	if !s.mayUnpin && mayReleaseState(stmt) {
		s.mayUnpin = true
	}
}

// mayReleaseState says whether stmt may end session state: read loosely,
// as a wrong yes costs one check.
func mayReleaseState(stmt string) bool {
	w := sqltext.FirstWords(stmt)
	switch {
	case w.Is(0, "drop"), w.Is(0, "discard"), w.Is(0, "unlisten"), w.Is(0, "reset"), w.Is(0, "close"),
		w.Is(0, "set") && (w.Is(1, "role") || w.Is(1, "session")):
		return true
	}
	return strings.Contains(strings.ToLower(stmt), "unlock")
}

// unpinQuery is true on a server connection that holds no session state
// of its client: no advisory lock, temporary table, LISTEN or cursor, and
// the role it logged in as.
const unpinQuery = `SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid())
 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema())
 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels())
 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_cursors)
 AND current_user = session_user
 AND session_user = (SELECT usename FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid())`

// tryUnpin returns a pinned session to transaction pooling once its
// server connections hold none of its state any more (a job runner's lock
// released, a temporary table dropped): they go back to their pools, so
// a client that pins now and then does not keep connections for good. It
// runs at an idle moment outside a transaction, after a statement that
// may have let go of state.
func (s *session) tryUnpin() {
	s.mayUnpin = false
	conns := make([]*serverConn, 0, 1+len(s.parked))
	if s.sc != nil {
		conns = append(conns, s.sc)
	}
	for _, sc := range s.parked {
		conns = append(conns, sc)
	}
	for _, sc := range conns {
		if sc.broken {
			return
		}
		rows, err := s.hiddenRows(sc, unpinQuery)
		if err != nil {
			var pe *pgError
			if !errors.As(err, &pe) {
				sc.broken = true // its next statement reports the loss
			}
			return
		}
		if len(rows) != 1 || rows[0] != "t" {
			return
		}
	}
	s.mode = config.PoolTransaction
	s.pinned = false
	s.listening = false
	// Counted before /clients can show it, so that whoever sees the
	// session unpinned sees it counted.
	s.dbm.Unpinned()
	s.about.pinned.Store(false)
	s.detach()
	for id, sc := range s.parked {
		s.unpark(id)
		sc.pool.release(sc)
	}
	s.log.Info("session unpinned: its server connections hold none of its session state any more", "pid", s.key.pid)
}

// poolMode is the session's pool mode as the admin listener shows it.
func (a *clientAbout) poolMode() config.PoolMode {
	if a.pinned.Load() {
		return config.PoolSession
	}
	return a.mode
}
