package seqrange

import (
	"strings"
	"testing"
)

func TestBlock(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		shard  int
		lo, hi int64
		ok     bool
	}{
		{"int8", 0, 1, 1 << 48, true},
		{"int8", 2, 2<<48 + 1, 3 << 48, true},
		{"int8", 32766, 32766<<48 + 1, 32767 << 48, true},
		{"int8", 32767, 0, 0, false}, // 32768·2^48 passes the bigint range
		{"int4", 1, 1<<24 + 1, 2 << 24, true},
		{"int4", 126, 126<<24 + 1, 127 << 24, true},
		{"int4", 127, 0, 0, false},
		{"int2", 0, 0, 0, false},
		{"int8", -1, 0, 0, false},
	} {
		lo, hi, ok := Block(tc.typ, tc.shard)
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("Block(%s, %d) = %d, %d, %v; want %d, %d, %v", tc.typ, tc.shard, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

func TestApart(t *testing.T) {
	col := func(lo, hi int64) Column { return Column{Sequence: "s", Min: lo, Max: hi} }
	for _, tc := range []struct {
		name string
		per  []Column
		want bool
	}{
		{"fresh sequences overlap", []Column{col(1, 1<<62), col(1, 1<<62)}, false},
		{"blocks", []Column{col(1, 10), col(11, 20), col(21, 30)}, true},
		{"touching", []Column{col(1, 10), col(10, 20)}, false},
		{"one of three overlaps", []Column{col(1, 10), col(21, 30), col(25, 40)}, false},
		{"unknown sequence", []Column{col(1, 10), {}}, false},
		{"one shard", []Column{col(1, 10)}, true},
	} {
		if got := Apart(tc.per); got != tc.want {
			t.Errorf("%s: Apart = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestConfine(t *testing.T) {
	base := Column{Column: "public.t.id", Sequence: "t_id_seq", Type: "int8", Min: 1, Max: 1<<63 - 1}
	for _, tc := range []struct {
		name  string
		c     func(Column) Column
		shard int
		stmt  string // "" none; "error" an error
	}{
		{"fresh, shard 0", func(c Column) Column { return c }, 0, "ALTER SEQUENCE t_id_seq MINVALUE 1 MAXVALUE 281474976710656 START WITH 1 RESTART WITH 1"},
		{"used, shard 0 keeps counting", func(c Column) Column { c.Last, c.Used = 41, true; return c }, 0, "RESTART WITH 42"},
		{"used, shard 1 jumps to its block", func(c Column) Column { c.Last, c.Used = 41, true; return c }, 1, "MINVALUE 281474976710657 MAXVALUE 562949953421312 START WITH 281474976710657 RESTART WITH 281474976710657"},
		{"used in its block", func(c Column) Column { c.Last, c.Used = 1<<48+5, true; return c }, 1, "RESTART WITH 281474976710662"},
		{"confined already", func(c Column) Column { c.Min, c.Max = 1<<48+1, 2<<48; return c }, 1, ""},
		{"past its block", func(c Column) Column { c.Last, c.Used = 3<<48, true; return c }, 1, "error"},
		{"smallint", func(c Column) Column { c.Type = "int2"; return c }, 0, "error"},
		{"unknown sequence", func(c Column) Column { c.Sequence = ""; return c }, 0, "error"},
	} {
		stmt, _, err := Confine(tc.c(base), tc.shard)
		switch {
		case tc.stmt == "error":
			if err == nil {
				t.Errorf("%s: %q, want an error", tc.name, stmt)
			}
		case err != nil || tc.stmt == "" && stmt != "" || !strings.Contains(stmt, tc.stmt):
			t.Errorf("%s: %q (%v), want %q", tc.name, stmt, err, tc.stmt)
		}
	}
}

func TestParse(t *testing.T) {
	c, err := Parse("public.t.id\x1fpublic.t_id_seq\x1fint8\x1f1\x1f9223372036854775807\x1f17")
	if err != nil || c.Column != "public.t.id" || c.Sequence != "public.t_id_seq" || c.Type != "int8" || c.Min != 1 || c.Max != 1<<63-1 || !c.Used || c.Last != 17 {
		t.Errorf("Parse: %+v, %v", c, err)
	}
	if c, err := Parse("public.t.id\x1fs\x1fint4\x1f1\x1f2147483647\x1f"); err != nil || c.Used {
		t.Errorf("never used: %+v, %v", c, err)
	}
	if _, err := Parse("public.t.id\x1fs"); err == nil {
		t.Error("a short row was read")
	}
}
