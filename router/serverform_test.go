package router

import (
	"reflect"
	"testing"
)

// TestServerForm checks which literals a simple query's server form makes
// parameters, with what types, and that every position the server could
// report still points at the same character of the client's text.
func TestServerForm(t *testing.T) {
	for _, c := range []struct {
		q, text string
		params  []string
		oids    []uint32
	}{
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 12345",
			"SELECT abalance FROM pgbench_accounts WHERE aid = $1   ", []string{"12345"}, []uint32{oidInt4}},
		// One character is shorter than $1: it stays.
		{"SELECT * FROM users WHERE user_id = 5", "SELECT * FROM users WHERE user_id = 5", nil, nil},
		// ORDER BY 2 is a column number; LIMIT takes an expression.
		{"SELECT * FROM users WHERE user_id = 42 ORDER BY 22 LIMIT 10",
			"SELECT * FROM users WHERE user_id = $1 ORDER BY 22 LIMIT $2", []string{"42", "10"}, []uint32{oidInt4, oidInt4}},
		{"SELECT name, count(*) FROM users WHERE user_id = 42 GROUP BY 11",
			"SELECT name, count(*) FROM users WHERE user_id = $1 GROUP BY 11", []string{"42"}, []uint32{oidInt4}},
		{"SELECT DISTINCT ON (12) name FROM users WHERE user_id = 42",
			"SELECT DISTINCT ON (12) name FROM users WHERE user_id = $1", []string{"42"}, []uint32{oidInt4}},
		// DATE '...' needs a string where it stands; so does a cast's.
		{"SELECT * FROM users WHERE user_id = 42 AND created > DATE '2024-01-01' AND name = 'bob' AND x = '5'::int",
			"SELECT * FROM users WHERE user_id = $1 AND created > DATE '2024-01-01' AND name = $2    AND x = '5'::int",
			[]string{"42", "bob"}, []uint32{oidInt4, oidUnknown}},
		// Type modifiers stay, and so does INT_MIN, which PostgreSQL folds
		// into an int4 constant where -$1 would be int8.
		{"SELECT name::varchar(100) FROM users WHERE user_id = -2147483648",
			"SELECT name::varchar(100) FROM users WHERE user_id = -2147483648", nil, nil},
		{"SELECT * FROM users WHERE user_id = -2147483647",
			"SELECT * FROM users WHERE user_id = -$1        ", []string{"2147483647"}, []uint32{oidInt4}},
		{"SELECT * FROM users WHERE user_id = 3000000000",
			"SELECT * FROM users WHERE user_id = $1        ", []string{"3000000000"}, []uint32{oidInt8}},
		{"SELECT 1.5e3, 12.5, 99999999999999999999 FROM users WHERE user_id = 42",
			"SELECT $1   , $2  , $3                   FROM users WHERE user_id = $4", []string{"1.5e3", "12.5", "99999999999999999999", "42"},
			[]uint32{oidNumeric, oidNumeric, oidNumeric, oidInt4}},
		// A backslash in a plain string means what standard_conforming_strings
		// says; an E string's is decoded.
		{`SELECT 'a\b', E'a\\b' FROM users WHERE user_id = 42`,
			`SELECT 'a\b', $1      FROM users WHERE user_id = $2`, []string{`a\b`, "42"}, []uint32{oidUnknown, oidInt4}},
		{`SELECT U&'d\0061t', $q$it's$q$ FROM users WHERE user_id = 42`,
			`SELECT U&'d\0061t', $1         FROM users WHERE user_id = $2`, []string{"it's", "42"}, []uint32{oidUnknown, oidInt4}},
		// 0x1F is 0 AS x1F to PostgreSQL 15.
		{"SELECT 0x1F FROM users WHERE user_id = 42", "SELECT 0x1F FROM users WHERE user_id = $1", []string{"42"}, []uint32{oidInt4}},
		// Characters, not bytes: é is two bytes and one position.
		{"INSERT INTO users (user_id, name) VALUES (12345, 'héllo')",
			"INSERT INTO users (user_id, name) VALUES ($1   , $2     )", []string{"12345", "héllo"}, []uint32{oidInt4, oidUnknown}},
		{"UPDATE users SET name = 'x y' WHERE user_id = 42 RETURNING user_id",
			"UPDATE users SET name = $1    WHERE user_id = $2 RETURNING user_id", []string{"x y", "42"}, []uint32{oidUnknown, oidInt4}},
		{"DELETE FROM users WHERE user_id IN (42, 43)", "DELETE FROM users WHERE user_id IN ($1, $2)", []string{"42", "43"}, []uint32{oidInt4, oidInt4}},
	} {
		r := testRouter(t)
		st := r.Simple(c.q)
		var f ServerForm
		if len(st) != 1 || !r.ServerFormOf(&st[0], &f) {
			t.Errorf("%s: no server form (%s)", c.q, st[0].Route.Describe())
			continue
		}
		var params []string
		for _, p := range f.Params {
			params = append(params, string(p))
		}
		if f.Text != c.text || !reflect.DeepEqual(params, c.params) || !reflect.DeepEqual(f.OIDs, c.oids) {
			t.Errorf("%s:\n got %q %q %v\nwant %q %q %v", c.q, f.Text, params, f.OIDs, c.text, c.params, c.oids)
		}
	}
}

func TestNoServerForm(t *testing.T) {
	r := testRouter(t)
	for _, q := range []string{
		"SET search_path = public",
		"SELECT 1 INTO newtable",
		"CREATE TABLE t (a int)",
		"BEGIN",
		"EXPLAIN SELECT * FROM users WHERE user_id = 42",
		"SELECT * FROM users WHERE user_id = 42 AND", // a syntax error
	} {
		st := r.Simple(q)
		var f ServerForm
		if len(st) == 1 && r.ServerFormOf(&st[0], &f) {
			t.Errorf("%s: server form %q", q, f.Text)
		}
	}
}

func TestServerFormNames(t *testing.T) {
	r := testRouter(t)
	name := func(q string) string {
		st := r.Simple(q)
		var f ServerForm
		if !r.ServerFormOf(&st[0], &f) {
			t.Fatalf("%s: no server form", q)
		}
		return f.Name
	}
	// Same text, other types: other statements.
	a, b := name("SELECT * FROM users WHERE user_id = 2147483647"), name("SELECT * FROM users WHERE user_id = 3000000000")
	if a == b {
		t.Errorf("int4 and int8 forms share the name %s", a)
	}
	if c := name("SELECT * FROM users WHERE user_id = 1147483647"); c != a {
		t.Errorf("one form, two names: %s, %s", a, c)
	}
	st := r.Simple("SELECT * FROM users WHERE user_id = 42")
	st[0].Route.Plan.RefuseServerForm()
	var f ServerForm
	if r.ServerFormOf(&r.Simple("SELECT * FROM users WHERE user_id = 43")[0], &f) {
		t.Error("a refused form is still used")
	}
}
