package router

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// TestKeyAssignmentsKeepRowsOnTheirShard: a write may set a row's shard
// key only to a value its shard owns; what cannot move the row (the key
// itself, excluded.key, a source key the MERGE's join equates) is always
// accepted, a constant or parameter is checked at each execution (a
// normalized plan shared by statements with other literals too), and
// anything else is refused. An UPDATE of one shard's rows to a key another
// shard owns moves them (keymove.go) when it reads no other table. Keys 9
// and 10 are on s2, 1 and 5 on s0.
func TestKeyAssignmentsKeepRowsOnTheirShard(t *testing.T) {
	r := testRouter(t)
	m := shard.EqualMap(3)
	if got := shardsOf(m, 9, 10); !slices.Equal(got, []shard.ShardID{2}) {
		t.Fatalf("keys 9 and 10 are on %v: the cases below need them on shard 2", got)
	}
	if got := shardsOf(m, 1, 5); !slices.Equal(got, []shard.ShardID{0}) {
		t.Fatalf("keys 1 and 5 are on %v: the cases below need them on shard 0", got)
	}
	const ok, moves, null, move = "", codeFeatureNotSupported, codeNullKey, "move"
	for _, c := range []struct {
		sql    string
		code   string          // "" for a route
		shards []shard.ShardID // where it runs, when routed
	}{
		{"UPDATE users SET user_id = 9, name = 'x' WHERE user_id = 9", ok, []shard.ShardID{2}},
		{"UPDATE users SET user_id = 10 WHERE user_id = 9", ok, []shard.ShardID{2}},
		// The same normalized form with a key that another shard owns.
		{"UPDATE users SET user_id = 1 WHERE user_id = 9", move, []shard.ShardID{2, 0}},
		{"UPDATE users u SET user_id = 1, name = u.name || 'x' WHERE u.user_id = 9 RETURNING u.*", move, []shard.ShardID{2, 0}},
		// Other tables read where the UPDATE runs, but not by RETURNING.
		{"UPDATE orders o SET user_id = 1 FROM users u WHERE o.user_id = u.user_id AND u.user_id = 9", move, []shard.ShardID{2, 0}},
		{"UPDATE orders o SET user_id = 1 FROM users u WHERE o.user_id = u.user_id AND u.user_id = 9 RETURNING o.*, o.amount", move, []shard.ShardID{2, 0}},
		{"UPDATE orders o SET user_id = 1 FROM users u WHERE o.user_id = u.user_id AND u.user_id = 9 RETURNING u.name", moves, nil},
		{"UPDATE orders o SET user_id = 1 FROM users u WHERE o.user_id = u.user_id AND u.user_id = 9 RETURNING amount", moves, nil},
		{"UPDATE orders o SET user_id = 1 FROM users u WHERE o.user_id = u.user_id AND u.user_id = 9 RETURNING *", moves, nil},
		{"WITH x AS (SELECT 1) UPDATE users SET user_id = 1 WHERE user_id = 9", moves, nil},
		{"UPDATE users SET user_id = 1 WHERE user_id = 9 RETURNING (SELECT count(*) FROM orders)", moves, nil},
		{"UPDATE users SET user_id = 1 WHERE user_id = 9 RETURNING user_id + 0 * length($1::text)", moves, nil},
		{"UPDATE users SET user_id = -1 WHERE user_id = 9", ok, shardsOf(m, -1, 9)[:1]},
		{"UPDATE users SET user_id = user_id, name = 'x' WHERE user_id = 1", ok, []shard.ShardID{0}},
		{"UPDATE users u SET user_id = u.user_id WHERE user_id = 1", ok, []shard.ShardID{0}},
		{`UPDATE "public"."users" SET "user_id" = "public"."users"."user_id" WHERE "public"."users"."user_id" = 1`, ok, []shard.ShardID{0}},
		{"UPDATE users SET (name, user_id) = ('x', 10) WHERE user_id = 9", ok, []shard.ShardID{2}},
		{"UPDATE users SET (name, user_id) = ('x', 1) WHERE user_id = 9", move, []shard.ShardID{2, 0}},
		{"UPDATE orders o SET user_id = u.user_id FROM users u WHERE o.user_id = u.user_id AND u.user_id = 9", ok, []shard.ShardID{2}},
		// Equated only under OR: the updated rows may have another key.
		{"UPDATE orders o SET user_id = u.user_id FROM users u WHERE (o.user_id = u.user_id OR o.amount = 1) AND o.user_id = 9", moves, nil},
		{"UPDATE users SET user_id = user_id + 1 WHERE user_id = 9", moves, nil},
		{"UPDATE users SET user_id = (SELECT 10) WHERE user_id = 9", moves, nil},
		{"UPDATE users SET user_id = DEFAULT WHERE user_id = 9", moves, nil},
		{"UPDATE users SET user_id = NULL WHERE user_id = 9", null, nil},
		// Rows on several shards: those on the new key's shard stay.
		{"UPDATE users SET user_id = 9 WHERE user_id IN (1, 9)", move, []shard.ShardID{0, 2, 2}},
		{"UPDATE users SET user_id = 1 WHERE user_id IN (5, 9)", move, []shard.ShardID{2, 0, 0}},
		{"/* pgshard: shard=2 */ UPDATE users SET user_id = 9 WHERE name = 'x'", ok, []shard.ShardID{2}},
		{"/* pgshard: shard=0 */ UPDATE users SET user_id = 9 WHERE name = 'x'", moves, nil}, // a hint never moves rows
		{"/* pgshard: shard_key=1 */ UPDATE users SET user_id = 9 WHERE name = 'x'", moves, nil},
		// ON CONFLICT: excluded.key routed the row; a value is checked.
		{"INSERT INTO orders (user_id, amount) VALUES (5, 1), (9, 2) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = excluded.user_id", ok, []shard.ShardID{0, 2}},
		{"INSERT INTO orders AS o (user_id, amount) VALUES (9, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = o.user_id", ok, []shard.ShardID{2}},
		{"INSERT INTO orders (user_id, amount) VALUES (9, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 10", ok, []shard.ShardID{2}},
		{"INSERT INTO orders (user_id, amount) VALUES (9, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 1", moves, nil},
		{"INSERT INTO orders (user_id, amount) VALUES (9, 1), (10, 2) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 10", ok, []shard.ShardID{2}},
		{"INSERT INTO orders (user_id, amount) VALUES (5, 1), (9, 2) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 9", moves, nil},
		{"INSERT INTO orders (user_id, amount) VALUES (9, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = excluded.amount", moves, nil},
		{"INSERT INTO orders (user_id, amount) SELECT user_id, 1 FROM users WHERE user_id = 9 ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 10", moves, nil},
		// MERGE: a matched row has the source key its join equates.
		{"MERGE INTO users t USING (VALUES (9, 'x')) s(id, name) ON t.user_id = s.id WHEN MATCHED THEN UPDATE SET user_id = s.id, name = s.name", ok, []shard.ShardID{2}},
		{"MERGE INTO users t USING (VALUES (9, 'x')) s(id, name) ON t.user_id = s.id WHEN MATCHED THEN UPDATE SET user_id = 10", ok, []shard.ShardID{2}},
		{"MERGE INTO users t USING (VALUES (9, 'x')) s(id, name) ON t.user_id = s.id WHEN MATCHED THEN UPDATE SET user_id = 1", moves, nil},
		{"MERGE INTO orders o USING users u ON o.user_id = u.user_id WHEN MATCHED THEN UPDATE SET user_id = u.user_id", ok, []shard.ShardID{0, 1, 2}},
		{"MERGE INTO orders o USING users u ON o.amount = u.score AND o.user_id = 9 AND u.user_id = 9 WHEN MATCHED THEN UPDATE SET user_id = u.score", moves, nil},
	} {
		rt := r.Simple(c.sql)[0].Route
		switch {
		case c.code == ok && rt.Err != nil:
			t.Errorf("%s: refused: %s %s", c.sql, rt.Err.Code, rt.Err.Message)
		case c.code == ok && (!slices.Equal(rt.Shards, c.shards) || rt.KeyMove != nil):
			t.Errorf("%s: runs on %v (move %v), want %v", c.sql, rt.Shards, rt.KeyMove, c.shards)
		case c.code == move && (rt.Err != nil || rt.KeyMove == nil):
			t.Errorf("%s: %v on %v (err %v), want a move", c.sql, rt.Kind, rt.Shards, rt.Err)
		case c.code == move && !movesAs(rt, c.shards):
			t.Errorf("%s: moves from %v to %d (in place too: %v), want %v", c.sql, rt.KeyMove.From, rt.KeyMove.To, rt.KeyMove.Stay, c.shards)
		case c.code != ok && c.code != move && (rt.Err == nil || rt.Err.Code != c.code):
			t.Errorf("%s: %v on %v (err %v), want refused with %s", c.sql, rt.Kind, rt.Shards, rt.Err, c.code)
		}
	}
}

// movesAs says whether rt moves rows from shards want[:len-1] to want's
// last, updating in place there when want names it twice.
func movesAs(rt *Route, want []shard.ShardID) bool {
	m := rt.KeyMove
	if m == nil || rt.Err != nil {
		return false
	}
	to := want[len(want)-1]
	from := want[:len(want)-1]
	stay := slices.Contains(from, to)
	from = slices.DeleteFunc(slices.Clone(from), func(id shard.ShardID) bool { return id == to })
	all := append(slices.Clone(from), to)
	slices.Sort(all)
	return m.To == to && m.Stay == stay && slices.Equal(m.From, from) && slices.Equal(rt.Shards, all)
}

// TestKeyAssignmentsFromParameters: a parameter assigned to the key is
// checked against each Bind's values; the plan needs them decoded.
func TestKeyAssignmentsFromParameters(t *testing.T) {
	r := testRouter(t)
	const q = "UPDATE orders SET user_id = $1, amount = $2 WHERE user_id = $3"
	p := r.Prepare(q)
	if !p.UsesParams() {
		t.Fatalf("%s: UsesParams false: a Bind would not be decoded to check the new key", q)
	}
	for _, c := range []struct {
		newKey []byte
		code   string
	}{
		{[]byte("10"), ""},
		{[]byte("9"), ""},
		{nil, codeNullKey},
		{[]byte("x"), "22P02"},
	} {
		rt := r.Bind(p, q, [][]byte{c.newKey, []byte("3"), []byte("9")}, nil)
		switch {
		case c.code == "" && (rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{2})):
			t.Errorf("$1 = %s: %v on %v (err %v), want shard 2", c.newKey, rt.Kind, rt.Shards, rt.Err)
		case c.code != "" && (rt.Err == nil || rt.Err.Code != c.code):
			t.Errorf("$1 = %s: %v on %v (err %v), want refused with %s", c.newKey, rt.Kind, rt.Shards, rt.Err, c.code)
		}
	}
	// Key 1 is on shard 0: the rows move there.
	if rt := r.Bind(p, q, [][]byte{[]byte("1"), []byte("3"), []byte("9")}, nil); rt.Err != nil || rt.KeyMove == nil || !movesAs(rt, []shard.ShardID{2, 0}) {
		t.Errorf("$1 = 1: %v on %v (err %v, move %v), want a move from shard 2 to 0", rt.Kind, rt.Shards, rt.Err, rt.KeyMove)
	}
	// WHERE user_id = NULL matches no row: it runs where the new key is
	// (not on the default shard, s0, which any shard answering would be).
	if rt := r.Bind(p, q, [][]byte{[]byte("10"), []byte("3"), nil}, nil); rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{2}) {
		t.Errorf("$3 = NULL, $1 = 10: %v on %v (err %v), want shard 2", rt.Kind, rt.Shards, rt.Err)
	}
}

// TestKeyMovesCanBeRefused: with sharding.key_updates: refuse, a new key
// on another shard is refused as for the statements a move cannot serve.
func TestKeyMovesCanBeRefused(t *testing.T) {
	r := testRouter(t, func(d *config.Database) { d.Sharding.KeyUpdates = config.KeyUpdatesRefuse })
	rt := r.Simple("UPDATE users SET user_id = 1 WHERE user_id = 9")[0].Route
	if rt.Err == nil || rt.Err.Code != codeFeatureNotSupported || rt.KeyMove != nil {
		t.Fatalf("%v on %v (err %v), want refused with 0A000", rt.Kind, rt.Shards, rt.Err)
	}
	if rt := r.Simple("UPDATE users SET user_id = 10 WHERE user_id = 9")[0].Route; rt.Err != nil || rt.KeyMove != nil {
		t.Errorf("a new key on the rows' shard: %v on %v (err %v), want run there", rt.Kind, rt.Shards, rt.Err)
	}
}

// TestMoveFormStatements: the statements a move sends, made from each
// execution's text (the second shares the first's cached plan): the
// UPDATE keeping the key and returning whole rows and the new key, by the
// name the statement reads its table by, and the client's RETURNING list
// for the INSERT.
func TestMoveFormStatements(t *testing.T) {
	r := testRouter(t)
	for _, c := range []struct {
		sql                                string
		relation, alias, update, returning string
	}{
		{"UPDATE users SET user_id = 1 WHERE user_id = 9", `"users"`, "",
			"UPDATE users SET user_id = users.user_id WHERE user_id = 9 RETURNING users.tableoid, users.ctid, COALESCE(1, users.user_id)::bigint, users.*", ""},
		{"UPDATE users SET user_id = 2 WHERE user_id = 9", `"users"`, "",
			"UPDATE users SET user_id = users.user_id WHERE user_id = 9 RETURNING users.tableoid, users.ctid, COALESCE(2, users.user_id)::bigint, users.*", ""},
		{"UPDATE users SET (name, user_id) = ('x', 1) WHERE user_id = 9", `"users"`, "",
			"UPDATE users SET (name, user_id) = ('x', users.user_id) WHERE user_id = 9 RETURNING users.tableoid, users.ctid, COALESCE(1, users.user_id)::bigint, users.*", ""},
		{"UPDATE public.users AS u SET user_id = $1, name = upper(u.name) WHERE u.user_id = $2 RETURNING u.user_id, name AS n", `"public"."users"`, "u",
			"UPDATE public.users u SET user_id = u.user_id, name = upper(u.name) WHERE u.user_id = $2 RETURNING u.tableoid, u.ctid, COALESCE($1, u.user_id)::bigint, u.*", "u.user_id, name AS n"},
	} {
		var rt *Route
		if strings.Contains(c.sql, "$1") {
			rt = r.Bind(r.Prepare(c.sql), c.sql, [][]byte{[]byte("1"), []byte("9")}, nil)
		} else {
			rt = r.Simple(c.sql)[0].Route
		}
		m := rt.KeyMove
		if m == nil {
			t.Errorf("%s: no move (err %v)", c.sql, rt.Err)
			continue
		}
		if m.Relation != c.relation || m.Alias != c.alias || m.Update != c.update || m.Returning != c.returning {
			t.Errorf("%s:\n got %q %q %q %q\nwant %q %q %q %q", c.sql, m.Relation, m.Alias, m.Update, m.Returning, c.relation, c.alias, c.update, c.returning)
		}
	}
}

// TestKeyAssignmentsInKeylessWrites: with keyless writes allowed, an
// UPDATE without a key runs on every shard; it may keep the key, and one
// setting it to a value moves every other shard's rows to that value's
// shard (refused with key_updates: refuse).
func TestKeyAssignmentsInKeylessWrites(t *testing.T) {
	r := testRouter(t, func(d *config.Database) { d.Sharding.KeylessWrites = config.KeylessAllShards })
	if rt := r.Simple("UPDATE users SET user_id = user_id, name = 'x'")[0].Route; rt.Err != nil || len(rt.Shards) != 3 {
		t.Errorf("keyless UPDATE keeping the key: %v on %v (err %v), want every shard", rt.Kind, rt.Shards, rt.Err)
	}
	if rt := r.Simple("UPDATE users SET user_id = 9 WHERE name = 'x'")[0].Route; !movesAs(rt, []shard.ShardID{0, 1, 2, 2}) {
		t.Errorf("keyless UPDATE setting the key: %v on %v (err %v, move %v), want every shard's rows moved to shard 2", rt.Kind, rt.Shards, rt.Err, rt.KeyMove)
	}
	r = testRouter(t, func(d *config.Database) {
		d.Sharding.KeylessWrites, d.Sharding.KeyUpdates = config.KeylessAllShards, config.KeyUpdatesRefuse
	})
	if rt := r.Simple("UPDATE users SET user_id = 9 WHERE name = 'x'")[0].Route; rt.Err == nil || rt.Err.Code != codeFeatureNotSupported {
		t.Errorf("keyless UPDATE setting the key, moves off: %v on %v (err %v), want refused", rt.Kind, rt.Shards, rt.Err)
	}
}
