package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pgshard/pgshard/internal/config"
)

// poolKey names a pool: one per (database, user, node). passthrough: the
// user is a role logged in by passthrough_auth, whose pools log in as the
// role with its own password.
type poolKey struct {
	db, user, node string
	passthrough    bool
}

// pool holds server connections to one node for one (database, user).
// Checkout is LIFO among idle connections (warm caches, idle ones age out)
// and FIFO among waiting clients.
type pool struct {
	key   poolKey
	shard string
	node  *config.Node
	addr  string
	// serverDB is the database on the node; dsn how to log in to it
	// (p.mu: a passthrough role's password may change).
	serverDB string
	dsn      string

	mu sync.Mutex
	// cfg and tcp are the settings in force; a reload may change them
	// (reconfigure).
	cfg     config.Pool
	tcp     config.TCP
	idle    []*serverConn
	total   int // open plus being opened
	waiters []chan grant
	// waitingSince is when each client in waiters began to wait, until
	// it stops waiting (endWaitLocked): how long the longest has waited.
	waitingSince map[chan grant]time.Time
	closed       bool
	// retired: a reload replaced the generation of the database this pool
	// belongs to (owner); closed is set too. retiredWhy, when set, is
	// another reason, told to the sessions that still use the pool.
	retired    bool
	retiredWhy string
	owner      *database
	params     map[string]string // ParameterStatus of the last opened connection
	// textOrder is the shard's, learnt by the first connection opened.
	textOrder *textOrder
	// budgets bound the connections of the user's pools to this server
	// and of all users' pools of the database to this node (budget.go);
	// none for a retired pool, which opens none.
	budgets budgets
	log     *slog.Logger

	stats poolStats
}

// grant answers a waiter: a connection, or permission to open one (a slot
// already counted in total).
type grant struct{ sc *serverConn }

type poolStats struct {
	waits, timeouts, connects, connectErrors, reserveOpens, budgetWaits int64
	// waited is the time clients spent waiting, over all waits ended.
	waited time.Duration
}

func newPool(key poolKey, shard string, node *config.Node, user string, password config.Secret, dbname string, cfg config.Pool, tcp config.TCP) *pool {
	addr := net.JoinHostPort(node.Host, strconv.Itoa(node.Port))
	dsn := nodeDSN(node, user, password, dbname)
	return &pool{key: key, shard: shard, node: node, addr: addr, serverDB: dbname, dsn: dsn, cfg: cfg, tcp: tcp}
}

// setCredentials makes the pool's next connections log in as user with
// password.
func (p *pool) setCredentials(user string, password config.Secret) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dsn = nodeDSN(p.node, user, password, p.serverDB)
}

// connString is how the pool's next connection logs in.
func (p *pool) connString() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dsn
}

// nodeDSN is the libpq connection string for node; the pools and the lag
// monitor connect the same way.
func nodeDSN(node *config.Node, user string, password config.Secret, dbname string) string {
	return node.DSN(user, password, dbname)
}

// busy is the number of connections checked out now.
func (p *pool) busy() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total - len(p.idle)
}

// name is how errors and metrics name the pool; never includes secrets.
func (p *pool) name() string {
	return fmt.Sprintf("%s/%s@%s/%s", p.key.db, p.key.user, p.shard, p.node.Name)
}

// acquire returns a server connection, opening one if the pool has room, or
// waits up to the queue timeout for one to be released.
func (p *pool) acquire(ctx context.Context) (*serverConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, p.closedError()
	}
	if sc := p.takeIdleLocked(); sc != nil {
		p.mu.Unlock()
		return sc, nil
	}
	size, queueTimeout := p.cfg.Size, p.cfg.QueueTimeout
	reserveSize, reserveTimeout := p.cfg.ReserveSize, p.cfg.ReserveTimeout
	// The wait for a slot of the pool and the one for a unit of the
	// database's budget share one queue_timeout.
	deadline := time.Now().Add(queueTimeout)
	if p.total < size {
		p.total++
		p.mu.Unlock()
		return p.open(ctx, deadline)
	}
	ch := make(chan grant, 1)
	p.waiters = append(p.waiters, ch)
	p.stats.waits++
	if p.waitingSince == nil {
		p.waitingSince = map[chan grant]time.Time{}
	}
	p.waitingSince[ch] = time.Now()
	p.mu.Unlock()

	timer := time.NewTimer(queueTimeout)
	defer timer.Stop()
	// After reserve_timeout the client may open one of the reserve
	// connections instead, if one is left.
	var reserve <-chan time.Time
	if reserveSize > 0 && reserveTimeout < queueTimeout {
		rt := time.NewTimer(reserveTimeout)
		defer rt.Stop()
		reserve = rt.C
	}
	for waiting := true; waiting; {
		select {
		case g, ok := <-ch:
			p.mu.Lock()
			p.endWaitLocked(ch)
			p.mu.Unlock()
			if !ok {
				return nil, p.closedError()
			}
			return p.take(ctx, g, deadline)
		case <-reserve:
			reserve = nil
			p.mu.Lock()
			// No reserve left, or a grant already in the channel: wait on.
			if !p.closed && p.total < p.cfg.Size+p.cfg.ReserveSize && p.leaveQueueLocked(ch) {
				p.endWaitLocked(ch)
				p.total++
				p.stats.reserveOpens++
				p.mu.Unlock()
				return p.open(ctx, deadline)
			}
			p.mu.Unlock()
		case <-timer.C:
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}
	p.mu.Lock()
	p.leaveQueueLocked(ch)
	p.endWaitLocked(ch)
	p.stats.timeouts++
	p.mu.Unlock()
	// A grant may have arrived between the timer and the lock: pass it on.
	select {
	case g, ok := <-ch:
		if !ok {
			break
		}
		if g.sc != nil {
			p.release(g.sc)
		} else {
			p.giveBackSlot()
		}
	default:
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, &pgError{
		Code:    codeTooManyConnections,
		Message: fmt.Sprintf("pgshard: no server connection in pool %s within queue_timeout %s (all %d in use)", p.name(), queueTimeout, size),
		Hint:    "Raise pool.size or pool.queue_timeout, or shorten the transactions holding connections.",
	}
}

// endWaitLocked counts the wait of ch's client, which has stopped
// waiting. The caller holds p.mu.
func (p *pool) endWaitLocked(ch chan grant) {
	if since, ok := p.waitingSince[ch]; ok {
		p.stats.waited += time.Since(since)
		delete(p.waitingSince, ch)
	}
}

// longestWaitLocked is how long the client waiting longest has waited so
// far; 0 when none waits. The caller holds p.mu.
func (p *pool) longestWaitLocked(now time.Time) time.Duration {
	var longest time.Duration
	for _, since := range p.waitingSince {
		longest = max(longest, now.Sub(since))
	}
	return longest
}

// leaveQueueLocked takes ch out of the waiters, and says whether it was
// still there (no grant sent to it). The caller holds p.mu.
func (p *pool) leaveQueueLocked(ch chan grant) bool {
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

func (p *pool) take(ctx context.Context, g grant, deadline time.Time) (*serverConn, error) {
	if g.sc != nil {
		return g.sc, nil
	}
	return p.open(ctx, deadline)
}

// open dials a connection for a slot already counted in total, once the
// database's budget for the node has room, waiting for it until deadline
// (a zero deadline: not at all).
func (p *pool) open(ctx context.Context, deadline time.Time) (*serverConn, error) {
	if len(p.budgets) > 0 {
		ok, queued, short := p.budgets.take(ctx, deadline)
		if queued {
			p.mu.Lock()
			p.stats.budgetWaits++
			if !ok && ctx.Err() == nil {
				p.stats.timeouts++
			}
			p.mu.Unlock()
		}
		if !ok {
			p.giveBackSlot()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, short.exhausted(p, p.settings().QueueTimeout)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.settings().ConnectTimeout)
	defer cancel()
	sc, err := dialServer(ctx, p)
	p.mu.Lock()
	p.stats.connects++
	if err == nil {
		p.params = sc.params
	} else {
		p.stats.connectErrors++
	}
	p.mu.Unlock()
	if err != nil {
		p.budgets.give()
		p.giveBackSlot()
		return nil, &pgError{
			Code:    codeCannotConnect,
			Message: fmt.Sprintf("pgshard: cannot connect to shard %s node %s (%s): %s", p.shard, p.node.Name, p.addr, errorText(err)),
			Hint:    "Check that the server is running and reachable; the session stays open and the next statement retries.",
		}
	}
	sc.budgets = p.budgets
	return sc, nil
}

// dialOutside opens a connection of the pool's node that is not one of the
// pool's: for pgshard's own one-time work, which must not wait behind
// clients for a slot. The caller closes it.
func (p *pool) dialOutside(ctx context.Context) (*serverConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.settings().ConnectTimeout)
	defer cancel()
	sc, err := dialServer(ctx, p)
	if err != nil {
		return nil, &pgError{Code: codeCannotConnect,
			Message: fmt.Sprintf("pgshard: cannot connect to shard %s node %s (%s): %s", p.shard, p.node.Name, p.addr, errorText(err))}
	}
	return sc, nil
}

// tryAcquire checks out an idle connection, or returns nil when none is
// idle: it neither opens one nor waits.
func (p *pool) tryAcquire() *serverConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	return p.takeIdleLocked()
}

// takeIdleLocked takes the most recently used idle connection that is
// still usable, closing the expired and dead ones on the way; nil when
// none is left. p.mu is held, and released while a connection closes.
func (p *pool) takeIdleLocked() *serverConn {
	for len(p.idle) > 0 {
		sc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if p.expired(sc, time.Now()) || !sc.alive() {
			p.total--
			p.mu.Unlock()
			sc.close()
			p.mu.Lock()
			continue
		}
		return sc
	}
	return nil
}

// errorText is an error's message without what pgconn adds about the
// connection string, which would repeat host and user.
func errorText(err error) string {
	var ce *net.OpError
	if errors.As(err, &ce) {
		return ce.Err.Error()
	}
	return err.Error()
}

// giveBackSlot frees a slot after a failed or abandoned open, handing it to
// the first waiter if any.
func (p *pool) giveBackSlot() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) > 0 && !p.closed {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		w <- grant{}
		return
	}
	p.total--
}

// release returns a connection; broken or expired ones are closed and their
// slot passed on.
func (p *pool) release(sc *serverConn) {
	sc.r.notify = nil // the session's, which it leaves
	now := time.Now()
	p.mu.Lock()
	if p.total > p.cfg.Size && !p.closed && (len(p.waiters) == 0 || p.total > p.cfg.Size+p.cfg.ReserveSize) {
		// A reserve connection nobody waits for, or a reload made the pool
		// smaller: shrink as connections come back.
		p.total--
		p.mu.Unlock()
		sc.close()
		return
	}
	if sc.broken || p.closed || p.expired(sc, now) {
		p.mu.Unlock()
		sc.close()
		p.giveBackSlot()
		return
	}
	if len(p.waiters) > 0 {
		// Sent under the lock (the channel has room for its one grant), so a
		// waiter that times out and finds itself gone from the queue is sure
		// to find the grant in its channel and pass it on.
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		w <- grant{sc: sc}
		p.mu.Unlock()
		return
	}
	if p.budgets.wantsRoom() {
		// Another pool queues for a connection to this server, or a reload
		// lowered max_db_connections or max_user_connections: make room
		// rather than idle.
		p.total--
		p.mu.Unlock()
		sc.close()
		return
	}
	sc.idleAt = now
	p.idle = append(p.idle, sc)
	p.mu.Unlock()
}

// oldestIdle is when the pool's longest idle connection went idle; false
// when none is.
func (p *pool) oldestIdle() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) == 0 {
		return time.Time{}, false
	}
	return p.idle[0].idleAt, true
}

// closeOldestIdle closes the pool's longest idle connection, to give its
// unit of the budget to another pool; false when none is idle.
func (p *pool) closeOldestIdle() bool {
	p.mu.Lock()
	if p.closed || len(p.idle) == 0 {
		p.mu.Unlock()
		return false
	}
	sc := p.idle[0]
	p.idle = p.idle[1:]
	p.total--
	p.mu.Unlock()
	sc.close()
	return true
}

// settings returns the pool settings in force.
func (p *pool) settings() config.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// tcpSettings returns the socket settings for connections opened now.
func (p *pool) tcpSettings() config.TCP {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tcp
}

// reconfigure puts new settings in force. A larger pool lets waiting
// clients open connections at once; a smaller one closes idle connections
// beyond its size now and busy ones as they are released. tcp applies to
// connections opened from now on.
func (p *pool) reconfigure(cfg config.Pool, tcp config.TCP) {
	p.mu.Lock()
	p.cfg, p.tcp = cfg, tcp
	for len(p.waiters) > 0 && p.total < cfg.Size && !p.closed {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.total++
		w <- grant{}
	}
	var excess []*serverConn
	for p.total > cfg.Size && len(p.idle) > 0 {
		// The oldest idle connections go first: the LIFO end stays warm.
		excess = append(excess, p.idle[0])
		p.idle = p.idle[1:]
		p.total--
	}
	p.mu.Unlock()
	for _, sc := range excess {
		sc.close()
	}
}

// expired reports whether sc outlived server_lifetime. The caller holds p.mu.
func (p *pool) expired(sc *serverConn, now time.Time) bool {
	return p.cfg.ServerLifetime > 0 && now.Sub(sc.created) > p.cfg.ServerLifetime
}

// maintain closes connections idle longer than idle_timeout and opens
// connections up to min_idle. The server's maintenance loop calls it.
func (p *pool) maintain(ctx context.Context) {
	now := time.Now()
	var stale []*serverConn
	p.mu.Lock()
	keep := p.idle[:0]
	for _, sc := range p.idle {
		if (p.cfg.IdleTimeout > 0 && now.Sub(sc.idleAt) > p.cfg.IdleTimeout && len(keep) >= p.cfg.MinIdle) || p.expired(sc, now) {
			stale = append(stale, sc)
			p.total--
			continue
		}
		keep = append(keep, sc)
	}
	p.idle = keep
	missing := p.cfg.MinIdle - len(p.idle)
	if room := p.cfg.Size - p.total; missing > room {
		missing = room
	}
	if p.closed || missing < 0 {
		missing = 0
	}
	p.total += missing
	p.mu.Unlock()
	for _, sc := range stale {
		sc.close()
	}
	for range missing {
		sc, err := p.open(ctx, time.Time{})
		if err != nil {
			return // open gave the slot back; try again next round
		}
		p.release(sc)
	}
}

// closedError is what a checkout from a closed pool gets: the end of the
// session at shutdown; after a reload moved the pool's node, an error for
// the statement only, since the session's next transaction uses the new
// node.
func (p *pool) closedError() error {
	if !p.isRetired() {
		return fatalf(codeAdminShutdown, "pgshard is shutting down")
	}
	p.mu.Lock()
	why := p.retiredWhy
	p.mu.Unlock()
	if why != "" {
		return &pgError{Severity: "FATAL", Code: codeConnectionFailure, Message: "pgshard: " + why, Hint: "Reconnect."}
	}
	return &pgError{Code: codeConnectionFailure,
		Message: fmt.Sprintf("pgshard: a configuration reload moved the nodes of database %s while this session held connections to the old ones; pool %s is retired", p.key.db, p.name()),
		Hint:    "Roll back and run the transaction again (in session pooling, reconnect): it will use the nodes now configured."}
}

// isRetired says whether a reload retired the pool.
func (p *pool) isRetired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retired
}

// retire closes a pool a reload replaced, as close does.
func (p *pool) retire() {
	p.mu.Lock()
	p.retired = true
	p.mu.Unlock()
	p.close()
}

// close closes idle connections and refuses new checkouts; connections in
// use are closed when released.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.total -= len(idle)
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	for _, b := range p.budgets {
		b.leave(p)
	}
	for _, sc := range idle {
		sc.close()
	}
	for _, w := range waiters {
		close(w)
	}
}

// serverParams returns the ParameterStatus values of the pool's servers, or
// nil if no connection has been opened yet.
func (p *pool) serverParams() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.params
}
