package merge

import "testing"

// TestCalc checks expressions over merged aggregates against PostgreSQL
// 15's answers for the same values (e.g. SELECT 7::int8 / -2 is -3,
// SELECT 10::numeric / 3 is 3.3333333333333333, SELECT round(2.5, 0) is 3).
// Column 1 holds a, of type aOID; column 2 holds b, of type bOID.
func TestCalc(t *testing.T) {
	a, b := CalcCol{Col: 1}, CalcCol{Col: 2}
	num := func(s string) Calc { return CalcNum{Text: s} }
	tests := []struct {
		name       string
		aOID, bOID uint32
		a, b       string
		expr       Calc
		colOID     uint32
		want, code string
	}{
		{"int8 division truncates", oidInt8, oidInt8, "7", "-2", CalcOp{Op: '/', L: a, R: b}, oidInt8, "-3", ""},
		{"int8 times int4 constant", oidInt8, oidInt8, "21", "0", CalcOp{Op: '*', L: a, R: num("2")}, oidInt8, "42", ""},
		{"int4 overflow", oidInt4, oidInt4, "2147483647", "1", CalcOp{Op: '+', L: a, R: b}, oidInt4, "", CodeNumericOutOfRange},
		{"bigint min / -1", oidInt8, oidInt8, "-9223372036854775808", "-1", CalcOp{Op: '/', L: a, R: b}, oidInt8, "", CodeNumericOutOfRange},
		{"division by zero", oidInt8, oidInt8, "1", "0", CalcOp{Op: '/', L: a, R: b}, oidInt8, "", CodeDivisionByZero},
		{"numeric division by zero", oidNumeric, oidInt8, "1.5", "0", CalcOp{Op: '/', L: a, R: b}, oidNumeric, "", CodeDivisionByZero},
		{"numeric / int8", oidNumeric, oidInt8, "10", "3", CalcOp{Op: '/', L: a, R: b}, oidNumeric, "3.3333333333333333", ""},
		{"numeric / numeric keeps the larger scale", oidNumeric, oidNumeric, "1.000000000000000000", "3", CalcOp{Op: '/', L: a, R: b}, oidNumeric, "0.33333333333333333333", ""},
		{"numeric division rounds half away from zero", oidNumeric, oidInt8, "-2", "3", CalcOp{Op: '/', L: a, R: b}, oidNumeric, "-0.66666666666666666667", ""},
		{"numeric product adds scales", oidNumeric, oidNumeric, "1.5", "0.25", CalcOp{Op: '*', L: a, R: b}, oidNumeric, "0.375", ""},
		{"numeric difference", oidNumeric, oidInt8, "1.50", "2", CalcOp{Op: '-', L: a, R: b}, oidNumeric, "-0.50", ""},
		{"unary minus", oidNumeric, oidInt8, "1.50", "0", CalcOp{Op: '-', R: a}, oidNumeric, "-1.50", ""},
		{"NULL operand", oidInt8, oidInt8, null, "2", CalcOp{Op: '+', L: a, R: b}, oidInt8, null, ""},
		{"round half away from zero", oidNumeric, oidInt8, "-2.5", "0", CalcRound{Arg: a}, oidNumeric, "-3", ""},
		{"round pads the scale", oidNumeric, oidInt8, "1.5", "0", CalcRound{Arg: a, Scale: 3, HasScale: true}, oidNumeric, "1.500", ""},
		{"round to hundreds", oidNumeric, oidInt8, "1250.7", "0", CalcRound{Arg: a, Scale: -2, HasScale: true}, oidNumeric, "1300", ""},
		{"round of an integer with a scale", oidInt8, oidInt8, "7", "0", CalcRound{Arg: a, Scale: 1, HasScale: true}, oidNumeric, "7.0", ""},
		{"round of an integer alone is float8's", oidInt8, oidInt8, "7", "0", CalcRound{Arg: a}, oidFloat8, "", CodeFeatureUnsupported},
		{"coalesce int4 and int8", oidInt4, oidInt8, null, "5", CalcCoalesce{Args: []Calc{a, b}}, oidInt8, "5", ""},
		{"coalesce float8 and int", oidFloat8, oidInt8, null, "5", CalcCoalesce{Args: []Calc{a, b}}, oidFloat8, "5", ""},
		{"float arithmetic is not computed", oidFloat8, oidInt8, "1.5", "2", CalcOp{Op: '*', L: a, R: b}, oidFloat8, "", CodeFeatureUnsupported},
		{"a type other than the column's is refused", oidInt8, oidInt8, "1", "2", CalcOp{Op: '+', L: a, R: b}, oidNumeric, "", CodeFeatureUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := []Column{{Name: "d", TypeOID: tt.colOID}, {Name: "a", TypeOID: tt.aOID}, {Name: "b", TypeOID: tt.bOID}}
			rows := []Row{row("shard value", tt.a, tt.b)}
			checkDerived(t, cols, rows, tt.expr, tt.want, tt.code)
		})
	}
}

// TestVariance checks stddev and variance from merged partials against
// PostgreSQL 15, e.g. SELECT stddev(x) FROM unnest(ARRAY[1,2,3,4,10]) x.
func TestVariance(t *testing.T) {
	tests := []struct {
		name           string
		n, sumX, sumX2 string
		sample, sqrt   bool
		want           string
	}{
		{"stddev", "5", "20", "130", true, true, "3.5355339059327376"},
		{"variance", "5", "20", "130", true, false, "12.5000000000000000"},
		{"stddev_pop", "5", "20", "130", false, true, "3.1622776601683793"},
		{"var_pop", "5", "20", "130", false, false, "10.0000000000000000"},
		{"numeric stddev", "3", "0.625", "17.078125", true, true, "2.9110064124514280"},
		{"numeric variance", "3", "0.625", "17.078125", true, false, "8.4739583333333333"},
		{"one row: no sample", "1", "7", "49", true, true, null},
		{"one row: population 0", "1", "7", "49", false, false, "0"},
		{"equal values", "3", "15", "75", true, true, "0"},
		{"large values", "3", "200000000002", "19999999999800000000010", true, true, "57735026917"},
		{"no rows", "0", null, null, false, false, null},
		{"NaN", "2", "NaN", "NaN", true, true, "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := []Column{{Name: "d", TypeOID: oidNumeric}, {Name: "n", TypeOID: oidInt8},
				{Name: "sx", TypeOID: oidNumeric}, {Name: "sx2", TypeOID: oidNumeric}}
			rows := []Row{row("shard value", tt.n, tt.sumX, tt.sumX2)}
			expr := CalcVariance{N: CalcCol{Col: 1}, SumX: CalcCol{Col: 2}, SumX2: CalcCol{Col: 3}, Sample: tt.sample, Sqrt: tt.sqrt}
			checkDerived(t, cols, rows, expr, tt.want, "")
		})
	}
}
