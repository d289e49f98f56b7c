package router

import (
	"fmt"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// KeyPlacement is one shard key value of a statement and where it lives:
// what `pgshard route` prints as "keys on s1: users.user_id = 9, 10".
type KeyPlacement struct {
	Table *Table
	Value string        // as written, or "$n" for a parameter
	Shard shard.ShardID // -1 when unknown (a parameter, a bad value)
	Err   error         // why the value has no shard
	// New: the statement stores the value as its rows' key (UPDATE ...
	// SET key = 5), rather than finding rows by it.
	New bool
}

// Keys lists the shard key values one statement (simple protocol) pins or
// inserts, hashed exactly as routing hashes them. A statement routed by a
// hint comment uses no keys and gives none.
func (r *Router) Keys(stmt string) []KeyPlacement { return r.KeysWith(stmt, nil) }

// KeysWith is Keys for a statement whose $n are bound to params (text
// format, as a Bind sends them; nil for none): a parameter's key is
// shown as its value followed by ($n).
func (r *Router) KeysWith(stmt string, params [][]byte) []KeyPlacement {
	n := sqltext.Normalize(stmt)
	if len(n.Hints) > 0 {
		return nil
	}
	p := r.plan(stmt, n.Literals, false)
	v := values{lits: n.Literals, text: stmt, params: params}
	bound := func(s Source) bool { return s.Param > 0 && s.Param <= len(params) && params[s.Param-1] != nil }
	m := r.maps.Load()
	var out []KeyPlacement
	add := func(t *Table, s Source) {
		k := KeyPlacement{Table: t, Shard: -1}
		switch {
		case bound(s):
			k.Value = fmt.Sprintf("%s ($%d)", params[s.Param-1], s.Param)
		case s.Param > 0:
			k.Value = fmt.Sprintf("$%d", s.Param)
		case s.Lit >= 0 && s.Lit < len(n.Literals):
			k.Value = n.Literals[s.Lit].Value
		default:
			k.Value = s.Const
		}
		if s.Negate && s.Param == 0 {
			k.Value = "-" + k.Value
		}
		if s.Param == 0 || bound(s) {
			if pt, err := v.point(s, t.KeyType); err != nil {
				k.Err = err
			} else {
				k.Shard = m.Lookup(pt)
			}
		}
		out = append(out, k)
	}
	// An array literal's (or bound array parameter's) elements, each a
	// key (those that equal no key are left out, as routing leaves them).
	addArray := func(t *Table, s Source) {
		text := s.Const
		if s.Lit >= 0 && s.Lit < len(n.Literals) {
			text = n.Literals[s.Lit].Value
		}
		if bound(s) {
			text = string(params[s.Param-1])
		}
		elems, err := textArray(text)
		if err != nil {
			out = append(out, KeyPlacement{Table: t, Value: text, Shard: -1, Err: ErrAnyKey})
			return
		}
		for _, e := range elems {
			if e != nil {
				add(t, Source{Lit: -1, Const: string(e), dom: s.dom})
			}
		}
	}
	if p.Insert != nil {
		for _, s := range p.Insert.Rows {
			add(p.Insert.Table, s)
		}
		if p.Insert.merge {
			return out // the target's pins are these rows' keys again
		}
	}
	for _, pin := range p.Class {
		for _, s := range pin.Values {
			if s.Array && (s.Param == 0 || bound(s)) {
				addArray(pin.Table, s)
				continue
			}
			add(pin.Table, s)
		}
	}
	if nk := p.newKeys; nk != nil {
		for _, s := range nk.Values {
			add(nk.Table, s)
			out[len(out)-1].New = true
		}
	}
	return out
}
