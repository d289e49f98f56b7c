// Command pgshard-demo starts a local sharded PostgreSQL cluster in Docker
// and keeps it up until Ctrl-C or SIGTERM, then removes it. It is separate
// from the pgshard binary so the proxy, which may run as a sidecar, carries
// no Docker client.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/pgshard/pgshard/integration/cluster"
)

type cli struct {
	Shards   int `default:"2" help:"Number of shards."`
	Replicas int `default:"1" help:"Streaming replicas per shard."`
}

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
	fmt.Fprintln(os.Stderr, "cluster up; press Ctrl-C to stop and remove it")
	<-ctx.Done()
	return nil
}
