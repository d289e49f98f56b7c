package wire

import (
	"slices"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// TestKeyCacheHandsOutInOrder: keys kept for a table and settings come out
// in the order they were taken, only to a request they cover in full, and
// not for another table or other settings; drop forgets them all.
func TestKeyCacheHandsOutInOrder(t *testing.T) {
	users, orders := &router.Table{Name: "users", Key: "user_id"}, &router.Table{Name: "orders", Key: "user_id"}
	a := keyBlockID{table: users, name: "users"}
	var c keyCache
	if got := c.take(a, 1); got != nil {
		t.Fatalf("an empty cache gave %v", got.Values)
	}
	c.keep(a, &router.GeneratedKeys{Values: []string{"2", "3", "4"}, Always: true})
	c.keep(a, &router.GeneratedKeys{Values: []string{"7"}, Always: true})
	for _, other := range []keyBlockID{{table: orders, name: "orders"}, {table: users, name: "users", settings: "SET search_path = 'x';\n"}, {table: users, schema: "app", name: "users"}} {
		if got := c.take(other, 1); got != nil {
			t.Errorf("%+v got keys kept for %+v: %v", other, a, got.Values)
		}
	}
	if got := c.take(a, 5); got != nil {
		t.Errorf("5 keys from a block of 4: %v", got.Values)
	}
	got := c.take(a, 3)
	if got == nil || !slices.Equal(got.Values, []string{"2", "3", "4"}) || !got.Always {
		t.Fatalf("3 keys: %+v, want 2, 3, 4 GENERATED ALWAYS", got)
	}
	c.drop()
	if got := c.take(a, 1); got != nil || c.held.Load() {
		t.Errorf("after drop: %+v, held %v", got, c.held.Load())
	}
}

// TestStatementsThatDropKeys: DDL, TRUNCATE and setval may restart a
// sequence; reads and writes of rows do not.
func TestStatementsThatDropKeys(t *testing.T) {
	schema, err := router.NewSchema(&config.Database{Shards: []config.Shard{{Name: "s0"}, {Name: "s1"}},
		Sharding: config.Sharding{Tables: []config.ShardedTable{{Name: "users", Key: "user_id", KeyType: "bigint"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(schema, shard.NewHolder(shard.EqualMap(2)), 64)
	for _, c := range []struct {
		sql   string
		drops bool
	}{
		{"ALTER SEQUENCE users_user_id_seq RESTART", true},
		{"DROP TABLE users", true},
		{"truncate users restart identity", true},
		{"SELECT setval('users_user_id_seq', 1)", true},
		{"SELECT pg_catalog.SETVAL('s', 5, false)", true},
		{"INSERT INTO users (user_id, name) VALUES (1, 'a')", false},
		{"SELECT * FROM users WHERE user_id = 5", false},
		{"SELECT nextval('users_user_id_seq')", false},
	} {
		st := r.Simple(c.sql)[0]
		if got := dropsKeys(st.Route.Plan, st.Text); got != c.drops {
			t.Errorf("%s: drops keys %v, want %v", c.sql, got, c.drops)
		}
	}
}
