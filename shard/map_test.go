package shard

import (
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

func TestEqualMap(t *testing.T) {
	for n := 1; n <= 8; n++ {
		m := EqualMap(n)
		rs := m.Ranges()
		if m.Version() != 1 || len(rs) != n {
			t.Fatalf("EqualMap(%d): version %d, %d ranges", n, m.Version(), len(rs))
		}
		if rs[0].Lo != 0 || rs[n-1].Hi != 0 {
			t.Errorf("EqualMap(%d) does not cover the space: %v", n, rs)
		}
		size := uint64(math.MaxUint64) / uint64(n)
		for i, r := range rs {
			if i > 0 && r.Lo != rs[i-1].Hi {
				t.Errorf("EqualMap(%d): range %d %v does not start where %v ends", n, i, r, rs[i-1])
			}
			if r.Shard != ShardID(i) {
				t.Errorf("EqualMap(%d): range %d owned by %d", n, i, r.Shard)
			}
			// Equal to within one point.
			if got := uint64(r.last() - r.Lo); got != size && got != size-1 {
				t.Errorf("EqualMap(%d): range %d %v holds %d+1 points, want about %d", n, i, r, got, size)
			}
			for _, p := range []Point{r.Lo, r.last()} {
				if got := m.Lookup(p); got != r.Shard {
					t.Errorf("EqualMap(%d).Lookup(%v) = %d, want %d", n, p, got, r.Shard)
				}
			}
		}
		want := make([]ShardID, n)
		for i := range want {
			want[i] = ShardID(i)
		}
		if got := m.Shards(); !slices.Equal(got, want) {
			t.Errorf("EqualMap(%d).Shards() = %v", n, got)
		}
	}
	if got := EqualMap(2).Ranges()[1].Lo; got != 1<<63 {
		t.Errorf("EqualMap(2) splits at %v, want 0x8000000000000000", got)
	}
}

func TestEqualMapPanicsOnNoShards(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("EqualMap(0) did not panic")
		}
	}()
	EqualMap(0)
}

func TestDistribution(t *testing.T) {
	const keys, shards = 100_000, 4
	m := EqualMap(shards)
	var count [shards]int
	for k := range int64(keys) {
		count[m.Lookup(HashInt(k))]++
	}
	for s, c := range count {
		if c < keys/shards*95/100 || c > keys/shards*105/100 {
			t.Errorf("shard %d got %d of %d sequential keys, want %d ±5%%: %v", s, c, keys, keys/shards, count)
		}
	}
}

func TestNewMapRejects(t *testing.T) {
	const half = Point(1 << 63)
	for _, tc := range []struct {
		name   string
		ranges []Range
		msg    string
	}{
		{"empty list", nil, "no ranges"},
		{"not from 0", []Range{{KeyRange{1, 0}, 0}}, "must start at 0x0000000000000000"},
		{"not to max", []Range{{KeyRange{0, half}, 0}}, "must end at max: [0x8000000000000000, max) is unowned"},
		{"gap", []Range{{KeyRange{0, 100}, 0}, {KeyRange{200, 0}, 1}}, "gap [0x0000000000000064, 0x00000000000000c8) between range 0"},
		{"overlap", []Range{{KeyRange{0, 200}, 0}, {KeyRange{100, 0}, 1}}, "range 1 [0x0000000000000064, max) overlaps range 0"},
		{"after max", []Range{{KeyRange{0, 0}, 0}, {KeyRange{100, 0}, 1}}, "overlaps range 0 [0x0000000000000000, max)"},
		{"unsorted", []Range{{KeyRange{0, 100}, 0}, {KeyRange{200, 0}, 2}, {KeyRange{100, 200}, 1}}, "range 2 [0x0000000000000064, 0x00000000000000c8) starts before range 1"},
		{"empty range", []Range{{KeyRange{0, 100}, 0}, {KeyRange{100, 100}, 1}, {KeyRange{100, 0}, 1}}, "range 1 [0x0000000000000064, 0x0000000000000064) is empty"},
		{"negative shard", []Range{{KeyRange{0, 0}, -1}}, "shard -1 is negative"},
	} {
		m, err := NewMap(1, tc.ranges)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: NewMap = %v, %v; want error saying %q", tc.name, m, err, tc.msg)
		}
	}
}

func TestNewMapCopiesInput(t *testing.T) {
	in := []Range{{KeyRange{0, 100}, 0}, {KeyRange{100, 0}, 1}}
	m, err := NewMap(7, in)
	if err != nil {
		t.Fatal(err)
	}
	in[1].Shard = 5
	m.Ranges()[0].Shard = 6
	if m.Lookup(100) != 1 || m.Lookup(0) != 0 || m.Ranges()[1].Shard != 1 || m.Version() != 7 {
		t.Error("map changed through its input or Ranges() result")
	}
	if !slices.Equal(m.Shards(), []ShardID{0, 1}) {
		t.Errorf("Shards() = %v", m.Shards())
	}
}

func TestSeveralRangesPerShard(t *testing.T) {
	m, err := NewMap(3, []Range{{KeyRange{0, 10}, 2}, {KeyRange{10, 20}, 0}, {KeyRange{20, 30}, 2}, {KeyRange{30, 0}, 0}})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[Point]ShardID{0: 2, 9: 2, 10: 0, 19: 0, 20: 2, 29: 2, 30: 0, math.MaxUint64: 0} {
		if got := m.Lookup(p); got != want {
			t.Errorf("Lookup(%d) = %d, want %d", p, got, want)
		}
	}
	if !slices.Equal(m.Shards(), []ShardID{0, 2}) {
		t.Errorf("Shards() = %v, want [0 2]", m.Shards())
	}
}

func TestMove(t *testing.T) {
	const q = Point(1 << 62) // a quarter of the space
	for _, tc := range []struct {
		name string
		r    KeyRange
		to   ShardID
		want []Range
	}{
		{"middle of a range", KeyRange{0x1000, 0x2000}, 3, []Range{
			{KeyRange{0, 0x1000}, 0}, {KeyRange{0x1000, 0x2000}, 3}, {KeyRange{0x2000, q}, 0},
			{KeyRange{q, 2 * q}, 1}, {KeyRange{2 * q, 3 * q}, 2}, {KeyRange{3 * q, 0}, 3}}},
		{"across a boundary", KeyRange{q - 5, q + 5}, 2, []Range{
			{KeyRange{0, q - 5}, 0}, {KeyRange{q - 5, q + 5}, 2}, {KeyRange{q + 5, 2 * q}, 1},
			{KeyRange{2 * q, 3 * q}, 2}, {KeyRange{3 * q, 0}, 3}}},
		{"tail to max, merged with neighbour", KeyRange{3*q - 100, 0}, 3, []Range{
			{KeyRange{0, q}, 0}, {KeyRange{q, 2 * q}, 1}, {KeyRange{2 * q, 3*q - 100}, 2}, {KeyRange{3*q - 100, 0}, 3}}},
		{"head from 0", KeyRange{0, 1}, 1, []Range{
			{KeyRange{0, 1}, 1}, {KeyRange{1, q}, 0}, {KeyRange{q, 2 * q}, 1}, {KeyRange{2 * q, 3 * q}, 2}, {KeyRange{3 * q, 0}, 3}}},
		{"exact range to a new shard", KeyRange{q, 2 * q}, 4, []Range{
			{KeyRange{0, q}, 0}, {KeyRange{q, 2 * q}, 4}, {KeyRange{2 * q, 3 * q}, 2}, {KeyRange{3 * q, 0}, 3}}},
		{"merged both sides", KeyRange{q, 2 * q}, 2, []Range{
			{KeyRange{0, q}, 0}, {KeyRange{q, 3 * q}, 2}, {KeyRange{3 * q, 0}, 3}}},
		{"whole space", KeyRange{}, 5, []Range{{KeyRange{}, 5}}},
	} {
		old := EqualMap(4)
		before := old.Ranges()
		m, err := old.Move(tc.r, tc.to)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := m.Ranges(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ranges\n%v\nwant\n%v", tc.name, got, tc.want)
		}
		if m.Version() != old.Version()+1 {
			t.Errorf("%s: version %d after %d", tc.name, m.Version(), old.Version())
		}
		if !slices.Equal(old.Ranges(), before) || old.Version() != 1 {
			t.Errorf("%s: the old map changed", tc.name)
		}
		checkMoved(t, old, m, tc.r, tc.to)
	}
}

// checkMoved asserts that exactly the points of r changed owner to to,
// probing r's bounds and either side of them.
func checkMoved(t *testing.T, old, m *Map, r KeyRange, to ShardID) {
	t.Helper()
	probes := []Point{r.Lo, r.last(), r.Lo - 1, r.last() + 1, 0, math.MaxUint64}
	for _, g := range old.Ranges() {
		probes = append(probes, g.Lo, g.last())
	}
	for _, p := range probes {
		want := old.Lookup(p)
		if r.Contains(p) {
			want = to
		}
		if got := m.Lookup(p); got != want {
			t.Errorf("moving %v to %d: Lookup(%v) = %d, want %d", r, to, p, got, want)
		}
	}
}

func TestMoveBackRestores(t *testing.T) {
	old := EqualMap(3)
	r := KeyRange{0x1234, 0x5678}
	there, err := old.Move(r, 2)
	if err != nil {
		t.Fatal(err)
	}
	back, err := there.Move(r, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Ranges(), old.Ranges()) || back.Version() != 3 {
		t.Errorf("moving there and back gave v%d %v, want %v", back.Version(), back.Ranges(), old.Ranges())
	}
}

func TestMoveRejects(t *testing.T) {
	m := EqualMap(2)
	for _, tc := range []struct {
		r   KeyRange
		to  ShardID
		msg string
	}{
		{KeyRange{10, 10}, 1, "empty range"},
		{KeyRange{10, 5}, 1, "empty range"},
		{KeyRange{0, 10}, -1, "negative shard"},
	} {
		if _, err := m.Move(tc.r, tc.to); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Move(%v, %d) error = %v, want one saying %q", tc.r, tc.to, err, tc.msg)
		}
	}
	top, _ := NewMap(math.MaxUint64, EqualMap(2).Ranges())
	if _, err := top.Move(KeyRange{0, 10}, 1); err == nil {
		t.Error("Move past the highest version accepted")
	}
}

// Property: after any sequence of random moves, each map owns exactly what
// the previous one did, except r, which belongs to the target.
func TestPropertyMoves(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	randPoint := func(m *Map) Point {
		// Favour points near existing bounds, where splitting goes wrong.
		rs := m.Ranges()
		b := rs[rng.Intn(len(rs))].Lo
		switch rng.Intn(3) {
		case 0:
			return Point(rng.Uint64())
		case 1:
			return b + Point(rng.Intn(5)) - 2
		}
		return b
	}
	for range 200 {
		m := EqualMap(1 + rng.Intn(8))
		for range 30 {
			a, b := randPoint(m), randPoint(m)
			r := KeyRange{min(a, b), max(a, b)}
			if rng.Intn(10) == 0 {
				r.Hi = 0
			}
			if r.Empty() {
				continue
			}
			to := ShardID(rng.Intn(10))
			n, err := m.Move(r, to)
			if err != nil {
				t.Fatalf("%v.Move(%v, %d): %v", m.Ranges(), r, to, err)
			}
			checkMoved(t, m, n, r, to)
			for range 20 {
				p := Point(rng.Uint64())
				want := m.Lookup(p)
				if r.Contains(p) {
					want = to
				}
				if n.Lookup(p) != want {
					t.Fatalf("after moving %v to %d, Lookup(%v) = %d, want %d", r, to, p, n.Lookup(p), want)
				}
			}
			// The moved range never sits next to another range of its owner.
			rs := n.Ranges()
			for i := 1; i < len(rs); i++ {
				if rs[i].Shard == to && rs[i-1].Shard == to {
					t.Fatalf("after moving %v to %d, adjacent ranges of %d not merged: %v", r, to, to, rs)
				}
			}
			m = n
		}
	}
}

func TestRangeString(t *testing.T) {
	if got, want := (Range{KeyRange{1 << 63, 0}, 3}).String(), "[0x8000000000000000, max) -> 3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
