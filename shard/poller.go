package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// pollSQL reads everything the monitor needs from any node in one round
// trip (see the comment at the top of monitor.go).
const pollSQL = `SELECT pg_is_in_recovery(),
	CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END,
	pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()`

// pollResult is what one successful poll read.
type pollResult struct {
	inRecovery               bool
	current, receive, replay LSN
}

// Run polls every node until ctx ends: one goroutine per node, each with one
// connection that it reopens after a failure. It returns once every poller
// has stopped and closed its connection. A Monitor runs once.
func (m *Monitor) Run(ctx context.Context) {
	if !m.running.CompareAndSwap(false, true) {
		panic("shard: Monitor.Run called twice")
	}
	var wg sync.WaitGroup
	for _, n := range m.nodes {
		wg.Go(func() { m.pollLoop(ctx, n) })
	}
	wg.Wait()
}

// pollLoop is one node's poller. Polls start every Interval (measured from
// the start of the previous one, so a slow node is not polled less often
// than asked); after a failure the wait doubles from Interval up to
// ReconnectMax, so a node that is down is not hammered with connection
// attempts.
func (m *Monitor) pollLoop(ctx context.Context, n *nodeMon) {
	var conn *pgconn.PgConn
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		started := m.opts.Now()
		res, err := m.pollOnce(ctx, n, &conn)
		if ctx.Err() != nil {
			return // shutting down: an error now says nothing about the node
		}
		m.record(n, started, m.opts.Now(), res, err)
		wait := m.opts.Interval - m.opts.Now().Sub(started)
		if err != nil {
			failures++
			wait = backoff(m.opts.Interval, m.opts.ReconnectMax, failures)
		} else {
			failures = 0
		}
		timer.Reset(max(wait, 0))
	}
}

// pollOnce connects if needed and runs pollSQL, all within Timeout. Any
// failure closes the connection: after a timeout or a broken stream the
// connection's state is unknown, and reconnecting is cheap at this rate.
func (m *Monitor) pollOnce(ctx context.Context, n *nodeMon, conn **pgconn.PgConn) (pollResult, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if *conn == nil {
		c, err := n.dial(ctx)
		if err != nil {
			return pollResult{}, fmt.Errorf("connect: %w", err)
		}
		*conn = c
	}
	res, err := query(ctx, *conn)
	if err != nil {
		closeConn(*conn)
		*conn = nil
	}
	return res, err
}

func closeConn(c *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

func query(ctx context.Context, conn *pgconn.PgConn) (pollResult, error) {
	results, err := conn.Exec(ctx, pollSQL).ReadAll()
	if err != nil {
		return pollResult{}, err
	}
	if len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) != 4 {
		return pollResult{}, errors.New("poll: unexpected result shape")
	}
	return parsePollRow(results[0].Rows[0])
}

// parsePollRow decodes pollSQL's text-format row; NULL is a nil field.
func parsePollRow(row [][]byte) (pollResult, error) {
	var r pollResult
	switch string(row[0]) {
	case "t":
		r.inRecovery = true
	case "f":
	default:
		return r, fmt.Errorf("poll: pg_is_in_recovery() = %q", row[0])
	}
	lsns := []*LSN{&r.current, &r.receive, &r.replay}
	for i, dst := range lsns {
		if row[i+1] == nil {
			continue
		}
		l, err := ParseLSN(string(row[i+1]))
		if err != nil {
			return r, fmt.Errorf("poll: %w", err)
		}
		*dst = l
	}
	switch {
	case !r.inRecovery && row[1] == nil:
		// Promoted between the two pg_is_in_recovery() calls.
		return r, errors.New("poll: node changed role during the poll")
	case r.inRecovery && row[3] == nil:
		return r, errors.New("poll: replica reports no replay position")
	}
	return r, nil
}

// record stores one poll's outcome. A failure keeps the last good values
// (for display) but the node is no longer Healthy. A success lifts a ban
// whose backoff had run out when the poll started.
func (m *Monitor) record(n *nodeMon, started, done time.Time, r pollResult, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.lastAttempt = started
	n.err = err
	if err != nil {
		n.ok = false
		return
	}
	n.ok = true
	n.lastOK = done
	n.inRecovery = r.inRecovery
	n.current, n.receive, n.replay = r.current, r.receive, r.replay
	if n.history != nil && !r.inRecovery {
		// The LSN was read somewhere between started and done. Stamping
		// the start means a slow round trip makes lag in time err larger,
		// not smaller.
		n.history.add(started, r.current)
	}
	n.ban.pollSucceeded(started, done)
}
