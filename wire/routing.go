package wire

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// The session asks the router where each statement goes, then attaches the
// server connection of that shard's primary. A transaction stays on the
// shard its first routed statement picked: BEGIN is answered by pgshard and
// sent to the server only once that shard is known.

// newRouter builds the router of a configured database.
func newRouter(d *config.Database, cacheSize int) (*router.Router, error) {
	schema, err := router.NewSchema(d)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", d.Name, err)
	}
	return router.New(schema, shard.NewHolder(shard.EqualMap(len(d.Shards))), cacheSize), nil
}

type shardPoolKey struct {
	user *config.User
	id   shard.ShardID
}

// shardPool returns the pool of shard id's primary for the session's user.
func (s *session) shardPool(id shard.ShardID) (*pool, error) {
	db := s.db
	if int(id) < 0 || int(id) >= len(db.cfg.Shards) {
		return nil, errorf(codeInternalError, fmt.Sprintf("pgshard: database %q has no shard %d", db.cfg.Name, id))
	}
	if p, pe := s.promotedPool(id); p != nil || pe != nil {
		if pe != nil {
			return nil, pe
		}
		return p, nil
	}
	k := shardPoolKey{s.user, id}
	if p, ok := db.shardPools.Load(k); ok {
		return p.(*pool), nil
	}
	sh := &db.cfg.Shards[id]
	p := s.srv.pool(db, s.user, sh, &sh.Primary)
	db.shardPools.Store(k, p)
	return p, nil
}

// shardOf returns the shard index a server connection belongs to.
func (s *session) shardOf(sc *serverConn) shard.ShardID {
	for i := range s.db.cfg.Shards {
		if s.db.cfg.Shards[i].Name == sc.pool.shard {
			return shard.ShardID(i)
		}
	}
	return -1
}

// errReadOnlyOnReplica answers a statement of a READ ONLY transaction,
// which runs on one replica, that needs another shard. PostgreSQL's own
// code for a write in a read-only transaction: the client asked for a
// transaction that cannot do this.
var errReadOnlyOnReplica = &pgError{Code: "25006", Message: "pgshard: a READ ONLY transaction runs on one replica and cannot reach another shard",
	Hint: "Start the transaction without READ ONLY to read several shards in one transaction."}

// errCrossShard is the answer when a statement cannot join the shard it
// needs to the transaction.
func errCrossShard(s *session, from, to shard.ShardID) *pgError {
	return &pgError{
		Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: this statement needs shard %s while responses from shard %s are pending in the same batch",
			s.db.cfg.Shards[to].Name, s.db.cfg.Shards[from].Name),
		Hint: "Send a Sync (or Flush and read the results) before a statement for another shard key.",
	}
}

// target is where a simple query's statements run.
type target struct {
	id shard.ShardID // the one shard, when multi is nil
	// read: every statement reads (or only sets session state), so a
	// replica may serve it; primary: a hint asks for the primary.
	read, primary bool
	// write: some statement may change data. Not the same as !read:
	// transaction control and SET, SHOW... stay off replicas without
	// being writes (read-your-writes and two-phase commit count writes).
	write bool
	kind  router.Kind
	multi *router.Statement
	err   *pgError
	// begin: the query is a lone BEGIN that pgshard answers itself.
	begin bool
	// end: a lone COMMIT or ROLLBACK of a transaction that never reached a
	// server.
	end string
}

// targetOf combines the routes of a simple query's statements. Statements
// that run on several shards must come alone: one Query is one implicit
// transaction, and pgshard does not span one across shards.
func (s *session) targetOf(q string, stmts []router.Statement) target {
	t := target{id: -1, read: true, kind: router.KindSession}
	for i := range stmts {
		rt := stmts[i].Route
		if rt.Err != nil {
			pe := routeError(rt.Err)
			if pe.Position > 0 {
				// Positions count from the start of the whole query string.
				pe.Position += utf8.RuneCountInString(q[:stmts[i].At])
			}
			return target{err: pe}
		}
		if rt.Kind != router.KindSession {
			t.kind = rt.Kind
			t.read = t.read && rt.Plan != nil && rt.Plan.Read
			t.write = t.write || rt.Plan == nil || !rt.Plan.Read
		} else if w := sqltext.FirstWords(stmts[i].Text); w.Is(0, "execute") {
			t.write = true // SQL-level EXECUTE: its statement may write
		}
		t.primary = t.primary || rt.Target == "primary"
		switch {
		case rt.Kind == router.KindSession || rt.Kind == router.KindAny:
			continue
		case rt.Single():
			if t.id >= 0 && t.id != rt.Shards[0] {
				return target{err: &pgError{Code: codeFeatureNotSupported,
					Message: fmt.Sprintf("pgshard: statements of one query string run on different shards (%s and %s)",
						s.db.cfg.Shards[t.id].Name, s.db.cfg.Shards[rt.Shards[0]].Name),
					Hint: "Send the statements as separate queries."}}
			}
			t.id = rt.Shards[0]
		default:
			if len(stmts) > 1 {
				return target{err: &pgError{Code: codeFeatureNotSupported,
					Message: "pgshard: a statement that runs on several shards must be sent as a query of its own: " + abbreviate(stmts[i].Text),
					Hint:    "Send it separately from the other statements."}}
			}
			t.multi = &stmts[i]
			return t
		}
	}
	if t.id < 0 {
		if len(stmts) == 1 && s.mayDeferBegin() {
			w := sqltext.FirstWords(stmts[0].Text)
			switch {
			case (w.Is(0, "begin") || w.Is(0, "start")) && s.txStatus == 'I' && s.deferred == "":
				t.begin = true
				return t
			case s.txStatus != 'I' && (s.sc == nil || s.localTx) &&
				(w.Is(0, "commit") || w.Is(0, "end") || w.Is(0, "rollback") || w.Is(0, "abort")) &&
				!w.Is(1, "prepared") && savepointTag(w) == "":
				t.end = "COMMIT"
				if w.Is(0, "rollback") || w.Is(0, "abort") {
					t.end = "ROLLBACK"
				}
				return t
			}
		}
		t.id = s.currentShard()
		t.read = t.read && t.kind == router.KindAny
	}
	return t
}

// mayDeferBegin says whether pgshard may answer a BEGIN itself and send
// it with the transaction's first statement, to whichever shard that
// statement picks: in transaction pooling when the session holds no
// server connection; in session pooling when nothing is under way on the
// connections it keeps (they stay idle until the transaction picks one).
// Otherwise a transaction would start on the shard the session happens to
// be on and span two shards as soon as its first statement goes elsewhere.
func (s *session) mayDeferBegin() bool {
	switch s.mode {
	case config.PoolTransaction:
		return s.sc == nil
	case config.PoolSession:
		return !s.batchUsed && len(s.txShards) == 0 && (s.sc == nil || !s.owesServer())
	}
	return false
}

// primaryInRecovery refuses a write to a shard whose configured primary
// reports pg_is_in_recovery() = true (demoted, or a replica put in its
// place): pgshard never writes to a node in recovery.
func (s *session) primaryInRecovery(id shard.ShardID) *pgError {
	t := s.db.topo
	if t == nil {
		return nil
	}
	st, ok := t.mon.State(t.primaries[id])
	if !ok || !st.Healthy || !st.RoleMismatch || s.followsPromotion(id) {
		return nil
	}
	return &pgError{Code: "25006",
		Message: fmt.Sprintf("pgshard: the primary of shard %s (%s) is in recovery; writes are refused until the configuration names a new primary", s.db.cfg.Shards[id].Name, st.ID.Name),
		Hint:    "Promote a replica and point the shard's primary at it (docs/operations.md, Failover)."}
}

// readable says whether the next statement may run on a replica: in
// transaction pooling, outside a transaction or in one begun READ ONLY that
// has not reached a server, and not in the middle of a batch already on a
// server.
func (s *session) readable() bool {
	if s.mode != config.PoolTransaction || s.target == targetPrimary || s.db.topo == nil || s.stagesOfWrite {
		return false
	}
	if s.sc != nil && (s.batchUsed || s.txStatus != 'I') {
		return false
	}
	switch {
	case s.txStatus == 'I':
		return true
	case s.deferred != "":
		return strings.Contains(strings.ToLower(s.deferred), "read only")
	}
	return false
}

// attachFor attaches the connection a routed statement runs on: a replica
// for a read when one qualifies, the primary otherwise. write says the
// statement may change data there.
func (s *session) attachFor(ctx context.Context, id shard.ShardID, read, write, primary bool) error {
	if err := s.attachTo(ctx, id, read, write, primary); err != nil {
		return err
	}
	if s.cancelPending.Swap(false) {
		// The client cancelled while the connection was being found.
		return &pgError{Code: codeQueryCanceled, Message: "canceling statement due to user request"}
	}
	return nil
}

func (s *session) attachTo(ctx context.Context, id shard.ShardID, read, write, primary bool) error {
	if read && !primary && s.readable() {
		return s.attachRead(ctx, id)
	}
	if write {
		s.noteWrite(id)
		if pe := s.primaryInRecovery(id); pe != nil {
			return pe
		}
	}
	if err := s.attachShard(ctx, id); err != nil {
		return err
	}
	s.onReplica = s.isReplica(s.sc)
	s.req.replica = s.req.replica || s.onReplica
	return nil
}

// currentShard is where statements that name no data go: the attached
// server's shard, else the default shard.
func (s *session) currentShard() shard.ShardID {
	if s.sc != nil {
		return s.shardOf(s.sc)
	}
	return s.db.router.Schema().Default
}

func routeError(e *router.Error) *pgError {
	return &pgError{Code: e.Code, Message: e.Message, Hint: e.Hint, Position: e.Position}
}

func abbreviate(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 80 {
		return q[:77] + "..."
	}
	return q
}

// attachShard attaches a connection to shard id's primary. Between
// transactions the session moves freely; inside one it cannot leave its
// shard. A deferred BEGIN is sent first.
func (s *session) attachShard(ctx context.Context, id shard.ShardID) error {
	return s.attachNode(ctx, id, nil)
}

// attachNode attaches a connection to node of shard id; nil means the
// shard's primary.
func (s *session) attachNode(ctx context.Context, id shard.ShardID, node *config.Node) error {
	if node == nil && int(id) >= 0 && int(id) < len(s.db.cfg.Shards) {
		node = &s.db.cfg.Shards[id].Primary
	}
	if s.sc != nil && s.localTx {
		// Session pooling: a transaction pgshard answered BEGIN for starts
		// on the connection kept for its first statement's shard.
		if s.shardOf(s.sc) == id && s.sc.pool.node == node {
			return s.startTx(id)
		}
		s.park()
	}
	if s.sc != nil {
		if s.shardOf(s.sc) == id && (s.sc.pool.node == node || s.txStatus != 'I') {
			// Same node; or inside a transaction, which stays where it
			// started (a READ ONLY one on its replica).
			return nil
		}
		switch {
		case s.txStatus == 'I' && s.batchUsed && s.batchWrote:
			// A batch (one implicit transaction up to Sync) that wrote here
			// goes on on another shard. PostgreSQL commits a batch whole or
			// not at all, so it becomes a transaction over several shards,
			// committed with two-phase commit at the client's Sync.
			if err := s.openBatchTx(); err != nil {
				return err
			}
			s.keep()
		case s.txStatus == 'I' && s.batchUsed:
			// A batch that only read here moves: that part is completed
			// where it ran.
			if err := s.syncAway(); err != nil {
				return err
			}
			if s.batchError {
				return errBatchEnded
			}
			if s.sc != nil {
				s.park()
			}
		case s.txStatus == 'T' && s.owesServer() && !s.isReplica(s.sc):
			// A pipelined transaction (JDBC's executeBatch in one, or a
			// batch that became one above) goes on on another shard: what
			// this shard owes is read first, since an error in it ends the
			// batch here.
			if err := s.drainServer(); err != nil {
				return err
			}
			if s.sc == nil || s.batchError {
				return errBatchEnded
			}
			s.keep()
		case s.txStatus == 'I':
			s.park()
		case s.txStatus == 'E':
			return errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
		case s.txStatus == 'T' && s.owesServer():
			return errCrossShard(s, s.shardOf(s.sc), id)
		case s.txStatus == 'T' && s.isReplica(s.sc):
			return errReadOnlyOnReplica
		case s.txStatus == 'T':
			// The transaction spreads to another shard: its connection here
			// stays in the transaction, to be committed with two-phase
			// commit.
			s.keep()
		default:
			return errCrossShard(s, s.shardOf(s.sc), id)
		}
	}
	inTx := s.txStatus == 'T'
	if sc := s.parked[id]; sc != nil && sc.pool.node == node {
		s.mu.Lock()
		delete(s.parked, id)
		s.sc = sc
		s.mu.Unlock()
		if s.txStatus != 'I' && slices.Contains(s.txShards, id) {
			return nil // a participant of this transaction already (failed or not)
		}
		// A connection session pooling kept while a SET ran elsewhere.
		if err := s.applySettings(sc); err != nil {
			sc.broken = true
			s.detach()
			return err
		}
		if !inTx {
			s.txStatus = 'I'
			return nil
		}
		// Kept from before the transaction: the transaction starts on it
		// now, as on a fresh one.
	} else {
		if s.txStatus == 'E' {
			// A failed transaction reaches no new connection: it would
			// run there outside the transaction.
			return errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
		}
		var p *pool
		if node == &s.db.cfg.Shards[id].Primary {
			var err error
			if p, err = s.shardPool(id); err != nil {
				return err
			}
		} else {
			p = s.nodePool(id, node)
		}
		return s.attachFresh(ctx, p, id, s.deferred != "" || inTx)
	}
	if s.deferred == "" && !inTx {
		return nil
	}
	return s.startTx(id)
}

// attachFresh attaches a connection from p and, when start is set, starts
// the open transaction on it. Nothing of the client's has run on that
// connection yet, so one that fails here (a pooled connection whose server
// ended it, a connection reset or left unanswered on the way) is replaced
// once, unseen by the client. A second failure is the statement's error;
// the session goes on, and a transaction that had not reached a server is
// left as it was, failed.
func (s *session) attachFresh(ctx context.Context, p *pool, id shard.ShardID, start bool) error {
	deferred, begin, local, status := s.deferred, s.txBegin, s.localTx, s.txStatus
	var lost []error
	for len(lost) < 2 {
		err := s.attachPool(ctx, p)
		if err == nil && start {
			err = s.startTx(id)
		}
		if err == nil {
			return nil
		}
		// Declared here, not above: errors.As takes its address, which
		// would cost every attach an allocation.
		var pe *pgError
		if errors.As(err, &pe) {
			return err
		}
		// attachPool or startTx dropped the broken connection; put back
		// what starting the transaction had changed.
		s.deferred, s.txBegin, s.localTx, s.txStatus = deferred, begin, local, status
		lost = append(lost, err)
		s.log.Warn("a server connection failed before its first statement", "pool", p.name(), "attempt", len(lost), "err", err)
	}
	return &pgError{Code: codeConnectionFailure,
		Message: fmt.Sprintf("pgshard: two new connections to shard %s node %s failed before the statement could run: %v", p.shard, p.node.Name, lost[1]),
		Hint:    "The statement did not run. Run it again; pgshard opens a new connection."}
}

// startTx starts the open transaction on the attached connection, to
// shard id.
func (s *session) startTx(id shard.ShardID) error {
	if err := s.startTxOn(s.sc); err != nil {
		var pe *pgError
		if errors.As(err, &pe) {
			s.txStatus = 'E'
			return pe
		}
		s.sc.broken = true
		s.detach()
		return err
	}
	s.txStatus = 'T'
	if len(s.txShards) > 0 {
		s.joinTx(id)
	}
	return nil
}

// startTxOn starts the open transaction on sc. A start that replays SETs
// leaves sc's settings to be set again before another use: what the
// transaction's end leaves there depends on its outcome.
func (s *session) startTxOn(sc *serverConn) error {
	script := s.txStart()
	// pgshard answered the SETs sent before the transaction's first
	// statement without a server: their ParameterStatus comes now, with
	// that statement (a shard the transaction spreads to reports only
	// what the client has heard).
	s.reportHidden = true
	err := s.hiddenQuery(sc, script, 1)
	s.reportHidden = false
	if err != nil {
		return err
	}
	if strings.Contains(script, ";") {
		sc.settings = staleSettings
	}
	return nil
}

// staleSettings is a settings fingerprint no client has: the connection
// gets RESET ALL and its next client's settings before it is used.
const staleSettings = "\x00settings changed in a transaction"

// txStart is the script that starts the open transaction on a connection
// joining it: the client's deferred BEGIN, with any SETs sent before the
// transaction reached a server, which from then on starts it on every
// shard it reaches.
func (s *session) txStart() string {
	if s.deferred != "" {
		s.txBegin, s.deferred = s.deferred, ""
	}
	s.localTx = false // from here on a server has it
	begin := cmp.Or(s.txBegin, "BEGIN")
	if len(s.txSets) > 0 {
		return begin + ";\n" + strings.Join(s.txSets, ";\n")
	}
	return begin
}

// keep sets the attached connection aside as a participant of the open
// transaction.
func (s *session) keep() {
	sc := s.sc
	s.joinTx(s.shardOf(sc))
	s.mu.Lock()
	s.sc = nil
	s.mu.Unlock()
	if old := s.parked[s.shardOf(sc)]; old != nil {
		s.releaseParked(old)
	}
	s.setParked(s.shardOf(sc), sc)
}

// releaseParked cleans a session-mode connection set aside and returns it.
func (s *session) releaseParked(sc *serverConn) {
	if !sc.broken {
		if err := s.resetServer(sc); err != nil {
			sc.broken = true
		}
	}
	sc.pool.release(sc)
}

// joinTx records that shard id takes part in the open transaction.
func (s *session) joinTx(id shard.ShardID) {
	if !slices.Contains(s.txShards, id) {
		s.txShards = append(s.txShards, id)
	}
}

// park sets the attached connection aside: in session mode the session
// keeps one connection per shard it used; in transaction mode the
// connection simply goes back to its pool.
func (s *session) park() {
	if s.mode != config.PoolSession {
		s.detach()
		return
	}
	sc := s.sc
	s.mu.Lock()
	s.sc = nil
	s.mu.Unlock()
	s.setParked(s.shardOf(sc), sc)
}

// setParked keeps sc as the session's connection to shard id. Writes to
// parked hold s.mu: the deadlock detector reads it from its own goroutine
// (the session's reads need no lock).
func (s *session) setParked(id shard.ShardID, sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parked == nil {
		s.parked = map[shard.ShardID]*serverConn{}
	}
	s.parked[id] = sc
}

// unpark forgets the session's connection to shard id.
func (s *session) unpark(id shard.ShardID) {
	s.mu.Lock()
	delete(s.parked, id)
	s.mu.Unlock()
}
