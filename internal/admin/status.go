package admin

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

// Status is the body of /status.
type Status struct {
	// Version is this pgshard's build (Version).
	Version string `json:"version"`
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"` // why not ready
	// Paused are the databases whose new transactions a pause holds back
	// (pgshard pause), with when each pause ends by itself.
	Paused []PausedDatabase `json:"paused"`
	// PeerID is this pgshard's peer_id (0: no peering), and Peers the
	// group's members, as configured.
	PeerID    int                `json:"peer_id"`
	Peers     []config.Peer      `json:"peers"`
	Databases []DatabaseStatus   `json:"databases"`
	Pools     []metrics.PoolStat `json:"pools"`
}

// DatabaseStatus is one configured database.
type DatabaseStatus struct {
	Name   string        `json:"name"`
	Shards []ShardStatus `json:"shards"`
	// Warnings are what the catalog checks found wrong in its schema.
	Warnings []metrics.SchemaWarning `json:"warnings"`
}

// ShardStatus is one shard: its primary first, then its replicas.
type ShardStatus struct {
	Name  string       `json:"name"`
	Nodes []NodeStatus `json:"nodes"`
}

// Node states, in the order they are decided.
const (
	StateUnknown      = "unknown"       // the monitor has not reported the node
	StateBanned       = "banned"        // kept out of routing after connection failures
	StateDown         = "down"          // its last poll failed, or is too old
	StateRoleMismatch = "role-mismatch" // not what it is configured to be
	StatePromoted     = "promoted"      // a replica promoted, taking its shard's writes (monitor.follow_promotion)
	StateLagging      = "lagging"       // a replica up but not taking reads (lag over the limits, or unknown)
	StateUnhealthy    = "unhealthy"     // a primary up but not taking traffic
	StateUp           = "up"
)

// NodeStatus is one node.
type NodeStatus struct {
	Name        string     `json:"name"`
	Role        string     `json:"role"` // as configured: primary or replica
	Address     string     `json:"address"`
	State       string     `json:"state"`
	Up          bool       `json:"up"`
	Healthy     bool       `json:"healthy"`
	LagBytes    *int64     `json:"lag_bytes"`   // null while unknown (and for primaries)
	LagSeconds  *float64   `json:"lag_seconds"` // likewise
	BannedUntil *time.Time `json:"banned_until,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// NodeState derives a node's state from what the monitor reports.
func NodeState(n *metrics.NodeStat) string {
	switch {
	case n == nil:
		return StateUnknown
	case n.Banned:
		return StateBanned
	case !n.Up:
		return StateDown
	case n.Promoted:
		return StatePromoted
	case n.RoleMismatch:
		return StateRoleMismatch
	case n.Healthy:
		return StateUp
	case n.Role == "replica":
		return StateLagging
	default:
		return StateUnhealthy
	}
}

// Topology is a StatusSource built from the configuration (which nodes
// exist) and the metrics sources (how they are). Its fields are read per
// request; set them before serving.
type Topology struct {
	// Config returns the configuration in force, which a reload may
	// replace (wire.Server.Config); nil: no nodes known.
	Config func() *config.Config
	Nodes  metrics.NodeSource   // nil: no monitor; every node is unknown and readiness ignores nodes
	Pools  metrics.PoolSource   // nil: no pools listed
	Schema metrics.SchemaSource // nil: no schema warnings listed
	// Paused lists the databases a pause holds now (wire.Server.Paused);
	// nil: none listed.
	Paused func() []PausedDatabase
	// Listening reports whether the data port accepts connections; nil
	// counts as listening.
	Listening func() bool
}

type nodeKey struct{ db, shard, node string }

func (t *Topology) config() *config.Config {
	if t.Config == nil {
		return nil
	}
	return t.Config()
}

func (t *Topology) nodes() map[nodeKey]*metrics.NodeStat {
	m := map[nodeKey]*metrics.NodeStat{}
	if t.Nodes == nil {
		return m
	}
	stats := t.Nodes.Nodes()
	for i := range stats {
		n := &stats[i]
		m[nodeKey{n.Database, n.Shard, n.Node}] = n
	}
	return m
}

// Ready: the data port is listening and, when a monitor reports nodes,
// every database has a reachable primary in its primary role, or a
// promoted replica pgshard follows (at least one of its shards can be
// written to).
func (t *Topology) Ready() (bool, string) {
	if t.Listening != nil && !t.Listening() {
		return false, "the data port is not listening"
	}
	cfg := t.config()
	if t.Nodes == nil || cfg == nil {
		return true, ""
	}
	nodes := t.nodes()
	var missing []string
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		reachable := false
		for j := range d.Shards {
			sh := &d.Shards[j]
			n := nodes[nodeKey{d.Name, sh.Name, sh.Primary.Name}]
			if n != nil && n.Up && !n.RoleMismatch {
				reachable = true
			}
			for k := range sh.Replicas {
				if r := nodes[nodeKey{d.Name, sh.Name, sh.Replicas[k].Name}]; r != nil && r.Up && r.Promoted {
					reachable = true
				}
			}
		}
		if !reachable {
			missing = append(missing, strconv.Quote(d.Name))
		}
	}
	if len(missing) > 0 {
		return false, "no primary reachable for database " + strings.Join(missing, ", ")
	}
	return true, ""
}

// Status lists every configured node, with what the monitor says of it.
func (t *Topology) Status() Status {
	st := Status{Version: Version(), Databases: []DatabaseStatus{}, Pools: []metrics.PoolStat{}, Paused: []PausedDatabase{}, Peers: []config.Peer{}}
	st.Ready, st.Reason = t.Ready()
	if t.Paused != nil {
		if p := t.Paused(); p != nil {
			st.Paused = p
		}
	}
	if t.Pools != nil {
		if p := t.Pools.Pools(); p != nil {
			st.Pools = p
		}
	}
	cfg := t.config()
	if cfg == nil {
		return st
	}
	st.PeerID, st.Peers = cfg.PeerID, cfg.Peers
	nodes := t.nodes()
	var warnings []metrics.SchemaWarning
	if t.Schema != nil {
		warnings = t.Schema.SchemaWarnings()
	}
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		ds := DatabaseStatus{Name: d.Name, Shards: []ShardStatus{}, Warnings: []metrics.SchemaWarning{}}
		for _, w := range warnings {
			if w.Database == d.Name {
				ds.Warnings = append(ds.Warnings, w)
			}
		}
		for j := range d.Shards {
			sh := &d.Shards[j]
			ss := ShardStatus{Name: sh.Name}
			add := func(n *config.Node, role string) {
				ss.Nodes = append(ss.Nodes, nodeStatus(n, role, nodes[nodeKey{d.Name, sh.Name, n.Name}]))
			}
			add(&sh.Primary, "primary")
			for k := range sh.Replicas {
				add(&sh.Replicas[k], "replica")
			}
			ds.Shards = append(ds.Shards, ss)
		}
		st.Databases = append(st.Databases, ds)
	}
	return st
}

func nodeStatus(n *config.Node, role string, s *metrics.NodeStat) NodeStatus {
	ns := NodeStatus{
		Name:    n.Name,
		Role:    role,
		Address: net.JoinHostPort(n.Host, strconv.Itoa(n.Port)),
		State:   NodeState(s),
	}
	if s == nil {
		return ns
	}
	ns.Up, ns.Healthy, ns.Error = s.Up, s.Healthy, s.Err
	if s.LagKnown {
		b, sec := s.LagBytes, s.Lag.Seconds()
		ns.LagBytes, ns.LagSeconds = &b, &sec
	}
	if s.Banned && !s.BannedUntil.IsZero() {
		u := s.BannedUntil
		ns.BannedUntil = &u
	}
	return ns
}
