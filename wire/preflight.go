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
	res := conn.ExecParams(ctx, "SELECT current_setting('server_version'), pg_catalog.pg_is_in_recovery()::text, current_setting('max_prepared_transactions')",
		nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 {
		nc.Err = fmt.Errorf("reading its settings: %v", res.Err)
		return nc
	}
	row := res.Rows[0]
	nc.Version, nc.InRecovery = string(row[0]), string(row[1]) == "true"
	nc.MaxPrepared, _ = strconv.Atoi(string(row[2]))
	return nc
}
