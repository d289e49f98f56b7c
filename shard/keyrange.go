package shard

import (
	"fmt"
	"strconv"
	"strings"
)

// KeyRange is the half-open range of points [Lo, Hi).
//
// Hi == 0 means 2^64, the end of the space, which a Point cannot hold. No
// valid range ends at 0 otherwise (it would be empty), so the encoding is
// unambiguous; the zero KeyRange is the whole space. A range with
// Hi != 0 && Hi <= Lo is empty, and is refused wherever a range is taken in.
type KeyRange struct {
	Lo, Hi Point
}

// last is the highest point in r; with Hi == 0 the subtraction wraps to
// 2^64-1, which is why inclusive bounds are used for arithmetic inside the
// package.
func (r KeyRange) last() Point { return r.Hi - 1 }

// Empty reports whether r holds no point.
func (r KeyRange) Empty() bool { return r.Hi != 0 && r.Hi <= r.Lo }

// Contains reports whether p is in [Lo, Hi).
func (r KeyRange) Contains(p Point) bool {
	return !r.Empty() && p >= r.Lo && p <= r.last()
}

// String is "[0x0000000000000000, 0x8000000000000000)", or with "max" as the
// upper bound for a range reaching 2^64. ParseKeyRange reads it back.
func (r KeyRange) String() string {
	if r.Hi == 0 {
		return "[" + r.Lo.String() + ", max)"
	}
	return "[" + r.Lo.String() + ", " + r.Hi.String() + ")"
}

// ParseKeyRange reads the form KeyRange.String writes, for the admin CLI and
// configuration. Bounds are hex with a 0x prefix (up to 16 digits, leading
// zeros optional); the upper bound may be "max". Empty ranges are refused.
func ParseKeyRange(s string) (KeyRange, error) {
	body, ok := strings.CutPrefix(strings.TrimSpace(s), "[")
	if ok {
		body, ok = strings.CutSuffix(body, ")")
	}
	if !ok {
		return KeyRange{}, fmt.Errorf("key range %q: want [lo, hi) with hex bounds, e.g. [0x0000000000000000, max)", s)
	}
	loS, hiS, ok := strings.Cut(body, ",")
	if !ok {
		return KeyRange{}, fmt.Errorf("key range %q: missing comma between the bounds", s)
	}
	lo, err := parsePoint(strings.TrimSpace(loS))
	if err != nil {
		return KeyRange{}, fmt.Errorf("key range %q: lower bound: %w", s, err)
	}
	r := KeyRange{Lo: lo}
	if hiS = strings.TrimSpace(hiS); hiS != "max" {
		if r.Hi, err = parsePoint(hiS); err != nil {
			return KeyRange{}, fmt.Errorf("key range %q: upper bound: %w", s, err)
		}
		if r.Hi == 0 {
			return KeyRange{}, fmt.Errorf("key range %q: upper bound 0 leaves the range empty; the end of the space is written max", s)
		}
	}
	if r.Empty() {
		return KeyRange{}, fmt.Errorf("key range %q is empty: upper bound must be above lower bound", s)
	}
	return r, nil
}

func parsePoint(s string) (Point, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return 0, fmt.Errorf("%q: want hex with a 0x prefix", s)
	}
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: not a 64-bit hex number", s)
	}
	return Point(v), nil
}
