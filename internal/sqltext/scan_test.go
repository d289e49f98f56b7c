package sqltext

import (
	"reflect"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SET a = 1; SELECT 2;", []string{"SET a = 1", "SELECT 2"}},
		{"SELECT ';' ; SELECT 'it''s;'", []string{"SELECT ';'", "SELECT 'it''s;'"}},
		{`SELECT "a;b" FROM t`, []string{`SELECT "a;b" FROM t`}},
		{"SELECT $$;$$; SELECT $tag$ a;$$ $tag$", []string{"SELECT $$;$$", "SELECT $tag$ a;$$ $tag$"}},
		{"SELECT 1 -- ; comment\n; SELECT 2", []string{"SELECT 1 -- ; comment", "SELECT 2"}},
		{"SELECT /* a /* nested; */ ; */ 1", []string{"SELECT /* a /* nested; */ ; */ 1"}},
		{"SELECT E'\\';'", []string{"SELECT E'\\';'"}},
		{"SELECT foo$1; SELECT 2", []string{"SELECT foo$1", "SELECT 2"}},
		{" ; ;", nil},
		{"SELECT 1; -- all shards", []string{"SELECT 1"}},
		{"/* a */ ; SELECT 2 /* b */; /* c */ -- d", []string{"SELECT 2 /* b */"}},
		{"-- only\nSELECT 3", []string{"-- only\nSELECT 3"}},
		// A function body in SQL's standard form holds semicolons, as psql
		// reads it: BEGIN opens a block outside parentheses, CASE inside
		// one opens another, END closes one.
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3",
			[]string{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT 3"}},
		{"create or replace procedure p(x int) begin atomic insert into t values (case when x > 0 then x end); select 'end;'; end;select 1",
			[]string{"create or replace procedure p(x int) begin atomic insert into t values (case when x > 0 then x end); select 'end;'; end", "select 1"}},
		{"CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT CASE WHEN true THEN 1 ELSE 2 END; END; SELECT 4",
			[]string{"CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT CASE WHEN true THEN 1 ELSE 2 END; END", "SELECT 4"}},
		{"CREATE FUNCTION h() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; BEGIN; SELECT 5; END",
			[]string{"CREATE FUNCTION h() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "BEGIN", "SELECT 5", "END"}},
		{"SELECT begin FROM t; SELECT 6", []string{"SELECT begin FROM t", "SELECT 6"}},
	}
	for _, c := range cases {
		if got := Split(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLeadingWords(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want []string
	}{
		{"  /* hint */ SET  LOCAL x = 1", 3, []string{"set", "local", "x"}},
		{"-- c\nReset ALL", 2, []string{"reset", "all"}},
		{"SELECT(1)", 3, []string{"select"}},
		{"", 2, nil},
	}
	for _, c := range cases {
		if got := LeadingWords(c.in, c.n); !reflect.DeepEqual(got, c.want) {
			t.Errorf("LeadingWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
