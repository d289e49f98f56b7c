package shard

import "time"

// PrimaryLSNAfter returns the shard primary's WAL position as read by a
// poll that started after t, if the latest poll did (and succeeded). A
// transaction that committed before t has a commit LSN at or below it, so
// it is a floor for read-your-writes that costs the session no round
// trip: a replica that has replayed past it has the session's writes.
// Until such a poll completes (at most one Interval), ok is false and the
// caller reads from the primary.
func (m *Monitor) PrimaryLSNAfter(shard ShardID, t time.Time) (LSN, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.primaryLocked(shard, m.opts.Now())
	if p == nil {
		return 0, false
	}
	if !p.ok || !p.lastAttempt.After(t) || p.inRecovery {
		return 0, false
	}
	return p.current, true
}

// LastPrimaryLSN is the last WAL position the shard primary reported, even
// if it cannot be polled now: with the primary down no new WAL exists, so
// a replica that replayed up to it is as current as any node can be.
func (m *Monitor) LastPrimaryLSN(shard ShardID) LSN {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.primaryLocked(shard, m.opts.Now())
	if p == nil {
		return 0
	}
	return p.current
}
