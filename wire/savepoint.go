package wire

import (
	"fmt"
	"slices"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
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

// everywhereTag returns the command tag of a statement that a transaction
// over several shards runs on every shard it has reached, and records
// for those it reaches later: savepoint statements, SET and RESET (LOCAL,
// TRANSACTION and CONSTRAINTS too), and a BEGIN inside the transaction
// (a warning, but its isolation level and access mode still apply); ""
// for any other statement.
func everywhereTag(w sqltext.Words) string {
	switch {
	case savepointTag(w) != "":
		return savepointTag(w)
	case w.Is(0, "set") && w.Is(1, "constraints"):
		return "SET CONSTRAINTS"
	case w.Is(0, "set"):
		return "SET"
	case w.Is(0, "reset"):
		return "RESET"
	case w.Is(0, "begin") || w.Is(0, "start"):
		return beginTag(w)
	}
	return ""
}

// runEverywhere runs such a statement on every participant of the open
// transaction, in shard order, and records it for the shards the
// transaction reaches later; a SET becomes the client's if the
// transaction commits. An error on any shard is the statement's error,
// and fails the transaction on every shard: PostgreSQL accepts nothing
// but ROLLBACK (TO) after it, and a participant where the statement
// worked must refuse the next statement too.
func (s *session) runEverywhere(stmt string) *pgError {
	ps := s.participants()
	s.reportHidden, s.hearing = true, true
	defer func() { s.reportHidden, s.hearing, s.heard = false, false, s.heard[:0] }()
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
	if w := sqltext.FirstWords(stmt); savepointTag(w) != "" {
		s.trackSavepoint(stmt, savepointTag(w))
	} else if w.Is(0, "set") || w.Is(0, "reset") {
		if c, ok := settingChangeOf(stmt, sqltext.LeadingWords(stmt, 3)); ok {
			s.settings.staged = append(s.settings.staged, c)
		}
	}
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

// txSavepoint is a savepoint of the open transaction: its name, how long
// the deferred script was once it was set (while no server has the
// transaction), how many SETs were staged and how many LISTENs and
// UNLISTENs made (listen.go), which ROLLBACK TO undoes.
type txSavepoint struct {
	name    string
	at      int
	staged  int
	listens int
}

// trackSavepoint follows a savepoint statement that ran in the open
// transaction (name from the parse tree), so that ROLLBACK TO drops the
// SETs staged after its savepoint, as the server undoes them.
func (s *session) trackSavepoint(stmt, tag string) {
	name, _ := router.SavepointName(stmt)
	i := len(s.txSavepoints) - 1
	for i >= 0 && s.txSavepoints[i].name != name {
		i--
	}
	switch {
	case tag == "SAVEPOINT":
		sp := txSavepoint{name: name, at: len(s.deferred), staged: len(s.settings.staged)}
		if s.listenTx != nil {
			sp.listens = len(s.listenTx.ops)
		}
		s.txSavepoints = append(s.txSavepoints, sp)
	case i < 0:
	case tag == "RELEASE":
		s.txSavepoints = s.txSavepoints[:i]
	default: // ROLLBACK TO
		s.txSavepoints = s.txSavepoints[:i+1]
		s.settings.staged = s.settings.staged[:min(s.txSavepoints[i].staged, len(s.settings.staged))]
		s.rollbackListensTo(s.txSavepoints[i].listens)
	}
}

// deferSavepoint answers a savepoint statement of a transaction no server
// has yet, as the server will once the transaction reaches one, and adds
// it to the deferred script: a name that does not exist is 3B001, and
// fails the transaction; ROLLBACK TO cuts the script back to its
// savepoint (the SETs after it are undone) and recovers a failed one.
func (s *session) deferSavepoint(stmt, tag string) error {
	name, _ := router.SavepointName(stmt)
	i := len(s.txSavepoints) - 1
	for i >= 0 && s.txSavepoints[i].name != name {
		i--
	}
	switch {
	case tag != "ROLLBACK" && s.txStatus == 'E':
		return s.refuse(errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block"))
	case tag == "SAVEPOINT":
		s.deferred += ";\n" + stmt
	case i < 0:
		return s.refuse(errorf(codeUndefinedSavepoint, fmt.Sprintf("savepoint \"%s\" does not exist", name)))
	case tag == "RELEASE":
		s.deferred += ";\n" + stmt
	default: // ROLLBACK TO
		s.deferred = s.deferred[:s.txSavepoints[i].at]
		s.txStatus = 'T'
	}
	s.trackSavepoint(stmt, tag)
	return s.complete(tag)
}

// codeUndefinedSavepoint is PostgreSQL's invalid_savepoint_specification.
const codeUndefinedSavepoint = "3B001"

// errNotAcrossShards answers transaction control that a transaction over
// several shards cannot carry out on each of them.
var errNotAcrossShards = &pgError{Code: codeFeatureNotSupported,
	Message: "pgshard: PREPARE TRANSACTION and AND CHAIN are not supported in a transaction that spans several shards",
	Hint:    "End the transaction with COMMIT or ROLLBACK; pgshard commits it on every shard with two-phase commit itself."}
