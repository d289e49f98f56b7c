package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/wire"
)

// checkCmd validates a configuration file without starting the proxy, so a
// change can be tested (by hand or in CI) before it is deployed.
type checkCmd struct {
	Config  string `required:"" type:"existingfile" help:"Configuration file to validate (YAML, see docs/configuration.md)."`
	Connect bool   `help:"Also log in to every node as pgshard will, and check each node's role, two-phase commit and the shards' schemas against the configuration. Exits 1 on a node that cannot be used or a key column of the wrong type; warnings alone do not fail."`
}

func (c *checkCmd) Run() error { return c.run(os.Stdout) }

// run prints one line per database and "config OK", or returns every
// problem found, each naming the file, line and key.
func (c *checkCmd) run(w io.Writer) error {
	cfg, err := config.Load(c.Config)
	if err != nil {
		return err
	}
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		fmt.Fprintf(w, "database %s: %s, %s\n", d.Name, plural(len(d.Shards), "shard"), plural(d.Nodes(), "node"))
	}
	if cfg.PeerID == 0 && len(cfg.Peers) > 0 {
		fmt.Fprintln(w, "note: peers are listed but peer_id is 0: peering is off unless serve gets --peer-id (or PGSHARD_PEER_ID)")
	}
	if warn := wire.ResetWarning(); cfg.SOReusePort && warn != "" {
		fmt.Fprintf(w, "warning: so_reuseport on this machine: %s\n", warn)
	}
	if _, err := fmt.Fprintln(w, "config OK"); err != nil || !c.Connect {
		return err
	}
	srv, err := wire.NewServer(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	checkPeers(w, cfg.Peers, time.Now)
	return printPreflight(w, srv.Preflight(context.Background()))
}

// checkPeers tries a connection to each member of the peering group, as a
// pgshard passes a CancelRequest on to one. A member that cannot be reached
// is a warning, not a problem: it may not have started yet.
func checkPeers(w io.Writer, peers []config.Peer, now func() time.Time) {
	for _, p := range peers {
		start := now()
		conn, err := net.DialTimeout("tcp", p.Address, 2*time.Second)
		if err != nil {
			fmt.Fprintf(w, "warning: peer %d (%s): %v; a CancelRequest for its clients that reaches this pgshard would be lost\n", p.ID, p.Address, err)
			continue
		}
		_ = conn.Close()
		fmt.Fprintf(w, "peer %d (%s): reachable in %s\n", p.ID, p.Address, now().Sub(start).Round(time.Millisecond))
	}
}

// printPreflight writes one line per node and credentials, then the
// warnings, and returns an error naming the problems, if any.
func printPreflight(w io.Writer, pf wire.Preflight) error {
	problems := 0
	for _, n := range pf.Nodes {
		where := fmt.Sprintf("%s/%s/%s (%s, %s) as %s", n.Database, n.Shard, n.Node, n.Address, n.Role, n.User)
		if p := n.Problem(); p != "" {
			fmt.Fprintf(w, "problem: %s: %s\n", where, p)
			problems++
			continue
		}
		fmt.Fprintf(w, "%s: ok, PostgreSQL %s, max_prepared_transactions %d\n", where, n.Version, n.MaxPrepared)
	}
	for _, d := range pf.NoTwoPhase {
		fmt.Fprintf(w, "warning: database %s: a primary has max_prepared_transactions = 0, so writes that span shards are refused (0A000); set it above the cross-shard commits that may run at once\n", d)
	}
	for _, o := range pf.Overbooked {
		who, whose := "this pgshard", "the pools"
		if o.Members > 1 {
			who = fmt.Sprintf("the %d pgshards of the peering group", o.Members)
			whose = fmt.Sprintf("the pools of the %d pgshards of the peering group", o.Members)
		}
		if o.Role == "" {
			fmt.Fprintf(w, "warning: server %s: %s may open up to %d connections to it (each user's pool at pool.size plus reserve_size, the lag monitor's and, on a primary, the notification hub's), but it accepts %d from pgshard's roles (max_connections less its reserved slots); raise max_connections or lower the pool sizes, counting other clients and other pgshard processes too\n", o.Address, who, o.Need, o.Limit)
			continue
		}
		fmt.Fprintf(w, "warning: server %s: %s logging in as %s may open up to %d connections, but the role's CONNECTION LIMIT is %d; raise it (ALTER ROLE %s CONNECTION LIMIT ...) or lower the pool sizes\n", o.Address, whose, o.Role, o.Need, o.Limit, o.Role)
	}
	for _, sw := range pf.Schema {
		prefix := "warning"
		if sw.Kind == "key_type_mismatch" {
			prefix = "problem"
			problems++
		}
		fmt.Fprintf(w, "%s: database %s: %s %s: %s\n", prefix, sw.Database, sw.Kind, sw.Object, sw.Detail)
	}
	if problems > 0 {
		return fmt.Errorf("%s found", plural(problems, "problem"))
	}
	_, err := fmt.Fprintln(w, "servers OK")
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
