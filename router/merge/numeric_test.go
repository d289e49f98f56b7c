package merge

import (
	"encoding/hex"
	"math"
	"testing"
)

// TestNumericBinaryMatchesPG compares our numeric encoding byte for byte
// with numeric_send() output from PG 15.18, and decodes it back.
func TestNumericBinaryMatchesPG(t *testing.T) {
	for _, tc := range []struct{ text, hex string }{
		{"3.25", "0002000000000002000309c4"},
		{"100000000.00010", "00040002000000050001000000000001"},
		{"-12345678901234567891", "000500044000000004d2162e23340d801ed3"},
		{"0.000", "0000000000000003"},
		{"NaN", "00000000c0000000"},
		{"Infinity", "00000000d0000020"},
		{"-Infinity", "00000000f0000020"},
		{"0.00100000000000000000", "0001ffff00000014000a"},
		{"15.0000000000000000", "0001000000000010000f"},
		{"-0.5", "0001ffff400000011388"},
		{"0.00000000000000000001", "0001fffb000000140001"},
		{"10000", "00010001000000000001"},
	} {
		d, err := parseNumericText([]byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(d.appendBinary(nil)); got != tc.hex {
			t.Errorf("%s: binary %s, want %s", tc.text, got, tc.hex)
		}
		raw, _ := hex.DecodeString(tc.hex)
		back, err := parseNumericBinary(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(back.appendText(nil)); got != tc.text {
			t.Errorf("%s: decoded back as %s", tc.text, got)
		}
	}
}

func TestNumericCanonical(t *testing.T) {
	same := [][]string{{"1", "1.0", "1.00", "01"}, {"0", "0.000", "-0.0"}, {"-2.5", "-2.50"}, {"NaN", "nan"}}
	for _, group := range same {
		for _, s := range group {
			a, _ := parseNumericText([]byte(group[0]))
			b, _ := parseNumericText([]byte(s))
			if a.canonical() != b.canonical() || cmpDecimal(a, b) != 0 {
				t.Errorf("%s and %s should be equal", group[0], s)
			}
		}
	}
	a, _ := parseNumericText([]byte("1.01"))
	b, _ := parseNumericText([]byte("1.1"))
	if a.canonical() == b.canonical() || cmpDecimal(a, b) >= 0 {
		t.Error("1.01 vs 1.1")
	}
	e, _ := parseNumericText([]byte("1.5e3"))
	if got := string(e.appendText(nil)); got != "1500" {
		t.Errorf("1.5e3 = %s", got)
	}
}

// TestFloatText checks float output against what PG 15.18 prints with the
// default extra_float_digits = 1.
func TestFloatText(t *testing.T) {
	a, b := 0.1, 0.2
	point3 := a + b // at run time, not as an exact constant
	for _, tc := range []struct {
		f    float64
		bits int
		want string
	}{
		{1e20, 64, "1e+20"},
		{1e15, 64, "1e+15"},
		{1e14, 64, "100000000000000"},
		{999999999999999, 64, "999999999999999"},
		{123456789012345.6, 64, "123456789012345.6"},
		{0.0001, 64, "0.0001"},
		{0.000123, 64, "0.000123"},
		{1e-5, 64, "1e-05"},
		{math.Copysign(0, -1), 64, "-0"},
		{1.5, 64, "1.5"},
		{point3, 64, "0.30000000000000004"},
		{math.MaxFloat64, 64, "1.7976931348623157e+308"},
		{5e-324, 64, "5e-324"},
		{math.NaN(), 64, "NaN"},
		{math.Inf(1), 64, "Infinity"},
		{math.Inf(-1), 32, "-Infinity"},
		{123456, 32, "123456"},
		{100000, 32, "100000"},
		{1e6, 32, "1e+06"},
		{1234567, 32, "1.234567e+06"},
		{float64(float32(0.1)), 32, "0.1"},
		{float64(float32(3.4028235e38)), 32, "3.4028235e+38"},
		{float64(float32(1.4e-45)), 32, "1e-45"},
		{float64(float32(0.00001234)), 32, "1.234e-05"},
	} {
		if got := string(appendFloatText(nil, tc.f, tc.bits)); got != tc.want {
			t.Errorf("%v (float%d) = %s, want %s", tc.f, tc.bits, got, tc.want)
		}
	}
}

func TestDivScale(t *testing.T) {
	// rscale of numeric_div(sum, count) per select_div_scale.
	for _, tc := range []struct {
		sum   string
		count int64
		want  int32
	}{
		{"3", 2, 16},     // first digits 3 > 2
		{"1", 2, 20},     // 1 <= 2: quotient weight one lower
		{"12347", 3, 16}, // weight 1, first digit 1 <= 3
		{"0.003", 3, 20}, // weight -1
		{"0", 1, 20},     // zero dividend
		{"1.5", 1, 20},   // PG 15.18: avg(1.5) = 1.50000000000000000000
		{"1.123456789012345678901", 1, 21},
		{"18446744073709551614", 2, 0},
	} {
		d, _ := parseNumericText([]byte(tc.sum))
		if got := divScale(d, decFromInt(tc.count)); got != tc.want {
			t.Errorf("divScale(%s, %d) = %d, want %d", tc.sum, tc.count, got, tc.want)
		}
	}
}
