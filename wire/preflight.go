package wire

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

// NodeCheck is what a preflight found on one node for one set of server
// credentials.
type NodeCheck struct {
	Database, Shard, Node, Role string // Role: primary or replica, as configured
	Address                     string
	User                        string // the server role pgshard logs in as
	Err                         error  // connecting or asking failed
	Version                     string // server_version
	InRecovery                  bool
	MaxPrepared                 int // max_prepared_transactions
	// Slots is how many connections the server accepts from User in all:
	// max_connections, less the slots it reserves for superusers (and,
	// from PostgreSQL 16, for pg_use_reserved_connections) when User is
	// not a superuser. RoleLimit is the role's CONNECTION LIMIT, -1 for
	// none.
	Slots, RoleLimit int
}

// Problem says what is wrong with the node for pgshard, "" when nothing
// is.
func (c *NodeCheck) Problem() string {
	switch {
	case c.Err != nil:
		return c.Err.Error()
	case c.Role == "primary" && c.InRecovery:
		return "configured as a primary, but it is in recovery (a replica): writes would fail"
	case c.Role == "replica" && !c.InRecovery:
		return "configured as a replica, but it is not in recovery: reads would not follow its primary"
	}
	return ""
}

// Preflight is what `pgshard check --connect` reports: every node reached
// with every set of server credentials the configuration gives for it, and
// what the shards' catalogs show against the configuration.
type Preflight struct {
	Nodes []NodeCheck
	// Schema is what the catalog checks found, as /status reports it.
	Schema []metrics.SchemaWarning
	// NoTwoPhase names the databases of several shards whose primaries
	// include one with max_prepared_transactions = 0.
	NoTwoPhase []string
	// Overbooked lists the servers, and the roles on them, that pgshard
	// alone may ask for more connections than they accept.
	Overbooked []Overbooking
}

// Overbooking is a server (Role "") or a role on it (its CONNECTION
// LIMIT) whose connections pgshard's pools, at their size plus reserve,
// and its lag monitor could exceed.
type Overbooking struct {
	Address string
	Role    string
	Need    int // connections the pgshards of the group may open at most
	Limit   int // connections the server accepts (Slots or RoleLimit)
	// Members is how many pgshards Need counts: the peering group's
	// (peers), each with the same pools, or 1.
	Members int
}

// Preflight connects to every node of every database as pgshard will, and
// runs the catalog checks the server runs after it starts (key column
// types, sequences, unique indexes) once, without listening for clients.
func (srv *Server) Preflight(ctx context.Context) Preflight {
	var pf Preflight
	cfg := srv.conf()
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		creds := serverRoles(cfg, d)
		twoPhase := true
		for k := range d.Shards {
			sh := &d.Shards[k]
			nodes := append([]*config.Node{&sh.Primary}, pointers(sh.Replicas)...)
			for n, node := range nodes {
				role := "replica"
				if n == 0 {
					role = "primary"
				}
				for _, c := range creds {
					nc := checkNode(ctx, d, sh, node, role, c.user, c.password, cfg.Pool.ConnectTimeout)
					if role == "primary" && nc.Err == nil && nc.MaxPrepared == 0 {
						twoPhase = false
					}
					pf.Nodes = append(pf.Nodes, nc)
				}
			}
		}
		if !twoPhase && len(d.Shards) > 1 {
			pf.NoTwoPhase = append(pf.NoTwoPhase, d.Name)
		}
	}
	pf.Overbooked = overbooked(cfg, pf.Nodes)
	for _, db := range srv.databases() {
		srv.checkKeyColumns(ctx, db)
		srv.checkSequenceColumns(ctx, db)
		srv.checkUniqueIndexes(ctx, db)
	}
	srv.closePools()
	pf.Schema = srv.SchemaWarnings()
	return pf
}

type serverRole struct {
	user     string
	password config.Secret
}

// serverRoles are the distinct server credentials d's pools log in with:
// the database's and the users' own.
func serverRoles(cfg *config.Config, d *config.Database) []serverRole {
	var out []serverRole
	for i := range cfg.Users {
		user, password := d.ServerCredentials(&cfg.Users[i])
		if user == "" {
			continue
		}
		r := serverRole{user, password}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// checkNode logs in to node as user and reads what pgshard depends on.
func checkNode(ctx context.Context, d *config.Database, sh *config.Shard, node *config.Node, role, user string, password config.Secret, timeout time.Duration) NodeCheck {
	nc := NodeCheck{Database: d.Name, Shard: sh.Name, Node: node.Name, Role: role, User: user,
		Address: net.JoinHostPort(node.Host, strconv.Itoa(node.Port))}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgconn.Connect(ctx, node.DSN(user, password, d.ServerDatabase))
	if err != nil {
		nc.Err = fmt.Errorf("cannot connect as %s: %w", user, err)
		return nc
	}
	defer conn.Close(context.Background())
	res := conn.ExecParams(ctx, `SELECT current_setting('server_version'), pg_catalog.pg_is_in_recovery()::text,
		current_setting('max_prepared_transactions'), current_setting('max_connections'),
		current_setting('superuser_reserved_connections'), coalesce(current_setting('reserved_connections', true), '0'),
		r.rolsuper::text, r.rolconnlimit::text
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
		nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 {
		nc.Err = fmt.Errorf("reading its settings: %v", res.Err)
		return nc
	}
	row := res.Rows[0]
	num := func(i int) int { n, _ := strconv.Atoi(string(row[i])); return n }
	nc.Version, nc.InRecovery = string(row[0]), string(row[1]) == "true"
	nc.MaxPrepared, nc.Slots, nc.RoleLimit = num(2), num(3), num(7)
	if string(row[6]) != "true" {
		nc.Slots -= num(4) + num(5)
	}
	return nc
}

// overbooked compares what pgshard may open on each server with what the
// nodes' checks read: per server, every pool of every database and user
// there at its size plus reserve, one connection of each database's lag
// monitor and, on a primary, one of its notification hub (LISTEN, where
// a user pools by transaction); per server role, the pools that log in with it. The pools
// count at most a database's max_db_connections per node and a user's
// max_user_connections per server, whichever bounds them more.
func overbooked(cfg *config.Config, nodes []NodeCheck) []Overbooking {
	type roleAt struct{ address, role string }
	// One pool: its database's node, user and server role.
	type poolAt struct {
		addr, node string
		db         *config.Database
		user       *config.User
		role       string
		n          int
	}
	var all []poolAt
	// monitors counts pgshard's own connections per server: the lag
	// monitor's and the notification hub's.
	monitors := map[string]int{}
	var order []string
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		for k := range d.Shards {
			sh := &d.Shards[k]
			for j, node := range append([]*config.Node{&sh.Primary}, pointers(sh.Replicas)...) {
				addr := net.JoinHostPort(node.Host, strconv.Itoa(node.Port))
				if _, seen := monitors[addr]; !seen {
					order = append(order, addr)
					monitors[addr] = 0
				}
				monitor, hub := 0, false
				for u := range cfg.Users {
					role, _ := d.ServerCredentials(&cfg.Users[u])
					if role == "" {
						continue
					}
					p := cfg.PoolOf(d, &cfg.Users[u])
					all = append(all, poolAt{addr: addr, node: sh.Name + "/" + node.Name, db: d, user: &cfg.Users[u], role: role, n: p.Size + p.ReserveSize})
					monitor = 1
					hub = hub || p.Mode == config.PoolTransaction
				}
				if j == 0 && hub {
					monitor++ // the notification hub's listening connection
				}
				monitors[addr] += monitor
			}
		}
	}
	// need bounds what the pools matching keep may open on addr, by the
	// databases' bounds and by the users'.
	need := func(addr string, keep func(poolAt) bool) int {
		type dbNode struct {
			db   *config.Database
			node string
		}
		byDB, byUser := map[dbNode]int{}, map[*config.User]int{}
		for _, p := range all {
			if p.addr == addr && keep(p) {
				byDB[dbNode{p.db, p.node}] += p.n
				byUser[p.user] += p.n
			}
		}
		dbSum, userSum := 0, 0
		for k, n := range byDB {
			dbSum += capped(n, k.db.MaxDBConnections)
		}
		for u, n := range byUser {
			userSum += capped(n, u.MaxUserConnections)
		}
		return min(dbSum, userSum)
	}
	roleNeed := map[roleAt]int{}
	for _, p := range all {
		r := roleAt{p.addr, p.role}
		if _, done := roleNeed[r]; !done {
			roleNeed[r] = need(p.addr, func(q poolAt) bool { return q.role == p.role })
		}
	}
	// Each member of a peering group opens its own pools.
	members := cfg.GroupSize()
	var out []Overbooking
	for _, addr := range order {
		slots, seen := 0, map[string]bool{}
		for _, n := range nodes {
			if n.Address != addr || n.Err != nil || seen[n.User] {
				continue
			}
			seen[n.User] = true
			// The server-wide budget of the least privileged role.
			if slots == 0 || n.Slots < slots {
				slots = n.Slots
			}
			if r := (roleAt{addr, n.User}); n.RoleLimit >= 0 && members*roleNeed[r] > n.RoleLimit {
				out = append(out, Overbooking{Address: addr, Role: n.User, Need: members * roleNeed[r], Limit: n.RoleLimit, Members: members})
			}
		}
		if n := members * (need(addr, func(poolAt) bool { return true }) + monitors[addr]); slots > 0 && n > slots {
			out = append(out, Overbooking{Address: addr, Need: n, Limit: slots, Members: members})
		}
	}
	return out
}

// capped is n bounded by limit; limit 0 bounds nothing.
func capped(n, limit int) int {
	if limit > 0 {
		return min(n, limit)
	}
	return n
}
