// Command pgshard-demo starts a local sharded PostgreSQL cluster in Docker
// with pgshard in front of it on 127.0.0.1:6432, and keeps both up until
// Ctrl-C or SIGTERM, then removes the cluster. It is separate
// from the pgshard binary so the proxy, which may run as a sidecar, carries
// no Docker client.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/wire"
)

type cli struct {
	Shards   int    `default:"2" help:"Number of shards."`
	Replicas int    `default:"1" help:"Streaming replicas per shard."`
	Listen   string `default:"127.0.0.1:6432" help:"Address pgshard listens on."`
	Sample   bool   `default:"true" negatable:"" help:"Create the sample schema (users, orders, countries, app_settings) and its rows through pgshard before printing ready."`
}

// Demo credentials: clients connect as app/app to database app.
const (
	demoUser     = "app"
	demoPassword = "app"
	// demoConsole is the admin console's address; the demo user may use it.
	demoConsole = "127.0.0.1:6434"
)

func main() {
	var args cli
	kong.Parse(&args, kong.Description("Start a local sharded PostgreSQL cluster for trying pgshard."))
	if err := run(args); err != nil {
		fmt.Fprintln(os.Stderr, "pgshard-demo:", err)
		os.Exit(1)
	}
}

func run(args cli) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(os.Stderr, "starting %d shard(s) with %d replica(s) each...\n", args.Shards, args.Replicas)
	c, err := cluster.Start(ctx, cluster.Spec{Shards: args.Shards, Replicas: args.Replicas})
	if err != nil {
		return err
	}
	// Cleanup must run after the signal has cancelled ctx.
	defer func() {
		cleanup, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		fmt.Fprintln(os.Stderr, "removing the demo cluster...")
		if err := c.Terminate(cleanup); err != nil {
			fmt.Fprintln(os.Stderr, "pgshard-demo: cleanup:", err)
		}
	}()

	for _, s := range c.Shards {
		for _, n := range s.Nodes() {
			fmt.Printf("node %d/%s %s %s\n", s.Index, n.Name, n.Role(), n.DSN())
		}
	}

	srv, cfg, ln, err := startProxy(c, args.Listen)
	if err != nil {
		return err
	}
	// The admin listener: /metrics, /status, /healthz, /readyz.
	reg := metrics.New()
	srv.UseMetrics(reg)
	aln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin listen: %w", err)
	}
	adm := admin.New(cfg.Admin, reg, &admin.Topology{Config: srv.Config, Nodes: srv, Pools: srv, Schema: srv, Paused: srv.Paused}, nil)
	adm.HandleClients(srv.Clients)
	adm.HandleConfig(srv.Config)
	adm.HandleServers(srv.Servers)
	adm.HandleTerminate(srv.Terminate)
	adm.HandlePause(srv)
	cln, err := net.Listen("tcp", cfg.Admin.Console)
	if err != nil {
		return fmt.Errorf("admin console listen: %w", err)
	}
	adminDone := make(chan error, 2)
	go func() { adminDone <- adm.Serve(ctx, aln) }()
	go func() { adminDone <- srv.ServeConsole(ctx, cln, adm.Console) }()
	defer func() { <-adminDone; <-adminDone }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	dsn := fmt.Sprintf("postgres://%s:%s@%s/app?sslmode=disable", demoUser, demoPassword, ln.Addr())
	if args.Sample {
		start := time.Now()
		n, err := loadSample(ctx, dsn)
		if err != nil {
			stop()
			<-served
			return fmt.Errorf("sample data through pgshard: %w", err)
		}
		fmt.Fprintf(os.Stderr, "sample schema loaded through pgshard in %s: %d countries (every shard), %d users and %d orders (sharded by user_id), %d app_settings (shard s0)\n",
			time.Since(start).Round(time.Millisecond), n.countries, n.users, n.orders, n.settings)
	}
	fmt.Printf("admin http://%s\n", aln.Addr())
	fmt.Printf("console postgres://%s:%s@%s/pgshard?sslmode=disable\n", demoUser, demoPassword, cln.Addr())
	fmt.Printf("ready %s\n", dsn)
	if args.Sample {
		for _, q := range tryQueries {
			fmt.Printf("try %s\n", q)
		}
		fmt.Fprintf(os.Stderr, "run the try queries with psql '%s': the first reads one shard, the second every shard (results merged), the join one shard (orders live with their user), the next every shard, each finding its users' latest orders itself, the next runs its subquery over every shard first and the rest with the average written in, place_order runs on user 42's shard, the UPDATE runs its subquery first, and the INSERT takes the new user's key from the sequence on the default shard before sending the row to its key's shard, and the last UPDATE moves user 7's orders to user 9's shard (with 2 shards, another one); PGSHARD ROUTE <query> shows where a query runs\n", dsn)
	}
	fmt.Fprintln(os.Stderr, "pgshard and the cluster are up; press Ctrl-C to stop and remove them")
	<-ctx.Done()
	return <-served
}

// startProxy serves pgshard in front of the cluster, configured through the
// same loader as `pgshard serve`.
func startProxy(c *cluster.Cluster, listen string) (*wire.Server, *config.Config, net.Listener, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nshutdown_timeout: 5s\nadmin:\n  console: %s\n", listen, demoConsole)
	fmt.Fprintf(&b, "users:\n  - name: %s\n    password: %s\n    admin: true\n", demoUser, demoPassword)
	fmt.Fprintf(&b, "databases:\n  - name: app\n    server_database: postgres\n    server_user: postgres\n    server_password: %s\n    shards:\n", cluster.Password)
	for _, s := range c.Shards {
		fmt.Fprintf(&b, "      - name: s%d\n        primary: %s\n", s.Index, nodeYAML(s.Primary))
		if len(s.Replicas) > 0 {
			b.WriteString("        replicas:\n")
			for _, r := range s.Replicas {
				fmt.Fprintf(&b, "          - %s\n", nodeYAML(r))
			}
		}
	}
	b.WriteString(shardingYAML)
	cfg, err := config.Parse([]byte(b.String()), "demo.yaml")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo config: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := wire.NewServer(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listen: %w", err)
	}
	return srv, cfg, ln, nil
}

func nodeYAML(n *cluster.Node) string {
	host, port, _ := net.SplitHostPort(n.Addr())
	return fmt.Sprintf("{name: %s, host: %s, port: %s, tls: disable}", strings.ReplaceAll(n.Name, "_", "-"), host, port)
}
