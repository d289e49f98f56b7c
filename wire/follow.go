package wire

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pgshard/pgshard/shard"
)

// Following promotions (monitor.follow_promotion). An HA manager (Patroni,
// repmgr, a managed service) promotes a replica when a primary dies; with
// this option pgshard sends the shard's writes to the promoted node, one
// of the shard's configured replicas, as soon as the lag monitor sees it
// accept writes while the configured primary does not, instead of failing
// them until the configuration is reloaded. Every path to a shard's
// primary (statements, transactions, two-phase commit, the resolver) goes
// through shardPool, which asks here first.

// promotedPool is, when pgshard follows promotions and shard id's writes
// go to a promoted replica, that replica's pool; a non-nil error when the
// shard has several nodes accepting writes. Both nil: the configured
// primary.
func (s *session) promotedPool(id shard.ShardID) (*pool, *pgError) {
	t := s.db.topo
	if t == nil || !s.srv.conf().Monitor.FollowPromotion {
		return nil, nil
	}
	node, err := t.mon.WriteNode(id)
	var sb *shard.SplitBrainError
	switch {
	case errors.As(err, &sb):
		return nil, &pgError{Code: "25006",
			Message: fmt.Sprintf("pgshard: several nodes of shard %s accept writes (%s); writes are refused until the configuration names its primary",
				s.db.cfg.Shards[id].Name, strings.Join(sb.Nodes, ", ")),
			Hint: "Demote or stop all but one of them, or point the shard's primary at the right one and reload (docs/operations.md, Failover)."}
	case err != nil || node == t.primaries[id]:
		return nil, nil
	}
	sh := &s.db.cfg.Shards[id]
	for i := range sh.Replicas {
		if sh.Replicas[i].Name == node.Name {
			return s.nodePool(id, &sh.Replicas[i]), nil
		}
	}
	return nil, nil
}

// followsPromotion says whether shard id's writes go to a promoted replica
// now.
func (s *session) followsPromotion(id shard.ShardID) bool {
	p, _ := s.promotedPool(id)
	return p != nil
}
