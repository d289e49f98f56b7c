package wire

import (
	"slices"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Savepoints in a transaction over several shards.
//
// SAVEPOINT, RELEASE and ROLLBACK TO run on every shard the transaction
// has reached, and are replayed, in order with its SETs, after BEGIN on
// each shard it reaches later (txStart): every participant then has the
// same savepoints, and ROLLBACK TO undoes on each shard what the
// transaction did there since the savepoint, which is what it undoes on
// one server. So ORMs' nested transactions (Django's atomic, Rails'
// requires_new, SQLAlchemy's begin_nested, pgjdbc's autosave) work
// whichever shards their statements reach.

// savepointTag returns the command tag of a savepoint statement —
// SAVEPOINT name, RELEASE [SAVEPOINT] name, ROLLBACK [WORK | TRANSACTION]
// TO [SAVEPOINT] name — or "" for any other statement.
func savepointTag(w sqltext.Words) string {
	switch {
	case w.Is(0, "savepoint"):
		return "SAVEPOINT"
	case w.Is(0, "release"):
		return "RELEASE"
	case w.Is(0, "rollback") && (w.Is(1, "to") || w.Is(2, "to")):
		return "ROLLBACK"
	}
	return ""
}

// savepointEverywhere runs a savepoint statement on every participant of
// the open transaction, in shard order, and records it for the shards the
// transaction reaches later. An error on any shard is the statement's
// error, and fails the transaction on every shard: PostgreSQL accepts
// nothing but ROLLBACK (TO) after it, and a participant where the
// statement worked must refuse the next statement too.
func (s *session) savepointEverywhere(stmt string) *pgError {
	ps := s.participants()
	var first *pgError
	failed := make([]bool, len(ps))
	for i, p := range ps {
		if err := s.hiddenQuery(p.sc, stmt, 1); err != nil {
			failed[i] = true
			pe := asPgError(err, "running "+abbreviate(stmt)+" on shard "+s.db.cfg.Shards[p.id].Name)
			if _, ok := err.(*pgError); !ok {
				p.sc.broken = true // lost: COMMIT becomes ROLLBACK
			}
			if first == nil {
				first = pe
			}
		}
	}
	if first != nil {
		s.failParticipants(func(sc *serverConn) bool {
			i := slices.IndexFunc(ps, func(p participant) bool { return p.sc == sc })
			return i >= 0 && failed[i]
		})
		return first
	}
	s.noteTxSet(stmt)
	if s.txStatus == 'E' {
		s.txStatus = 'T' // ROLLBACK TO brought the transaction back
	}
	return nil
}

// failParticipants puts every participant of the open transaction where
// the statement did not fail (failed says where it did) in the failed
// state an error leaves a transaction in: PostgreSQL refuses everything
// but ROLLBACK (TO) after an error, and so must a shard where the
// statement worked, or a client that COMMITs anyway would commit there
// and not where it failed. ROLLBACK TO then recovers every shard alike.
func (s *session) failParticipants(failed func(*serverConn) bool) {
	for _, p := range s.participants() {
		switch {
		case failed(p.sc) || p.sc.broken:
		case p.sc == s.sc && s.batchUsed:
			// It owes the client's batch answers: failed once it has
			// given them, at its ReadyForQuery (relay).
			s.failTxHere = p.sc
		default:
			s.hiddenOrBreak(p.sc, failOtherShards)
		}
	}
	s.txStatus = 'E'
}

// failOtherShards puts a participant's transaction in the failed state
// PostgreSQL's error left the others in.
const failOtherShards = `DO $pgshard$BEGIN RAISE EXCEPTION 'pgshard: the statement failed on another shard of this transaction'; END$pgshard$`

// errNotAcrossShards answers transaction control that a transaction over
// several shards cannot carry out on each of them.
var errNotAcrossShards = &pgError{Code: codeFeatureNotSupported,
	Message: "pgshard: PREPARE TRANSACTION and AND CHAIN are not supported in a transaction that spans several shards",
	Hint:    "End the transaction with COMMIT or ROLLBACK; pgshard commits it on every shard with two-phase commit itself."}
