package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/pgshard/pgshard/shard"
)

// Key lists: "key IN (1, 2, 3)" and "key = ANY($1)" pin a statement to the
// shards owning the listed keys. A literal IN list is also cut per shard,
// so each shard receives only its own keys.

// points hashes the key values a Source stands for: one value, or every
// element of an array parameter. NULL elements match nothing and are left
// out.
func (v *values) points(s Source, t shard.KeyType) ([]shard.Point, error) {
	if !s.Array {
		p, err := v.point(s, t)
		if err != nil {
			return nil, err
		}
		return []shard.Point{p}, nil
	}
	if s.Param == 0 {
		return v.literalPoints(s, t)
	}
	i := s.Param - 1
	if i < 0 || i >= len(v.params) {
		return nil, fmt.Errorf("there is no parameter $%d", s.Param)
	}
	if v.params[i] == nil {
		return nil, nil
	}
	var elems [][]byte
	var err error
	var oid uint32
	if i < len(v.oids) {
		oid = v.oids[i]
	}
	binaryFormat := i < len(v.formats) && v.formats[i] == 1
	od, declared := arrayOIDDomain(oid, t)
	if binaryFormat {
		// The array names its element type: more exact than the Parse.
		elems, oid, err = binaryArray(v.params[i])
		od, declared = oidDomain(oid, t)
	} else {
		elems, err = textArray(string(v.params[i]))
	}
	if err != nil {
		// An array pgshard does not read (bounds, several dimensions,
		// which = ANY flattens) may hold any key; one that is no array
		// at all every server refuses in its own words.
		return nil, ErrAnyKey
	}
	d, as, ok := s.typed(od, declared)
	if !ok {
		return nil, ErrAnyKey
	}
	return elementPoints(elems, func(e []byte) (shard.Point, error) {
		if binaryFormat {
			return pointInBinary(t, d, as, e)
		}
		return pointIn(t, d, string(e))
	})
}

// elementPoints are the points of an array's elements, leaving out NULLs
// and the values that equal no key.
func elementPoints(elems [][]byte, point func([]byte) (shard.Point, error)) ([]shard.Point, error) {
	out := make([]shard.Point, 0, len(elems))
	for _, e := range elems {
		if e == nil {
			continue
		}
		p, err := point(e)
		switch {
		case errors.Is(err, ErrNoKey):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// literalPoints reads the array literal of key = ANY('{1,2,3}'::bigint[]):
// its elements, each in the array's element type. A literal pgshard does
// not read (bounds such as '[0:1]={1,2}', several dimensions) may hold
// any key.
func (v *values) literalPoints(s Source, t shard.KeyType) ([]shard.Point, error) {
	text := s.Const
	if s.Lit >= 0 && s.Lit < len(v.lits) {
		text = v.lits[s.Lit].Value
	}
	elems, err := textArray(text)
	if err != nil {
		return nil, ErrAnyKey
	}
	return elementPoints(elems, func(e []byte) (shard.Point, error) { return pointIn(t, s.dom, string(e)) })
}

// textArray splits a one-dimensional array literal such as {1,2,"a b",NULL}.
func textArray(s string) ([][]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, errors.New("not a one-dimensional array literal")
	}
	body := s[1 : len(s)-1]
	var out [][]byte
	for i := 0; i < len(body); {
		for i < len(body) && body[i] == ' ' {
			i++
		}
		var elem []byte
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				elem = append(elem, body[i])
				i++
			}
			i++ // closing quote
		} else {
			for i < len(body) && body[i] != ',' {
				if body[i] == '{' {
					return nil, errors.New("multi-dimensional arrays are not supported as shard keys")
				}
				elem = append(elem, body[i])
				i++
			}
			elem = []byte(strings.TrimSpace(string(elem)))
		}
		if !quoted && strings.EqualFold(string(elem), "null") {
			elem = nil
		} else if elem == nil {
			elem = []byte{}
		}
		out = append(out, elem)
		for i < len(body) && body[i] != ',' {
			i++
		}
		i++
	}
	return out, nil
}

// binaryArray decodes array_send's format: ndim, flags, element type, then
// per dimension size and lower bound, then length-prefixed elements.
func binaryArray(b []byte) ([][]byte, uint32, error) {
	if len(b) < 12 {
		return nil, 0, errors.New("short binary array")
	}
	ndim := int32(binary.BigEndian.Uint32(b))
	elemType := binary.BigEndian.Uint32(b[8:])
	if ndim == 0 {
		return nil, elemType, nil
	}
	if ndim != 1 || len(b) < 20 {
		return nil, 0, errors.New("only one-dimensional arrays are supported as shard keys")
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	b = b[20:]
	if n < 0 || n > len(b)/4 {
		return nil, 0, errors.New("short binary array") // each element takes 4 bytes at least
	}
	out := make([][]byte, 0, n)
	for range n {
		if len(b) < 4 {
			return nil, 0, errors.New("short binary array")
		}
		l := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if l < 0 {
			out = append(out, nil)
			continue
		}
		if l > len(b) {
			return nil, 0, errors.New("short binary array")
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	return out, elemType, nil
}

// splitIn cuts a literal IN list so each shard gets only its keys. It
// leaves the route as is when the list is not plain literals separated by
// commas (a cast or expression among the items).
func (p *Plan) splitIn(rt *Route, m *shard.Map, v values) *Route {
	if len(p.Class) != 1 || p.ShardSQL != "" || v.text == "" {
		return rt // a rewritten statement is sent as rewritten
	}
	pin := p.Class[0]
	type item struct {
		start, end int
		owner      shard.ShardID
	}
	items := make([]item, 0, len(pin.Values))
	for _, s := range pin.Values {
		if s.Param > 0 || s.Array || s.Lit < 0 || s.Lit >= len(v.lits) {
			return rt
		}
		l := v.lits[s.Lit]
		start := l.Pos
		if s.Negate {
			start = l.Minus
		}
		pt, err := v.point(s, pin.Table.KeyType)
		if err != nil {
			return rt // NULL or bad keys: the full list is still correct
		}
		items = append(items, item{start, l.End, m.Lookup(pt)})
	}
	for i := 1; i < len(items); i++ {
		gap := v.text[items[i-1].end:items[i].start]
		if items[i].start < items[i-1].end || strings.Trim(gap, " \t\r\n,") != "" || strings.Count(gap, ",") != 1 {
			return rt
		}
	}
	head, tail := v.text[:items[0].start], v.text[items[len(items)-1].end:]
	sqls := make([]string, len(rt.Shards))
	for k, id := range rt.Shards {
		var b strings.Builder
		b.WriteString(head)
		first := true
		for _, it := range items {
			if it.owner != id {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(v.text[it.start:it.end])
		}
		b.WriteString(tail)
		sqls[k] = b.String()
	}
	rt.SQL = sqls
	return rt
}
