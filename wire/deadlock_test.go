package wire

import (
	"slices"
	"testing"
	"time"
)

func TestFindCycle(t *testing.T) {
	s := make([]*session, 5)
	for i := range s {
		s[i] = &session{}
		s[i].key.pid = uint32(i)
	}
	edge := func(from, to int) waitEdge {
		return waitEdge{from: s[from], to: s[to], since: time.Unix(int64(from), 0)}
	}
	for _, tc := range []struct {
		name  string
		edges []waitEdge
		want  []uint32 // the sessions the cycle leaves from, in order; nil: none
	}{
		{"none", nil, nil},
		{"a chain", []waitEdge{edge(0, 1), edge(1, 2), edge(2, 3)}, nil},
		{"two waiting for each other", []waitEdge{edge(0, 1), edge(1, 0)}, []uint32{0, 1}},
		{"three", []waitEdge{edge(2, 0), edge(0, 1), edge(1, 2)}, []uint32{2, 0, 1}},
		{"a cycle behind a chain", []waitEdge{edge(4, 0), edge(0, 1), edge(1, 2), edge(2, 1)}, []uint32{1, 2}},
		{"a diamond is no cycle", []waitEdge{edge(0, 1), edge(0, 2), edge(1, 3), edge(2, 3)}, nil},
		{"one of two branches cycles", []waitEdge{edge(0, 1), edge(0, 2), edge(2, 3), edge(3, 0)}, []uint32{0, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint32
			for _, e := range findCycle(tc.edges) {
				got = append(got, e.from.key.pid)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("cycle through %v, want %v", got, tc.want)
			}
			// Each edge of a cycle leads to the next one's waiter.
			c := findCycle(tc.edges)
			for i, e := range c {
				if next := c[(i+1)%len(c)]; e.to != next.from {
					t.Errorf("edge %d leads to %d, the next leaves from %d", i, e.to.key.pid, next.from.key.pid)
				}
			}
		})
	}
}
