package wire

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// Replica-aware reads. A statement the router marks as a read, outside a
// transaction that may write, runs on a streaming replica that the lag
// monitor (shard.Monitor) finds within reads.max_lag_bytes and
// reads.max_lag and, with read-your-writes, past the session's last
// commit on that shard. Otherwise it runs on the primary (or fails, with
// reads.fallback: error). The choice is per statement (per transaction in
// a READ ONLY transaction); between two eligible replicas the one with
// fewer connections in use wins (power of two choices).

// topology is a database's nodes as the monitor knows them.
type topology struct {
	mon       *shard.Monitor
	primaries []shard.NodeID
	replicas  [][]shard.NodeID // per shard, aligned with cfg.Shards[i].Replicas
	// stop ends the monitor's run; nil until it runs (generation.go).
	stop context.CancelFunc
}

// newTopology builds the lag monitor of d; it polls with the credentials
// of user u's pools.
func newTopology(d *config.Database, u *config.User, opts config.Monitor) (*topology, error) {
	user, password := d.ServerCredentials(u)
	t := &topology{}
	var specs []shard.NodeSpec
	for i := range d.Shards {
		sh := &d.Shards[i]
		id := shard.ShardID(i)
		p := shard.NodeID{Shard: id, Name: sh.Primary.Name}
		t.primaries = append(t.primaries, p)
		specs = append(specs, shard.NodeSpec{ID: p, Role: shard.RolePrimary, DSN: nodeDSN(&sh.Primary, user, password, d.ServerDatabase)})
		var reps []shard.NodeID
		for k := range sh.Replicas {
			r := shard.NodeID{Shard: id, Name: sh.Replicas[k].Name}
			reps = append(reps, r)
			specs = append(specs, shard.NodeSpec{ID: r, Role: shard.RoleReplica, DSN: nodeDSN(&sh.Replicas[k], user, password, d.ServerDatabase)})
		}
		t.replicas = append(t.replicas, reps)
	}
	mon, err := shard.NewMonitor(specs, shard.Options{Interval: opts.Interval, Timeout: opts.Timeout, BanBase: opts.BanBase, BanMax: opts.BanMax,
		FollowPromotion: opts.FollowPromotion})
	if err != nil {
		return nil, fmt.Errorf("database %s: lag monitor: %w", d.Name, err)
	}
	t.mon = mon
	return t, nil
}

// readTarget picks where a read on shard id runs: a replica node, or nil
// for the primary. A non-nil error is the answer when reads.fallback is
// error and no replica qualifies.
func (s *session) readTarget(ctx context.Context, id shard.ShardID) (*config.Node, *pgError) {
	t := s.db.topo
	r := &s.srv.conf().Reads
	if t == nil || !r.Replicas || s.target == targetPrimary || len(t.replicas[id]) == 0 {
		return nil, nil
	}
	floor := s.minLSN
	if s.ryw {
		if at := s.wroteAt[id]; !at.IsZero() {
			lsn, ok := t.mon.PrimaryLSNAfter(id, at)
			if !ok && r.ReadYourWritesWait > 0 {
				lsn, ok = s.waitFloor(ctx, id, at)
			}
			if !ok {
				return nil, nil // the commit's position is not known yet
			}
			floor = max(floor, lsn)
		}
	}
	deadline := time.Now().Add(r.ReadYourWritesWait)
	for {
		if n := s.pickReplica(id, floor); n != nil {
			return n, nil
		}
		if floor == 0 || r.ReadYourWritesWait <= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(t.mon.Options().Interval / 4)
	}
	if r.Fallback == config.FallbackError {
		return nil, &pgError{Code: "57P03",
			Message: fmt.Sprintf("pgshard: no replica of shard %s is within the lag limits for this read", s.db.cfg.Shards[id].Name),
			Hint:    "Retry later, or send the read to the primary: /* pgshard: target=primary */ or SET pgshard.target = primary."}
	}
	return nil, nil
}

// waitFloor waits, up to reads.read_your_writes_wait, for a poll of the
// primary that started after at.
func (s *session) waitFloor(ctx context.Context, id shard.ShardID, at time.Time) (shard.LSN, bool) {
	mon := s.db.topo.mon
	deadline := time.Now().Add(s.srv.conf().Reads.ReadYourWritesWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(mon.Options().Interval / 4)
		if lsn, ok := mon.PrimaryLSNAfter(id, at); ok {
			return lsn, true
		}
	}
	return 0, false
}

// pickReplica returns an eligible replica of shard id that has replayed
// past floor, preferring the less busy of two random candidates.
func (s *session) pickReplica(id shard.ShardID, floor shard.LSN) *config.Node {
	t := s.db.topo
	r := &s.srv.conf().Reads
	primaryDown := false
	if st, ok := t.mon.State(t.primaries[id]); ok && !st.Healthy {
		primaryDown = true
	}
	var cands []int
	for k, nid := range t.replicas[id] {
		ok := t.mon.Eligible(nid, r.MaxLagBytes, r.MaxLag)
		if !ok && primaryDown {
			ok = s.currentWithoutPrimary(nid, id)
		}
		if ok && (floor == 0 || t.mon.ReplayedPast(nid, floor)) {
			cands = append(cands, k)
		}
	}
	var k int
	switch len(cands) {
	case 0:
		return nil
	case 1:
		k = cands[0]
	default:
		a, b := cands[rand.IntN(len(cands))], cands[rand.IntN(len(cands))]
		if a != b && s.replicaBusy(id, b) < s.replicaBusy(id, a) {
			a = b
		}
		k = a
	}
	return &s.db.cfg.Shards[id].Replicas[k]
}

// currentWithoutPrimary: with the primary down no new WAL exists, so a
// healthy replica within max_lag_bytes of the primary's last reported
// position still serves reads.
func (s *session) currentWithoutPrimary(nid shard.NodeID, id shard.ShardID) bool {
	st, ok := s.db.topo.mon.State(nid)
	if !ok || !st.Healthy || st.Banned || !st.InRecovery || st.RoleMismatch {
		return false
	}
	last := s.db.topo.mon.LastPrimaryLSN(id)
	return last != 0 && last.Sub(st.ReplayLSN) <= s.srv.conf().Reads.MaxLagBytes
}

func (s *session) replicaBusy(id shard.ShardID, k int) int {
	return s.nodePool(id, &s.db.cfg.Shards[id].Replicas[k]).busy()
}

type nodePoolKey struct {
	user *config.User
	node *config.Node
}

// nodePool returns the pool of node (of shard id) for the session's user,
// cached without building the server's string key on every read.
func (s *session) nodePool(id shard.ShardID, node *config.Node) *pool {
	k := nodePoolKey{s.user, node}
	if p, ok := s.db.nodePools.Load(k); ok {
		return p.(*pool)
	}
	p := s.srv.pool(s.db, s.user, &s.db.cfg.Shards[id], node)
	s.db.nodePools.Store(k, p)
	return p
}

// banNode takes a node out of the read rotation after a connection-level
// failure.
func (s *session) banNode(id shard.ShardID, node *config.Node, err error) {
	if s.db.topo != nil {
		s.db.topo.mon.Ban(shard.NodeID{Shard: id, Name: node.Name}, err)
	}
}

// attachRead attaches a connection for a read on shard id: an eligible
// replica when there is one, else the primary. A replica whose connection
// fails is banned and the next choice is tried.
func (s *session) attachRead(ctx context.Context, id shard.ShardID) error {
	for range 3 {
		node, pe := s.readTarget(ctx, id)
		if pe != nil {
			return pe
		}
		if node == nil {
			break
		}
		err := s.attachNode(ctx, id, node)
		if err == nil {
			s.onReplica = s.isReplica(s.sc)
			s.req.replica = s.req.replica || s.onReplica
			return nil
		}
		var pe2 *pgError
		if errors.As(err, &pe2) && !strings.HasPrefix(pe2.Code, "08") {
			return err
		}
		s.banNode(id, node, err)
	}
	if err := s.attachNode(ctx, id, nil); err != nil {
		return err
	}
	s.onReplica = false
	return nil
}

// isReplica says whether sc is a replica's connection.
func (s *session) isReplica(sc *serverConn) bool {
	id := s.shardOf(sc)
	if id < 0 || sc.pool.node == &s.db.cfg.Shards[id].Primary {
		return false
	}
	// A promoted replica that takes the shard's writes is its primary now:
	// nothing run there is retried elsewhere as a replica read would be.
	p, _ := s.promotedPool(id)
	return p != sc.pool
}

// noteWrite records that a statement that may write ran on shard id; its
// commit time becomes the read-your-writes floor once the transaction
// ends.
func (s *session) noteWrite(id shard.ShardID) {
	if s.pendingWrites == nil {
		s.pendingWrites = map[shard.ShardID]bool{}
	}
	s.pendingWrites[id] = true
}

// settleWrites turns writes of a finished transaction into floors.
func (s *session) settleWrites() {
	if s.txStatus == 'I' {
		s.txKeyHint = "" // SET LOCAL pgshard.shard_key ends with the transaction
	}
	if s.txStatus != 'I' || len(s.pendingWrites) == 0 {
		return
	}
	now := time.Now()
	if s.wroteAt == nil {
		s.wroteAt = map[shard.ShardID]time.Time{}
	}
	for id := range s.pendingWrites {
		s.wroteAt[id] = now
		delete(s.pendingWrites, id)
	}
}

const (
	targetAuto    = ""
	targetPrimary = "primary"
)

// shardOfNode returns the shard a configured node belongs to.
func (s *session) shardOfNode(n *config.Node) shard.ShardID {
	for i := range s.db.cfg.Shards {
		sh := &s.db.cfg.Shards[i]
		if n == &sh.Primary {
			return shard.ShardID(i)
		}
		for k := range sh.Replicas {
			if n == &sh.Replicas[k] {
				return shard.ShardID(i)
			}
		}
	}
	return -1
}
