package shard

import (
	"fmt"
	"strings"
	"time"
)

// WriteNode is where writes to shard id go when pgshard follows promotions
// (monitor.follow_promotion): the configured primary, unless it does not
// accept writes now (down, or in recovery) while exactly one configured
// replica does (it was promoted: polled healthy, not in recovery). Two
// nodes that both accept writes — a promoted replica and a primary that
// came back without being demoted, or two promoted replicas — are an
// error: writing to either could lose the other's writes, so pgshard
// writes to neither until the configuration names the primary.
func (m *Monitor) WriteNode(id ShardID) (NodeID, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.writeNodeLocked(id, m.opts.Now())
	if err != nil {
		return NodeID{}, err
	}
	return n.spec.ID, nil
}

// writeNodeLocked is WriteNode's node, under m.mu.
func (m *Monitor) writeNodeLocked(id ShardID, now time.Time) (*nodeMon, error) {
	p := m.primaries[id]
	if p == nil {
		return nil, fmt.Errorf("monitor: no shard %d", id)
	}
	writable := func(n *nodeMon) bool { return m.healthyLocked(n, now) && !n.inRecovery }
	var promoted []*nodeMon
	for _, n := range m.nodes {
		if n.spec.ID.Shard == id && n.spec.Role == RoleReplica && writable(n) {
			promoted = append(promoted, n)
		}
	}
	switch {
	case len(promoted) == 0:
		return p, nil
	case len(promoted) == 1 && !writable(p):
		return promoted[0], nil
	}
	names := make([]string, 0, len(promoted)+1)
	if writable(p) {
		names = append(names, p.spec.ID.Name+" (the configured primary)")
	}
	for _, r := range promoted {
		names = append(names, r.spec.ID.Name)
	}
	return nil, &SplitBrainError{Shard: id, Nodes: names}
}

// primaryLocked is the node shard's replicas are measured against: its
// configured primary, or under FollowPromotion the replica promoted in
// its place. nil for an unknown shard. The caller holds m.mu.
func (m *Monitor) primaryLocked(shard ShardID, now time.Time) *nodeMon {
	p := m.primaries[shard]
	if p == nil || !m.opts.FollowPromotion {
		return p
	}
	if w, err := m.writeNodeLocked(shard, now); err == nil {
		return w
	}
	return p
}

// SplitBrainError says that several nodes of a shard accept writes.
type SplitBrainError struct {
	Shard ShardID
	Nodes []string
}

func (e *SplitBrainError) Error() string {
	return fmt.Sprintf("shard %d: %d nodes accept writes: %s", e.Shard, len(e.Nodes), strings.Join(e.Nodes, ", "))
}
