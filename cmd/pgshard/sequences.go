package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/seqrange"
)

// sequencesCmd gives each shard's sequences of sharded tables' serial and
// identity columns a block of values of their own (internal/seqrange), so
// ids do not repeat across shards. It connects to every shard's primary
// with the database's server credentials.
type sequencesCmd struct {
	Config   string        `required:"" type:"existingfile" help:"Configuration file (YAML, see docs/configuration.md)."`
	Database string        `help:"Only this database (as the configuration names it); default every one."`
	Apply    bool          `help:"Run the ALTER SEQUENCE statements; without it they are printed, not run."`
	Timeout  time.Duration `default:"30s" help:"Bound on the whole run."`
}

func (c *sequencesCmd) Run() error { return c.run(os.Stdout) }

func (c *sequencesCmd) run(w io.Writer) error {
	cfg, err := config.Load(c.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	found, changed := false, 0
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		if c.Database != "" && d.Name != c.Database {
			continue
		}
		found = true
		if len(d.Sharding.Tables) == 0 {
			fmt.Fprintf(w, "database %s: no sharded tables\n", d.Name)
			continue
		}
		fmt.Fprintf(w, "database %s:\n", d.Name)
		n, err := arrangeDatabase(ctx, d, c.Apply, w)
		changed += n
		if err != nil {
			return fmt.Errorf("database %s: %w", d.Name, err)
		}
	}
	if !found {
		return fmt.Errorf("no database %q in %s", c.Database, c.Config)
	}
	if !c.Apply && changed > 0 {
		fmt.Fprintf(w, "%d sequence(s) to confine: run again with --apply\n", changed)
	}
	if c.Apply && changed > 0 {
		fmt.Fprintf(w, "%d sequence(s) confined: a running pgshard sees it at its next catalog round (within a minute), or at once after `pgshard reload`\n", changed)
	}
	return nil
}

// arrangeDatabase connects to d's primaries and arranges its sequences.
func arrangeDatabase(ctx context.Context, d *config.Database, apply bool, w io.Writer) (int, error) {
	user, password := d.ServerCredentials(nil)
	var shards []seqrange.Shard
	defer func() {
		for _, s := range shards {
			s.Conn.Close(context.Background())
		}
	}()
	for i := range d.Shards {
		sh := &d.Shards[i]
		conn, err := pgconn.Connect(ctx, sh.Primary.DSN(user, password, d.ServerDatabase))
		if err != nil {
			return 0, fmt.Errorf("shard %s: connecting to its primary %s: %w", sh.Name, sh.Primary.Name, err)
		}
		shards = append(shards, seqrange.Shard{Name: sh.Name, Conn: conn})
	}
	var tables []seqrange.Table
	for _, t := range d.Sharding.Tables {
		schema, name, ok := strings.Cut(t.Name, ".")
		if !ok {
			schema, name = "", t.Name
		}
		tables = append(tables, seqrange.Table{Schema: schema, Name: name})
	}
	return seqrange.Arrange(ctx, shards, tables, apply, w)
}
