package router

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// values are one execution's constants: the statement's literals and, for
// the extended protocol, the Bind parameters.
type values struct {
	lits    []sqltext.Literal
	params  [][]byte
	formats []int16
	oids    []uint32 // the parameter types the client declared (Parse)
	text    string
	// keyCols: for an INSERT without a column list, where the key is.
	keyCols KeyColumns
	// gen: the keys an INSERT leaves to the column's default.
	gen *GeneratedKeys
}

// point hashes one key value of type t: ErrNoKey when it equals no key,
// ErrAnyKey when it may equal several (see keydomain.go).
func (v *values) point(s Source, t shard.KeyType) (shard.Point, error) {
	if s.call != nil {
		var err error
		if s, err = s.call.pick(v); err != nil {
			return 0, err
		}
	}
	if s.gen > 0 {
		val, err := v.generated(s.gen)
		if err != nil {
			return 0, err
		}
		return shard.PointFromText(t, val)
	}
	if s.Param > 0 {
		i := s.Param - 1
		if i >= len(v.params) {
			return 0, fmt.Errorf("there is no parameter $%d", s.Param)
		}
		if v.params[i] == nil {
			return 0, shard.ErrNullKey
		}
		d, as := s.dom, s.bin
		if i < len(v.oids) {
			var ok bool
			if d, as, ok = s.typed(oidDomain(v.oids[i], t)); !ok {
				return 0, ErrAnyKey
			}
		}
		if i < len(v.formats) && v.formats[i] == 1 {
			return pointInBinary(t, d, as, v.params[i])
		}
		if d == domKey {
			return shard.PointFromTextBytes(t, v.params[i])
		}
		return pointIn(t, d, string(v.params[i]))
	}
	val, num := s.Const, s.num
	if s.Lit >= 0 && s.Lit < len(v.lits) {
		val, num = v.lits[s.Lit].Value, !v.lits[s.Lit].String
	}
	if s.Negate {
		val = "-" + val
	}
	if num && s.dom == domKey && t == shard.KeyInt {
		// A number is an integer, bigint or numeric by how it is written
		// (one cached plan serves them all): user_id = 42.0 compares in
		// numeric, and a cast of such a number to an integer rounds it.
		p, err := shard.PointFromText(t, val)
		switch {
		case err == nil || s.cast:
			if err != nil && strings.ContainsAny(val, ".eE") && !strings.Contains(val, "x") {
				return 0, ErrAnyKey
			}
			return p, err
		case errors.Is(err, shard.ErrKeyOutOfRange):
			return 0, ErrNoKey
		}
		return pointIn(t, domNumeric, val)
	}
	return pointIn(t, s.dom, val)
}

// typed is the domain a parameter is compared in, and the one it is sent
// in, when the client declared its type (od, ok from oidDomain); false when
// its type does not say which key it equals.
func (s Source) typed(od domain, ok bool) (d, as domain, typed bool) {
	switch {
	case !ok:
		return s.dom, s.bin, true
	case od == domOpaque:
		return 0, 0, false
	case s.cast && od != s.bin && od > domText:
		return 0, 0, false // a cast from float8 to bigint rounds
	case s.cast:
		return s.dom, od, true
	}
	return max(s.dom, od), od, true
}

// int64 reads a LIMIT or OFFSET value.
func (v *values) int64(s *Source) (int64, error) {
	if s == nil {
		return -1, nil
	}
	var txt string
	switch {
	case s.Param > 0:
		i := s.Param - 1
		if i >= len(v.params) {
			return 0, fmt.Errorf("there is no parameter $%d", s.Param)
		}
		if v.params[i] == nil {
			return -1, nil
		}
		if i < len(v.formats) && v.formats[i] == 1 {
			b := v.params[i]
			switch len(b) {
			case 8:
				return int64(uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])), nil
			case 4:
				return int64(int32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))), nil
			}
			return 0, fmt.Errorf("LIMIT/OFFSET parameter $%d has %d bytes", s.Param, len(b))
		}
		txt = string(v.params[i])
		n, err := strconv.ParseInt(strings.TrimSpace(txt), 10, 64)
		if err == nil {
			return n, nil
		}
		// Refused as every shard's server would refuse the text, in
		// the type the Parse declared (bigint when it left it open).
		typ := "bigint"
		if i < len(v.oids) && v.oids[i] == oidInt4 {
			typ = "integer"
		}
		if errors.Is(err, strconv.ErrRange) {
			return 0, &Error{Code: codeOutOfRange, Message: fmt.Sprintf("value \"%s\" is out of range for type %s", txt, typ)}
		}
		return 0, &Error{Code: codeInvalidText, Message: fmt.Sprintf("invalid input syntax for type %s: \"%s\"", typ, txt)}
	case s.Lit >= 0 && s.Lit < len(v.lits):
		txt = v.lits[s.Lit].Value
	default:
		txt = s.Const
	}
	n, err := strconv.ParseInt(strings.TrimSpace(txt), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("LIMIT/OFFSET %q is not an integer", txt)
	}
	return n, nil
}

// route evaluates p for one execution against shard map m.
func (p *Plan) route(m *shard.Map, def shard.ShardID, v values, hints []string) *Route {
	return p.routeInto(&Route{}, m, def, v, hints)
}

// routeInto is route writing into rt, a zero Route the caller allocated.
func (p *Plan) routeInto(rt *Route, m *shard.Map, def shard.ShardID, v values, hints []string) *Route {
	if z := p.zeroOffsets; z != nil && v.zero(z.params) {
		return z.plan.routeInto(rt, m, def, v, hints)
	}
	rt = p.routeShards(rt, m, def, v, hints)
	if p.newKeys != nil && rt.Err == nil {
		rt = p.keepRows(rt, m, v)
	}
	return rt
}

// routeShards finds where the statement runs.
func (p *Plan) routeShards(rt *Route, m *shard.Map, def shard.ShardID, v values, hints []string) *Route {
	*rt = Route{Plan: p, Kind: p.Kind, Version: m.Version(), Merge: p.Merge}
	h, err := parseHints(hints)
	if err != nil {
		return refuseRoute(rt, &Error{Code: codeInvalidParam, Message: "pgshard: " + err.Error(),
			Hint: "Hints are /* pgshard: shard=<index> */, /* pgshard: shard_key=<value> */ or /* pgshard: target=primary */."})
	}
	if h != nil {
		rt.Target = h.target
	}
	if h != nil && h.session && h.shardIndex < 0 && !(p.Kind == KindScatter || p.keyless) {
		h = nil // the statement's own key (or table) decides
	}
	if h != nil && (h.shardIndex >= 0 || h.hasKey) && p.Kind != KindSession && (p.Kind != KindRefuse || p.keyless) {
		id, err := h.shard(m, p)
		if err != nil {
			return refuseRoute(rt, &Error{Code: codeInvalidParam, Message: "pgshard: " + err.Error()})
		}
		rt.Kind = KindShard
		rt.Shards = rt.only(id)
		rt.Merge = nil
		rt.hinted = h.shardIndex >= 0
		return rt
	}
	switch p.Kind {
	case KindRefuse:
		rt.Err = p.Err
	case KindDefault:
		rt.Shards = rt.only(def)
	case KindAny, KindSession, KindCursor:
		// The wire layer picks: the session's current shard if any.
	case KindScatter, KindAll, KindCopyIn, KindCopyOut:
		rt.Shards = m.Shards()
	case KindShard:
		if p.Arrays != nil {
			return p.splitArrays(p.Arrays, rt, m, v)
		}
		if ins := p.Insert; ins != nil {
			if ins.Gen != nil {
				return p.splitGenerated(ins, rt, m, v)
			}
			if ins.ByPosition != nil {
				key, ok := v.keyCols[ins.Table]
				if !ok {
					rt.NeedColumns = &ins.Relation
					return refuseRoute(rt, needColumnsError(ins.Table))
				}
				var e *Error
				if ins, e = ins.atPosition(key); e != nil {
					return refuseRoute(rt, e)
				}
			}
			return p.splitInsert(ins, rt, m, v)
		}
		// The distinct shards, deduplicated in a small slice (most
		// statements pin one key), with a map only for long lists spread
		// over many shards.
		rt.Shards = rt.one[:0]
		var set map[shard.ShardID]bool
		add := func(id shard.ShardID) {
			switch {
			case set != nil:
				if !set[id] {
					set[id] = true
					rt.Shards = append(rt.Shards, id)
				}
			case slices.Contains(rt.Shards, id):
			case len(rt.Shards) < 16:
				rt.Shards = append(rt.Shards, id)
			default:
				set = make(map[shard.ShardID]bool, 2*len(rt.Shards))
				for _, s := range rt.Shards {
					set[s] = true
				}
				set[id] = true
				rt.Shards = append(rt.Shards, id)
			}
		}
		for _, pin := range p.Class {
			for _, s := range pin.Values {
				var pt shard.Point
				var pts []shard.Point // an array's
				var err error
				if s.Array {
					pts, err = v.points(s, pin.Table.KeyType)
				} else {
					pt, err = v.point(s, pin.Table.KeyType)
				}
				switch {
				case s.assign && (errors.Is(err, ErrNoKey) || errors.Is(err, ErrAnyKey)):
					return refuseRoute(rt, keyError(pin.Table, err))
				case errors.Is(err, shard.ErrNullKey), errors.Is(err, ErrNoKey):
					continue // matches no row anywhere
				case errors.Is(err, shard.ErrInvalidKey) && !s.assign:
					// Not valid input for the key's type, which the
					// comparison runs in: any server refuses it as it
					// converts the value, in its own words (22P02
					// invalid input syntax for type bigint: "x").
					continue
				case errors.Is(err, ErrAnyKey):
					for _, id := range m.Shards() {
						add(id)
					}
					continue
				case err != nil:
					return refuseRoute(rt, keyError(pin.Table, err))
				case !s.Array:
					add(m.Lookup(pt))
				}
				for _, pt := range pts {
					add(m.Lookup(pt))
				}
			}
		}
		slices.Sort(rt.Shards)
		switch {
		case len(rt.Shards) == 0:
			rt.Shards = rt.only(def) // nothing can match: any shard answers
			rt.nothing = true
		case len(rt.Shards) > 1 && len(p.Class) > 1 && !p.setop:
			return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
				Message: "pgshard: the statement needs rows of keys on different shards in one place (a join, a subquery and the query around it, two routed function calls), which no shard holds",
				Hint:    "Join sharded tables on their shard key, pin them to keys on one shard, or send the parts as statements of their own."})
		case len(rt.Shards) > 1 && p.mergeErr != "" && (p.Read || p.Command == "SELECT" || p.Command == "UPDATE" || p.Command == "DELETE"):
			return refuseRoute(rt, &Error{Code: codeFeatureNotSupported, Message: p.mergeErr,
				Hint: "Pin the statement to one shard key value."})
		case len(rt.Shards) > 1 && !p.Read && p.Command != "SELECT":
			rt.Kind = KindAll
		}
		if len(rt.Shards) > 1 && rt.Err == nil {
			rt = p.splitIn(rt, m, v)
		}
	}
	if rt.Merge != nil && len(rt.Shards) > 1 {
		limit, err := v.int64(p.LimitSrc)
		if err == nil {
			var off int64
			off, err = v.int64(p.OffSrc)
			spec := *p.Merge
			spec.Limit, spec.Offset = limit, max(off, 0)
			rt.Merge = &spec
			if spec.Having != nil {
				spec.Having, err = v.bindHaving(spec.Having)
			}
			if spec.WithTies && p.LimitSrc != nil && limit < 0 {
				return refuseRoute(rt, &Error{Code: codeInvalidRowCount, Message: "row count cannot be null in FETCH FIRST ... WITH TIES clause"})
			}
		}
		var pe *Error
		if errors.As(err, &pe) {
			return refuseRoute(rt, pe)
		}
		if err != nil {
			return refuseRoute(rt, &Error{Code: codeInvalidParam, Message: "pgshard: " + err.Error()})
		}
	}
	return rt
}

// only returns a one-shard list stored in rt itself.
func (rt *Route) only(id shard.ShardID) []shard.ShardID {
	rt.one[0] = id
	return rt.one[:]
}

func refuseRoute(rt *Route, e *Error) *Route {
	rt.Kind = KindRefuse
	rt.Err = e
	rt.Shards = nil
	return rt
}

func keyError(t *Table, err error) *Error {
	// Only a key to be stored gets these: the server would convert the
	// value (round 42.5, or fail), and pgshard routes a row by the exact
	// key it gets.
	hint := fmt.Sprintf("Send the key as a value of the key's type (%s).", t.KeyType)
	switch {
	case errors.Is(err, ErrNoKey):
		return &Error{Code: codeFeatureNotSupported, Hint: hint,
			Message: fmt.Sprintf("pgshard: the value for shard key %s.%s is not a value of its type (a fraction, or out of range), so pgshard cannot tell which key the row would get", t, t.Key)}
	case errors.Is(err, ErrAnyKey):
		return &Error{Code: codeFeatureNotSupported, Hint: hint,
			Message: fmt.Sprintf("pgshard: cannot tell which value of shard key %s.%s the row would get: the value is converted from another type", t, t.Key)}
	}
	return &Error{Code: "22P02", Message: fmt.Sprintf("pgshard: invalid value for shard key %s.%s: %v", t, t.Key, err)}
}

// bindHaving replaces the $n constants of a merged HAVING with the Bind
// values, in the format the client sent them.
func (v *values) bindHaving(e merge.Expr) (merge.Expr, error) {
	switch e := e.(type) {
	case merge.Const:
		if e.Param == 0 {
			return e, nil
		}
		i := e.Param - 1
		if i >= len(v.params) {
			return nil, fmt.Errorf("there is no parameter $%d", e.Param)
		}
		c := merge.Const{TypeOID: e.TypeOID, Null: v.params[i] == nil, Text: string(v.params[i])}
		if i < len(v.formats) {
			c.Format = v.formats[i]
		}
		return c, nil
	case merge.Cmp:
		l, err := v.bindHaving(e.L)
		if err != nil {
			return nil, err
		}
		r, err := v.bindHaving(e.R)
		return merge.Cmp{Op: e.Op, L: l, R: r}, err
	case merge.And:
		args, err := v.bindAll(e.Args)
		return merge.And{Args: args}, err
	case merge.Or:
		args, err := v.bindAll(e.Args)
		return merge.Or{Args: args}, err
	case merge.Not:
		arg, err := v.bindHaving(e.Arg)
		return merge.Not{Arg: arg}, err
	case merge.IsNull:
		arg, err := v.bindHaving(e.Arg)
		return merge.IsNull{Arg: arg, Not: e.Not}, err
	}
	return e, nil
}

func (v *values) bindAll(es []merge.Expr) ([]merge.Expr, error) {
	out := make([]merge.Expr, len(es))
	for i, e := range es {
		var err error
		if out[i], err = v.bindHaving(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}
