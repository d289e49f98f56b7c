package router

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// Table is a sharded table: its rows are placed by the hash of Key.
type Table struct {
	Schema  string // "" when the configuration did not qualify the name
	Name    string
	Key     string
	KeyType shard.KeyType
}

func (t *Table) String() string {
	if t.Schema != "" {
		return t.Schema + "." + t.Name
	}
	return t.Name
}

// Schema is a database's table roles, as configured.
type Schema struct {
	sharded   map[string][]*Table // by lower-case table name
	reference map[string][]string // by table name: the schemas configured ("" = any)
	Default   shard.ShardID
	Shards    int
	// names are the shards' names, by ShardID, for messages.
	names []string
	// KeylessWrites lets UPDATE/DELETE without a key run on every shard.
	KeylessWrites bool
	// KeyMoves lets an UPDATE move rows to the shard owning the key it
	// gives them (keymove.go).
	KeyMoves bool
	// readOnly adds functions to the built-in read-only list.
	readOnly map[string]bool
	// functions are the routed functions, by lower-case name.
	functions map[string][]*Function
	// aggregates are the aggregates the catalog lists beyond the built-in
	// ones (Router.SetAggregates): with keylessUniques, the only parts of
	// a Schema that change.
	aggregates atomic.Pointer[map[string]bool]
	// keylessUniques are, per sharded table, its unique indexes that
	// leave out its key, as the catalog lists them (uniques.go).
	keylessUniques atomic.Pointer[map[*Table][]KeylessIndex]
}

// NewSchema reads the table roles of d.
func NewSchema(d *config.Database) (*Schema, error) {
	s := &Schema{sharded: map[string][]*Table{}, reference: map[string][]string{}, Shards: len(d.Shards)}
	for i, sh := range d.Shards {
		s.names = append(s.names, sh.Name)
		if sh.Name == d.Sharding.DefaultShard {
			s.Default = shard.ShardID(i)
		}
	}
	s.KeylessWrites = d.Sharding.KeylessWrites == config.KeylessAllShards
	s.KeyMoves = d.Sharding.KeyUpdates != config.KeyUpdatesRefuse
	s.readOnly = map[string]bool{}
	for _, f := range d.Sharding.ReadOnlyFunctions {
		s.readOnly[strings.ToLower(f)] = true
	}
	for _, t := range d.Sharding.Tables {
		kt, err := shard.ParseKeyType(t.KeyType)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.Name, err)
		}
		schema, name := splitName(t.Name)
		tab := &Table{Schema: schema, Name: name, Key: strings.ToLower(t.Key), KeyType: kt}
		s.sharded[name] = append(s.sharded[name], tab)
	}
	for _, f := range d.Sharding.Functions {
		tschema, tname := splitName(f.Table)
		var tab *Table
		for _, t := range s.sharded[tname] {
			if t.Schema == tschema {
				tab = t
			}
		}
		if tab == nil {
			return nil, fmt.Errorf("function %s: table %s is not sharded", f.Name, f.Table)
		}
		if s.functions == nil {
			s.functions = map[string][]*Function{}
		}
		schema, name := splitName(f.Name)
		s.functions[name] = append(s.functions[name], &Function{Schema: schema, Name: name, KeyArg: f.KeyArg - 1, Table: tab})
	}
	for _, r := range d.Sharding.ReferenceTables {
		schema, name := splitName(r)
		s.reference[name] = append(s.reference[name], schema)
	}
	return s, nil
}

func splitName(n string) (schema, name string) {
	n = strings.ToLower(n)
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		return n[:i], n[i+1:]
	}
	return "", n
}

// role says what a relation named in a statement is.
type role uint8

const (
	roleLocal     role = iota // lives on the default shard
	roleSharded               // split by key
	roleReference             // copied to every shard
)

// lookup classifies schema.name as written in a statement (schema may be
// empty). An unqualified configured name matches any schema. An
// unqualified name in a statement matches the configured table of that
// name in public, or the only one configured: pgshard does not follow the
// session's search_path, and an application whose tables live in schema
// app (listed as app.users) names them unqualified.
func (s *Schema) lookup(schema, name string) (role, *Table) {
	for _, t := range s.sharded[name] {
		if t.Schema == "" || t.Schema == schema || schema == "" && t.Schema == "public" {
			return roleSharded, t
		}
	}
	for _, sc := range s.reference[name] {
		if sc == "" || sc == schema || schema == "" && sc == "public" {
			return roleReference, nil
		}
	}
	if schema == "" && len(s.sharded[name])+len(s.reference[name]) == 1 {
		if len(s.sharded[name]) == 1 {
			return roleSharded, s.sharded[name][0]
		}
		return roleReference, nil
	}
	return roleLocal, nil
}

// shardName names shard id for a message: its configured name, else its
// index.
func (s *Schema) shardName(id shard.ShardID) string {
	if int(id) >= 0 && int(id) < len(s.names) {
		return s.names[id]
	}
	return fmt.Sprint(int(id))
}
