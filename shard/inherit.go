package shard

// Inherit copies from old, the monitor of an earlier configuration of the
// same shards, what it observed of the nodes that did not move, so that a
// reload changing one node does not send every read to the primaries until
// the new monitor's first polls. Only a shard whose primary is the same
// node (ID, role and DSN) inherits: its primary's LSN history, and the
// state of each replica that is also the same node. A shard whose primary
// moved starts from nothing, since its replicas' lag against the new
// primary is unknown. Call it before Run; old may still be running.
func (m *Monitor) Inherit(old *Monitor) {
	if old == nil || old == m {
		return
	}
	old.mu.RLock()
	defer old.mu.RUnlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, p := range m.primaries {
		if was := old.primaries[id]; was == nil || !sameNode(was.spec, p.spec) {
			continue
		}
		for _, n := range m.nodes {
			if was := old.byID[n.spec.ID]; n.spec.ID.Shard == id && was != nil && sameNode(was.spec, n.spec) {
				n.copyState(was)
			}
		}
	}
}

// sameNode says whether a and b describe the same node the same way: a
// changed DSN (address, credentials, TLS) makes it another.
func sameNode(a, b NodeSpec) bool {
	return a.ID == b.ID && a.Role == b.Role && a.DSN == b.DSN
}

// copyState takes over was's observations. Both monitors' locks are held.
func (n *nodeMon) copyState(was *nodeMon) {
	n.ok, n.lastOK, n.lastAttempt, n.err = was.ok, was.lastOK, was.lastAttempt, was.err
	n.inRecovery, n.current, n.receive, n.replay = was.inRecovery, was.current, was.receive, was.replay
	n.ban = was.ban
	if was.history != nil && n.history != nil {
		n.history.copyFrom(was.history)
	}
}
