package router

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/shard"
)

// TestGeneratedKeysAreWrittenIn: an INSERT that leaves its shard key to
// the column's default asks for keys (Route.NeedKeys: how many), and with
// them is sent to each key's shard with its keys written in — the key
// column added to the list or DEFAULT replaced, OVERRIDING SYSTEM VALUE
// for an identity GENERATED ALWAYS, a Bind's parameters renumbered per
// shard — even when one shard takes every row. Keys 1 and 5 are on s0,
// 9 and 10 on s2.
func TestGeneratedKeysAreWrittenIn(t *testing.T) {
	r := testRouter(t)
	type sent struct {
		id     shard.ShardID
		sql    string
		params []int
	}
	for _, c := range []struct {
		sql    string
		params []string
		keys   []string
		always bool
		want   []sent
	}{
		{"INSERT INTO users (name) VALUES ('a') RETURNING user_id", nil, []string{"9"}, false,
			[]sent{{2, "INSERT INTO users (user_id, name) VALUES ('9', 'a') RETURNING user_id", nil}}},
		{"INSERT INTO users (name, score) VALUES ('a', 1), ('b', 2), ('c', 3)", nil, []string{"1", "9", "10"}, true,
			[]sent{{0, "INSERT INTO users (user_id, name, score) OVERRIDING SYSTEM VALUE VALUES ('1', 'a', 1)", nil},
				{2, "INSERT INTO users (user_id, name, score) OVERRIDING SYSTEM VALUE VALUES ('9', 'b', 2), ('10', 'c', 3)", nil}}},
		{`INSERT INTO "users" ("user_id","name") VALUES (DEFAULT,'x'), (5, 'y'), (default, 'z')`, nil, []string{"1", "9"}, false,
			[]sent{{0, `INSERT INTO "users" ("user_id","name") VALUES ('1','x'), (5, 'y')`, nil},
				{2, `INSERT INTO "users" ("user_id","name") VALUES ('9', 'z')`, nil}}},
		{"INSERT INTO users (name, score) VALUES ($1, $2), ($3, 7)", []string{"a", "1", "b"}, []string{"1", "9"}, false,
			[]sent{{0, "INSERT INTO users (user_id, name, score) VALUES ('1', $1, $2)", []int{0, 1}},
				{2, "INSERT INTO users (user_id, name, score) VALUES ('9', $1, 7)", []int{2}}}},
		{"INSERT INTO sessions (note) VALUES ('it''s')", nil, []string{"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}, false, nil},
		{`INSERT INTO "users" DEFAULT VALUES RETURNING "user_id"`, nil, []string{"10"}, false,
			[]sent{{2, `INSERT INTO "users" (user_id) VALUES ('10') RETURNING "user_id"`, nil}}},
		{"insert into public.users as u default\n  values returning u.name, $1::int", []string{"3"}, []string{"5"}, true,
			[]sent{{0, "insert into public.users as u (user_id) OVERRIDING SYSTEM VALUE VALUES ('5') returning u.name, $1::int", []int{0}}}},
	} {
		var first *Route
		var with func(*GeneratedKeys) *Route
		if c.params == nil {
			first = r.Simple(c.sql)[0].Route
			with = func(g *GeneratedKeys) *Route { return r.SimpleFilled(c.sql, "", nil, g)[0].Route }
		} else {
			p := r.Prepare(c.sql)
			if !p.UsesParams() {
				t.Errorf("%s: UsesParams false: the Bind would not be cut per shard", c.sql)
			}
			ps := Params{Values: make([][]byte, len(c.params))}
			for i, v := range c.params {
				ps.Values[i] = []byte(v)
			}
			first = r.BindWith(p, c.sql, ps, "", nil)
			with = func(g *GeneratedKeys) *Route { return r.BindFilled(p, c.sql, ps, "", nil, g) }
		}
		if first.NeedKeys == nil || first.NeedKeys.Rows != len(c.keys) || first.Err == nil {
			t.Errorf("%s: NeedKeys %+v (err %v), want a request for %d keys", c.sql, first.NeedKeys, first.Err, len(c.keys))
			continue
		}
		if short := with(&GeneratedKeys{Values: c.keys[1:]}); short.NeedKeys == nil {
			t.Errorf("%s: routed with too few keys: %s", c.sql, short.Describe())
		}
		rt := with(&GeneratedKeys{Values: c.keys, Always: c.always})
		if rt.Err != nil {
			t.Errorf("%s: %v", c.sql, rt.Err)
			continue
		}
		if c.want == nil { // a uuid key: placed by its value
			pt, _ := shard.PointFromText(shard.KeyUUID, c.keys[0])
			if id := shard.EqualMap(3).Lookup(pt); len(rt.Shards) != 1 || rt.Shards[0] != id || rt.SQL[0] != "INSERT INTO sessions (token, note) VALUES ('"+c.keys[0]+"', 'it''s')" {
				t.Errorf("%s: %s, want shard %d", c.sql, rt.Describe(), id)
			}
			continue
		}
		var got []sent
		for i, id := range rt.Shards {
			got = append(got, sent{id, rt.SQL[i], rt.Params[i]})
		}
		if !slices.EqualFunc(got, c.want, func(a, b sent) bool { return a.id == b.id && a.sql == b.sql && slices.Equal(a.params, b.params) }) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.sql, got, c.want)
		}
	}
}

// TestConflictTargetsNeedTheKey: ON CONFLICT on a sharded table must
// name the shard key among its columns, or its arbiter index is enforced
// per shard only; that holds as well for a key left to its default (a
// conflict on the new key is found on its shard). Once the catalog lists
// unique indexes of the table without the key (keyless), ON CONFLICT ON
// CONSTRAINT naming one of them, and a bare ON CONFLICT DO NOTHING (whose
// arbiters are every unique index), are refused too.
func TestConflictTargetsNeedTheKey(t *testing.T) {
	for _, c := range []struct {
		sql            string
		plain, keyless bool // accepted without and with key-less indexes
	}{
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT (user_id) DO NOTHING", true, true},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT (name, user_id) DO UPDATE SET score = 1", true, true},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING", true, true},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT DO NOTHING", true, false},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT (name) DO NOTHING", false, false},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT (lower(name)) DO UPDATE SET score = 1", false, false},
		{"INSERT INTO users (user_id, name) SELECT user_id, name FROM users WHERE user_id = 5 ON CONFLICT (name) DO NOTHING", false, false},
		{"INSERT INTO countries (code, name) VALUES ('x', 'y') ON CONFLICT (name) DO NOTHING", true, true}, // a reference table: every row everywhere
		{"INSERT INTO users (name) VALUES ('a') ON CONFLICT DO NOTHING", true, false},
		{"INSERT INTO users (name) VALUES ('a') ON CONFLICT (user_id) DO UPDATE SET name = excluded.name RETURNING user_id", true, true},
		{"INSERT INTO users (name) VALUES ('a') ON CONFLICT (name) DO UPDATE SET score = 1", false, false},
		{"INSERT INTO users DEFAULT VALUES ON CONFLICT DO NOTHING", true, false},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT ON CONSTRAINT users_name_key DO NOTHING", true, false},
		{`INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT ON CONSTRAINT "Users_Email" DO UPDATE SET score = 1`, true, false},
		{"INSERT INTO users (user_id, name) VALUES (5, 'a') ON CONFLICT ON CONSTRAINT users_email DO NOTHING", true, true}, // not the same name
		{"INSERT INTO orders (user_id, id) VALUES (5, 1) ON CONFLICT ON CONSTRAINT users_name_key DO NOTHING", true, true}, // another table's
		{"INSERT INTO orders (user_id, id) VALUES (5, 1) ON CONFLICT DO NOTHING", true, true},
	} {
		for _, keyless := range []bool{false, true} {
			r := testRouter(t)
			if keyless {
				for _, tb := range r.Schema().ShardedTables() {
					if tb.Name == "users" {
						r.SetKeylessUniques(map[*Table][]KeylessIndex{tb: {{Name: "users_name_key"}, {Name: "Users_Email"}}})
					}
				}
			}
			rt := r.Simple(c.sql)[0].Route
			refused := rt.Err != nil && rt.NeedKeys == nil
			if ok := c.plain && !keyless || c.keyless && keyless; refused == ok || refused && rt.Err.Code != codeFeatureNotSupported {
				t.Errorf("%s (key-less unique indexes listed: %v): %s, want accepted %v", c.sql, keyless, rt.Describe(), ok)
			}
		}
	}
}

// TestGeneratedKeysFromUnshardedRows: INSERT ... SELECT that leaves the key
// to its default, from rows that are not sharded, reads them on the
// default shard with a key from the column's sequence leading each row;
// from sharded rows, or for a key that is not an integer, it is refused.
func TestGeneratedKeysFromUnshardedRows(t *testing.T) {
	r := testRouter(t)
	for _, q := range []string{
		"INSERT INTO users (name, score) SELECT name, v FROM legacy ORDER BY name",
		"INSERT INTO app.accounts (name) SELECT code FROM countries UNION SELECT 'x'",
	} {
		rt := r.Simple(q)[0].Route
		mv := rt.Plan.Move
		if rt.Err != nil || mv == nil || mv.SourceKind != KindDefault || !strings.Contains(mv.Source, "nextval(COALESCE(pg_catalog.pg_get_serial_sequence(") ||
			!strings.HasPrefix(mv.Target, "COPY ") || !strings.Contains(mv.Target, "(user_id, name") && !strings.Contains(mv.Target, "(account_id, name") {
			t.Errorf("%s: %s, move %+v", q, rt.Describe(), mv)
		}
	}
	for _, q := range []string{
		"INSERT INTO users (name) SELECT name FROM orders",
		"INSERT INTO sessions (note) SELECT name FROM legacy",
	} {
		if rt := r.Simple(q)[0].Route; rt.Err == nil || rt.Err.Code != codeFeatureNotSupported {
			t.Errorf("%s: %s, want refused", q, rt.Describe())
		}
	}
}

// TestCopyWithoutTheKeyAddsIt: a COPY whose column list leaves out the
// shard key is planned with its key taken from the default (CopyIn.GenKey)
// and sent with the key column first in its list.
func TestCopyWithoutTheKeyAddsIt(t *testing.T) {
	r := testRouter(t)
	for _, c := range []struct{ sql, want string }{
		{"COPY users (name) FROM STDIN", "COPY users (user_id, name) FROM STDIN"},
		{`/* a ( */ copy public."users"("Name", score) from stdin with (format csv, header match)`,
			`/* a ( */ copy public."users"(user_id, "Name", score) from stdin with (format csv, header match)`},
		{"COPY sessions (note) FROM STDIN", "COPY sessions (token, note) FROM STDIN"},
		{"COPY users (name) FROM STDIN (FORMAT binary)", "COPY users (user_id, name) FROM STDIN (FORMAT binary)"},
		{"COPY users (user_id, name) FROM STDIN", "COPY users (user_id, name) FROM STDIN"}, // has it
	} {
		rt := r.Simple(c.sql)[0].Route
		ci := rt.Plan.Copy
		if rt.Err != nil || ci == nil {
			t.Errorf("%s: %s", c.sql, rt.Describe())
			continue
		}
		got := c.sql
		if ci.GenKey {
			got, _ = WithKeyColumn(c.sql, ci)
		}
		if got != c.want || ci.KeyCol != 0 {
			t.Errorf("%s: sent as %q, key at %d; want %q, key at 0", c.sql, got, ci.KeyCol, c.want)
		}
	}
}

// TestGeneratedKeysForArrays: INSERT ... SELECT * FROM unnest($1, $2)
// that leaves the key to its default (a driver's batch insert) asks for a
// key per row, then sends each shard the statement with the key column
// and an array of its rows' keys added, and the other arrays cut to the
// same rows; unnest in ROWS FROM or in the select list alike. A select
// list naming the arrays' columns is not rewritten (refused as before).
// Keys 1 and 5 are on s0, 9 on s2.
func TestGeneratedKeysForArrays(t *testing.T) {
	r := testRouter(t)
	ps := Params{Values: [][]byte{[]byte("{a,b,c}"), []byte("{10,20,30}")}, Formats: []int16{0, 0}}
	gen := &GeneratedKeys{Values: []string{"1", "9", "5"}}
	for _, c := range []struct{ sql, want string }{
		{"INSERT INTO users (name, score) SELECT * FROM unnest($1::text[], $2::int[]) RETURNING user_id",
			"INSERT INTO users (user_id, name, score) SELECT * FROM unnest($3::pg_catalog.int8[], $1::text[], $2::int[]) RETURNING user_id"},
		{"INSERT INTO users (name, score) SELECT * FROM ROWS FROM (unnest($1::text[]), unnest($2::int[])) AS s(a, b)",
			"INSERT INTO users (user_id, name, score) SELECT * FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.int8[]), unnest($1::text[]), unnest($2::int[])) AS s(a, b)"},
		{"INSERT INTO users (name, score) SELECT unnest($1::text[]), unnest($2::int[])",
			"INSERT INTO users (user_id, name, score) SELECT pg_catalog.unnest($3::pg_catalog.int8[]), unnest($1::text[]), unnest($2::int[])"},
		{"INSERT INTO users (name, score) SELECT x.a, x.b FROM unnest($1::text[], $2::int[]) AS x(a, b)", ""},
		{"INSERT INTO users (name, score) SELECT * FROM unnest($1::text[], $2::int[])", "always"},
	} {
		p := r.Prepare(c.sql)
		first := r.BindWith(p, c.sql, ps, "", nil)
		if c.want == "" {
			if first.Err == nil || first.NeedKeys != nil {
				t.Errorf("%s: %s, want it refused", c.sql, first.Describe())
			}
			continue
		}
		if first.NeedKeys == nil || first.NeedKeys.Rows != 3 {
			t.Errorf("%s: NeedKeys %+v, want 3 keys asked for", c.sql, first.NeedKeys)
			continue
		}
		if c.want == "always" { // an identity GENERATED ALWAYS
			c.want = "INSERT INTO users (user_id, name, score) OVERRIDING SYSTEM VALUE SELECT * FROM unnest($3::pg_catalog.int8[], $1::text[], $2::int[])"
			gen := *gen
			gen.Always = true
			rt := r.BindFilled(p, c.sql, ps, "", nil, &gen)
			if len(rt.SQL) == 0 || rt.SQL[0] != c.want {
				t.Errorf("%s: %s, want sent as %s", c.sql, rt.Describe(), c.want)
			}
			continue
		}
		rt := r.BindFilled(p, c.sql, ps, "", nil, gen)
		if rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{0, 2}) || len(rt.SQL) != 2 {
			t.Errorf("%s: %s, want shards 0 and 2", c.sql, rt.Describe())
			continue
		}
		if rt.SQL[0] != c.want || rt.SQL[1] != c.want {
			t.Errorf("%s: sent as\n %s\nwant\n %s", c.sql, rt.SQL[0], c.want)
		}
		var got []string
		for i := range rt.Shards {
			var vals []string
			for _, k := range rt.Params[i] {
				if k < 0 {
					vals = append(vals, string(rt.Extra[-1-k].Value))
				} else {
					vals = append(vals, string(ps.Values[k]))
				}
			}
			got = append(got, strings.Join(vals, " "))
		}
		if want := []string{`{"a","c"} {"10","30"} {"1","5"}`, `{"b"} {"20"} {"9"}`}; !slices.Equal(got, want) {
			t.Errorf("%s: parameters per shard %q, want %q", c.sql, got, want)
		}
	}
}

// A bare ON CONFLICT DO NOTHING is refused over a unique index without the
// shard key, unless the INSERT leaves every column of that index to a
// sequence that the shards keep apart (KeylessIndex.Generated): Rails'
// insert_all sends such INSERTs for tables keyed by a serial id.
func TestKeylessIndexOnGeneratedColumns(t *testing.T) {
	pkey := KeylessIndex{Name: "orders_pkey", Generated: []string{"order_id"}}
	plain := KeylessIndex{Name: "orders_ref_key"}
	for _, c := range []struct {
		sql     string
		indexes []KeylessIndex
		refused string // the index the refusal names; "" accepted
	}{
		{"INSERT INTO orders (user_id, amount) VALUES (1, 2), (2, 3) ON CONFLICT DO NOTHING", []KeylessIndex{pkey}, ""},
		{"INSERT INTO orders (user_id, amount) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING order_id", []KeylessIndex{pkey}, ""},
		{"INSERT INTO orders (user_id, order_id) VALUES (1, 2) ON CONFLICT DO NOTHING", []KeylessIndex{pkey}, "orders_pkey"},
		{"INSERT INTO orders (user_id, \"order_id\") VALUES (1, DEFAULT) ON CONFLICT DO NOTHING", []KeylessIndex{pkey}, "orders_pkey"},
		{"INSERT INTO orders VALUES (1, 2) ON CONFLICT DO NOTHING", []KeylessIndex{pkey}, "orders_pkey"},
		{"INSERT INTO orders (user_id, amount) VALUES (1, 2) ON CONFLICT DO NOTHING", []KeylessIndex{{Name: "orders_pkey"}}, "orders_pkey"},
		{"INSERT INTO orders (user_id, amount) VALUES (1, 2) ON CONFLICT DO NOTHING", []KeylessIndex{pkey, plain}, "orders_ref_key"},
	} {
		r := testRouter(t)
		for _, tb := range r.Schema().ShardedTables() {
			if tb.Name == "orders" {
				r.SetKeylessUniques(map[*Table][]KeylessIndex{tb: c.indexes})
			}
		}
		var st []Statement
		if strings.Contains(c.sql, "$1") {
			rt := r.BindKeyed(r.Prepare(c.sql), c.sql, Params{Values: [][]byte{[]byte("1"), []byte("2")}, Formats: []int16{0, 0}}, "")
			st = []Statement{{Route: rt}}
		} else {
			st = r.Simple(c.sql)
		}
		rt := st[0].Route
		switch {
		case c.refused == "" && rt.Err != nil:
			t.Errorf("%s over %v: refused: %v", c.sql, c.indexes, rt.Err)
		case c.refused != "" && (rt.Err == nil || !strings.Contains(rt.Err.Message, "index(es) "+c.refused+" do not")):
			t.Errorf("%s over %v: %s, want refused naming %s alone", c.sql, c.indexes, rt.Describe(), c.refused)
		}
	}
}
