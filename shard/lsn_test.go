package shard

import (
	"math"
	"testing"
)

func TestParseLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LSN
		out  string
	}{
		{"0/0", 0, "0/0"},
		{"16/B374D848", 0x16_B374D848, "16/B374D848"},
		{"16/b374d848", 0x16_B374D848, "16/B374D848"},
		{"0/3000060", 0x3000060, "0/3000060"},
		{"00000001/00000002", 1<<32 | 2, "1/2"},
		{"FFFFFFFF/FFFFFFFF", math.MaxUint64, "FFFFFFFF/FFFFFFFF"},
	} {
		got, err := ParseLSN(tc.in)
		if err != nil {
			t.Errorf("ParseLSN(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseLSN(%q) = %#x, want %#x", tc.in, uint64(got), uint64(tc.want))
		}
		if s := got.String(); s != tc.out {
			t.Errorf("ParseLSN(%q).String() = %q, want %q", tc.in, s, tc.out)
		}
	}
}

func TestParseLSNInvalid(t *testing.T) {
	for _, in := range []string{
		"", "/", "0/", "/0", "0", "16B374D848", "1/2/3", "0x1/0", "+1/0", "-1/0",
		"1 /0", " 1/0", "1/0 ", "123456789/0", "0/123456789", "g/0", "0/1_0",
	} {
		if got, err := ParseLSN(in); err == nil {
			t.Errorf("ParseLSN(%q) = %v, want an error", in, got)
		}
	}
}

func TestLSNRoundTrip(t *testing.T) {
	for _, l := range []LSN{0, 1, 0xFFFFFFFF, 1 << 32, 0x16_B374D848, math.MaxUint64, 0xDEADBEEF_00000001} {
		got, err := ParseLSN(l.String())
		if err != nil || got != l {
			t.Errorf("round trip of %#x via %q: %#x, %v", uint64(l), l.String(), uint64(got), err)
		}
	}
}

func TestLSNSub(t *testing.T) {
	if d := LSN(1000).Sub(400); d != 600 {
		t.Errorf("1000-400 = %d", d)
	}
	if d := LSN(400).Sub(1000); d != 0 {
		t.Errorf("400-1000 = %d, want 0 (never negative)", d)
	}
	if d := LSN(math.MaxUint64).Sub(0); d != math.MaxInt64 {
		t.Errorf("max-0 = %d, want MaxInt64", d)
	}
}

func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "x/y", "1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		back, err := ParseLSN(l.String())
		if err != nil || back != l {
			t.Fatalf("%q -> %v -> %v, %v", s, l, back, err)
		}
	})
}
