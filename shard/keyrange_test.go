package shard

import (
	"math"
	"strings"
	"testing"
)

func TestKeyRangeContains(t *testing.T) {
	for _, tc := range []struct {
		r    KeyRange
		p    Point
		want bool
	}{
		{KeyRange{0, 10}, 0, true},
		{KeyRange{0, 10}, 9, true},
		{KeyRange{0, 10}, 10, false},
		{KeyRange{5, 10}, 4, false},
		{KeyRange{5, 0}, math.MaxUint64, true}, // Hi 0 is 2^64
		{KeyRange{5, 0}, 5, true},
		{KeyRange{5, 0}, 4, false},
		{KeyRange{}, 0, true}, // the zero range is the whole space
		{KeyRange{}, math.MaxUint64, true},
		{KeyRange{10, 10}, 10, false}, // empty
		{KeyRange{10, 5}, 7, false},   // empty
	} {
		if got := tc.r.Contains(tc.p); got != tc.want {
			t.Errorf("%v.Contains(%v) = %v, want %v", tc.r, tc.p, got, tc.want)
		}
	}
}

func TestKeyRangeString(t *testing.T) {
	for _, tc := range []struct {
		r    KeyRange
		want string
	}{
		{KeyRange{0, 1 << 63}, "[0x0000000000000000, 0x8000000000000000)"},
		{KeyRange{1 << 63, 0}, "[0x8000000000000000, max)"},
		{KeyRange{}, "[0x0000000000000000, max)"},
		{KeyRange{0xabc, 0xffffffffffffffff}, "[0x0000000000000abc, 0xffffffffffffffff)"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		back, err := ParseKeyRange(tc.want)
		if err != nil || back != tc.r {
			t.Errorf("ParseKeyRange(%q) = %v, %v; want %v", tc.want, back, err, tc.r)
		}
	}
}

func TestParseKeyRangeLenient(t *testing.T) {
	// Hand-typed forms an operator may use in the admin CLI.
	for in, want := range map[string]KeyRange{
		"[0x0,0x10)":               {0, 0x10},
		" [ 0x0 , max ) ":          {0, 0},
		"[0xABC, 0xDEF0)":          {0xabc, 0xdef0},
		"[0x8000000000000000,max)": {1 << 63, 0},
	} {
		got, err := ParseKeyRange(in)
		if err != nil || got != want {
			t.Errorf("ParseKeyRange(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseKeyRangeRejected(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "want [lo, hi)"},
		{"0x0, 0x10", "want [lo, hi)"},
		{"[0x0, 0x10]", "want [lo, hi)"},
		{"[0x0 0x10)", "missing comma"},
		{"[0, 0x10)", "lower bound"},
		{"[0x0, 16)", "upper bound"},
		{"[0xg, 0x10)", "not a 64-bit hex number"},
		{"[0x0, 0x10000000000000000)", "not a 64-bit hex number"},
		{"[0x-1, 0x10)", "not a 64-bit hex number"},
		{"[0x10, 0x10)", "empty"},
		{"[0x20, 0x10)", "empty"},
		{"[0x10, 0x0)", "written max"},
		{"[max, 0x10)", "lower bound"},
	} {
		_, err := ParseKeyRange(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseKeyRange(%q) error = %v, want one saying %q", tc.in, err, tc.msg)
		}
	}
}
