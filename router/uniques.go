package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Unique constraints of sharded tables that leave out the shard key. Each
// shard enforces such a constraint over its own rows only (wire/uniques.go
// reads them from the catalog and warns), so an upsert that names one as
// its arbiter — ON CONFLICT ON CONSTRAINT users_email_key — would miss a
// conflicting row on another shard: it is refused, as ON CONFLICT (email)
// is (conflictTarget), and so is a bare ON CONFLICT DO NOTHING on a table
// with such an index, whose arbiters are all its unique indexes.

// KeylessIndex is a unique or exclusion index of a sharded table that
// does not include its shard key (and so the constraint it backs).
type KeylessIndex struct {
	Name string
	// Generated are the index's columns when each is a plain column
	// filled by a sequence that every shard keeps to a block of its own
	// (`pgshard sequences --apply`): a row that leaves them to their
	// defaults gets values no other shard gives, so the index cannot
	// conflict across shards for it. nil otherwise.
	Generated []string
}

// SetKeylessUniques records, per sharded table, its unique and exclusion
// indexes that do not include its shard key; nil or empty clears them.
// Cached plans are dropped, and clients' prepared statements planned
// again, when they change.
func (r *Router) SetKeylessUniques(m map[*Table][]KeylessIndex) {
	for t, idx := range m {
		m[t] = slices.SortedFunc(slices.Values(idx), func(a, b KeylessIndex) int { return strings.Compare(a.Name, b.Name) })
	}
	same := func(a, b []KeylessIndex) bool {
		return slices.EqualFunc(a, b, func(x, y KeylessIndex) bool { return x.Name == y.Name && slices.Equal(x.Generated, y.Generated) })
	}
	old := r.schema.keylessUniques.Load()
	if old == nil && len(m) == 0 || old != nil && maps.EqualFunc(*old, m, same) {
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
// where one PostgreSQL would skip it. An index on columns the INSERT leaves
// to sequences kept apart (KeylessIndex.Generated) does not count: ORMs
// send a bare DO NOTHING for their bulk inserts (Rails' insert_all), and
// the id each row gets there is one no other shard gives.
func (s *Schema) keylessArbiters(t *Table, ins *pg.InsertStmt) *Error {
	m := s.keylessUniques.Load()
	if m == nil || len((*m)[t]) == 0 {
		return nil
	}
	var names []string
	for _, idx := range (*m)[t] {
		if !leftToDefaults(ins, idx.Generated) {
			names = append(names, idx.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: ON CONFLICT DO NOTHING on sharded table %s: its unique index(es) %s do not include the shard key %s, so each shard enforces them over its own rows only, and a conflicting row on another shard would not be found", t, strings.Join(names, ", "), t.Key),
		Hint: fmt.Sprintf("Name the conflict target: ON CONFLICT (%s) DO NOTHING; or include %s in those indexes. "+
			"An index on serial or identity columns the INSERT leaves to their defaults does not count once `pgshard sequences --apply` has given each shard's sequences a block of their own.", t.Key, t.Key)}
}

// leftToDefaults says whether the INSERT leaves every one of cols (none:
// false) to its default: DEFAULT VALUES, or a column list without them.
func leftToDefaults(ins *pg.InsertStmt, cols []string) bool {
	if len(cols) == 0 {
		return false
	}
	if ins.SelectStmt == nil {
		return true // DEFAULT VALUES
	}
	if len(ins.Cols) == 0 {
		return false
	}
	for _, c := range ins.Cols {
		name := c.GetResTarget().GetName()
		for _, g := range cols {
			if name == g {
				return false
			}
		}
	}
	return true
}

// keylessConstraint refuses ON CONFLICT ON CONSTRAINT name on t when the
// catalog says the constraint leaves out t's key; nil otherwise.
func (s *Schema) keylessConstraint(t *Table, name string) *Error {
	m := s.keylessUniques.Load()
	if m == nil || !slices.ContainsFunc((*m)[t], func(i KeylessIndex) bool { return i.Name == name }) {
		return nil
	}
	return &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: ON CONFLICT ON CONSTRAINT %s on sharded table %s: the constraint does not include the shard key %s, so each shard enforces it over its own rows only, and a conflicting row on another shard would not be found", name, t, t.Key),
		Hint:    fmt.Sprintf("Include %s in the constraint and conflict on it, or look the row up first.", t.Key)}
}
