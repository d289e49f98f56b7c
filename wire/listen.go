package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// LISTEN in session pooling. LISTEN and UNLISTEN run on every shard, on
// the connections the session keeps there, and a NOTIFY runs where its
// session is (inside a transaction, on the transaction's shard, committed
// with it), so a listener hears a notification sent on any shard. A client
// that listens may then sit idle, waiting (pgx's WaitForNotification,
// psycopg's notifies(), pgjdbc's getNotifications(timeout)), where a server
// would send each NotificationResponse the moment it arrives. So while
// such a session waits for its client's next message, watchers relay what
// its server connections send unasked: notifications, notices,
// ParameterStatus. In transaction pooling pgshard listens for the
// session through the database's notification hub (notify.go), and NOTIFY
// works as any statement.

// trackListen notes a LISTEN or UNLISTEN * that succeeded.
func (s *session) trackListen(stmt string) {
	words := sqltext.FirstWords(stmt)
	switch {
	case words.Is(0, "listen"):
		s.listening = s.mode == config.PoolSession
		if s.listening {
			s.takeNotifications()
		}
	case words.Is(0, "unlisten") && words.Len() == 1 && strings.Contains(stmt, "*"):
		s.listening = false
	case words.Is(0, "discard") && words.Is(1, "all"):
		s.listening = false
	}
}

// takeNotifications has the session's server connections hand it every
// notification they receive, whatever code reads their answers, to relay
// to the client (PostgreSQL sends a busy listener's notifications at the
// end of its transaction). Conns the session takes later have not
// listened. A connection drops the hook when it goes back to its pool.
func (s *session) takeNotifications() {
	if s.sc != nil {
		s.hookNotifications(s.sc)
	}
	for _, sc := range s.parked {
		s.hookNotifications(sc)
	}
}

func (s *session) hookNotifications(sc *serverConn) {
	sc.r.notify = func(body []byte) {
		ownNotification(sc, s.key.pid, body)
		// A failed write stays in the writer: the next flush reports the
		// client gone.
		_ = writeFrame(s.w, 'A', body)
	}
}

// ownNotification gives a notification that sc's own backend sent (the
// session's NOTIFY) the process ID pgshard gave the client, so that the
// client recognises its own notifications as with PostgreSQL
// (notification.pid == its backend PID).
func ownNotification(sc *serverConn, pid uint32, body []byte) {
	if len(body) >= 4 && binary.BigEndian.Uint32(body) == sc.pid {
		binary.BigEndian.PutUint32(body, pid)
	}
}

// nextClientMessage reads the client's next message, relaying the
// notifications that come while it waits: those of the server connections
// if the session listens on them (session pooling), those of its hub
// listener outside a transaction (transaction pooling).
func (s *session) nextClientMessage() (byte, []byte, error) {
	hub := s.notes != nil && s.txStatus == 'I'
	if !s.listening && !hub || s.r.buffered() > 0 || s.batchOpen {
		// Mid-batch (a Flush, say) a server may still owe answers, which
		// are the batch's to read.
		return s.r.next()
	}
	var mu sync.Mutex // one message at a time on the client connection
	var stops []func()
	if s.listening {
		var conns []*serverConn
		if s.sc != nil {
			conns = append(conns, s.sc)
		}
		for _, sc := range s.parked {
			conns = append(conns, sc)
		}
		stops = append(stops, s.watchNotifications(conns, &mu))
	}
	if hub {
		stops = append(stops, s.watchHub(s.notes, &mu))
	}
	typ, body, err := s.r.next()
	for _, stop := range stops {
		stop()
	}
	return typ, body, err
}

// watchNotifications relays the unasked messages of conns to the client
// until the returned stop is called, which waits for the watchers to end.
// The session goroutine does not touch conns or the client's write buffer
// meanwhile: watchers write straight to the client connection (one whole
// message at a time, under mu), which the session only reads from while it
// waits.
func (s *session) watchNotifications(conns []*serverConn, mu *sync.Mutex) (stop func()) {
	var wg sync.WaitGroup
	failed := make([]error, len(conns))
	hooks := make([]func([]byte), len(conns))
	for i, sc := range conns {
		if sc.broken {
			continue
		}
		// The watcher relays notifications itself, straight to the client.
		hooks[i], sc.r.notify = sc.r.notify, nil
		wg.Go(func() {
			var frame []byte
			for {
				typ, body, err := sc.r.next()
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						failed[i] = err
					}
					return
				}
				if !asyncMsg(typ) {
					failed[i] = fmt.Errorf("unexpected message %q from an idle server connection", typ)
					return
				}
				if typ == 'A' {
					ownNotification(sc, s.key.pid, body)
				}
				frame = append(frame[:0], typ, 0, 0, 0, 0)
				binary.BigEndian.PutUint32(frame[1:], uint32(len(body)+4))
				frame = append(frame, body...)
				mu.Lock()
				_, err = s.conn.Write(frame)
				mu.Unlock()
				if err != nil {
					return // the client is gone: the session's read says so
				}
			}
		})
	}
	return func() {
		for _, sc := range conns {
			_ = sc.conn.SetReadDeadline(time.Now())
		}
		wg.Wait()
		for i, sc := range conns {
			_ = sc.conn.SetReadDeadline(time.Time{})
			if hooks[i] != nil {
				sc.r.notify = hooks[i]
			}
			if failed[i] != nil {
				// Its next statement fails and is reported as a lost server.
				sc.broken = true
				s.log.Debug("a listening server connection failed while the client was idle", "shard", sc.pool.shard, "err", failed[i])
			}
		}
	}
}

// watchHub writes the notifications of the session's hub listener to the
// client as they come, until stop; when the hub fails it wakes the
// session's read, whose loop then ends the session.
func (s *session) watchHub(l *listener, mu *sync.Mutex) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if buf := l.take(); buf != nil {
				mu.Lock()
				_, err := s.conn.Write(buf)
				mu.Unlock()
				if err != nil {
					return // the client is gone: the session's read says so
				}
			}
			select {
			case <-l.wake:
			case <-l.lostCh:
				_ = s.conn.SetReadDeadline(time.Now())
				return
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// listenCommand says whether p is a LISTEN or UNLISTEN.
func listenCommand(p *router.Plan) bool {
	return p != nil && (p.Command == "LISTEN" || p.Command == "UNLISTEN")
}

// hubListens says whether pgshard answers a LISTEN or UNLISTEN itself,
// through the hub: in transaction pooling, and in a session pinned after
// it listened so.
func (s *session) hubListens(p *router.Plan) bool {
	return listenCommand(p) && (s.mode == config.PoolTransaction || s.notes != nil)
}

// allHubListens says whether every statement of a query is a LISTEN or
// UNLISTEN pgshard answers through the hub.
func (s *session) allHubListens(routed []router.Statement) bool {
	for i := range routed {
		if !s.hubListens(routed[i].Route.Plan) {
			return false
		}
	}
	return len(routed) > 0
}

// hubStatements answers a query of LISTENs and UNLISTENs (LISTEN a;
// LISTEN b) through the hub, as one implicit transaction outside a
// transaction block: a failure undoes what the query's statements did.
func (s *session) hubStatements(ctx context.Context, routed []router.Statement) error {
	implicit := s.txStatus == 'I' && len(routed) > 1
	if implicit {
		s.txStatus = 'T' // the statements' ops wait for the query's end
	}
	var pe *pgError
	for i := range routed {
		var tag string
		if tag, pe = s.hubStatement(ctx, routed[i].Route.Plan); pe != nil {
			break
		}
		if err := writeMsg(s.w, &s.scratch, &pgproto3.CommandComplete{CommandTag: []byte(tag)}); err != nil {
			return errClientGone
		}
	}
	if implicit {
		s.txStatus = 'I'
		if s.listenTx != nil {
			s.listenTx.outcome = "COMMIT"
			if pe != nil {
				s.listenTx.outcome = "ROLLBACK"
			}
			s.settleListenTx()
		}
	}
	if pe != nil {
		return s.refuse(pe)
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// listeningChannelsQuery says whether q asks for the session's channels
// in one of the forms clients use (SELECT pg_listening_channels(), SELECT
// * FROM pg_listening_channels(), schema-qualified or not), which pgshard
// answers itself for a session it listens for: the server connection's
// answer would be about the connection, not the client (Keycloak checks
// for a pooler this way).
func (s *session) listeningChannelsQuery(q string) bool {
	if s.mode != config.PoolTransaction && s.notes == nil {
		return false
	}
	if sqltext.IndexFold(q, "pg_listening_channels") < 0 {
		return false // the common case, without a copy
	}
	compact := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, q)
	compact = strings.TrimRight(compact, ";")
	compact = strings.Replace(compact, "pg_catalog.", "", 1)
	return compact == "selectpg_listening_channels()" || compact == "select*frompg_listening_channels()"
}

// listeningChannels is the answer to listeningChannelsQuery: the channels
// pgshard listens on for the session, in format (0 text, 1 binary: the
// same bytes for text).
func (s *session) listeningChannels(format int16) answer {
	a := answer{desc: &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{
		Name: []byte("pg_listening_channels"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1, Format: format}}}}
	if s.notes != nil {
		for _, ch := range slices.Sorted(maps.Keys(s.notes.channels)) {
			a.rows = append(a.rows, merge.Row{[]byte(ch)})
		}
	}
	a.tag = fmt.Sprintf("SELECT %d", len(a.rows))
	return a
}

// listenTx is what a transaction block did to the session's channels,
// settled when it ends: kept if it commits, undone if not. A LISTEN
// registers at once (so its errors are the statement's), an UNLISTEN
// waits for the commit.
type listenTx struct {
	before map[string]bool
	ops    []listenOp
	// outcome is the tag of the last transaction end seen: COMMIT or
	// ROLLBACK (noteListenOutcome).
	outcome string
}

type listenOp struct {
	listen  bool
	channel string // "" for UNLISTEN *
}

// hubStatement runs a LISTEN or UNLISTEN through the hub and returns its
// command tag.
func (s *session) hubStatement(ctx context.Context, p *router.Plan) (string, *pgError) {
	if s.txStatus == 'E' {
		return "", errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	if s.txStatus == 'T' && s.listenTx == nil {
		s.listenTx = &listenTx{before: map[string]bool{}}
		if s.notes != nil {
			s.listenTx.before = maps.Clone(s.notes.channels)
		}
	}
	op := listenOp{listen: p.Command == "LISTEN", channel: p.Channel}
	if op.listen {
		if pe := s.hubListen(ctx, op.channel); pe != nil {
			return "", pe
		}
	} else if s.listenTx == nil {
		s.hubUnlisten(op.channel)
	}
	if s.listenTx != nil {
		s.listenTx.ops = append(s.listenTx.ops, op)
	}
	return p.Command, nil
}

// hubListen subscribes the session to channel.
func (s *session) hubListen(ctx context.Context, channel string) *pgError {
	if s.db.replaced.Load() {
		// In a transaction begun before a reload moved the nodes.
		pe := reloadMovedListeners(s.db.cfg.Name)
		return &pgError{Code: pe.Code, Message: pe.Message, Hint: "Run the transaction again: it will listen on the new nodes."}
	}
	for range 3 {
		l := s.notes
		if l == nil || len(l.channels) == 0 && (l.hub.db != s.db || l.lost.Load() != nil) {
			// A fresh listener, on the hub of the session's generation.
			l = newListener(s.db.notifications())
			s.notes = l
		}
		if l.channels[channel] {
			return nil
		}
		pe := l.hub.subscribe(ctx, l, channel, s.shardPool)
		switch {
		case pe == errHubDead && len(l.channels) == 0:
			s.notes = nil // and again, on a new hub
			continue
		case pe == errHubDead:
			if lost := l.lost.Load(); lost != nil {
				return &pgError{Code: lost.Code, Message: lost.Message, Hint: lost.Hint}
			}
			return pe
		case pe != nil:
			return pe
		}
		if len(l.channels) == 0 {
			s.dbm.Listening(1)
		}
		l.channels[channel] = true
		s.about.listening.Store(int32(len(l.channels)))
		return nil
	}
	return errHubDead
}

// hubUnlisten unsubscribes the session from channel, or from every channel
// for "", and drops what waits for the client on them.
func (s *session) hubUnlisten(channel string) {
	l := s.notes
	if l == nil {
		return
	}
	var gone []string
	for ch := range l.channels {
		if channel == "" || ch == channel {
			gone = append(gone, ch)
		}
	}
	s.hubDrop(gone)
}

// hubDrop unsubscribes the session from channels.
func (s *session) hubDrop(channels []string) {
	l := s.notes
	if l == nil || len(channels) == 0 {
		return
	}
	had := len(l.channels)
	for _, ch := range channels {
		delete(l.channels, ch)
		l.drop(ch)
	}
	if had > 0 && len(l.channels) == 0 {
		s.dbm.Listening(-1)
	}
	s.about.listening.Store(int32(len(l.channels)))
	l.hub.unsubscribe(l, channels)
}

// noteListenOutcome records how the transaction holding LISTENs or
// UNLISTENs ended, from a command tag.
func (s *session) noteListenOutcome(tag string) {
	if tag == "COMMIT" || tag == "ROLLBACK" {
		s.listenTx.outcome = tag
	}
}

// rollbackListensTo undoes the open transaction's LISTENs and UNLISTENs
// after its first n, as ROLLBACK TO SAVEPOINT does: the UNLISTENs were
// only recorded, the LISTENs are dropped unless the session heard the
// channel before or through an earlier LISTEN.
func (s *session) rollbackListensTo(n int) {
	tx := s.listenTx
	if tx == nil || n >= len(tx.ops) || s.notes == nil {
		return
	}
	tx.ops = tx.ops[:n]
	wanted := maps.Clone(tx.before)
	for _, op := range tx.ops {
		if op.listen {
			wanted[op.channel] = true
		}
	}
	var gone []string
	for ch := range s.notes.channels {
		if !wanted[ch] {
			gone = append(gone, ch)
		}
	}
	s.hubDrop(gone)
}

// settleListenTx, once the transaction block has ended, makes the
// session's channels what it left: its LISTENs and UNLISTENs applied in
// order if it committed, none of them if not.
func (s *session) settleListenTx() {
	tx := s.listenTx
	s.listenTx = nil
	if s.notes == nil {
		return
	}
	final := tx.before
	if tx.outcome == "COMMIT" {
		for _, op := range tx.ops {
			switch {
			case op.listen:
				final[op.channel] = true
			case op.channel == "":
				clear(final)
			default:
				delete(final, op.channel)
			}
		}
	}
	var gone []string
	for ch := range s.notes.channels {
		if !final[ch] {
			gone = append(gone, ch)
		}
	}
	s.hubDrop(gone)
}

// hubLost is, once the session's hub failed, the error its session ends
// with, at its next idle moment outside a transaction.
func (s *session) hubLost() *pgError {
	if s.notes == nil || s.txStatus != 'I' || s.batchOpen {
		return nil
	}
	if pe := s.notes.lost.Load(); pe != nil {
		return &pgError{Severity: "FATAL", Code: pe.Code, Message: pe.Message, Hint: pe.Hint}
	}
	return nil
}
