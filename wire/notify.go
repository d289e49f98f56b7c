package wire

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/shard"
)

// LISTEN in transaction pooling. A server connection serves one client for
// a transaction only, so a LISTEN run on it would register the next client
// instead. pgshard listens itself: per database, a notification hub keeps
// one connection to each shard's primary, outside the pools,
// that LISTENs on every channel one of its clients listens on, and hands
// each NotificationResponse it reads to those clients' listeners. A NOTIFY
// (or pg_notify) runs on whichever shard its statement goes to, so a client
// hears it from any shard, as in session pooling.
//
// A client's notifications wait in its listener until the client is idle
// outside a transaction, as PostgreSQL delivers them; the session's idle
// wait writes them (listen.go). When a hub's connection fails, its clients
// may have missed notifications, so each is ended at its next idle moment
// with FATAL 08006, as a client whose own server connection dropped: it
// reconnects and LISTENs again, as listeners are written to.

// notifyQueueMax bounds the notifications waiting for one client, in
// bytes: a client that never reads them (busy in a long transaction, or
// not reading its socket) is ended with 54000 rather than let pgshard's
// memory grow.
const notifyQueueMax = 16 << 20

// notifyHub is a database's listening connections and who listens on
// what. Its connections log in as the user whose LISTEN opened them:
// notifications are the database's, whoever listens (LISTEN needs no
// privilege), so every user's clients share them.
type notifyHub struct {
	db *database

	// cmd orders the hub's LISTEN and UNLISTEN rounds; it guards on and
	// the opening of conns.
	cmd sync.Mutex
	on  map[string]bool // channels LISTENed on every connection

	mu    sync.Mutex // guards what follows; never held across a round trip
	conns []*hubConn // one per shard, nil until the first LISTEN
	subs  map[string]map[*listener]struct{}
	// dead: the hub failed or closed; a session finding it so asks its
	// database for a new one.
	dead bool
}

// hubConn is one of a hub's connections. Its reader goroutine owns the
// reading side; commands are written under the hub's cmd lock.
type hubConn struct {
	sc    *serverConn
	shard string
	// acks carries the answer to the command in flight: nil, or the
	// server's error.
	acks chan *pgError
	// done is closed when the reader ends.
	done chan struct{}
}

// notifications returns the database's hub, making one if none is alive.
func (db *database) notifications() *notifyHub {
	db.hubMu.Lock()
	defer db.hubMu.Unlock()
	if db.hub == nil {
		db.hub = &notifyHub{db: db, on: map[string]bool{}, subs: map[string]map[*listener]struct{}{}}
	}
	return db.hub
}

// dropHub forgets h once it is dead, so the next LISTEN makes a new one.
func (db *database) dropHub(h *notifyHub) {
	db.hubMu.Lock()
	defer db.hubMu.Unlock()
	if db.hub == h {
		db.hub = nil
	}
}

// failHub ends the database's hub: a reload moved its nodes, and the
// clients listening through it must LISTEN again on the new ones.
func (db *database) failHub(pe *pgError) {
	db.hubMu.Lock()
	h := db.hub
	db.hubMu.Unlock()
	if h != nil {
		h.fail(pe)
	}
}

// reloadMovedListeners is the error of a listener whose hub a reload
// closed, having moved its database's nodes.
func reloadMovedListeners(db string) *pgError {
	return &pgError{Severity: "FATAL", Code: codeConnectionFailure,
		Message: fmt.Sprintf("pgshard: a configuration reload moved the nodes of database %q, where this session listens for notifications", db),
		Hint:    "Reconnect and LISTEN again, then check for what notifications sent meanwhile would have announced."}
}

// errHubDead asks the caller to take a fresh hub from its database.
var errHubDead = &pgError{Code: codeConnectionFailure, Message: "pgshard: the notification hub closed"}

// subscribe makes l hear channel: the hub's connections LISTEN on it
// first, so a notification committed after subscribe returns reaches l.
// pool gives the pool of each shard's primary, whose role and address the
// hub's connections use.
func (h *notifyHub) subscribe(ctx context.Context, l *listener, channel string, pool func(shard.ShardID) (*pool, error)) *pgError {
	h.cmd.Lock()
	defer h.cmd.Unlock()
	h.mu.Lock()
	dead, conns := h.dead, h.conns
	h.mu.Unlock()
	if dead {
		return errHubDead
	}
	if conns == nil {
		var pe *pgError
		if conns, pe = h.open(ctx, pool); pe != nil {
			return pe
		}
	}
	if !h.on[channel] {
		if pe := h.round(ctx, conns, "LISTEN "+quoteIdent(channel)); pe != nil {
			return pe
		}
		h.on[channel] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dead {
		return errHubDead
	}
	subs := h.subs[channel]
	if subs == nil {
		subs = map[*listener]struct{}{}
		h.subs[channel] = subs
	}
	subs[l] = struct{}{}
	return nil
}

// unsubscribe stops l hearing channels. A channel nobody hears any more is
// UNLISTENed, and a hub nobody listens through closes.
func (h *notifyHub) unsubscribe(l *listener, channels []string) {
	h.cmd.Lock()
	defer h.cmd.Unlock()
	h.mu.Lock()
	var unheard []string
	for _, ch := range channels {
		if subs := h.subs[ch]; subs != nil {
			delete(subs, l)
			if len(subs) == 0 {
				delete(h.subs, ch)
				unheard = append(unheard, ch)
			}
		}
	}
	dead, conns, idle := h.dead, h.conns, len(h.subs) == 0
	h.mu.Unlock()
	if dead || conns == nil {
		return
	}
	if idle {
		h.close()
		return
	}
	for _, ch := range unheard {
		if !h.on[ch] {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), hubRoundTimeout)
		pe := h.round(ctx, conns, "UNLISTEN "+quoteIdent(ch))
		cancel()
		if pe != nil {
			return // round failed the hub
		}
		delete(h.on, ch)
	}
}

// hubRoundTimeout bounds one LISTEN or UNLISTEN on the hub's connections;
// a server that does not answer within it is taken for lost.
const hubRoundTimeout = 10 * time.Second

// open connects to every shard's primary; h.cmd is held.
func (h *notifyHub) open(ctx context.Context, pool func(shard.ShardID) (*pool, error)) ([]*hubConn, *pgError) {
	var conns []*hubConn
	for i := range h.db.cfg.Shards {
		p, err := pool(shard.ShardID(i))
		var sc *serverConn
		if err == nil {
			sc, err = p.dialOutside(ctx)
		}
		if err != nil {
			for _, hc := range conns {
				hc.sc.close()
			}
			return nil, asPgError(err, "opening the connection that listens for notifications on shard "+h.db.cfg.Shards[i].Name)
		}
		conns = append(conns, &hubConn{sc: sc, shard: h.db.cfg.Shards[i].Name, acks: make(chan *pgError, 1), done: make(chan struct{})})
	}
	h.mu.Lock()
	h.conns = conns
	h.mu.Unlock()
	for _, hc := range conns {
		go h.read(hc)
	}
	// Named for pg_stat_activity. A listening connection is idle between
	// rounds: a server's idle_session_timeout (PostgreSQL 14 on) must not
	// end it, and its listeners with it; older servers refuse the
	// setting, harmlessly.
	if pe := h.round(ctx, conns, "SET application_name = 'pgshard listener'; SET idle_session_timeout = 0"); pe != nil && pe.Code == codeConnectionFailure {
		return nil, pe // lost: the hub failed
	}
	return conns, nil
}

// round runs q on every connection and waits for each answer; h.cmd is
// held. A connection that fails or stays silent fails the hub.
func (h *notifyHub) round(ctx context.Context, conns []*hubConn, q string) *pgError {
	var scratch []byte
	for _, hc := range conns {
		// A failed write shows as the reader's end (done) below.
		if writeMsg(hc.sc.w, &scratch, &pgproto3.Query{String: q}) == nil {
			_ = hc.sc.w.Flush()
		}
	}
	var first *pgError
	timer := time.NewTimer(hubRoundTimeout)
	defer timer.Stop()
	for _, hc := range conns {
		select {
		case pe := <-hc.acks:
			if pe != nil && first == nil {
				first = pe
			}
		case <-hc.done:
			return h.lost(hc, fmt.Errorf("connection closed"))
		case <-timer.C:
			return h.lost(hc, fmt.Errorf("no answer to %s within %s", q, hubRoundTimeout))
		case <-ctx.Done():
			return h.lost(hc, ctx.Err())
		}
	}
	return first
}

// lost fails the hub for hc's failure and returns the error its
// listeners get.
func (h *notifyHub) lost(hc *hubConn, err error) *pgError {
	pe := &pgError{Severity: "FATAL", Code: codeConnectionFailure,
		Message: fmt.Sprintf("pgshard: lost the connection that listens for notifications on shard %s: %s; notifications may have been missed", hc.shard, errorText(err)),
		Hint:    "Reconnect and LISTEN again, then check for what the missed notifications would have announced."}
	h.fail(pe)
	return &pgError{Code: pe.Code, Message: pe.Message, Hint: pe.Hint}
}

// read is hc's reader: notifications go to their listeners, command
// answers to the command in flight. It ends when the connection does.
func (h *notifyHub) read(hc *hubConn) {
	defer close(hc.done)
	var cmdErr *pgError
	for {
		typ, body, err := hc.sc.r.next()
		if err != nil {
			h.mu.Lock()
			dead := h.dead
			h.mu.Unlock()
			if !dead {
				h.lost(hc, err)
			}
			return
		}
		switch typ {
		case 'A':
			h.dispatch(body)
		case 'E':
			cmdErr = serverError(body)
		case 'Z':
			select {
			case hc.acks <- cmdErr:
			default: // nobody waits: a round that gave up failed the hub
			}
			cmdErr = nil
		}
	}
}

// dispatch queues a NotificationResponse for every listener of its
// channel, unchanged: the process ID is the notifying server backend's.
func (h *notifyHub) dispatch(body []byte) {
	if len(body) < 5 {
		return
	}
	channel, _, ok := cutCString(body[4:])
	if !ok {
		return
	}
	frame := make([]byte, 5+len(body))
	frame[0] = 'A'
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)+4))
	copy(frame[5:], body)
	h.db.dbm.Notified()
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.subs[string(channel)] {
		l.push(string(channel), frame)
	}
}

// fail ends the hub on an error: its listeners' sessions end with pe.
func (h *notifyHub) fail(pe *pgError) {
	h.mu.Lock()
	if h.dead {
		h.mu.Unlock()
		return
	}
	h.dead = true
	var ls []*listener
	seen := map[*listener]bool{}
	for _, subs := range h.subs {
		for l := range subs {
			if !seen[l] {
				seen[l] = true
				ls = append(ls, l)
			}
		}
	}
	h.subs = nil
	conns := h.conns
	h.mu.Unlock()
	h.db.dropHub(h)
	for _, hc := range conns {
		// Not sc.close: a round may be writing; closing the socket ends
		// both the write and the reader.
		_ = hc.sc.conn.Close()
	}
	for _, l := range ls {
		l.fail(pe)
	}
}

// close ends a hub nobody listens through; h.cmd is held.
func (h *notifyHub) close() {
	h.mu.Lock()
	h.dead = true
	conns := h.conns
	h.mu.Unlock()
	h.db.dropHub(h)
	for _, hc := range conns {
		hc.sc.close()
		<-hc.done
	}
}

// listener is a session's share of a hub: the channels it hears and the
// notifications waiting for its client.
type listener struct {
	hub *notifyHub
	// channels the session hears; the session goroutine's own.
	channels map[string]bool

	mu    sync.Mutex
	queue []note
	size  int
	// wake has a value when the queue has something new.
	wake chan struct{}
	// lost is why the session must end, once set; lostCh is closed then.
	lost     atomic.Pointer[pgError]
	lostCh   chan struct{}
	lostOnce sync.Once
}

// note is a notification waiting for the client: its channel, and its
// whole frame.
type note struct {
	channel string
	frame   []byte
}

func newListener(h *notifyHub) *listener {
	return &listener{hub: h, channels: map[string]bool{}, wake: make(chan struct{}, 1), lostCh: make(chan struct{})}
}

// push queues a notification; the hub's lock is held.
func (l *listener) push(channel string, frame []byte) {
	l.mu.Lock()
	if l.size+len(frame) > notifyQueueMax {
		l.mu.Unlock()
		l.fail(&pgError{Severity: "FATAL", Code: codeProgramLimitExceeded,
			Message: fmt.Sprintf("pgshard: more than %d MiB of notifications waiting for this client", notifyQueueMax>>20),
			Hint:    "The client did not read its notifications (a long transaction delays them until it ends): reconnect and LISTEN again."})
		return
	}
	l.queue = append(l.queue, note{channel: channel, frame: frame})
	l.size += len(frame)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// take empties the queue into one buffer of frames; nil when it was
// empty.
func (l *listener) take() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return nil
	}
	out := make([]byte, 0, l.size)
	for _, n := range l.queue {
		out = append(out, n.frame...)
	}
	l.queue, l.size = nil, 0
	return out
}

// drop forgets the waiting notifications of channel: the client stopped
// listening on it, and PostgreSQL delivers only what a session listens on
// at the time.
func (l *listener) drop(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.queue[:0]
	for _, n := range l.queue {
		if n.channel == channel {
			l.size -= len(n.frame)
			continue
		}
		kept = append(kept, n)
	}
	clear(l.queue[len(kept):])
	l.queue = kept
}

// fail sets why the session must end, once. It counts the loss before
// the session can see it, so that whoever sees the session end sees it
// counted.
func (l *listener) fail(pe *pgError) {
	l.lostOnce.Do(func() {
		l.hub.db.dbm.ListenerLost()
		l.lost.Store(pe)
		close(l.lostCh)
	})
}
