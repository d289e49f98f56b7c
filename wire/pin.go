package wire

import "github.com/pgshard/pgshard/internal/config"

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

// pin makes the session one of session pooling for the rest of its life:
// the server connections it holds or takes from now on stay with it, and
// are cleaned with ROLLBACK; DISCARD ALL when it ends (resetServer), so
// its locks, temporary tables and LISTENs never reach another client.
// SQL-level prepared statements stay pgshard's (emulateSQLPrepared), as
// they were before. The cost is session pooling's: one server connection
// per pinned client and shard it uses.
func (s *session) pin(stmt string) {
	s.mode = config.PoolSession
	s.pinned = true
	s.about.pinned.Store(true)
	s.dbm.Pinned()
	s.log.Info("session pinned to its server connections: it took session state (pool.session_state: pin)",
		"pid", s.key.pid, "statement", withoutLiterals(stmt))
}

// poolMode is the session's pool mode as the admin listener shows it.
func (a *clientAbout) poolMode() config.PoolMode {
	if a.pinned.Load() {
		return config.PoolSession
	}
	return a.mode
}
