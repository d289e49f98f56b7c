package wire

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// budgetKey names a connection budget: a database's to one of its nodes
// (db set, node its shard/name), or a user's to one server (user set, node
// its host:port).
type budgetKey struct {
	db, user, node string
}

// connBudget bounds the server connections that every user's pool of one
// database holds to one node (databases[].max_db_connections), as
// PgBouncer's max_db_connections bounds a database's: pool sizes are per
// user, and with many users their sum can exceed what the server takes.
// The same kind of budget bounds what every pool of one user holds to one
// server, across databases (users[].max_user_connections), as PgBouncer's
// max_user_connections and a role's CONNECTION LIMIT do.
//
// A pool takes a unit of the budget for each connection it opens and gives
// it back when the connection closes. A pool that needs one while the
// budget is spent queues for it and, to make room, closes an idle
// connection another user's pool holds there; a connection released
// while someone queues is closed rather than kept idle. Both hand their
// unit to the first in the queue. Without that, idle connections of one
// user would starve another's clients until idle_timeout.
type connBudget struct {
	key budgetKey

	mu      sync.Mutex
	limit   int // 0: no bound
	used    int // connections open or being opened
	waiters []chan struct{}
	// pools are the pools that draw on the budget: where an idle
	// connection can be closed to make room.
	pools []*pool
	// pressure is wantsRoom's answer, kept up to date under mu so that a
	// connection's release (every transaction) reads it without the lock.
	pressure atomic.Bool
}

// updateLocked recomputes pressure; b.mu is held.
func (b *connBudget) updateLocked() {
	b.pressure.Store(len(b.waiters) > 0 || b.limit > 0 && b.used > b.limit)
}

// take gets a unit for a connection about to be opened. When none is left
// it queues until deadline (a zero deadline: not at all) and closes an
// idle connection of the budget's pools to make room. It reports whether
// it got one, and whether it queued.
func (b *connBudget) take(ctx context.Context, deadline time.Time) (ok, queued bool) {
	b.mu.Lock()
	if b.limit == 0 || b.used < b.limit {
		b.used++
		b.mu.Unlock()
		return true, false
	}
	if deadline.IsZero() {
		b.mu.Unlock()
		return false, false
	}
	ch := make(chan struct{}, 1)
	b.waiters = append(b.waiters, ch)
	b.updateLocked()
	pools := slices.Clone(b.pools)
	b.mu.Unlock()

	// Its unit goes to the first in the queue.
	closeLongestIdle(pools)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-ch:
		return true, true
	case <-timer.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.waiters, ch); i >= 0 {
		b.waiters = slices.Delete(b.waiters, i, i+1)
		b.updateLocked()
		return false, true
	}
	// The unit came between the timer and the lock: it is ours.
	return true, true
}

// give returns the unit of a connection that closed (or failed to open):
// to the first in the queue, or to the budget.
func (b *connBudget) give() {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.updateLocked()
	if len(b.waiters) > 0 && (b.limit == 0 || b.used <= b.limit) {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		w <- struct{}{}
		return
	}
	b.used--
}

// wantsRoom says whether a connection coming back idle should close
// instead: someone queues for a unit, or a reload lowered the limit below
// what is open.
func (b *connBudget) wantsRoom() bool { return b.pressure.Load() }

// setLimit puts a reloaded limit in force: a higher one serves the queue
// at once, a lower one closes connections as they come back idle.
func (b *connBudget) setLimit(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit = n
	for len(b.waiters) > 0 && (n == 0 || b.used < n) {
		b.used++
		b.waiters[0] <- struct{}{}
		b.waiters = b.waiters[1:]
	}
	b.updateLocked()
}

// exhausted is the error of a checkout that waited queue_timeout for a
// unit of the budget.
func (b *connBudget) exhausted(p *pool, wait time.Duration) *pgError {
	b.mu.Lock()
	limit := b.limit
	b.mu.Unlock()
	if b.key.user != "" {
		return &pgError{
			Code: codeTooManyConnections,
			Message: fmt.Sprintf("pgshard: no server connection in pool %s within queue_timeout %s: user %s already holds max_user_connections (%d) connections to server %s",
				p.name(), wait, b.key.user, limit, b.key.node),
			Hint: "Raise users[].max_user_connections (the role's CONNECTION LIMIT and the server's max_connections allowing), or shorten the transactions holding connections.",
		}
	}
	return &pgError{
		Code: codeTooManyConnections,
		Message: fmt.Sprintf("pgshard: no server connection in pool %s within queue_timeout %s: database %s already holds max_db_connections (%d) connections to node %s",
			p.name(), wait, b.key.db, limit, b.key.node),
		Hint: "Raise databases[].max_db_connections (the server's max_connections allowing), or shorten the transactions holding connections.",
	}
}

// budgetLocked returns the budget of key, creating it on first use; limit
// 0 means none. srv.poolsMu is held.
func (srv *Server) budgetLocked(key budgetKey, limit int) *connBudget {
	b := srv.budgets[key]
	if b == nil {
		b = &connBudget{key: key, limit: limit}
		srv.budgets[key] = b
	}
	return b
}

// join adds p to the pools that draw on the budget.
func (b *connBudget) join(p *pool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pools = append(b.pools, p)
}

// leave takes a closed pool out of those that draw on the budget: a user's
// budgets outlive the generations of its databases' pools.
func (b *connBudget) leave(p *pool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.pools, p); i >= 0 {
		b.pools = slices.Delete(b.pools, i, i+1)
	}
}

// budgets are the budgets a pool's connections draw on, each a unit per
// connection: the user's to the server, then the database's to the node.
// Units are taken in that order by every pool, so two pools never wait on
// each other's budget crosswise.
type budgets []*connBudget

// take gets a unit of every budget for a connection about to be opened,
// waiting for each until deadline. On failure it gives back what it took
// and names the budget that had none.
func (bs budgets) take(ctx context.Context, deadline time.Time) (ok, queued bool, short *connBudget) {
	for i, b := range bs {
		got, q := b.take(ctx, deadline)
		queued = queued || q
		if !got {
			bs[:i].give()
			return false, queued, b
		}
	}
	return true, queued, nil
}

// give returns a closed connection's units.
func (bs budgets) give() {
	for _, b := range bs {
		b.give()
	}
}

// wantsRoom says whether a connection coming back idle should close: one
// of its budgets is wanted by another pool, or over a lowered limit.
func (bs budgets) wantsRoom() bool {
	for _, b := range bs {
		if b.wantsRoom() {
			return true
		}
	}
	return false
}

// closeLongestIdle closes, of the pools' idle connections, the one idle
// the longest; false when none is idle.
func closeLongestIdle(pools []*pool) bool {
	for len(pools) > 0 {
		best, since := -1, time.Time{}
		for i, p := range pools {
			if at, ok := p.oldestIdle(); ok && (best < 0 || at.Before(since)) {
				best, since = i, at
			}
		}
		if best < 0 {
			return false
		}
		if pools[best].closeOldestIdle() {
			return true
		}
		// Taken meanwhile by its own pool: look again without it.
		pools = slices.Delete(pools, best, best+1)
	}
	return false
}
