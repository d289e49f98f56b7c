package router

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/shard"
)

// TestArrayInsert: INSERT ... SELECT * FROM unnest($1, $2) into a sharded
// table sends each shard the arrays of its own rows, text or binary, and
// keeps the client's other parameters; one shard's rows go as sent.
func TestArrayInsert(t *testing.T) {
	r := testRouter(t)
	m := shard.EqualMap(3)
	owner := func(k int64) shard.ShardID { return m.Lookup(shard.HashInt(k)) }
	keys := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	var text []string
	for _, k := range keys {
		text = append(text, strconv.FormatInt(k, 10))
	}
	names := `{"a,b","c\"d",NULL,e,"f\\g",h,i,j}` // one short: row 9's is NULL

	for _, q := range []string{
		`INSERT INTO orders (user_id, item) SELECT * FROM unnest($1::bigint[], $2::text[]) RETURNING $3::int`,
		`INSERT INTO orders (item, user_id) SELECT * FROM ROWS FROM (pg_catalog.unnest($2::text[]), unnest($1::int8[])) AS x(a, b) RETURNING $3::int`,
		`INSERT INTO orders (user_id, item) SELECT unnest($1::int4[]), unnest($2::varchar[]) RETURNING $3::int`,
		// The arrays' columns named, with constants and parameters the
		// same in every row.
		`INSERT INTO orders (status, user_id, item, note) SELECT 'new', x.u, i, $3 FROM unnest($1::bigint[], $2::text[]) AS x(u, i)`,
	} {
		p := r.Prepare(q)
		if p.Arrays == nil {
			t.Fatalf("%s: planned %s, want an array insert", q, p.Kind)
		}
		params := [][]byte{[]byte("{" + strings.Join(text, ",") + "}"), []byte(names), []byte("7")}
		rt := r.Bind(p, q, params, []int16{0, 0, 0})
		if rt.Err != nil || len(rt.Shards) < 2 || len(rt.Params) != len(rt.Shards) || rt.SQL != nil {
			t.Fatalf("%s: %s, want a split with per-shard parameters", q, rt.Describe())
		}
		seen := 0
		for i, id := range rt.Shards {
			got := func(n int) []byte {
				k := rt.Params[i][n]
				if k < 0 {
					return rt.Extra[-1-k].Value
				}
				return params[k]
			}
			ks, err := arrayElements(string(got(0)))
			if err != nil {
				t.Fatal(err)
			}
			ns, err := arrayElements(string(got(1)))
			if err != nil || len(ns) != len(ks) || len(ks) != len(rt.Rows[i]) {
				t.Fatalf("shard %d: keys %q names %q (%v), rows %v", id, ks, ns, err, rt.Rows[i])
			}
			if string(got(2)) != "7" {
				t.Errorf("shard %d: $3 = %q, want the client's 7", id, got(2))
			}
			all, _ := arrayElements(names)
			for j, pos := range rt.Rows[i] {
				if k, _ := strconv.ParseInt(string(ks[j]), 10, 64); k != keys[pos] || owner(k) != id {
					t.Errorf("shard %d row %d: key %s, want %d (owner %d)", id, j, ks[j], keys[pos], owner(keys[pos]))
				}
				var want []byte
				if pos < len(all) {
					want = all[pos]
				}
				if (want == nil) != (ns[j] == nil) || string(want) != string(ns[j]) {
					t.Errorf("shard %d row %d: name %q, want %q", id, j, ns[j], want)
				}
				seen++
			}
		}
		if seen != len(keys) {
			t.Errorf("%s: %d rows sent, want %d", q, seen, len(keys))
		}

		// Every row on one shard: the statement as sent.
		var same []string
		for _, k := range keys {
			if owner(k) == owner(1) {
				same = append(same, strconv.FormatInt(k, 10))
			}
		}
		rt = r.Bind(p, q, [][]byte{[]byte("{" + strings.Join(same, ",") + "}"), []byte("{x}"), nil}, nil)
		if rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{owner(1)}) || rt.Params != nil {
			t.Errorf("%s, one shard's keys: %s, want shard %d unsplit", q, rt.Describe(), owner(1))
		}
		// A NULL key, or a key array shorter than another, is refused.
		for _, bad := range [][]byte{[]byte("{1,NULL}"), []byte("{1}")} {
			rt = r.Bind(p, q, [][]byte{bad, []byte("{x,y}"), nil}, nil)
			if rt.Err == nil || rt.Err.Code != codeNullKey {
				t.Errorf("%s with keys %s: %s, want 23502", q, bad, rt.Describe())
			}
		}
	}

	// Binary arrays are cut as binary arrays.
	bin := func(oid uint32, elems ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, 1)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, oid)
		b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
		b = binary.BigEndian.AppendUint32(b, 1)
		for _, e := range elems {
			if e == nil {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff)
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
			b = append(b, e...)
		}
		return b
	}
	var kb, nb [][]byte
	for _, k := range keys {
		kb = append(kb, binary.BigEndian.AppendUint64(nil, uint64(k)))
		nb = append(nb, []byte("n"+strconv.FormatInt(k, 10)))
	}
	nb[4] = nil
	const q = `INSERT INTO orders (user_id, item) SELECT * FROM unnest($1, $2)`
	p := r.Prepare(q)
	rt := r.BindKeyed(p, q, Params{Values: [][]byte{bin(20, kb...), bin(25, nb...)}, Formats: []int16{1, 1}, OIDs: []uint32{1016, 1009}}, "")
	if rt.Err != nil || len(rt.Shards) < 2 {
		t.Fatalf("binary: %s, want a split", rt.Describe())
	}
	for i, id := range rt.Shards {
		x := rt.Extra[-1-rt.Params[i][0]]
		ks, oid, err := binaryArray(x.Value)
		if err != nil || oid != 20 || x.Format != 1 || len(ks) != len(rt.Rows[i]) {
			t.Fatalf("shard %d: binary keys %v oid %d format %d (%v)", id, ks, oid, x.Format, err)
		}
		ns, _, err := binaryArray(rt.Extra[-1-rt.Params[i][1]].Value)
		if err != nil || len(ns) != len(ks) {
			t.Fatalf("shard %d: binary names %v (%v)", id, ns, err)
		}
		for j, pos := range rt.Rows[i] {
			if k := int64(binary.BigEndian.Uint64(ks[j])); k != keys[pos] || owner(k) != id {
				t.Errorf("shard %d: binary key %d at row %d", id, k, pos)
			}
			if (ns[j] == nil) != (nb[pos] == nil) || string(ns[j]) != string(nb[pos]) {
				t.Errorf("shard %d: binary name %q, want %q", id, ns[j], nb[pos])
			}
		}
	}

	// Not an array insert: the SELECT filters or computes, or an array is
	// not a parameter; those keep their own plans.
	for _, q := range []string{
		`INSERT INTO orders (user_id, item) SELECT * FROM unnest($1::bigint[], $2::text[]) WHERE true`,
		`INSERT INTO orders (user_id, item) SELECT * FROM unnest($1::bigint[], ARRAY['x'])`,
		`INSERT INTO orders (user_id, item) SELECT * FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY`,
		`INSERT INTO orders (user_id, item) SELECT k, 'x' FROM unnest($1::bigint[]) k`,
		`INSERT INTO orders (user_id, item) SELECT x.u, $1 FROM unnest($1::bigint[]) AS x(u)`,
		`INSERT INTO orders (user_id, item) SELECT x.u, x.i || '!' FROM unnest($1::bigint[], $2::text[]) AS x(u, i)`,
		`INSERT INTO orders (user_id, item) SELECT u, u FROM unnest($1::bigint[], $2::text[]) AS x(u, u)`,
		`INSERT INTO orders (user_id, item) SELECT 7, x.i FROM unnest($2::text[]) AS x(i)`,
		`INSERT INTO orders (user_id, item) SELECT * FROM unnest($1::bigint[], $2::text[]) RETURNING (SELECT count(*) FROM users)`,
	} {
		if p := r.Prepare(q); p.Arrays != nil {
			t.Errorf("%s: planned as an array insert", q)
		}
	}
}

// TestArrayElements reads arrays as PostgreSQL's array_in does.
func TestArrayElements(t *testing.T) {
	null := "<NULL>"
	for _, tc := range []struct {
		in   string
		want []string // nil: refused
	}{
		{`{}`, []string{}},
		{` { } `, []string{}},
		{`{1,2,3}`, []string{"1", "2", "3"}},
		{`{ a b , c }`, []string{"a b", "c"}},
		{`{"a,b","c\"d","",NULL,null,"NULL"}`, []string{"a,b", `c"d`, "", null, null, "NULL"}},
		{`{a\,b,\ x\ ,\NULL}`, []string{"a,b", " x ", "NULL"}},
		{`{"x\\y"}`, []string{`x\y`}},
		{`{{1,2},{3,4}}`, nil},
		{`[0:1]={1,2}`, nil},
		{`{1,}`, nil},
		{`{1`, nil},
		{`{1} x`, nil},
		{`{a"b}`, nil},
		{`1,2`, nil},
	} {
		got, err := arrayElements(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: read %q, want a refusal", tc.in, got)
			}
			continue
		}
		var s []string
		for _, e := range got {
			if e == nil {
				s = append(s, null)
			} else {
				s = append(s, string(e))
			}
		}
		if err != nil || !slices.Equal(s, tc.want) && !(len(s) == 0 && len(tc.want) == 0) {
			t.Errorf("%s: %q (%v), want %q", tc.in, s, err, tc.want)
		}
	}
}
