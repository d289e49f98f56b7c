package wire

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// session is one client connection after startup and authentication. It is
// the protocol state machine: one goroutine reads a client message, forwards
// or answers it, and relays the server's responses, so every ordering
// question is answered in this file and relay.go.
type session struct {
	srv     *Server
	log     *slog.Logger
	conn    net.Conn
	r       *frameReader
	w       *bufio.Writer
	scratch []byte

	db *database
	// dbSlot holds the database's generation in force; the session moves
	// to it between transactions (generation.go).
	dbSlot *atomic.Pointer[database]
	user   *config.User
	// mode is the session's pool mode: its user's, until session state
	// pins a transaction-pooling session (pinned; pin.go). Read by the
	// session goroutine only; the admin listener reads about.pinned.
	mode   config.PoolMode
	pinned bool
	// pinnedForever: the session took state pgshard cannot check for, so
	// it is never unpinned; mayUnpin: since the last check, it ran a
	// statement that may have let go of its state (pin.go).
	pinnedForever, mayUnpin bool
	key                     backendKey

	// Session settings carried from server connection to server connection
	// in transaction mode (see settings.go).
	settings sessionSettings

	// The attached server connection; nil when none is checked out. mu
	// guards sc, parked and multi against the cancel path and the deadlock
	// detector, which run on other goroutines: their writers hold it, and
	// the session's own reads need not.
	mu sync.Mutex
	sc *serverConn
	// victim is set by the deadlock detector when it cancels one of this
	// session's statements (deadlock.go).
	victim atomic.Pointer[deadlockVictim]
	// failTxHere is the attached connection, inside the client's batch,
	// of a transaction that failed on another shard: failed too at its
	// next ReadyForQuery (failParticipants).
	failTxHere *serverConn
	// rowBudget, while a staged subquery runs (staged.go), is how many
	// more bytes of data rows readMulti keeps; past it the rows are read
	// and dropped, and the shard's result is an error. 0: no bound.
	rowBudget int
	// stagesOfWrite: the staged subqueries running are a write's
	// (router.Staging.Write), which read the primaries: a replica
	// behind them could make the write miss rows one server would
	// write.
	stagesOfWrite bool
	txStatus      byte // of the attached server's last ReadyForQuery; 'I' when none

	// deferred is a BEGIN (and SETs after it) pgshard answered itself, to be
	// sent once the transaction's first routed statement picks its shard.
	deferred string
	// txSavepoints are the open transaction's savepoints, innermost last.
	txSavepoints []txSavepoint
	// localTx: the open transaction exists only in pgshard, which answered
	// its BEGIN (and maybe failed it): no server has it yet, so its
	// COMMIT or ROLLBACK is pgshard's to answer too. Session pooling needs
	// it, where the session may hold idle server connections meanwhile.
	localTx bool
	// txBegin is the BEGIN the open transaction started with (and the SETs
	// sent before it reached a server), sent to each shard it spreads to.
	txBegin string
	// txSets are the SET and RESET statements (LOCAL ones too) and the
	// savepoint statements the open transaction ran on a server after it
	// started, in order: a shard it spreads to later gets them after its
	// BEGIN, so every participant sees the settings the client set and
	// has its savepoints.
	txSets []string
	// txShards lists the shards an open transaction has spread to, when
	// more than one: COMMIT then runs two-phase commit over them.
	txShards []shard.ShardID
	// txNotified lists the shards where the open transaction ran NOTIFY,
	// which PREPARE TRANSACTION refuses: two-phase commit commits the
	// first of them in one phase, as its coordinator.
	txNotified []shard.ShardID
	// parked holds, in session pooling, the connections to shards other
	// than the attached one: a session keeps one per shard it used.
	parked map[shard.ShardID]*serverConn
	// vcursors are the cursors pgshard holds for the client (cursor.go).
	vcursors map[string]*vcursor
	// tentativeCursors: some vcursor is WITH HOLD and its transaction
	// block has not committed yet (cursorTxEnd).
	tentativeCursors bool
	// commitAsked: a COMMIT was sent while tentativeCursors (cursor.go).
	commitAsked bool

	stmts map[string]*statement // client statement names ("" too)
	// sqlStmts are the client's SQL-level prepared statements, where
	// pgshard keeps them (emulateSQLPrepared).
	sqlStmts   map[string]*sqlStatement
	portals    map[string]*vportal // portals whose statement runs on several shards
	multi      []multiConn         // connections of a running multi-shard statement, for cancel
	notices    map[string]struct{} // notices a running multi-shard statement passed on, to pass each once
	portalSets map[string]string   // portals whose statement sets session state (SET, RESET...)
	swallowRFQ bool                // relay: the ReadyForQuery answers pgshard's own Sync

	// Server forms of simple queries (serverform.go).
	form        router.ServerForm
	formRefused *formRefusal // relay: the server refused the running form

	// Replica reads (replicas.go).
	target        string                      // SET pgshard.target: "" (auto) or "primary"
	ryw           bool                        // read-your-writes on
	minLSN        shard.LSN                   // SET pgshard.min_lsn: a floor for every shard
	keyHint       string                      // SET pgshard.shard_key: the key of statements that name none
	txKeyHint     string                      // SET LOCAL pgshard.shard_key: the same, until the transaction ends
	wroteAt       map[shard.ShardID]time.Time // when the session's last write on a shard committed
	pendingWrites map[shard.ShardID]bool      // writes of the open transaction
	onReplica     bool                        // the attached connection serves a read on a replica
	readRetry     bool                        // the running read may be retried elsewhere if it fails first
	retryRead     bool                        // it failed before reaching the client: run it again
	relayed       int                         // server messages relayed to the client by the running statement
	lastNode      *config.Node                // the node the running statement was sent to
	recording     bool                        // an extended read batch on a replica is being recorded
	holding       bool                        // relay holds responses back while the read may be retried
	// holdForm: relay holds responses back while a server form may still be
	// refused and the query run as sent, so a notice the server raised
	// parsing the form is not seen twice (serverform.go).
	holdForm   bool
	held       []heldMsg   // what it holds
	replay     []clientMsg // its client messages, to run it again on the primary
	dbm        *metrics.Database
	batchSets  []string // such statements executed in the current batch
	pending    []pendingResp
	batchOpen  bool // extended-protocol messages since the last Sync
	batchUsed  bool // the batch sent something to the server
	batchError bool // an error ended the batch; skip messages until Sync
	batchWrote bool // the batch sent a write to the attached server
	batchRan   bool // the batch executed a statement (which may have ended a failed transaction)
	// batchTx: the batch's writes reached several shards; its implicit
	// transaction is an explicit one on each, committed at Sync.
	batchTx  bool
	sawError bool // the last relay passed an ErrorResponse
	// lastTag is the last command tag a server sent, or the tag of the
	// last transaction end pgshard answered itself (noteTxEnd).
	lastTag string
	// notes is the session's share of its database's notification hub,
	// once it ran LISTEN in transaction pooling (notify.go); listenTx is
	// what the open transaction block did to its channels (listen.go).
	notes    *listener
	listenTx *listenTx
	// listening: in session pooling, the client ran LISTEN; the server
	// connections' notifications are relayed while it is idle (listen.go).
	listening bool
	// ranDDL: a statement that may change the schema was sent; once the
	// session is out of any transaction the shards' collated columns are
	// read again (refreshTextOrder).
	ranDDL bool
	// unreadable: the server reported a client_encoding or
	// standard_conforming_strings value pgshard cannot route with
	// (paramstatus.go); the session ends before its next message.
	unreadable *unreadableSetting
	// told is each reported parameter's value as the client last heard it
	// (ParameterStatus), so a statement over several shards reports a
	// change once, as one server would.
	told map[string]string
	// reportHidden: the hidden queries running are the client's statement
	// (a SET, COMMIT or ROLLBACK over a transaction's shards), whose
	// ParameterStatus reports the client hears.
	reportHidden bool
	// heard, while a statement the client sent runs on every shard of its
	// transaction (runEverywhere), holds the notices relayed so far, so
	// that each shard's same warning reaches the client once.
	heard []string
	// hearing says that statement is running.
	hearing bool
	// working: the session is handling a client message (not waiting for
	// one). cancelPending: a CancelRequest came meanwhile while no server
	// connection was running anything of it (the session was still
	// acquiring one): the statement it is about to send is cancelled
	// instead (attachFor).
	working, cancelPending atomic.Bool
	// idleSince is when the session began waiting for its client under an
	// idle timeout (armIdle); zero while it is not.
	idleSince time.Time
	// about is what the admin listener reports of the session (clients.go).
	about clientAbout
	// userSlot counts the sessions of its user (users[].max_client_conn).
	userSlot *atomic.Int64
	// endReason is why the session ended, for the disconnection's log line.
	endReason string
	// terminated: the admin listener ended the session (Terminate).
	terminated atomic.Bool
	// req is the request being answered, for the statement metrics
	// (requests.go).
	req request
	// cutByTerminate: the server answered Terminate's cancel; the session
	// ends at the server's ReadyForQuery, the client told 57P01 only.
	cutByTerminate bool
}

// statement is a client's prepared statement. Its server-side twin is named
// by the hash of its text and parameter types, so clients preparing the same
// statement share it on a server connection, and names never collide.
type statement struct {
	query string
	oids  []uint32
	// paramTypes are the parameter types a server infers for the text,
	// learnt when a stage of it takes parameters whose types the client
	// left open (stageparams.go).
	paramTypes []uint32
	// planGen is the router's CatalogGen when plan was made.
	planGen uint64
	server  string // server-side name; "" for the unnamed statement's key
	key     string
	plan    *router.Plan
	// setsConfig: the text calls set_config, which may change a session
	// setting (observeSetConfig).
	setsConfig bool
	// boundSettings are its set_config calls when a value is a parameter:
	// each Bind makes them a statement with constants (bindSetConfig).
	boundSettings []router.ConfigSetting
}

func (s *session) run(ctx context.Context) {
	defer s.end()
	for {
		if s.terminated.Load() {
			s.endTerminated()
			return
		}
		if s.srv.draining.Load() && s.txStatus == 'I' && !s.batchOpen {
			s.sendFatal(fatalf(codeAdminShutdown, "terminating connection: pgshard is shutting down"))
			return
		}
		if s.listenTx != nil && s.txStatus == 'I' && !s.batchOpen {
			// Before the idle wait delivers what came meanwhile.
			s.settleListenTx()
		}
		if pe := s.hubLost(); pe != nil {
			s.sendFatal(pe)
			return
		}
		if s.unreadable != nil {
			s.log.Warn("session ended: the server reports a setting pgshard cannot route with",
				"parameter", s.unreadable.name, "value", s.unreadable.value)
			s.sendFatal(s.unreadable.fatal())
			return
		}
		if s.ranDDL && s.txStatus == 'I' && !s.batchOpen {
			s.afterDDL(ctx)
		}
		// Idle before the answer goes out, as PostgreSQL reports its
		// backend idle before ReadyForQuery: a client that has its answer
		// and asks /clients or SHOW CLIENTS sees the session idle.
		s.about.publish(s.txStatus, s.batchOpen)
		s.working.Store(false)
		if s.r.buffered() == 0 {
			if err := s.w.Flush(); err != nil {
				return
			}
			if s.mayUnpin && s.pinned && !s.pinnedForever && s.txStatus == 'I' && !s.batchOpen {
				// After the answer, while the client reads it.
				s.tryUnpin()
			}
		}
		idle := s.armIdle()
		typ, body, err := s.nextClientMessage()
		// A cancel that came while the session waited for the client was
		// for nothing; one that comes from now on is for this message.
		s.cancelPending.Store(false)
		s.working.Store(true)
		if !idle.deadline.IsZero() && err == nil {
			s.disarmIdle()
		}
		if err != nil {
			if (s.terminated.Load() || s.notes != nil && s.notes.lost.Load() != nil) && errors.Is(err, os.ErrDeadlineExceeded) {
				continue // woken to end the session
			}
			if idle.ended(err) {
				s.endIdle(idle)
				return
			}
			if errors.Is(err, errMessageTooLarge) {
				s.sendFatal(&pgError{Severity: "FATAL", Code: codeProgramLimitExceeded, Message: "pgshard: " + err.Error(),
					Hint: "Raise max_message_size in pgshard's configuration, or send smaller messages."})
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && s.srv.draining.Load() && time.Now().Before(s.srv.hardDeadline()) {
				// Draining woke the session. An open transaction may still
				// finish until the hard deadline; an idle session leaves at
				// the top of the loop.
				_ = s.conn.SetReadDeadline(s.srv.hardDeadline())
				continue
			}
			s.endReason = "client closed the connection"
			if !errors.Is(err, io.EOF) {
				s.endReason = "reading from the client: " + err.Error()
			}
			return
		}
		if s.srv.pausing.Load() && s.txStatus == 'I' && !s.batchOpen && startsWork(typ) && !s.waitWhilePaused(ctx) {
			return
		}
		if err := s.handle(ctx, typ, body); err != nil {
			var pe *pgError
			switch {
			case errors.As(err, &pe) && pe.Severity == "FATAL":
				s.sendFatal(pe)
			case errors.Is(err, errClientGone):
			default:
				s.endUnexpectedly(err)
			}
			return
		}
	}
}

// errClientGone ends a session whose client cannot be written to.
var errClientGone = errors.New("client connection lost")

// endUnexpectedly ends a session on an error that is neither the client's
// going nor one it was already told. Most are a failed write to the client
// (the buffered writer keeps that error, so the flush below fails too);
// anything else, such as a server connection lost where no statement could
// report it, is told to the client as FATAL rather than as a bare close,
// and logged: a session closed without a word is otherwise untraceable.
func (s *session) endUnexpectedly(err error) {
	if s.terminated.Load() {
		// The admin's wake-up cut a read from the client (mid-COPY, say).
		s.endTerminated()
		return
	}
	s.endReason = err.Error()
	pe := &pgError{Severity: "FATAL", Code: codeConnectionFailure,
		Message: "pgshard: the session ended: " + err.Error(),
		Hint:    "Reconnect. A transaction that was open has been rolled back."}
	_ = writeMsg(s.w, &s.scratch, pe.response())
	if s.w.Flush() != nil {
		s.log.Debug("session ended: client connection lost", "err", err)
		return
	}
	s.log.Warn("session ended on an error", "err", err)
}

func (s *session) handle(ctx context.Context, typ byte, body []byte) error {
	s.followReload()
	if s.recording {
		switch typ {
		case 'B', 'D', 'E', 'C', 'H':
			s.recordMsg(typ, body)
		}
	}
	if len(s.vcursors) > 0 && s.txStatus == 'I' && !s.batchOpen && (typ == 'Q' || typ == 'B') {
		s.dropTxCursors() // the transaction that declared them has ended
	}
	if s.tentativeCursors && typ == 'Q' {
		if q, _, ok := cutCString(body); ok {
			s.cursorTxEnd(q)
		}
	}
	switch typ {
	case 'Q', 'P', 'B', 'D', 'E', 'C', 'H':
		s.beginRequest()
	}
	switch typ {
	case 'Q':
		err := s.simpleQuery(ctx, body)
		s.endRequest()
		return err
	case 'P':
		return s.parse(ctx, body)
	case 'B':
		return s.bind(ctx, body)
	case 'D':
		return s.describe(ctx, body)
	case 'E':
		return s.execute(ctx, body)
	case 'C':
		return s.closeMsg(ctx, body)
	case 'H':
		return s.flush()
	case 'S':
		err := s.sync(ctx)
		s.endRequest()
		return err
	case 'X':
		s.endReason = "client sent Terminate"
		return errClientGone
	case 'd', 'c', 'f':
		// Copy messages outside copy mode: Postgres ignores them too (a COPY
		// failed while the client was still sending).
		return nil
	case 'F':
		return s.refuse(errorf(codeFeatureNotSupported, "pgshard does not relay the fastpath function call protocol"))
	default:
		return fatalf(codeProtocolViolation, fmt.Sprintf("invalid frontend message type %q", typ))
	}
}

// shardKey is the pgshard.shard_key in effect, or "".
func (s *session) shardKey() string {
	if s.txKeyHint != "" {
		return s.txKeyHint
	}
	return s.keyHint
}

// attachPool checks a server connection out of p for the session and
// brings the connection's session settings in line with the client's.
func (s *session) attachPool(ctx context.Context, p *pool) error {
	sc, err := p.acquire(ctx)
	if err != nil {
		// A reload moved the database's nodes while the session waited.
		if np := s.poolAfterReload(p); np != nil {
			p = np
			sc, err = p.acquire(ctx)
		}
	}
	if err != nil {
		return err
	}
	if err := s.applySettings(sc); err != nil {
		sc.broken = true
		p.release(sc)
		return err
	}
	s.mu.Lock()
	s.sc = sc
	s.mu.Unlock()
	s.txStatus = 'I'
	return nil
}

// detach returns the server connection to its pool when the session is
// between transactions (transaction mode) or leaving.
func (s *session) detach() {
	sc := s.sc
	if sc == nil {
		return
	}
	s.mu.Lock()
	s.sc = nil
	s.mu.Unlock()
	s.txStatus = 'I'
	sc.pool.release(sc)
}

// maybeDetach releases the server after a transaction in transaction mode.
func (s *session) maybeDetach() {
	if s.mode == config.PoolTransaction && s.txStatus == 'I' && !s.batchOpen {
		s.detach()
		s.onReplica = false
	}
}

// end runs when the client leaves: a server connection still in a
// transaction or mid-batch is rolled back, or closed if that fails, before
// anyone else can get it.
func (s *session) end() {
	if s.srv.conf().LogConnections {
		s.log.Info("client disconnected", "pid", s.key.pid, "remote", clientAddress(s.conn),
			"duration", time.Since(s.about.since).Round(time.Millisecond), "reason", cmp.Or(s.endReason, "client connection lost"))
	}
	s.srv.forget(s)
	s.hubUnlisten("")
	s.srv.clients.Add(-1)
	s.userSlot.Add(-1)
	if sc := s.sc; sc != nil {
		if !sc.broken && (s.txStatus != 'I' || s.batchOpen || s.mode == config.PoolSession) {
			if err := s.resetServer(sc); err != nil {
				sc.broken = true
			}
		}
		s.detach()
	}
	for id, sc := range s.parked {
		if !sc.broken {
			if err := s.resetServer(sc); err != nil {
				sc.broken = true
			}
		}
		s.unpark(id)
		sc.pool.release(sc)
	}
	_ = s.conn.Close()
}

// resetServer brings a server connection back to a clean idle state with
// one hidden round trip: end any transaction, and in session mode drop all
// session state, as PgBouncer's server_reset_query does.
func (s *session) resetServer(sc *serverConn) error {
	q := "ROLLBACK"
	if s.mode == config.PoolSession {
		q = "ROLLBACK; DISCARD ALL"
	}
	rfqs := 1
	if s.batchOpen {
		// An unfinished extended batch: a Sync ends it before the query runs.
		if err := writeFrame(sc.w, 'S', nil); err != nil {
			return err
		}
		rfqs++
	}
	if err := s.hiddenQuery(sc, q, rfqs); err != nil {
		return err
	}
	if s.mode == config.PoolSession {
		sc.prepared.Purge()
		sc.evicted = sc.evicted[:0]
		sc.unnamed = ""
		clear(sc.sqlStmts)
		sc.settings = ""
	}
	return nil
}

// hiddenQuery runs a simple query the client never sees on sc and reads
// responses until the rfqs-th ReadyForQuery. It returns the first server
// error.
func (s *session) hiddenQuery(sc *serverConn, q string, rfqs int) error {
	_ = sc.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer sc.conn.SetDeadline(time.Time{})
	// A simple query drops the server's unnamed prepared statement.
	sc.unnamed = ""
	if err := writeMsg(sc.w, &s.scratch, &pgproto3.Query{String: q}); err != nil {
		return err
	}
	if err := sc.w.Flush(); err != nil {
		return err
	}
	var first *pgError
	for rfqs > 0 {
		typ, body, err := sc.r.next()
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			if first == nil {
				first = serverError(body)
			}
		case 'S':
			if s.reportHidden {
				s.noteParameterStatus(body)
				if s.tell(body) {
					// A lost client shows at the statement's answer.
					_ = writeFrame(s.w, typ, body)
				}
			}
		case 'N':
			if s.hearing && !slices.Contains(s.heard, string(body)) {
				s.heard = append(s.heard, string(body))
				_ = writeFrame(s.w, typ, body)
			}
		case 'Z':
			rfqs--
		}
	}
	if first != nil {
		return first
	}
	return nil
}

// serverError decodes an ErrorResponse body into a pgError.
func serverError(body []byte) *pgError {
	var er pgproto3.ErrorResponse
	_ = er.Decode(body)
	return &pgError{Severity: er.Severity, Code: er.Code, Message: er.Message, Detail: er.Detail, Hint: er.Hint}
}
