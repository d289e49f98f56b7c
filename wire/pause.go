package wire

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
)

// pause holds a database's new transactions back, as PgBouncer's PAUSE:
// for a planned switchover or restart of a node, the operator pauses,
// waits for the open transactions to end (no server connection is then in
// use for the database), reloads or restarts, and resumes; clients see a
// delay instead of errors. Sessions already in a transaction, or in the
// middle of a pipelined batch, go on, so a pause never waits on itself.
type pause struct {
	until   time.Time
	resumed chan struct{} // closed by resume
	expiry  *time.Timer
}

// pauses are the pauses in force by database name.
type pauses struct {
	mu sync.Mutex
	by map[string]*pause
}

// Pause holds the new transactions of the named databases (every database
// when names is empty) back until Resume, or until max has passed, then
// waits up to wait, or until ctx ends, for the transactions open in them
// to end. It reports each database with how many are still open. Pausing
// a paused database moves its end to max from now.
func (srv *Server) Pause(ctx context.Context, names []string, wait, max time.Duration) ([]admin.PausedDatabase, error) {
	names, err := srv.databaseNames(names)
	if err != nil {
		return nil, err
	}
	until := time.Now().Add(max)
	srv.pauses.mu.Lock()
	if srv.pauses.by == nil {
		srv.pauses.by = map[string]*pause{}
	}
	for _, name := range names {
		p := srv.pauses.by[name]
		if p == nil {
			p = &pause{resumed: make(chan struct{})}
			srv.pauses.by[name] = p
		} else {
			p.expiry.Stop()
		}
		p.until = until
		p.expiry = time.AfterFunc(max, func() {
			if resumed, _ := srv.resume([]string{name}, p); len(resumed) > 0 {
				srv.log.Warn("pause ended by itself: nobody resumed it", "database", name, "max", max)
			}
		})
	}
	srv.pausing.Store(true)
	srv.pauses.mu.Unlock()
	srv.log.Info("new transactions paused", "databases", names, "until", until)

	deadline := time.Now().Add(wait)
	for {
		open := srv.openTransactions()
		quiet := true
		for _, name := range names {
			quiet = quiet && open[name] == 0
		}
		if quiet || !time.Now().Before(deadline) || ctx.Err() != nil {
			out := make([]admin.PausedDatabase, len(names))
			for i, name := range names {
				out[i] = admin.PausedDatabase{Name: name, OpenTransactions: open[name], Until: until}
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Resume lets the new transactions of the named databases (every paused
// one when names is empty) go, and returns those that were paused.
func (srv *Server) Resume(names []string) ([]string, error) {
	if len(names) > 0 {
		if _, err := srv.databaseNames(names); err != nil {
			return nil, err
		}
	}
	resumed, _ := srv.resume(names, nil)
	if len(resumed) > 0 {
		srv.log.Info("transactions resumed", "databases", resumed)
	}
	return resumed, nil
}

// resume ends the pauses of names (all when empty); only, when not nil, is
// the one pause to end (its expiry), left alone if another replaced it.
func (srv *Server) resume(names []string, only *pause) ([]string, error) {
	srv.pauses.mu.Lock()
	defer srv.pauses.mu.Unlock()
	var out []string
	for name, p := range srv.pauses.by {
		if (len(names) > 0 && !slices.Contains(names, name)) || (only != nil && p != only) {
			continue
		}
		p.expiry.Stop()
		close(p.resumed)
		delete(srv.pauses.by, name)
		out = append(out, name)
	}
	srv.pausing.Store(len(srv.pauses.by) > 0)
	slices.Sort(out)
	return out, nil
}

// Paused lists the databases a pause holds now, each with when its pause
// ends by itself and how many transactions are open in it, for /status.
func (srv *Server) Paused() []admin.PausedDatabase {
	srv.pauses.mu.Lock()
	var out []admin.PausedDatabase
	for name, p := range srv.pauses.by {
		out = append(out, admin.PausedDatabase{Name: name, Until: p.until})
	}
	srv.pauses.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	open := srv.openTransactions()
	for i := range out {
		out[i].OpenTransactions = open[out[i].Name]
	}
	slices.SortFunc(out, func(a, b admin.PausedDatabase) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pauseOf is the pause holding database name, or nil.
func (srv *Server) pauseOf(name string) *pause {
	srv.pauses.mu.Lock()
	defer srv.pauses.mu.Unlock()
	return srv.pauses.by[name]
}

// databaseNames checks names against the configured databases; empty
// means all of them.
func (srv *Server) databaseNames(names []string) ([]string, error) {
	if len(names) == 0 {
		for name := range srv.dbs {
			names = append(names, name)
		}
		slices.Sort(names)
		return names, nil
	}
	for _, name := range names {
		if srv.dbs[name] == nil {
			return nil, fmt.Errorf("database %q is not configured", name)
		}
	}
	return names, nil
}

// openTransactions counts, per database, the sessions in a transaction,
// a pipelined batch or a statement, not counting those a pause holds.
func (srv *Server) openTransactions() map[string]int {
	open := map[string]int{}
	srv.eachSession(func(s *session) {
		if s.about.held.Load() {
			return
		}
		if s.working.Load() || s.about.txStatus.Load() != 'I' && s.about.txStatus.Load() != 0 || s.about.batch.Load() {
			open[s.about.database]++
		}
	})
	return open
}

// startsWork says whether a client message may begin a transaction: what
// a pause holds back when the session is idle.
func startsWork(typ byte) bool {
	switch typ {
	case 'Q', 'P', 'B', 'D', 'E', 'F':
		return true
	}
	return false
}

// waitWhilePaused holds the session, idle between transactions, while its
// database is paused. It reports false when the client went away
// meanwhile, or the admin terminated the session, which it looks for
// every half second: a session held by a long pause must not outlive its
// client.
func (s *session) waitWhilePaused(ctx context.Context) bool {
	p := s.srv.pauseOf(s.about.database)
	if p == nil {
		return true
	}
	s.about.held.Store(true)
	defer s.about.held.Store(false)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.resumed:
			return true
		case <-ctx.Done():
			return true
		case <-tick.C:
			if s.terminated.Load() {
				s.endTerminated()
				return false
			}
			if peekSocket(s.conn) == socketClosed {
				s.endReason = "client closed the connection while a pause held it"
				return false
			}
		}
	}
}
