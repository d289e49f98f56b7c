package router

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// TestParserLimits checks the guard against libpg_query's recursion: what
// the guard lets through parses (or fails cleanly), and chains long enough
// to crash the parser never reach it.
func TestParserLimits(t *testing.T) {
	chain := func(n int) string { return "SELECT 1" + strings.Repeat("+1", n) }
	parens := func(n int) string { return "SELECT " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) }
	for _, q := range []string{chain(maxNesting - 10), parens(maxNesting - 10)} {
		if why := tooComplex(q); why != "" {
			t.Fatalf("guard refuses a statement at the limit: %s", why)
		}
		if _, err := pg.Parse(q); err != nil {
			t.Fatalf("libpg_query fails below the guard's limit (%d bytes): %v", len(q), err)
		}
	}
	// Well past the limit the guard answers; the parser is never called
	// with these (30,000 terms crash it).
	for _, q := range []string{chain(30000), parens(30000), "SELECT " + strings.Repeat("-", 40000) + "1"} {
		if why := tooComplex(q); why == "" {
			t.Fatalf("guard lets %d bytes through", len(q))
		}
	}
	r := testRouter(t)
	rt := r.Simple(chain(30000))[0].Route
	if rt.Err == nil || rt.Err.Code != "54001" {
		t.Fatalf("deep statement routed as %s", rt.Describe())
	}
	// Long flat lists are not limited.
	in := "SELECT * FROM users WHERE user_id IN (" + strings.Repeat("1,", 20000) + "1) OR user_id = 2" + strings.Repeat(" OR user_id = 3", 5000)
	if rt := r.Simple(in)[0].Route; rt.Err != nil {
		t.Fatalf("long IN/OR list refused: %s", rt.Describe())
	}
}

// FuzzRoute feeds arbitrary statement text to the router: it must never
// panic or crash, whatever libpg_query makes of it (staging, which
// deparses what it parsed, included).
func FuzzRoute(f *testing.F) {
	src, err := readLines("testdata/routes.sql")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range src {
		f.Add(s)
	}
	f.Add("SELECT (((((1")
	f.Add("SELECT 1" + strings.Repeat("*2", 4000))
	f.Add("INSERT INTO users VALUES ($1, 2), (3)")
	f.Add("DECLARE c CURSOR FOR SELECT * FROM users")
	f.Add("INSERT INTO users AS u DEFAULT VALUES RETURNING u.user_id")
	f.Add("COPY public.users (name, score) FROM STDIN WITH (FORMAT csv)")
	r := testRouter(f)
	_, users := r.Schema().lookup("", "users")
	cols := KeyColumns{users: 1}
	var form ServerForm
	f.Fuzz(func(t *testing.T, q string) {
		for _, st := range r.Simple(q) {
			_ = st.Route.Describe()
			if r.ServerFormOf(&st, &form) {
				checkServerForm(t, st.Text, &form)
			}
			if sg := st.Route.Staging(); sg != nil {
				_ = sg.Fill(make([]StageResult, len(sg.Stages)))
			}
		}
		if sg := r.PullUp(q, nil); sg != nil {
			_ = sg.Fill(nil)
		}
		for _, st := range r.SimpleWith(q, "", cols) {
			_ = st.Route.Describe()
		}
		// Generated keys written in (INSERT ... VALUES, DEFAULT VALUES)
		// and a COPY's key column added.
		gen := &GeneratedKeys{Values: []string{"7", "it's", "9"}, Always: true}
		for _, st := range r.SimpleFilled(q, "", nil, gen) {
			_ = st.Route.Describe()
			if pl := st.Route.Plan; pl != nil && pl.Copy != nil && pl.Copy.GenKey {
				_, _ = WithKeyColumn(st.Text, pl.Copy)
			}
		}
		p := r.Prepare(q)
		_ = r.BindFilled(p, q, Params{Values: [][]byte{[]byte("1"), nil}, Formats: []int16{0, 0}}, "", nil, gen)
		_ = r.Bind(p, q, [][]byte{[]byte("1"), nil, {0, 0, 0, 1}}, []int16{0, 0, 1})
		_ = r.BindWith(p, q, Params{Values: [][]byte{[]byte("1"), nil}, Formats: []int16{0, 0}}, "", cols)
		_ = r.BindWith(p, q, Params{Values: [][]byte{[]byte(q), []byte(q), []byte(q)}, Formats: []int16{1, 0, 1}, OIDs: []uint32{oidFloat8, oidNumeric, oidNumeric}}, "", cols)
		_, _ = CursorQuery(q)
		_, _ = ParseCursorOp(q)
	})
}

// checkServerForm checks what the wire relies on in a server form: the
// text keeps every character position of the statement (so the server's
// error positions hold), differs only where a $n stands, and has one
// parameter, with a type, per $n.
func checkServerForm(t *testing.T, text string, f *ServerForm) {
	t.Helper()
	if utf8.RuneCountInString(f.Text) != utf8.RuneCountInString(text) {
		t.Fatalf("%q: server form %q moves positions", text, f.Text)
	}
	if len(f.Params) != len(f.OIDs) || !strings.HasPrefix(f.Name, "pgshard_s") {
		t.Fatalf("%q: %d params, %d types, name %q", text, len(f.Params), len(f.OIDs), f.Name)
	}
	for i := range f.Params {
		if !strings.Contains(f.Text, "$"+strconv.Itoa(i+1)) {
			t.Fatalf("%q: server form %q lacks $%d", text, f.Text, i+1)
		}
	}
}
