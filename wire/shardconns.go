package wire

import (
	"context"
	"slices"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// The connections a statement over several shards runs on: borrowed from
// the session where it holds one (its attached connection, connections
// set aside in a transaction or, in session pooling, for the session's
// life), else checked out of each shard's pool for the statement.

// acquireShards checks out a connection to each shard, in shard order so
// two sessions never wait on each other's. Inside a transaction every
// shard the statement reaches joins the transaction, for a read as for a
// write: a read outside it would see neither the transaction's snapshot
// (REPEATABLE READ, SERIALIZABLE) nor its SET LOCALs. A shard that only
// read is committed without two-phase commit (commitParticipants).
// stateful: the statement leaves state in the server session (LISTEN), so
// in session pooling it must run on the session's own connection even
// mid-batch; one taken from the pool would go back with it.
func (s *session) acquireShards(ctx context.Context, ids []shard.ShardID, write, stateful bool) ([]multiConn, func(), error) {
	conns := make([]multiConn, 0, len(ids))
	release := func() {
		for _, c := range conns {
			if !c.borrowed {
				c.sc.pool.release(c.sc)
			}
		}
	}
	if s.localTx && s.sc != nil {
		// Session pooling, a transaction no server has yet: the kept
		// connection is idle, not a participant; set it aside so that
		// writes start the transaction on each shard they reach.
		s.park()
	}
	inTx := s.txStatus == 'T'
	session := s.mode == config.PoolSession
	if inTx && s.sc != nil && s.isReplica(s.sc) {
		for _, id := range ids {
			if id != s.shardOf(s.sc) {
				return nil, nil, errReadOnlyOnReplica
			}
		}
	}
	for _, id := range ids {
		switch {
		case (inTx || session && (!s.batchUsed || stateful)) && s.sc != nil && s.shardOf(s.sc) == id:
			// The attached connection: in a transaction, or in session
			// pooling unless a batch is under way on it, whose implicit
			// transaction must not take pgshard's own BEGIN; a statement
			// that leaves session state takes it anyway (it needs no BEGIN).
			conns = append(conns, multiConn{id: id, sc: s.sc, borrowed: true})
			continue
		case inTx && s.parked[id] != nil && slices.Contains(s.txShards, id):
			conns = append(conns, multiConn{id: id, sc: s.parked[id], borrowed: true})
			continue
		case session && s.parked[id] != nil && !inTx:
			// Session pooling: the session's own connection to this shard,
			// outside any transaction, for a read or a write of its own.
			sc := s.parked[id]
			if err := s.applySettings(sc); err != nil {
				s.dropParked(id)
				release()
				return nil, nil, err
			}
			conns = append(conns, multiConn{id: id, sc: sc, borrowed: true})
			continue
		case inTx && s.parked[id] != nil:
			// Session pooling kept this shard's connection from before the
			// transaction: the shard joins the transaction there.
			sc := s.parked[id]
			err := s.applySettings(sc)
			if err == nil {
				err = s.startTxOn(sc)
			}
			if err != nil {
				s.dropParked(id)
				release()
				return nil, nil, err
			}
			s.joinTxWith(id)
			conns = append(conns, multiConn{id: id, sc: sc, borrowed: true})
			continue
		}
		var sc *serverConn
		var p *pool
		if !write && !inTx && s.readable() {
			// A read on several shards uses each shard's replicas too.
			if node, _ := s.readTarget(ctx, id); node != nil {
				p = s.nodePool(id, node)
				var err error
				if sc, err = p.acquire(ctx); err != nil {
					s.banNode(id, node, err)
					sc = nil
				} else {
					s.req.replica = true
				}
			}
		}
		if sc == nil {
			var err error
			if p, err = s.shardPool(id); err != nil {
				release()
				return nil, nil, err
			}
			sc, err = p.acquire(ctx)
			if err != nil {
				release()
				if p.isRetired() && !slices.ContainsFunc(conns, func(c multiConn) bool { return c.borrowed }) && s.followReload() {
					// A reload moved the nodes while this statement was
					// taking its connections, all from pools: they went
					// back (and closed), and it starts over on the new
					// generation.
					return s.acquireShards(ctx, ids, write, stateful)
				}
				return nil, nil, err
			}
		}
		if err := s.applySettings(sc); err != nil {
			sc.broken = true
			p.release(sc)
			release()
			return nil, nil, err
		}
		c := multiConn{id: id, sc: sc}
		if session && !inTx && (s.sc == nil || s.shardOf(s.sc) != id) {
			// Session pooling: the connection stays with the session,
			// with the session state just applied.
			s.setParked(id, sc)
			c.borrowed = true
		}
		if inTx {
			// The shard joins the open transaction.
			if err := s.startTxOn(sc); err != nil {
				sc.broken = true
				p.release(sc)
				release()
				return nil, nil, err
			}
			s.joinTxWith(id)
			s.setParked(id, sc)
			c.borrowed = true
		}
		conns = append(conns, c)
	}
	return conns, release, nil
}

// dropParked closes the session's kept connection to shard id after it
// failed pgshard's own statement on it.
func (s *session) dropParked(id shard.ShardID) {
	sc := s.parked[id]
	s.unpark(id)
	sc.broken = true
	sc.pool.release(sc)
}

// joinTxWith records that a write on several shards brings shard id into
// the open transaction, together with the attached connection's shard.
func (s *session) joinTxWith(id shard.ShardID) {
	if s.sc != nil {
		s.joinTx(s.shardOf(s.sc))
	}
	s.joinTx(id)
}
