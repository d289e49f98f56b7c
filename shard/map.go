package shard

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// ShardID is the index of a shard in its database's configured shard list.
type ShardID int

// Range is a KeyRange and the shard that owns it.
type Range struct {
	KeyRange
	Shard ShardID
}

func (r Range) String() string { return r.KeyRange.String() + " -> " + strconv.Itoa(int(r.Shard)) }

// Map assigns every point of [0, 2^64) to exactly one shard, through sorted
// contiguous ranges. A Map never changes after construction, so a statement
// holding one routes consistently while a newer map is published.
type Map struct {
	version uint64
	ranges  []Range
	// los and owners repeat ranges column-wise so Lookup's binary search
	// touches only the bounds it compares.
	los    []Point
	owners []ShardID
	shards []ShardID
}

// NewMap builds a map from ranges that must be sorted, non-empty, and
// contiguous from 0 to the end of the space: each range starts where the
// previous one ends. A shard may own several ranges. ranges is copied.
func NewMap(version uint64, ranges []Range) (*Map, error) {
	if len(ranges) == 0 {
		return nil, fmt.Errorf("shard map: no ranges: the space [0, 2^64) must be covered")
	}
	// Sortedness is checked over the whole list before contiguity, so that
	// a misplaced range is reported as such rather than as the gap it leaves.
	for i, r := range ranges {
		if r.Shard < 0 {
			return nil, fmt.Errorf("shard map: range %d %s: shard %d is negative", i, r.KeyRange, r.Shard)
		}
		if r.Empty() {
			return nil, fmt.Errorf("shard map: range %d %s is empty", i, r.KeyRange)
		}
		if i > 0 && r.Lo < ranges[i-1].Lo {
			return nil, fmt.Errorf("shard map: range %d %s starts before range %d %s: ranges must be sorted", i, r.KeyRange, i-1, ranges[i-1].KeyRange)
		}
	}
	if ranges[0].Lo != 0 {
		return nil, fmt.Errorf("shard map: range 0 %s must start at 0x0000000000000000: %s is unowned", ranges[0].KeyRange, KeyRange{0, ranges[0].Lo})
	}
	for i := 1; i < len(ranges); i++ {
		r, prev := ranges[i], ranges[i-1]
		switch {
		case prev.Hi == 0 || r.Lo < prev.Hi:
			return nil, fmt.Errorf("shard map: range %d %s overlaps range %d %s", i, r.KeyRange, i-1, prev.KeyRange)
		case r.Lo > prev.Hi:
			return nil, fmt.Errorf("shard map: gap %s between range %d %s and range %d %s", KeyRange{prev.Hi, r.Lo}, i-1, prev.KeyRange, i, r.KeyRange)
		}
	}
	if last := ranges[len(ranges)-1]; last.Hi != 0 {
		return nil, fmt.Errorf("shard map: last range %d %s must end at max: %s is unowned", len(ranges)-1, last.KeyRange, KeyRange{Lo: last.Hi})
	}
	m := &Map{
		version: version,
		ranges:  slices.Clone(ranges),
		los:     make([]Point, len(ranges)),
		owners:  make([]ShardID, len(ranges)),
	}
	for i, r := range ranges {
		m.los[i], m.owners[i] = r.Lo, r.Shard
	}
	m.shards = slices.Clone(m.owners)
	slices.Sort(m.shards)
	m.shards = slices.Compact(m.shards)
	return m, nil
}

// EqualMap is the initial map of a database with n shards: version 1, shard
// i owning the i-th of n equal slices of the space (to within one point).
// It panics if n < 1, which configuration validation rules out.
func EqualMap(n int) *Map {
	if n < 1 {
		panic(fmt.Sprintf("shard.EqualMap: %d shards, need at least 1", n))
	}
	ranges := make([]Range, n)
	for i := range ranges {
		ranges[i] = Range{KeyRange{equalBound(i, n), equalBound(i+1, n)}, ShardID(i)}
	}
	m, err := NewMap(1, ranges)
	if err != nil {
		panic("shard.EqualMap: " + err.Error())
	}
	return m
}

// equalBound is floor(i * 2^64 / n), with i == n giving 0, the end.
func equalBound(i, n int) Point {
	if i == n {
		return 0
	}
	q, _ := bits.Div64(uint64(i), 0, uint64(n))
	return Point(q)
}

// Version increases with every change of the map; see Holder.Store.
func (m *Map) Version() uint64 { return m.version }

// Lookup returns the shard owning p.
func (m *Map) Lookup(p Point) ShardID {
	// Find the last range starting at or below p. los[0] is 0, so there
	// always is one: lo keeps los[lo] <= p and the answer stays in [lo, hi).
	los := m.los
	lo, hi := 0, len(los)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if los[mid] <= p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return m.owners[lo]
}

// Ranges returns a copy of the map's ranges, in order.
func (m *Map) Ranges() []Range { return slices.Clone(m.ranges) }

// Shards returns the distinct owners of the map's ranges, sorted.
func (m *Map) Shards() []ShardID { return slices.Clone(m.shards) }

// Move returns a new map, one version newer, in which exactly the points of
// r are owned by to and every other point keeps its owner. Ranges are split
// at r's bounds as needed, and the moved range is merged with neighbours that
// to already owns, so moving a slice back and forth does not fragment the map.
// m itself is unchanged.
func (m *Map) Move(r KeyRange, to ShardID) (*Map, error) {
	if r.Empty() {
		return nil, fmt.Errorf("shard map: cannot move empty range %s", r)
	}
	if to < 0 {
		return nil, fmt.Errorf("shard map: cannot move %s to negative shard %d", r, to)
	}
	if m.version == math.MaxUint64 {
		return nil, fmt.Errorf("shard map: version %d cannot be incremented", m.version)
	}
	// Inclusive bounds: r.last() and g.last() are 2^64-1 for ranges ending
	// at max, so ordinary comparisons work for the end of the space too.
	out := make([]Range, 0, len(m.ranges)+2)
	moved := -1
	for _, g := range m.ranges {
		if g.Lo < r.Lo {
			out = append(out, Range{KeyRange{g.Lo, min(g.last(), r.Lo-1) + 1}, g.Shard})
		}
		if g.Lo <= r.Lo && r.Lo <= g.last() {
			moved = len(out)
			out = append(out, Range{r, to})
		}
		if g.last() > r.last() {
			out = append(out, Range{KeyRange{max(g.Lo, r.last()+1), g.Hi}, g.Shard})
		}
	}
	// Merge right first so that moved stays a valid index for the left merge.
	for moved+1 < len(out) && out[moved+1].Shard == to {
		out[moved].Hi = out[moved+1].Hi
		out = slices.Delete(out, moved+1, moved+2)
	}
	for moved > 0 && out[moved-1].Shard == to {
		out[moved-1].Hi = out[moved].Hi
		out = slices.Delete(out, moved, moved+1)
		moved--
	}
	n, err := NewMap(m.version+1, out)
	if err != nil {
		// The construction above cannot produce an invalid map; if it
		// does, say what was asked rather than hand out a broken map.
		return nil, fmt.Errorf("shard map: moving %s to shard %d: %w", r, to, err)
	}
	return n, nil
}
