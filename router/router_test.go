package router

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testRouter is a router over three shards; each change edits the
// database's configuration first.
func testRouter(t testing.TB, changes ...func(*config.Database)) *Router {
	t.Helper()
	d := &config.Database{
		Shards: []config.Shard{{Name: "s0"}, {Name: "s1"}, {Name: "s2"}},
		Sharding: config.Sharding{
			Tables: []config.ShardedTable{
				{Name: "users", Key: "user_id", KeyType: "bigint"},
				{Name: "orders", Key: "user_id", KeyType: "bigint"},
				{Name: "sessions", Key: "token", KeyType: "uuid"},
				{Name: "pgbench_accounts", Key: "aid", KeyType: "bigint"},
				{Name: "app.accounts", Key: "account_id", KeyType: "bigint"},
			},
			ReferenceTables: []string{"countries", "app.plans"},
			DefaultShard:    "s0",
			KeylessWrites:   config.KeylessRefuse,
			Functions: []config.RoutedFunction{
				{Name: "place_order", KeyArg: 1, Table: "orders"},
				{Name: "app.order_total", KeyArg: 2, Table: "orders"},
				{Name: "renew", KeyArg: 1, Table: "sessions"},
			},
		},
	}
	for _, change := range changes {
		change(d)
	}
	s, err := NewSchema(d)
	if err != nil {
		t.Fatal(err)
	}
	return New(s, shard.NewHolder(shard.EqualMap(3)), 1000)
}

// shardsOf is the sorted set of shards that own keys under m.
func shardsOf(m *shard.Map, keys ...int64) []shard.ShardID {
	var ids []shard.ShardID
	for _, k := range keys {
		if id := m.Lookup(shard.HashInt(k)); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestGoldenRoutes plans representative statements and compares the routes
// with testdata/routes.golden (go test ./router -run Golden -update).
func TestGoldenRoutes(t *testing.T) {
	lines, err := readLines("testdata/routes.sql")
	if err != nil {
		t.Fatal(err)
	}
	r := testRouter(t)
	var out strings.Builder
	for _, line := range lines {
		for _, st := range r.Simple(line) {
			fmt.Fprintf(&out, "%s\n  %s\n", st.Text, strings.ReplaceAll(st.Route.Describe(), "\n", "\n  "))
		}
	}
	golden := "testdata/routes.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("routes differ from %s (run with -update and review the diff):\n%s", golden, out.String())
	}
}

// readLines returns the statements of a .sql test file: one per line,
// without blank lines and # comments.
func readLines(name string) ([]string, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(src), "\n") {
		if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, nil
}

func TestSavepointName(t *testing.T) {
	for _, tc := range []struct {
		stmt, want string
		ok         bool
	}{
		{"SAVEPOINT a", "a", true},
		{"savepoint Outer_Block", "outer_block", true},
		{`SAVEPOINT "Mixed Case"`, "Mixed Case", true},
		{"RELEASE SAVEPOINT s1", "s1", true},
		{"release s1", "s1", true},
		{"ROLLBACK TO s2", "s2", true},
		{"ROLLBACK WORK TO SAVEPOINT s2", "s2", true},
		{"ROLLBACK TRANSACTION TO s3", "s3", true},
		{"ROLLBACK", "", false},
		{"SELECT 1", "", false},
		{"SAVEPOINT a; SAVEPOINT b", "", false},
	} {
		if got, ok := SavepointName(tc.stmt); got != tc.want || ok != tc.ok {
			t.Errorf("SavepointName(%q) = %q, %v; want %q, %v", tc.stmt, got, ok, tc.want, tc.ok)
		}
	}
}
