package wire

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Deadlocks across shards.
//
// PostgreSQL finds a deadlock among the backends of one server. A cycle
// through several shards — session A holds a row on shard 0 and waits on
// shard 1 for B, which holds one there and waits on shard 0 for A — is
// invisible to each server, and both would wait for a lock_timeout:
// forever by default. Every two_phase.deadlock_timeout pgshard asks each
// server where two or more of its sessions hold connections which of
// their backends have waited that long for a lock, and for whom
// (pg_locks.waitstart, pg_blocking_pids). Joined by session over the
// servers, that is a wait-for graph of pgshard's sessions. In each cycle
// the session that started waiting last — whose wait closed the cycle,
// which is the one PostgreSQL's own detector aborts — has its waiting
// statement cancelled, and its client gets 40P01 "deadlock detected", as
// from one server; the others go on.
//
// The graph is exact on its cycles although the sessions' connections
// are read before the servers are asked: a session on a cycle has waited
// on a lock since before that read, and a session blocked on a server
// cannot take or release a connection meanwhile. Cycles through
// transactions that do not run through this pgshard process (another
// pgshard, a direct connection) are not seen.

// lockWait is a backend waiting for a lock on one server.
type lockWait struct {
	pid      uint32
	since    time.Time // pg_locks.waitstart
	blockers []uint32  // pg_blocking_pids
}

// heldConn is a server connection a session holds.
type heldConn struct {
	s  *session
	sc *serverConn
}

// waitEdge says a session's connection waits for a lock another session
// holds on the same server.
type waitEdge struct {
	from, to *session
	sc       *serverConn // from's waiting connection
	since    time.Time
}

// deadlockVictim marks the session whose statement the detector cancels:
// the cancellation's 57014 on sc reaches the client as 40P01.
type deadlockVictim struct {
	sc     *serverConn
	detail string
	until  time.Time // a 57014 after this is some other cancellation
}

// detectDeadlocks looks for deadlocks across shards every
// two_phase.deadlock_timeout until ctx ends.
func (srv *Server) detectDeadlocks(ctx context.Context) {
	for {
		wait := srv.conf().TwoPhase.DeadlockTimeout
		tick := wait
		if tick <= 0 {
			tick = time.Second // off: look at the setting again later (reload)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		if wait > 0 {
			srv.breakDeadlocks(ctx, wait)
		}
	}
}

// breakDeadlocks runs one round of detection.
func (srv *Server) breakDeadlocks(ctx context.Context, wait time.Duration) {
	held := srv.heldConns()
	var edges []waitEdge
	for addr, byPID := range held {
		if sessionsIn(byPID) < 2 {
			continue // a wait there is on someone outside pgshard, or none
		}
		waits, err := lockWaits(ctx, byPID, wait)
		if err != nil {
			srv.log.Debug("deadlock detection: reading lock waits", "server", addr, "err", err)
			continue
		}
		for _, w := range waits {
			waiter := byPID[w.pid]
			for _, b := range w.blockers {
				if h, ok := byPID[b]; ok && h.s != waiter.s {
					edges = append(edges, waitEdge{from: waiter.s, to: h.s, sc: waiter.sc, since: w.since})
				}
			}
		}
	}
	for {
		cycle := findCycle(edges)
		if cycle == nil {
			return
		}
		victim := cycle[0]
		for _, e := range cycle[1:] {
			if e.since.After(victim.since) {
				victim = e
			}
		}
		srv.cancelVictim(victim, describeCycle(cycle))
		edges = slices.DeleteFunc(edges, func(e waitEdge) bool { return e.from == victim.from })
	}
}

// heldConns lists, per server address and backend pid, the connections
// pgshard's sessions hold: attached, kept for a transaction or for the
// session, or running a statement over several shards.
func (srv *Server) heldConns() map[string]map[uint32]heldConn {
	held := map[string]map[uint32]heldConn{}
	add := func(s *session, sc *serverConn) {
		if sc == nil {
			return
		}
		m := held[sc.pool.addr]
		if m == nil {
			m = map[uint32]heldConn{}
			held[sc.pool.addr] = m
		}
		m[sc.pid] = heldConn{s: s, sc: sc}
	}
	srv.eachSession(func(s *session) {
		s.mu.Lock()
		defer s.mu.Unlock()
		add(s, s.sc)
		for _, sc := range s.parked {
			add(s, sc)
		}
		for _, c := range s.multi {
			add(s, c.sc)
		}
	})
	return held
}

func sessionsIn(byPID map[uint32]heldConn) int {
	seen := map[*session]bool{}
	for _, h := range byPID {
		seen[h.s] = true
	}
	return len(seen)
}

// lockWaits asks the server of the connections in byPID which of their
// backends have waited for a lock for at least wait, and for which
// backends. It asks over an idle connection of the pool of one of them,
// or, when none is idle (the deadlocked sessions may hold them all), over
// one of its own.
func lockWaits(ctx context.Context, byPID map[uint32]heldConn, wait time.Duration) ([]lockWait, error) {
	var p *pool
	for _, h := range byPID {
		p = h.sc.pool
		break
	}
	sc := p.tryAcquire()
	if sc == nil {
		var err error
		if sc, err = p.dialOutside(ctx); err != nil {
			return nil, err
		}
		defer sc.close()
	} else {
		defer p.release(sc)
	}
	pids := make([]string, 0, len(byPID))
	for pid := range byPID {
		pids = append(pids, strconv.FormatUint(uint64(pid), 10))
	}
	q := "SELECT l.pid || ' ' || extract(epoch FROM l.waitstart) || ' ' || array_to_string(pg_blocking_pids(l.pid), ' ')" +
		" FROM pg_locks l WHERE NOT l.granted AND l.pid IN (" + strings.Join(pids, ",") + ")" +
		" AND l.waitstart < now() - interval '" + strconv.FormatFloat(wait.Seconds(), 'f', 3, 64) + " seconds'"
	_ = sc.conn.SetDeadline(time.Now().Add(5 * time.Second))
	rows, err := (&session{}).hiddenRows(sc, q)
	_ = sc.conn.SetDeadline(time.Time{})
	if err != nil {
		sc.broken = true // closed, not reused, in whatever state it is
		return nil, err
	}
	waits := make([]lockWait, 0, len(rows))
	for _, r := range rows {
		f := strings.Fields(r)
		if len(f) < 2 {
			continue
		}
		pid, err1 := strconv.ParseUint(f[0], 10, 32)
		secs, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		w := lockWait{pid: uint32(pid), since: time.Unix(0, int64(secs*1e9))}
		for _, b := range f[2:] {
			if n, err := strconv.ParseUint(b, 10, 32); err == nil {
				w.blockers = append(w.blockers, uint32(n))
			}
		}
		waits = append(waits, w)
	}
	return waits, nil
}

// findCycle returns the edges of a cycle in the wait-for graph, or nil.
func findCycle(edges []waitEdge) []waitEdge {
	out := map[*session][]int{}
	for i, e := range edges {
		out[e.from] = append(out[e.from], i)
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[*session]int{}
	var path []int // edge indexes from a start to the current session
	var visit func(s *session) []waitEdge
	visit = func(s *session) []waitEdge {
		state[s] = onPath
		for _, i := range out[s] {
			to := edges[i].to
			switch state[to] {
			case onPath:
				// The cycle is the path's edges from the one leaving to.
				start := slices.IndexFunc(path, func(j int) bool { return edges[j].from == to })
				var cycle []waitEdge
				if start >= 0 {
					for _, j := range path[start:] {
						cycle = append(cycle, edges[j])
					}
				}
				return append(cycle, edges[i])
			case unseen:
				path = append(path, i)
				if c := visit(to); c != nil {
					return c
				}
				path = path[:len(path)-1]
			}
		}
		state[s] = done
		return nil
	}
	for _, e := range edges {
		if state[e.from] == unseen {
			if c := visit(e.from); c != nil {
				return c
			}
		}
	}
	return nil
}

// describeCycle is the 40P01's detail: who waits where for whom.
func describeCycle(cycle []waitEdge) string {
	lines := make([]string, len(cycle))
	for i, e := range cycle {
		lines[i] = fmt.Sprintf("pgshard session %d waits on shard %s (node %s, backend %d) for a lock held by session %d.",
			e.from.key.pid, e.sc.pool.shard, e.sc.pool.node.Name, e.sc.pid, e.to.key.pid)
	}
	return strings.Join(lines, "\n")
}

// cancelVictim cancels the statement of e.from that waits on e.sc,
// holding the session's lock as cancelStatement does, so the connection
// cannot go back to a pool meanwhile; it must still be the session's.
func (srv *Server) cancelVictim(e waitEdge, detail string) {
	s := e.from
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.busyConnsLocked(), e.sc) {
		return
	}
	s.victim.Store(&deadlockVictim{sc: e.sc, detail: detail, until: time.Now().Add(10 * time.Second)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.sc.cancel(ctx); err != nil {
		srv.log.Warn("deadlock detection: cancel failed", "pool", e.sc.pool.name(), "err", err)
		return
	}
	srv.log.Info("deadlock across shards: cancelled the statement that closed the cycle", "session", s.key.pid, "cycle", detail)
}

// deadlockError turns the cancellation of a deadlock victim's statement on
// sc into PostgreSQL's deadlock error; nil for any other error.
func deadlockError(victim *atomic.Pointer[deadlockVictim], sc *serverConn, pe *pgError) *pgError {
	v := victim.Load()
	if v == nil || v.sc != sc || pe.Code != "57014" || time.Now().After(v.until) {
		return nil
	}
	victim.Store(nil)
	return &pgError{Code: "40P01", Message: "deadlock detected", Detail: v.detail,
		Hint: "pgshard: transactions waited for each other's locks on different shards; retry the transaction."}
}

// encodeBody is the body of pe's ErrorResponse, to relay in place of a
// server's.
func encodeBody(pe *pgError) []byte {
	msg, err := pe.response().Encode(nil)
	if err != nil || len(msg) < 5 {
		return nil
	}
	return msg[5:]
}
