package router

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
)

// TestStagedWrites: an INSERT, UPDATE or DELETE whose subqueries span shards is
// staged when, filled in, it routes (it names the keys it writes, or
// writes a reference or default-shard table, or keyless writes may run
// everywhere); otherwise it keeps its refusal, without reading anything.
// A subquery that each shard would compute from its own rows (a LIMIT, an
// aggregate) no longer runs on every shard as is under keyless_writes:
// all_shards, nor over the shards of several keys.
func TestStagedWrites(t *testing.T) {
	refuse := func(d *config.Database) {}
	allShards := func(d *config.Database) { d.Sharding.KeylessWrites = config.KeylessAllShards }
	for _, tc := range []struct {
		name   string
		keyles func(*config.Database)
		sql    string
		// want is "staged", a route kind, or "refused: <message part>".
		want   string
		stages []StageForm
	}{
		{"keys from a subquery", refuse,
			"UPDATE orders SET amount = 0 WHERE user_id IN (SELECT user_id FROM users WHERE country = 'DE')", "staged", []StageForm{StageArray}},
		{"keys from a top-n subquery", refuse,
			"DELETE FROM orders WHERE user_id IN (SELECT user_id FROM users ORDER BY score DESC LIMIT 3) RETURNING order_id", "staged", []StageForm{StageArray}},
		{"keys from ARRAY(subquery) with a nested aggregate", refuse,
			"DELETE FROM orders WHERE user_id = ANY(ARRAY(SELECT user_id FROM users WHERE score < (SELECT avg(score) FROM users)))", "staged", []StageForm{StageArray}},
		{"a value in SET", refuse,
			"UPDATE orders SET amount = (SELECT max(score) FROM users) WHERE user_id = 3", "staged", []StageForm{StageValue}},
		{"EXISTS next to a key", refuse,
			"DELETE FROM orders WHERE user_id = 3 AND EXISTS (SELECT 1 FROM users WHERE score > 100)", "staged", []StageForm{StageExists}},
		{"a reference table from a sharded one's rows", refuse,
			"UPDATE countries SET name = upper(name) WHERE code IN (SELECT country FROM users WHERE score > 10)", "staged", []StageForm{StageArray}},
		{"a default-shard table from a sharded one's rows", refuse,
			"DELETE FROM audit WHERE user_id IN (SELECT user_id FROM users WHERE score < 0)", "staged", []StageForm{StageArray}},
		{"still no key once filled", refuse,
			"DELETE FROM orders WHERE order_id IN (SELECT order_id FROM orders WHERE amount < 5 LIMIT 100)", "refused: cannot merge LIMIT or OFFSET in a subquery", nil},
		{"keyless without a subquery", refuse,
			"UPDATE users SET name = 'x'", "refused: without a condition on its shard key user_id", nil},
		{"a read-only CTE referenced once is inlined", refuse,
			"WITH t AS (SELECT user_id FROM users ORDER BY score LIMIT 3) DELETE FROM orders WHERE user_id IN (SELECT user_id FROM t)", "staged", []StageForm{StageArray}},
		{"a MATERIALIZED CTE is not staged", refuse,
			"WITH t AS MATERIALIZED (SELECT user_id FROM users ORDER BY score LIMIT 3) DELETE FROM orders WHERE user_id IN (SELECT user_id FROM t)", "refused: ", nil},
		{"keys on several shards and a LIMIT", refuse,
			"UPDATE orders SET amount = 0 WHERE user_id IN (1, 6, 9) AND user_id IN (SELECT user_id FROM users ORDER BY score DESC LIMIT 2)", "staged", []StageForm{StageArray}},
		{"keys on one shard and a LIMIT over every shard", refuse,
			"UPDATE orders SET amount = 0 WHERE user_id IN (1, 2) AND user_id IN (SELECT user_id FROM users ORDER BY score DESC LIMIT 2)", "staged", []StageForm{StageArray}},
		{"a LIMIT over one key's rows", refuse,
			"UPDATE orders SET amount = 0 WHERE user_id = 1 AND user_id IN (SELECT user_id FROM users WHERE user_id = 1 ORDER BY score DESC LIMIT 2)", "shard", nil},
		{"a derived table's LIMIT over every shard", refuse,
			"UPDATE orders o SET amount = 1 FROM (SELECT user_id FROM users ORDER BY score LIMIT 2) t WHERE o.user_id = t.user_id AND o.user_id = 5", "staged", []StageForm{StageRows}},
		{"RETURNING a subquery over every shard", refuse,
			"DELETE FROM orders WHERE user_id = 5 RETURNING (SELECT count(*) FROM users)", "staged", []StageForm{StageValue}},
		{"an INSERT's value over every shard", refuse,
			"INSERT INTO orders (user_id, amount) VALUES (5, (SELECT max(score) FROM users)) RETURNING order_id", "staged", []StageForm{StageValue}},
		{"an INSERT's key from a subquery", refuse,
			"INSERT INTO orders (user_id, amount) VALUES ((SELECT max(user_id) FROM users), 3)", "staged", []StageForm{StageValue}},
		{"a multi-row INSERT reading a sharded table", refuse,
			"INSERT INTO orders (user_id, amount) VALUES (5, 1), (6, (SELECT score FROM users WHERE user_id = 6))", "staged", []StageForm{StageValue}},
		{"ON CONFLICT over every shard", refuse,
			"INSERT INTO orders (user_id, amount) VALUES (5, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET amount = (SELECT count(*) FROM users)", "staged", []StageForm{StageValue}},
		{"ON CONFLICT tied to the row's key", refuse,
			"INSERT INTO orders (user_id, amount) VALUES (5, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET amount = (SELECT count(*) FROM orders o WHERE o.user_id = excluded.user_id)", "shard", nil},
		{"an INSERT's subquery pinned to the row's key", refuse,
			"INSERT INTO orders (user_id, amount) VALUES (5, (SELECT max(amount) FROM orders WHERE user_id = 5))", "shard", nil},
		{"an INSERT's subquery over a reference table", refuse,
			"INSERT INTO orders (user_id, amount) VALUES (5, (SELECT count(*) FROM countries))", "shard", nil},
		{"an INSERT without a column list is not staged", refuse,
			"INSERT INTO orders VALUES (5, (SELECT max(score) FROM users))", "refused: ", nil},
		{"co-located everywhere", allShards,
			"UPDATE orders SET amount = 0 WHERE user_id IN (SELECT user_id FROM users WHERE country = 'DE')", "all", nil},
		{"top-n everywhere: staged, not three per shard", allShards,
			"UPDATE orders SET amount = 0 WHERE user_id IN (SELECT user_id FROM users ORDER BY score DESC LIMIT 3)", "staged", []StageForm{StageArray}},
		{"a global aggregate everywhere", allShards,
			"DELETE FROM orders WHERE user_id IN (SELECT max(user_id) FROM users)", "staged", []StageForm{StageArray}},
		{"no key once filled, everywhere", allShards,
			"DELETE FROM orders WHERE order_id IN (SELECT order_id FROM orders WHERE amount < 5 LIMIT 100)", "staged", []StageForm{StageArray}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRouter(t, tc.keyles)
			stmts := r.SimpleKeyed(tc.sql, "")
			if len(stmts) != 1 {
				t.Fatalf("%d statements", len(stmts))
			}
			rt := stmts[0].Route
			st := rt.Staging()
			switch {
			case tc.want == "staged":
				if st == nil {
					t.Fatalf("not staged: kind %v, error %v", rt.Kind, rt.Err)
				}
				var forms []StageForm
				for _, s := range st.Stages {
					forms = append(forms, s.Form)
				}
				if !slices.Equal(forms, tc.stages) || !st.Write || rt.Plan.Read {
					t.Errorf("stages %v, write %v, read %v; want %v, a write", forms, st.Write, rt.Plan.Read, tc.stages)
				}
			case strings.HasPrefix(tc.want, "refused: "):
				if st != nil || rt.Err == nil || !strings.Contains(rt.Err.Message, strings.TrimPrefix(tc.want, "refused: ")) {
					t.Errorf("got kind %v, error %v, staged %v; want refused with %q", rt.Kind, rt.Err, st != nil, tc.want)
				}
			default:
				if st != nil || rt.Err != nil || rt.Kind.String() != tc.want {
					t.Errorf("got kind %v, error %v, staged %v; want %s", rt.Kind, rt.Err, st != nil, tc.want)
				}
			}
		})
	}
}

// TestStagedWriteFollowsTheSessionKey: a keyless write that staging would
// answer still goes whole to the shard of SET pgshard.shard_key, as any
// keyless write does.
func TestStagedWriteFollowsTheSessionKey(t *testing.T) {
	r := testRouter(t)
	const q = "UPDATE orders SET amount = 0 WHERE user_id IN (SELECT user_id FROM users WHERE country = 'DE')"
	if r.SimpleKeyed(q, "")[0].Route.Staging() == nil {
		t.Fatal("not staged without a session key")
	}
	rt := r.SimpleKeyed(q, "9")[0].Route
	if rt.Staging() != nil || rt.Err != nil || !slices.Equal(rt.Shards, r.SimpleKeyed("SELECT 1 FROM orders WHERE user_id = 9", "")[0].Route.Shards) {
		t.Errorf("with the session key 9: kind %v shards %v error %v; want the shard of 9", rt.Kind, rt.Shards, rt.Err)
	}
}
