package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Unique constraints of sharded tables that leave out the shard key. Each
// shard enforces such a constraint over its own rows only (wire/uniques.go
// reads them from the catalog and warns), so an upsert that names one as
// its arbiter — ON CONFLICT ON CONSTRAINT users_email_key — would miss a
// conflicting row on another shard: it is refused, as ON CONFLICT (email)
// is (conflictTarget), and so is a bare ON CONFLICT DO NOTHING on a table
// with such an index, whose arbiters are all its unique indexes.

// SetKeylessUniques records, per sharded table, the names of its unique
// and exclusion indexes (and so of the constraints they back) that do not
// include its shard key; nil or empty clears them. Cached plans are
// dropped, and clients' prepared statements planned again, when they
// change.
func (r *Router) SetKeylessUniques(m map[*Table][]string) {
	for t, names := range m {
		m[t] = slices.Sorted(slices.Values(names))
	}
	old := r.schema.keylessUniques.Load()
	if old == nil && len(m) == 0 || old != nil && maps.EqualFunc(*old, m, slices.Equal) {
		return
	}
	if len(m) == 0 {
		r.schema.keylessUniques.Store(nil)
	} else {
		r.schema.keylessUniques.Store(&m)
	}
	r.catalogGen.Add(1)
	r.cache.Purge()
}

// keylessArbiters refuses a bare ON CONFLICT DO NOTHING on t when the
// catalog lists unique indexes of t without its key: a conflict on one of
// them is found on the row's own shard only, so the row would be inserted
// where one PostgreSQL would skip it.
func (s *Schema) keylessArbiters(t *Table) *Error {
	m := s.keylessUniques.Load()
	if m == nil || len((*m)[t]) == 0 {
		return nil
	}
	return &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: ON CONFLICT DO NOTHING on sharded table %s: its unique index(es) %s do not include the shard key %s, so each shard enforces them over its own rows only, and a conflicting row on another shard would not be found", t, strings.Join((*m)[t], ", "), t.Key),
		Hint:    fmt.Sprintf("Name the conflict target: ON CONFLICT (%s) DO NOTHING; or include %s in those indexes.", t.Key, t.Key)}
}

// keylessConstraint refuses ON CONFLICT ON CONSTRAINT name on t when the
// catalog says the constraint leaves out t's key; nil otherwise.
func (s *Schema) keylessConstraint(t *Table, name string) *Error {
	m := s.keylessUniques.Load()
	if m == nil || !slices.Contains((*m)[t], name) {
		return nil
	}
	return &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: ON CONFLICT ON CONSTRAINT %s on sharded table %s: the constraint does not include the shard key %s, so each shard enforces it over its own rows only, and a conflicting row on another shard would not be found", name, t, t.Key),
		Hint:    fmt.Sprintf("Include %s in the constraint and conflict on it, or look the row up first.", t.Key)}
}
