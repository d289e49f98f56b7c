package router

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// benchRouter is testRouter, whose schema also shards pgbench_accounts
// by aid as bench/run.sh configures it.
func benchRouter(b *testing.B) *Router { return testRouter(b) }

// variants returns n texts of format with %d replaced by different keys,
// so a benchmark measures routing, not Sprintf.
func variants(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Replace(format, "%d", strconv.Itoa(1+i*7919), 1)
	}
	return out
}

// BenchmarkSimpleCacheHit routes a simple-protocol statement whose
// normalized form is cached, with a different key literal each time.
func BenchmarkSimpleCacheHit(b *testing.B) {
	for _, c := range []struct{ name, format string }{
		{"pgbench", "SELECT abalance FROM pgbench_accounts WHERE aid = %d;"},
		{"users", "SELECT * FROM users WHERE user_id = %d"},
		{"users_string_key", "SELECT * FROM users WHERE user_id = '%d'"},
		{"two_statements", "SET a = 1; SELECT * FROM users WHERE user_id = %d"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := benchRouter(b)
			qs := variants(c.format, 1024)
			for _, q := range qs[:2] {
				for _, st := range r.Simple(q) {
					if st.Route.Err != nil {
						b.Fatalf("%s: %s", q, st.Route.Describe())
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st := r.Simple(qs[i&1023])
				if st[len(st)-1].Route.Kind != KindShard {
					b.Fatal("not routed to one shard")
				}
			}
		})
	}
}

// BenchmarkPreparedBind evaluates a prepared plan with a Bind's key value.
func BenchmarkPreparedBind(b *testing.B) {
	r := benchRouter(b)
	const q = "SELECT * FROM users WHERE user_id = $1 AND name = $2"
	p := r.Prepare(q)
	if p.Kind != KindShard {
		b.Fatalf("prepared plan is %v", p.Kind)
	}
	text := make([][][]byte, 1024)
	bin := make([][][]byte, 1024)
	for i := range text {
		k := int64(1 + i*7919)
		text[i] = [][]byte{[]byte(strconv.FormatInt(k, 10)), []byte("bob")}
		bin[i] = [][]byte{binary.BigEndian.AppendUint64(nil, uint64(k)), []byte("bob")}
	}
	for _, c := range []struct {
		name    string
		params  [][][]byte
		formats []int16
	}{
		{"text_int8", text, []int16{0, 0}},
		{"binary_int8", bin, []int16{1, 0}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rt := r.Bind(p, q, c.params[i&1023], c.formats)
				if rt.Kind != KindShard || len(rt.Shards) != 1 {
					b.Fatal(rt.Describe())
				}
			}
		})
	}
}

// BenchmarkParseUncached is the cost of a plan cache miss per statement
// shape: normalizing, parsing with libpg_query and planning.
func BenchmarkParseUncached(b *testing.B) {
	var in, rows strings.Builder
	in.WriteString("SELECT * FROM users WHERE user_id IN (")
	rows.WriteString("INSERT INTO users (user_id, name) VALUES ")
	for i := range 10 {
		if i > 0 {
			in.WriteString(", ")
			rows.WriteString(", ")
		}
		in.WriteString(strconv.Itoa(i * 37))
		rows.WriteString("(" + strconv.Itoa(i*37) + ", 'name " + strconv.Itoa(i) + "')")
	}
	in.WriteString(")")
	for _, c := range []struct{ name, q string }{
		{"point_select", "SELECT abalance FROM pgbench_accounts WHERE aid = 42"},
		{"in_list_10", in.String()},
		{"insert_10_rows", rows.String()},
		{"scatter_aggregate", "SELECT country, count(*), sum(balance) FROM users WHERE balance > 0 GROUP BY country ORDER BY 2 DESC LIMIT 10"},
		{"join_3_way", "SELECT u.name, o.amount, c.name FROM users u JOIN orders o ON o.user_id = u.user_id JOIN countries c ON c.code = u.country WHERE u.user_id = 42"},
		{"ddl", "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) DEFAULT 0, created timestamptz DEFAULT now())"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := benchRouter(b)
			if p := r.plan(c.q, sqltext.Normalize(c.q).Literals, false); p.Kind == KindRefuse {
				b.Fatalf("%s: %s", c.q, p.Err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n := sqltext.Normalize(c.q)
				_ = r.plan(c.q, n.Literals, false)
			}
		})
	}
}

// TestCacheHitAllocations keeps the cached path's allocations from creeping
// back: one for a single statement's result, one for a prepared Bind.
func TestCacheHitAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts need an uninstrumented build; `make test` runs this test again without -race")
	}
	r := testRouter(t)
	qs := variants("SELECT * FROM users WHERE user_id = %d;", 64)
	r.Simple(qs[0])
	i := 0
	if a := testing.AllocsPerRun(200, func() { r.Simple(qs[i&63]); i++ }); a > 1 {
		t.Errorf("Simple on a cached statement: %v allocations, want 1", a)
	}
	p := r.Prepare("SELECT * FROM users WHERE user_id = $1")
	params := [][]byte{[]byte("42")}
	if a := testing.AllocsPerRun(200, func() { r.Bind(p, "", params, nil) }); a > 1 {
		t.Errorf("Bind: %v allocations, want 1", a)
	}
	// An empty query still gets an empty, non-nil result.
	for _, q := range []string{"", " ; -- x"} {
		if got := r.Simple(q); got == nil || len(got) != 0 {
			t.Errorf("Simple(%q) = %#v, want an empty non-nil slice", q, got)
		}
	}
	// Keys on several shards: each shard once, in order.
	q := "SELECT * FROM users WHERE user_id IN (1, 6, 9, 10, 1, 6)"
	if rt := r.Simple(q)[0].Route; len(rt.Shards) < 2 || !slicesSorted(rt.Shards) {
		t.Errorf("Simple(%q): shards %v", q, rt.Shards)
	}
}

func slicesSorted(s []shard.ShardID) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}
