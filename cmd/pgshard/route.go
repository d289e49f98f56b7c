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
	Config   string `required:"" type:"existingfile" help:"Configuration file (YAML) whose sharding section to route by."`
	Database string `help:"Database whose tables and shards to use; required when the file configures several."`
	SQL      string `arg:"" name:"sql" help:"The SQL to route; several statements separated by ; are routed one by one."`
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
	refused := 0
	var b strings.Builder
	for i, st := range stmts {
		if i > 0 {
			b.WriteByte('\n')
		}
		if describe(&b, d, maps.Load(), st) {
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

// describe writes one statement's route and reports whether it is refused.
func describe(b *strings.Builder, d *config.Database, m *shard.Map, st router.Statement) bool {
	rt := st.Route
	fmt.Fprintf(b, "statement: %s\n", strings.TrimSpace(st.Text))
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
	default:
		fmt.Fprintf(b, "  shards: any one: the session's current shard, else the default shard %s\n", d.Shards[schemaDefault(d)].Name)
	}
	b.WriteString("  target: primary\n")
	if rt.Plan != nil && rt.Plan.Kind == router.KindShard {
		keys(b, d, m, st)
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

// keys writes which shard key values went to which shard. The router has
// no API answering this, so it re-reads the plan's key sources (literals of
// the statement, or constants in the plan) the way the router evaluates a
// simple query. A statement routed by a hint comment is not routed by its
// keys, and says so.
func keys(b *strings.Builder, d *config.Database, m *shard.Map, st router.Statement) {
	n := sqltext.Normalize(st.Text)
	if len(n.Hints) > 0 {
		b.WriteString("  keys: none used: a /* pgshard: ... */ hint picks the shard\n")
		return
	}
	type key struct {
		table *router.Table
		src   router.Source
	}
	var ks []key
	p := st.Route.Plan
	if p.Insert != nil {
		for _, s := range p.Insert.Rows {
			ks = append(ks, key{p.Insert.Table, s})
		}
	}
	for _, pin := range p.Class {
		for _, s := range pin.Values {
			ks = append(ks, key{pin.Table, s})
		}
	}
	// Per shard, per key column, the values in the order written.
	type group struct {
		id           int // shard index, -1 when unknown
		where, label string
	}
	var order []group
	vals := map[group][]string{}
	for _, k := range ks {
		val, ok := "", true
		switch {
		case k.src.Param > 0:
			ok = false
			val = fmt.Sprintf("$%d", k.src.Param)
		case k.src.Lit >= 0 && k.src.Lit < len(n.Literals):
			val = n.Literals[k.src.Lit].Value
		default:
			val = k.src.Const
		}
		if ok && k.src.Negate {
			val = "-" + val
		}
		id, where := -1, "?"
		if ok {
			if pt, err := shard.PointFromText(k.table.KeyType, val); err == nil {
				id = int(m.Lookup(pt))
				where = d.Shards[id].Name
			} else {
				where = "(" + err.Error() + ")"
			}
		}
		g := group{id, where, k.table.String() + "." + k.table.Key}
		if _, seen := vals[g]; !seen {
			order = append(order, g)
		}
		vals[g] = append(vals[g], val)
	}
	slices.SortStableFunc(order, func(a, b group) int { return a.id - b.id })
	for _, g := range order {
		fmt.Fprintf(b, "  keys on %s: %s = %s\n", g.where, g.label, strings.Join(vals[g], ", "))
	}
}
