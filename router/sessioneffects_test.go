package router

import (
	"reflect"
	"strings"
	"testing"
)

func TestSessionEffectsOf(t *testing.T) {
	set := func(name, value string) ConfigSetting { return ConfigSetting{Name: name, Value: value} }
	cases := []struct {
		stmt string
		want SessionEffects
	}{
		// pg_dump's preamble.
		{`SELECT pg_catalog.set_config('search_path', '', false);`, SessionEffects{Settings: []ConfigSetting{set("search_path", "")}}},
		{`select SET_CONFIG('App.Tenant', '42', 'f') as t, set_config('work_mem', '8MB'::text, false::bool)`,
			SessionEffects{Settings: []ConfigSetting{set("app.tenant", "42"), set("work_mem", "8MB")}}},
		{`SELECT set_config('app.x', NULL, false)`, SessionEffects{Settings: []ConfigSetting{{Name: "app.x", Reset: true}}}},
		{`SELECT set_config('app.x', 'v', 'off'), now()`, SessionEffects{Settings: []ConfigSetting{set("app.x", "v")}}},
		// pg_dump 15.8 and later, for a parameter older servers lack.
		{`SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'`,
			SessionEffects{Settings: []ConfigSetting{{Name: "restrict_nonsystem_relation_kind", Value: "view, foreign-table", IfExists: true}}}},
		{`SELECT set_config(name, 'v', false) FROM pg_catalog.pg_settings WHERE name = 'Work_Mem'`,
			SessionEffects{Settings: []ConfigSetting{{Name: "work_mem", Value: "v", IfExists: true}}}},
		{`SELECT set_config(name, 'v', false) FROM pg_settings WHERE name LIKE 'w%'`, SessionEffects{Unknown: true}},
		{`SELECT set_config(name, 'v', false) FROM pg_settings WHERE name = 'a' OR true`, SessionEffects{Unknown: true}},
		{`SELECT set_config(name, 'v', false) FROM pg_settings s WHERE name = 'a'`, SessionEffects{Unknown: true}},
		{`SELECT set_config(name, 'v', false) FROM my_settings WHERE name = 'a'`, SessionEffects{Unknown: true}},
		{`SELECT set_config(setting, 'v', false) FROM pg_settings WHERE name = 'a'`, SessionEffects{Unknown: true}},
		{`SELECT set_config(name, 'v', true) FROM pg_settings WHERE name = 'a'`, SessionEffects{}},
		// Transaction-local: ends with the transaction.
		{`SELECT set_config('app.x', 'v', true)`, SessionEffects{}},
		{`SELECT set_config('app.x', $1, 'yes')`, SessionEffects{}},
		{`SELECT set_config('app.x', current_user, 't') FROM t`, SessionEffects{}},
		// What pgshard cannot read or count.
		{`SELECT set_config('app.x', $1, false), set_config('app.y', $2, 'off')`,
			SessionEffects{Settings: []ConfigSetting{{Name: "app.x", ValueParam: 1}, {Name: "app.y", ValueParam: 2}}}},
		{`SELECT set_config('app.x', $1::text, false)`, SessionEffects{Unknown: true}},
		{`SELECT set_config('app.x', current_user, false)`, SessionEffects{Unknown: true}},
		{`SELECT set_config('app.x', 'v', $1)`, SessionEffects{Unknown: true}},
		{`SELECT set_config($1, 'v', false)`, SessionEffects{Unknown: true}},
		{`SELECT set_config('app.x', 'v', false) FROM t`, SessionEffects{Unknown: true}},
		{`SELECT set_config('app.x', 'v', false) WHERE false`, SessionEffects{Unknown: true}},
		{`SELECT set_config('app.x', 'v', false) LIMIT 0`, SessionEffects{Unknown: true}},
		{`SELECT CASE WHEN $1 THEN set_config('app.x', 'v', false) END`, SessionEffects{Unknown: true}},
		{`SELECT length(set_config('app.x', 'v', false))`, SessionEffects{Unknown: true}},
		{`WITH s AS (SELECT set_config('app.x', 'v', false)) SELECT * FROM s`, SessionEffects{Unknown: true}},
		{`UPDATE t SET v = set_config('app.x', 'v', false)`, SessionEffects{Unknown: true}},
		{`SELECT set_config('app.x', 'v', 'o')`, SessionEffects{Unknown: true}}, // neither on nor off
		// Identity: RESET ALL does not undo it.
		{`SELECT set_config('role', 'admin', false)`, SessionEffects{Identity: true}},
		{`SELECT set_config('Session_Authorization', 'admin', 'false')`, SessionEffects{Identity: true}},
		{`SELECT set_config('role', 'admin', true)`, SessionEffects{}},
		// Temporary tables.
		{`SELECT * INTO TEMP t FROM u`, SessionEffects{TempTable: true}},
		{`select 1 as i into local temporary table t`, SessionEffects{TempTable: true}},
		{`WITH w AS (SELECT 1) SELECT * INTO TEMPORARY t FROM w`, SessionEffects{TempTable: true}},
		{`SELECT * INTO t FROM u`, SessionEffects{}},
		{`SELECT 'set_config(''a'', ''b'', false)', 'into temp'`, SessionEffects{}},
		{`SELECT my.set_config('a', 'b', false)`, SessionEffects{}},
		{`SELECT set_config('a', 'b')`, SessionEffects{}},
		{`not sql at all`, SessionEffects{}},
	}
	// Nested deeper than libpg_query survives: not parsed at all.
	cases = append(cases, struct {
		stmt string
		want SessionEffects
	}{"SELECT set_config('a', 'b', false), 1" + strings.Repeat(" + 1", 30000), SessionEffects{}})
	for _, c := range cases {
		got := SessionEffectsOf(c.stmt)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.stmt, got, c.want)
		}
	}
}

func TestConfigSettingBound(t *testing.T) {
	c := ConfigSetting{Name: "app.x", ValueParam: 2}
	if got, ok := c.Bound([][]byte{[]byte("a"), []byte("42")}); !ok || got != (ConfigSetting{Name: "app.x", Value: "42"}) {
		t.Errorf("Bound: %+v %v", got, ok)
	}
	if got, ok := c.Bound([][]byte{[]byte("a"), nil}); !ok || got != (ConfigSetting{Name: "app.x", Reset: true}) {
		t.Errorf("Bound NULL: %+v %v", got, ok)
	}
	if _, ok := c.Bound([][]byte{[]byte("a")}); ok {
		t.Error("Bound without the parameter: ok")
	}
	constant := ConfigSetting{Name: "app.x", Value: "v"}
	if got, ok := constant.Bound(nil); !ok || got != constant {
		t.Errorf("Bound constant: %+v %v", got, ok)
	}
}

func TestParseBoolAsPostgres(t *testing.T) {
	for in, want := range map[string]bool{"t": true, "TRUE": true, "tr": true, " yes ": true, "y": true, "on": true, "1": true,
		"f": false, "fals": false, "no": false, "n": false, "of": false, "off": false, "0": false} {
		if got, ok := parseBool(in); !ok || got != want {
			t.Errorf("parseBool(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "o", "2", "truee", "onn", "10", "nope"} {
		if _, ok := parseBool(in); ok {
			t.Errorf("parseBool(%q) accepted", in)
		}
	}
}

// TestPlainStatements: a session skips its word checks only for what
// Plan.Plain admits, so everything those checks look for must be left out.
func TestPlainStatements(t *testing.T) {
	r := testRouter(t)
	cases := []struct {
		stmt  string
		plain bool
	}{
		{`SELECT abalance FROM pgbench_accounts WHERE aid = 42`, true},
		{`select * from users where user_id = 1 for update`, true},
		{`INSERT INTO orders (user_id, total) VALUES (7, 10)`, true},
		{`UPDATE users SET name = 'x' WHERE user_id = 3`, true},
		{`DELETE FROM orders WHERE user_id = 3`, true},
		{`SELECT 1`, true},
		{`SELECT 'pg_advisory_lock'`, false}, // only the text is looked at
		{`SELECT pg_advisory_lock(1)`, false},
		{`SELECT pg_try_advisory_lock_shared(1)`, false},
		// An unlock may end what pinned a session (wire/pin.go).
		{`SELECT pg_advisory_unlock(1)`, false},
		{`SELECT pg_advisory_unlock_all()`, false},
		// Answered by the session for a client pgshard listens for.
		{`SELECT * FROM pg_listening_channels()`, false},
		{`SELECT set_config('app.x', 'v', false)`, false},
		{`SELECT * INTO TEMP t FROM countries`, false},
		{`SELECT * INTO t FROM countries`, false},
		{`SELECT pg_notify('c', 'x')`, false},
		{`DECLARE c CURSOR WITH HOLD FOR SELECT * FROM users WHERE user_id = 1`, false},
		{`SET search_path = app`, false},
		{`SET pgshard.target = primary`, false},
		{`PGSHARD ROUTE SELECT 1`, false},
		{`PREPARE p AS SELECT 1`, false},
		{`EXECUTE p`, false},
		{`LISTEN c`, false},
		{`BEGIN`, false},
		{`COMMIT`, false},
		{`SAVEPOINT a`, false},
		{`FETCH 1 FROM c`, false},
		{`DISCARD ALL`, false},
		{`CREATE TEMP TABLE t (a int)`, false},
		{`EXPLAIN SELECT * FROM users WHERE user_id = 1`, false},
		{`SELECT * FROM users`, true}, // over every shard
		{`DELETE FROM orders`, false}, // refused: no shard key
	}
	for _, c := range cases {
		routed := r.Simple(c.stmt)
		if len(routed) != 1 {
			t.Fatalf("%s: %d statements", c.stmt, len(routed))
		}
		// Twice: the second comes from the plan cache.
		for range 2 {
			if p := r.Simple(c.stmt)[0].Route.Plan; (p != nil && p.Plain) != c.plain {
				t.Errorf("%s: Plain = %v, want %v", c.stmt, !c.plain, c.plain)
			}
		}
	}
}
