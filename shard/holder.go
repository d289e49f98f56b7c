package shard

import (
	"fmt"
	"sync/atomic"
)

// Holder publishes the current Map of a database. Routing calls Load once per
// statement and uses that map for every key of the statement; rebalancing
// calls Store with a newer map while traffic flows.
type Holder struct {
	p atomic.Pointer[Map]
}

// NewHolder holds m, which must not be nil: a database always has a map,
// so Load never has to be checked for nil on the hot path.
func NewHolder(m *Map) *Holder {
	if m == nil {
		panic("shard.NewHolder: nil map")
	}
	h := &Holder{}
	h.p.Store(m)
	return h
}

// Load returns the current map. It is immutable: keep it for the whole
// statement rather than calling Load per key.
func (h *Holder) Load() *Map { return h.p.Load() }

// Store makes m current if its version is newer than the current one. An
// older or equal version is refused so that two racing publishers, or a
// stale one retrying, cannot roll the map back to before a completed move.
func (h *Holder) Store(m *Map) error {
	if m == nil {
		return fmt.Errorf("shard map: cannot store a nil map")
	}
	for {
		cur := h.p.Load()
		if m.version <= cur.version {
			return fmt.Errorf("shard map version %d refused: not newer than current version %d", m.version, cur.version)
		}
		if h.p.CompareAndSwap(cur, m) {
			return nil
		}
	}
}
