package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
)

// statusCmd prints the topology a running pgshard reports on its admin
// listener's /status.
type statusCmd struct {
	adminFlags `embed:""`
	JSON       bool `name:"json" help:"Print /status as JSON instead of tables."`

	now func() time.Time // for tests; nil: time.Now
}

func (c *statusCmd) Run() error { return c.run(os.Stdout) }

func (c *statusCmd) run(w io.Writer) error {
	var st admin.Status
	if done, err := c.getJSON("/status", c.JSON, w, &st); done || err != nil {
		return err
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return printStatus(w, &st, now())
}

// printStatus writes the readiness line, the nodes table, the poll errors
// and the pools table.
func printStatus(w io.Writer, st *admin.Status, now time.Time) error {
	if st.Ready {
		fmt.Fprintln(w, "ready")
	} else {
		fmt.Fprintln(w, "not ready:", st.Reason)
	}
	if st.PeerID != 0 {
		var others []string
		for _, p := range st.Peers {
			if p.ID != st.PeerID {
				others = append(others, fmt.Sprintf("%d (%s)", p.ID, p.Address))
			}
		}
		fmt.Fprintf(w, "peer %d; cancel requests for clients of the others pass on to them: %s\n", st.PeerID, cmp.Or(strings.Join(others, ", "), "none listed"))
	}
	for _, p := range st.Paused {
		fmt.Fprintf(w, "paused: %s, new transactions held, %d open, until %s unless resumed\n", p.Name, p.OpenTransactions, p.Until.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATABASE\tSHARD\tNODE\tROLE\tSTATE\tLAG BYTES\tLAG SECONDS\tBANNED")
	var errs []string
	for _, d := range st.Databases {
		for _, sh := range d.Shards {
			for _, n := range sh.Nodes {
				lagBytes, lagSeconds, banned := "-", "-", "-"
				if n.LagBytes != nil {
					lagBytes = strconv.FormatInt(*n.LagBytes, 10)
				}
				if n.LagSeconds != nil {
					lagSeconds = strconv.FormatFloat(*n.LagSeconds, 'f', 3, 64)
				}
				if n.BannedUntil != nil {
					banned = "until " + n.BannedUntil.UTC().Format(time.RFC3339)
					if left := n.BannedUntil.Sub(now); left > 0 {
						banned += " (" + left.Round(100*time.Millisecond).String() + " left)"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, sh.Name, n.Name, n.Role, n.State, lagBytes, lagSeconds, banned)
				if n.Error != "" {
					errs = append(errs, fmt.Sprintf("%s/%s/%s (%s): %s", d.Name, sh.Name, n.Name, n.Address, n.Error))
				}
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		fmt.Fprintln(w)
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
	}
	if err := printWarnings(w, st); err != nil {
		return err
	}
	if len(st.Pools) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tOPEN\tIDLE\tIN USE\tWAITING\tLONGEST WAIT\tWAITS\tWAITED\tBOUND WAITS\tWAIT TIMEOUTS\tCONNECT ERRORS")
	for _, p := range st.Pools {
		fmt.Fprintf(tw, "%s/%s@%s/%s\t%d\t%d\t%d\t%d\t%.3fs\t%d\t%.3fs\t%d\t%d\t%d\n", p.Database, p.User, p.Shard, p.Node,
			p.Open, p.Idle, p.InUse, p.Waiting, p.LongestWait, p.Waits, p.Waited, p.BudgetWaits, p.WaitTimeouts, p.ConnectErrors)
	}
	return tw.Flush()
}

// printWarnings lists what the catalog checks found wrong in the
// databases' schemas, if anything.
func printWarnings(w io.Writer, st *admin.Status) error {
	n := 0
	for _, d := range st.Databases {
		n += len(d.Warnings)
	}
	if n == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATABASE\tSCHEMA WARNING\tOBJECT\tDETAIL")
	for _, d := range st.Databases {
		for _, sw := range d.Warnings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, sw.Kind, sw.Object, sw.Detail)
		}
	}
	return tw.Flush()
}
