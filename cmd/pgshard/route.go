package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// routeCmd answers where statements would run, without connecting to any
// server: the same router the proxy builds, over the configured shards.
type routeCmd struct {
	Config   string   `required:"" type:"existingfile" help:"Configuration file (YAML) whose sharding section to route by."`
	Database string   `help:"Database whose tables and shards to use; required when the file configures several."`
	SQL      string   `arg:"" name:"sql" help:"The SQL to route; several statements separated by ; are routed one by one."`
	Params   []string `name:"param" sep:"none" help:"Value of the next $n parameter, in text as a Bind sends it (repeat for $1, $2, ...): the statement is routed as a prepared statement bound to them."`
}

func (c *routeCmd) Run() error { return c.run(os.Stdout) }

// errRefused is returned when a statement would be refused, so the exit
// status tells scripts.
var errRefused = errors.New("refused")

// run prints each statement's route. It returns an error naming how many
// statements would be refused, or nil when every one routes.
func (c *routeCmd) run(w io.Writer) error {
	cfg, err := config.Load(c.Config)
	if err != nil {
		return err
	}
	d, err := c.database(cfg)
	if err != nil {
		return err
	}
	// As the server builds it (wire.newRouter).
	schema, err := router.NewSchema(d)
	if err != nil {
		return fmt.Errorf("database %s: %w", d.Name, err)
	}
	maps := shard.NewHolder(shard.EqualMap(len(d.Shards)))
	r := router.New(schema, maps, 16)

	stmts := r.Simple(c.SQL)
	if len(stmts) == 0 {
		return errors.New("no statement to route")
	}
	var params [][]byte
	if want := sqltext.Normalize(c.SQL).Params; want > 0 || len(c.Params) > 0 {
		// The extended protocol: one statement, planned at Parse and
		// routed at Bind by its parameters.
		switch {
		case len(stmts) != 1:
			return fmt.Errorf("a statement with parameters is routed alone (a Parse holds one statement); got %d", len(stmts))
		case len(c.Params) != want:
			return fmt.Errorf("the statement takes %d parameter(s) and %d --param were given: give one --param per parameter, in order ($1 first)", want, len(c.Params))
		}
		params = make([][]byte, len(c.Params))
		formats := make([]int16, len(c.Params))
		for i, v := range c.Params {
			params[i] = []byte(v)
		}
		text := stmts[0].Text
		stmts[0].Route = r.Bind(r.Prepare(text), text, params, formats)
	}
	refused := 0
	var b strings.Builder
	for i, st := range stmts {
		if i > 0 {
			b.WriteByte('\n')
		}
		if describe(&b, d, r, st, params) {
			refused++
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if refused > 0 {
		return fmt.Errorf("%d of %d statement(s) %w", refused, len(stmts), errRefused)
	}
	return nil
}

// database picks the database to route for: the named one, else the only one.
func (c *routeCmd) database(cfg *config.Config) (*config.Database, error) {
	names := make([]string, len(cfg.Databases))
	for i := range cfg.Databases {
		names[i] = cfg.Databases[i].Name
	}
	if c.Database != "" {
		if d := cfg.Database(c.Database); d != nil {
			return d, nil
		}
		return nil, fmt.Errorf("%s configures no database %q (it has %s)", c.Config, c.Database, strings.Join(names, ", "))
	}
	if len(cfg.Databases) != 1 {
		return nil, fmt.Errorf("%s configures %d databases (%s): choose one with --database", c.Config, len(cfg.Databases), strings.Join(names, ", "))
	}
	return &cfg.Databases[0], nil
}

// describe writes one statement's route, bound to params if not nil, and
// reports whether it is refused.
func describe(b *strings.Builder, d *config.Database, r *router.Router, st router.Statement, params [][]byte) bool {
	rt := st.Route
	fmt.Fprintf(b, "statement: %s\n", strings.TrimSpace(st.Text))
	if c := rt.NeedColumns; c != nil {
		fmt.Fprintf(b, "  route: shard\n  shards: chosen at run time: pgshard reads the column order of %s from a server to find shard key %s in each row (list the columns to spare that round trip)\n  target: primary\n", c.Table, c.Table.Key)
		return false
	}
	if k := rt.NeedKeys; k != nil {
		fmt.Fprintf(b, "  route: shard\n  shards: chosen at run time: pgshard evaluates the default of %s.%s (a sequence, an identity or gen_random_uuid()) on the default shard %s for each of the %d row(s) that leave it out, writes the keys into the statement and sends each row to its key's shard\n  target: primary\n",
			k.Table.Table, k.Table.Table.Key, d.Shards[schemaDefault(d)].Name, k.Rows)
		return false
	}
	if rt.Staging() != nil {
		b.WriteString("  route: staged: each stage below runs first, routed as a statement of its own; its result is passed to the statement (as parameters, or written in as constants), which is then routed\n")
		fmt.Fprintf(b, "  detail: %s\n", strings.ReplaceAll(rt.Describe(), "\n", "\n  "))
		return false
	}
	fmt.Fprintf(b, "  route: %s\n", rt.Kind)
	if rt.Err != nil {
		fmt.Fprintf(b, "  refused: %s %s\n", rt.Err.Code, rt.Err.Message)
		if rt.Err.Hint != "" {
			fmt.Fprintf(b, "  hint: %s\n", rt.Err.Hint)
		}
		return true
	}
	switch {
	case len(rt.Shards) > 0:
		fmt.Fprintf(b, "  shards: %s\n", shardNames(d, rt.Shards))
	case rt.Kind == router.KindSession:
		b.WriteString("  shards: the session's current one (transaction control and session state follow the session)\n")
	case rt.Kind == router.KindCursor:
		b.WriteString("  shards: those the cursor's query needs; pgshard runs it at DECLARE, merged, and answers FETCH/MOVE/CLOSE itself\n")
	default:
		fmt.Fprintf(b, "  shards: any one: the session's current shard, else the default shard %s\n", d.Shards[schemaDefault(d)].Name)
	}
	switch {
	case rt.Target == "primary" || rt.Plan == nil || !rt.Plan.Read:
		b.WriteString("  target: primary\n")
	default:
		b.WriteString("  target: a replica within the lag limits (reads.replicas), else the primary\n")
	}
	if rt.Plan != nil && rt.Plan.Kind == router.KindShard {
		keys(b, d, r, st, params)
	}
	if rt.Plan != nil && rt.Plan.Copy != nil && rt.Plan.Copy.GenKey {
		ci := rt.Plan.Copy
		fmt.Fprintf(b, "  keys: the column list leaves out %s.%s: pgshard evaluates its default (a sequence, an identity or gen_random_uuid()) on the default shard %s for the rows of each CopyData message, adds the column to the COPY and each row's key in front of it, and sends the row to its key's shard\n",
			ci.Table, ci.Table.Key, d.Shards[schemaDefault(d)].Name)
	}
	detail := rt.Describe()
	for _, id := range rt.Shards {
		// Describe numbers shards; name them too.
		detail = strings.ReplaceAll(detail, fmt.Sprintf("\n  shard %d: ", id), fmt.Sprintf("\n  shard %d (%s): ", id, d.Shards[id].Name))
	}
	fmt.Fprintf(b, "  detail: %s\n", strings.ReplaceAll(detail, "\n", "\n  "))
	return false
}

func schemaDefault(d *config.Database) int {
	for i, s := range d.Shards {
		if s.Name == d.Sharding.DefaultShard {
			return i
		}
	}
	return 0
}

func shardNames(d *config.Database, ids []shard.ShardID) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = d.Shards[id].Name
	}
	return strings.Join(names, ", ")
}

// keys writes which shard key values went to which shard, grouped per
// shard and key column in the order written.
func keys(b *strings.Builder, d *config.Database, r *router.Router, st router.Statement, params [][]byte) {
	if len(sqltext.Normalize(st.Text).Hints) > 0 {
		b.WriteString("  keys: none used: a /* pgshard: ... */ hint picks the shard\n")
		return
	}
	type group struct {
		id                 int // shard index, -1 when unknown
		what, where, label string
	}
	var order []group
	vals := map[group][]string{}
	for _, k := range r.KeysWith(st.Text, params) {
		g := group{int(k.Shard), "keys", "?", k.Table.String() + "." + k.Table.Key}
		if k.New {
			g.what = "new key" // SET key = ...: the rows' own shard, or a move there
		}
		switch {
		case errors.Is(k.Err, router.ErrNoKey):
			g.where = "no shard (the value equals no key value: it matches no row)"
		case errors.Is(k.Err, router.ErrAnyKey):
			g.where = "every shard (the value may equal several key values)"
		case k.Err != nil:
			g.where = "(" + k.Err.Error() + ")"
		case k.Shard >= 0:
			g.where = d.Shards[k.Shard].Name
		}
		if _, seen := vals[g]; !seen {
			order = append(order, g)
		}
		vals[g] = append(vals[g], k.Value)
	}
	slices.SortStableFunc(order, func(a, b group) int { return a.id - b.id })
	for _, g := range order {
		fmt.Fprintf(b, "  %s on %s: %s = %s\n", g.what, g.where, g.label, strings.Join(vals[g], ", "))
	}
}
