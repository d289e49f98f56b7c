package main

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
)

// clientsCmd prints the client sessions a running pgshard reports on its
// admin listener's /clients.
type clientsCmd struct {
	adminFlags `embed:""`
	JSON       bool `name:"json" help:"Print /clients as JSON instead of a table."`

	now func() time.Time // for tests; nil: time.Now
}

func (c *clientsCmd) Run() error { return c.run(os.Stdout) }

func (c *clientsCmd) run(w io.Writer) error {
	var list []admin.ClientStatus
	if done, err := c.getJSON("/clients", c.JSON, w, &list); done || err != nil {
		return err
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return printClients(w, list, now())
}

// printClients writes one line per session: who, from where, its state,
// how long its transaction has been open, and the server backends it holds
// (shard/node:pid), which is what ties a pid in a shard's pg_stat_activity
// or pg_locks to a client.
func printClients(w io.Writer, list []admin.ClientStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tUSER\tDATABASE\tADDRESS\tAPPLICATION\tPOOL\tSTATE\tCONNECTED\tIN TRANSACTION\tSERVERS")
	for _, c := range list {
		inTx := "-"
		if c.TransactionSince != nil {
			inTx = now.Sub(*c.TransactionSince).Round(time.Millisecond).String()
		}
		servers := make([]string, len(c.Servers))
		for i, s := range c.Servers {
			servers[i] = s.Shard + "/" + s.Node + ":" + strconv.FormatUint(uint64(s.BackendPID), 10)
		}
		mode := c.PoolMode
		if c.Pinned {
			mode += " (pinned)"
		}
		if c.Listening > 0 {
			mode += fmt.Sprintf(" (listens on %d)", c.Listening)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.PID, c.User, c.Database, c.Address, cmp.Or(c.ApplicationName, "-"), mode, c.State,
			now.Sub(c.ConnectedAt).Round(time.Second).String()+" ago", inTx, cmp.Or(strings.Join(servers, ", "), "-"))
	}
	return tw.Flush()
}

// serversCmd prints the pools' server connections a running pgshard
// reports on its admin listener's /servers.
type serversCmd struct {
	adminFlags `embed:""`
	JSON       bool `name:"json" help:"Print /servers as JSON instead of a table."`

	now func() time.Time // for tests; nil: time.Now
}

func (c *serversCmd) Run() error { return c.run(os.Stdout) }

func (c *serversCmd) run(w io.Writer) error {
	var list []admin.ServerStatus
	if done, err := c.getJSON("/servers", c.JSON, w, &list); done || err != nil {
		return err
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return printServers(w, list, now())
}

// printServers writes one line per server connection: its pool, its
// backend pid (pg_stat_activity.pid on the node), and the client pid that
// holds it or how long it has been idle.
func printServers(w io.Writer, list []admin.ServerStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL	ADDRESS	BACKEND PID	STATE	CLIENT PID	IDLE FOR	OPENED	PREPARED")
	for _, s := range list {
		client, idle := "-", "-"
		if s.ClientPID != 0 {
			client = strconv.FormatUint(uint64(s.ClientPID), 10)
		}
		if s.IdleSince != nil {
			idle = now.Sub(*s.IdleSince).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s/%s@%s/%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", s.Database, s.User, s.Shard, s.Node, s.Address, s.BackendPID, s.State,
			client, idle, now.Sub(s.OpenedAt).Round(time.Second).String()+" ago", s.PreparedStatements)
	}
	return tw.Flush()
}

// terminateCmd ends a client session, as pg_terminate_backend ends a
// backend.
type terminateCmd struct {
	adminFlags `embed:""`
	PID        uint32 `arg:"" name:"pid" help:"The session's pid, as pgshard clients lists it."`
}

func (c *terminateCmd) Run() error { return c.run(os.Stdout) }

func (c *terminateCmd) run(w io.Writer) error {
	if _, err := c.call(http.MethodPost, "/clients/terminate?pid="+strconv.FormatUint(uint64(c.PID), 10), http.StatusOK); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "terminated %d\n", c.PID)
	return err
}
