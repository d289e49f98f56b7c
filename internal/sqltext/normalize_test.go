package sqltext

import (
	"reflect"
	"slices"
	"testing"
)

func TestNormalize(t *testing.T) {
	num := func(pos, end, minus int, v string) Literal {
		return Literal{Pos: pos, End: end, Minus: minus, Value: v}
	}
	str := func(pos, end int, v string) Literal {
		return Literal{Pos: pos, End: end, Minus: -1, String: true, Value: v}
	}
	cases := []struct {
		name   string
		in     string
		key    string
		lits   []Literal
		hints  []string
		params int
	}{
		{"numbers", "SELECT * FROM t WHERE a = -42 AND b = 1.5e-3 AND c = .5 AND d = 2E+10 AND e = 7 - 1",
			"SELECT * FROM t WHERE a = -\x00n AND b = \x00n AND c = \x00n AND d = \x00n AND e = \x00n - \x00n",
			[]Literal{num(27, 29, 26, "42"), num(38, 44, -1, "1.5e-3"), num(53, 55, -1, ".5"), num(64, 69, -1, "2E+10"),
				num(78, 79, -1, "7"), num(82, 83, -1, "1")}, nil, 0},
		{"unary minus after keywords", "select x from t where y in (-1, - 2) LIMIT -3",
			"select x from t where y in (-\x00n, - \x00n) LIMIT -\x00n",
			[]Literal{num(29, 30, 28, "1"), num(34, 35, 32, "2"), num(44, 45, 43, "3")}, nil, 0},
		{"strings", `SELECT 'it''s', E'a\nb\'c', N'nat'`,
			"SELECT \x00s, \x00s, \x00s",
			[]Literal{str(7, 14, "it's"), str(16, 26, "a\nb'c"), str(28, 34, "nat")}, nil, 0},
		{"undecodable E escape stays in the key", `SELECT E'\x41', 1`,
			`SELECT E'\x41', ` + "\x00n", []Literal{num(16, 17, -1, "1")}, nil, 0},
		{"dollar quoted", "SELECT $$x$$, $tag$y $$ z$tag$",
			"SELECT \x00s, \x00s", []Literal{str(7, 12, "x"), str(14, 30, "y $$ z")}, nil, 0},
		{"bit strings stay in the key", "SELECT B'101', X'1F', b'0'",
			"SELECT B'101', X'1F', b'0'", nil, nil, 0},
		{"comments", "SELECT /* plain /* nested */ */ 1 -- trailing\n  FROM\tt",
			"SELECT \x00n FROM t", []Literal{num(32, 33, -1, "1")}, nil, 0},
		{"hints", "SELECT /* pgshard: shard=1 */ * FROM t /*pgshard:target=replica*/",
			"SELECT * FROM t", nil, []string{"shard=1", "target=replica"}, 0},
		{"params", "SELECT * FROM t WHERE a = $1 AND b = $3 AND c = foo$2",
			"SELECT * FROM t WHERE a = $1 AND b = $3 AND c = foo$2", nil, nil, 3},
		{"a quote after a word ending in e is not an E string", `SELECT "a b", tablee'x' FROM "T"`,
			`SELECT "a b", tablee` + "\x00s" + ` FROM "T"`, []Literal{str(20, 23, "x")}, nil, 0},
	}
	for _, c := range cases {
		n := Normalize(c.in)
		if n.Key != c.key || n.Params != c.params || !reflect.DeepEqual(n.Literals, c.lits) || !reflect.DeepEqual(n.Hints, c.hints) {
			t.Errorf("%s: Normalize(%q) =\n  key %q params %d hints %q\n  lits %+v\nwant\n  key %q params %d hints %q\n  lits %+v",
				c.name, c.in, n.Key, n.Params, n.Hints, n.Literals, c.key, c.params, c.hints, c.lits)
		}
	}
}

func TestNormalizeKeys(t *testing.T) {
	same := [][2]string{
		{"SELECT * FROM users WHERE user_id = 42", "SELECT * FROM users WHERE user_id = 7"},
		{"SELECT * FROM users WHERE name = 'bob'", "SELECT * FROM users WHERE name = 'it''s'"},
		{"SELECT * FROM users WHERE name = 'bob'", "SELECT * FROM users WHERE name = $x$bob$x$"},
		{"SELECT  *\nFROM users -- c\nWHERE user_id = 1.5", "SELECT * /* c */ FROM users WHERE user_id = 2e3"},
		{"SELECT /* pgshard: shard=1 */ 1", "SELECT /* pgshard: shard=2 */ 2"},
	}
	for _, p := range same {
		if a, b := Normalize(p[0]).Key, Normalize(p[1]).Key; a != b {
			t.Errorf("%q and %q: keys %q and %q differ", p[0], p[1], a, b)
		}
	}
	differ := [][2]string{
		{"SELECT * FROM users WHERE user_id = 42", "SELECT * FROM users WHERE user_id = '42'"},
		{"SELECT * FROM users WHERE user_id = 42", "SELECT * FROM users WHERE user_id = -42"},
		{"SELECT B'101'", "SELECT B'100'"},
		{"SELECT * FROM users WHERE user_id = $1", "SELECT * FROM users WHERE user_id = $2"},
		{"SELECT a FROM t", "SELECT b FROM t"},
	}
	for _, p := range differ {
		if a, b := Normalize(p[0]).Key, Normalize(p[1]).Key; a == b {
			t.Errorf("%q and %q share key %q", p[0], p[1], a)
		}
	}
}

func TestAppendNormalized(t *testing.T) {
	const q = "SELECT abalance FROM pgbench_accounts WHERE aid = -12345 AND x = 'a' /* pgshard: shard=1 */"
	want := Normalize(q)
	var n Normalized
	key := make([]byte, 0, 128)
	for range 2 { // the second round reuses the first's memory
		key = AppendNormalized(append(key[:0], 'n'), q, &n)
		if string(key) != "n"+want.Key || !reflect.DeepEqual(n.Literals, want.Literals) || !reflect.DeepEqual(n.Hints, want.Hints) {
			t.Fatalf("AppendNormalized: %q %+v %q, want %q %+v %q", key, n.Literals, n.Hints, "n"+want.Key, want.Literals, want.Hints)
		}
	}
	if a := testing.AllocsPerRun(100, func() { key = AppendNormalized(append(key[:0], 'n'), q, &n) }); a != 0 {
		t.Errorf("AppendNormalized with warm memory: %v allocations", a)
	}
}

func TestNextStatement(t *testing.T) {
	const q = " /* a */ ; SELECT 1 ;; SELECT ';' -- c\n; -- only\n"
	var got []string
	for st, at, i := NextStatement(q, 0); st != ""; st, at, i = NextStatement(q, i) {
		if q[at:at+len(st)] != st {
			t.Errorf("NextStatement: %q said to start at %d, where %q is", st, at, q[at:])
		}
		got = append(got, st)
	}
	if want := Split(q); !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Fatalf("NextStatement: %q, Split: %q", got, want)
	}
	if a := testing.AllocsPerRun(100, func() { NextStatement("SELECT 1;", 0) }); a != 0 {
		t.Errorf("NextStatement: %v allocations", a)
	}
}

func TestFirstWords(t *testing.T) {
	for _, in := range []string{"  /* hint */ SET  LOCAL x = 1", "-- c\nReset ALL", "SELECT(1)", "", "DEALLOCATE PREPARE ALL x", "1 SELECT"} {
		w := FirstWords(in)
		lw := LeadingWords(in, 3)
		if w.Len() != len(lw) {
			t.Fatalf("FirstWords(%q): %d words, LeadingWords %q", in, w.Len(), lw)
		}
		for i, x := range lw {
			if !w.Is(i, x) || w.Lower(i) != x {
				t.Errorf("FirstWords(%q) word %d: %q, want %q", in, i, w.Word(i), x)
			}
		}
		if w.Is(w.Len(), "") || w.Word(w.Len()) != "" {
			t.Errorf("FirstWords(%q): a word past the end", in)
		}
	}
	w := FirstWords("SeT Role x")
	if !w.Is(0, "set") || !w.Is(1, "role") || w.Is(0, "se") || w.Is(1, "roles") || w.Word(0) != "SeT" {
		t.Errorf("Is: %+v", w)
	}
	if a := testing.AllocsPerRun(100, func() { FirstWords("SELECT Abalance FROM pgbench_accounts") }); a != 0 {
		t.Errorf("FirstWords: %v allocations", a)
	}
}

func TestIndexFold(t *testing.T) {
	cases := []struct {
		s, sub string
		want   int
	}{
		{"SELECT PG_ADVISORY_LOCK(1)", "pg_advisory_lock", 7},
		{"select pg_advisory_lock(1)", "pg_advisory_lock", 7},
		{"DECLARE c CURSOR With Hold FOR", " with hold", 16},
		{"abc", "", 0},
		{"ab", "abc", -1},
		{"pg_advisory_xact_lock", "advisory_lock", -1},
		{"\u212a", "k", -1}, // only ASCII letters fold
		{"P@", "p`", -1},
	}
	for _, c := range cases {
		if got := IndexFold(c.s, c.sub); got != c.want {
			t.Errorf("IndexFold(%q, %q) = %d, want %d", c.s, c.sub, got, c.want)
		}
		if got := ContainsFold(c.s, c.sub); got != (c.want >= 0) {
			t.Errorf("ContainsFold(%q, %q) = %v", c.s, c.sub, got)
		}
	}
}

// twoPasses is what AppendNextNormalized replaces: NextStatement, then
// AppendNormalized of each statement.
type normalizedStatement struct {
	stmt     string
	at       int
	key      string
	literals []Literal
	hints    []string
}

func twoPasses(q string) []normalizedStatement {
	var out []normalizedStatement
	for st, at, i := NextStatement(q, 0); st != ""; st, at, i = NextStatement(q, i) {
		var n Normalized
		key := AppendNormalized([]byte{'n'}, st, &n)
		out = append(out, normalizedStatement{st, at, string(key), orNil(n.Literals), orNil(n.Hints)})
	}
	return out
}

// orNil copies s, as nil when empty, so reused and fresh memory compare equal.
func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func onePass(q string) []normalizedStatement {
	var out []normalizedStatement
	var n Normalized
	key := make([]byte, 0, 8)
	for i := 0; ; {
		var st string
		var at int
		key, st, at, i = AppendNextNormalized(append(key[:0], 'n'), q, i, &n)
		if st == "" {
			if len(key) != 1 || len(n.Literals) != 0 || len(n.Hints) != 0 {
				panic("AppendNextNormalized left state behind after the last statement")
			}
			return out
		}
		out = append(out, normalizedStatement{st, at, string(key), orNil(n.Literals), orNil(n.Hints)})
	}
}

func TestAppendNextNormalizedIsTwoPasses(t *testing.T) {
	for _, q := range []string{
		"",
		";;  ;",
		"SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
		"  SELECT 1 ;; SELECT ';' -- c\n; -- only\n",
		" /* a */ ; SELECT 1",
		"/* pgshard: shard=1 */ ; SELECT 2 /* pgshard: shard_key=7 */; /* pgshard: shard=0 */",
		"SET a = 1; SELECT * FROM users WHERE user_id = -5 AND name = E'it\\'s;'",
		"SELECT $$a;b$$, $tag$;$tag$ FROM t WHERE k = $1; SELECT \"semi;colon\" FROM x",
		"SELECT 1\u00a0; SELECT 2\u2003",
		"\u00a0SELECT 'x';\v\fSELECT -1.5e-3",
		"SELECT 1 /* nested /* ; */ still */ ; SELECT 2",
		"SELECT 'unterminated; SELECT 2",
		"INSERT INTO t VALUES (1, 'a'), (-2, 'b') RETURNING *",
		"CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT x + 1; SELECT CASE WHEN x > 0 THEN 1 END; END; SELECT f(1)",
	} {
		got, want := onePass(q), twoPasses(q)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\none pass   %+v\ntwo passes %+v", q, got, want)
		}
	}
	var n Normalized
	key := make([]byte, 0, 128)
	const q = "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"
	if a := testing.AllocsPerRun(100, func() { key, _, _, _ = AppendNextNormalized(append(key[:0], 'n'), q, 0, &n) }); a != 0 {
		t.Errorf("AppendNextNormalized with warm memory: %v allocations", a)
	}
}

// FuzzAppendNextNormalized checks that the one-pass scan never panics,
// names statements where they are, and agrees with the two passes whenever
// both split q the same way. (They may split garbage differently: the
// normalizer reads "1$$;$$" as PostgreSQL 15 does, a number and a
// dollar-quoted string, where NextStatement sees a word.)
func FuzzAppendNextNormalized(f *testing.F) {
	for _, s := range []string{"SELECT 1; SELECT 'a;b'", "/* pgshard: shard=1 */;", "SELECT $x$;$x$ -- ;", "1$$;$$", "e'\\';'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := onePass(q)
		for _, s := range got {
			if s.at < 0 || s.at+len(s.stmt) > len(q) || q[s.at:s.at+len(s.stmt)] != s.stmt {
				t.Fatalf("%q: statement %q said to start at %d", q, s.stmt, s.at)
			}
			for _, l := range s.literals {
				if l.Pos < 0 || l.End > len(s.stmt) || l.Pos > l.End {
					t.Fatalf("%q: literal %+v outside %q", q, l, s.stmt)
				}
			}
		}
		want := twoPasses(q)
		same := len(got) == len(want)
		for i := 0; same && i < len(got); i++ {
			same = got[i].stmt == want[i].stmt && got[i].at == want[i].at
		}
		if same && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\none pass   %+v\ntwo passes %+v", q, got, want)
		}
	})
}
