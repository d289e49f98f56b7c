package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"github.com/pgshard/pgshard/internal/admin"
)

// cli is the command tree; each subcommand is a type with a Run method.
type cli struct {
	Serve     serveCmd     `cmd:"" help:"Run the proxy."`
	Version   versionCmd   `cmd:"" help:"Print pgshard's version."`
	Check     checkCmd     `cmd:"" help:"Validate a configuration file."`
	Route     routeCmd     `cmd:"" help:"Print where statements would run (shards, split SQL, merge), without connecting to any server. Exits 1 if one would be refused."`
	Status    statusCmd    `cmd:"" help:"Print the topology a running pgshard reports on its admin listener: nodes with role, state, lag and bans; pools."`
	Clients   clientsCmd   `cmd:"" help:"Print the client sessions a running pgshard reports on its admin listener: user, address, application, state, open transaction, and the server backends (shard/node:pid) each holds."`
	Servers   serversCmd   `cmd:"" help:"Print the pools' server connections a running pgshard reports on its admin listener: pool, backend pid (as pg_stat_activity.pid on the node), in use by which client pid or idle for how long."`
	Terminate terminateCmd `cmd:"" help:"End a client session (its pid as pgshard clients lists it), as pg_terminate_backend ends a backend: its statement is cancelled, it gets FATAL 57P01 and its transaction is rolled back."`
	Pause     pauseCmd     `cmd:"" help:"Hold a running pgshard's new transactions back (for a planned switchover or restart of a node) and wait for the open ones to end. Exits 1 if some are still open after --wait; the pause stays in force until resume or --max."`
	Resume    resumeCmd    `cmd:"" help:"Let the transactions a pause holds go."`
	Reload    reloadCmd    `cmd:"" help:"Make a running pgshard read its configuration file again (as SIGHUP does) through its admin listener, and print what changed or why nothing did. Exits 1 if the reload was refused."`
	// Sequences talks to the shards directly, not to a running pgshard.
	Sequences sequencesCmd `cmd:"" help:"Give each shard's sequences of sharded tables' serial and identity columns a block of values of its own, so ids do not repeat across shards (prints the ALTER SEQUENCEs; --apply runs them on the primaries)."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("pgshard"),
		kong.Description("Sharding router and replica-aware proxy for PostgreSQL."),
		kong.UsageOnError(),
	)
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgshard:", err)
		os.Exit(1)
	}
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("pgshard", admin.Version())
	return nil
}
