package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/shard"
)

// Rows as arrays: INSERT INTO orders (user_id, item) SELECT * FROM
// unnest($1::bigint[], $2::text[]) is how drivers insert a batch in one
// statement of fixed text (pgx, node-postgres, psycopg users; one array
// per column). The key column's array names every row's key, so the batch
// splits like a multi-row VALUES: each shard is sent the same statement
// with arrays of only its own rows, and RETURNING rows come back in the
// arrays' order. The rows of a staged INSERT ... SELECT (stage.go) reach
// their shards the same way.

// arrayRows is such an INSERT into a sharded table.
type arrayRows struct {
	Table *Table
	// Key is the key column's array parameter (Array set).
	Key Source
	// Arrays are the 1-based numbers of the parameters unnested, in the
	// order they are unnested (Key.Param among them); each is cut to a
	// shard's rows.
	Arrays []int
	// Gen is set instead of Key when the column list leaves the key to
	// its default (arraygenkeys.go); Relation names the table then.
	Gen      *arrayGen
	Relation TableRef
}

// arrayInsert plans INSERT INTO t (cols) SELECT * FROM unnest($a, $b, ...)
// (or ROWS FROM (unnest($a), ...), or SELECT unnest($a), unnest($b)); nil
// when sel is not that shape.
func (a *analyzer) arrayInsert(ins *pg.InsertStmt, t *Table, sel *pg.SelectStmt, keyCol int) *Plan {
	args, cols, ok := unnestedParams(sel)
	if !ok || len(ins.Cols) == 0 || len(cols) != len(ins.Cols) || hasSubLink(ins.ReturningList) ||
		ins.OnConflictClause != nil && hasSubLink(append(slices.Clip(ins.OnConflictClause.TargetList), ins.OnConflictClause.WhereClause)) {
		return nil
	}
	if keyCol < 0 {
		return a.arrayGenKeys(ins, t, sel, args, cols)
	}
	if cols[keyCol] < 0 {
		return nil
	}
	rows := &arrayRows{Table: t}
	for _, arg := range args {
		rows.Arrays = append(rows.Arrays, paramOf(arg))
	}
	key := args[cols[keyCol]]
	s := Source{Param: paramOf(key), Array: true, dom: domKey, bin: domKey, assign: true}
	if tc := key.GetTypeCast(); tc != nil {
		d := arrayCastDomain(tc.TypeName, t.KeyType)
		s.dom, s.bin, s.cast = max(d, domKey), d, true
	}
	if s.dom == domOpaque {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: the array of shard keys %s.%s is cast to a type pgshard cannot read keys from", t, t.Key),
			fmt.Sprintf("Cast it to an array of the key's type (%s[]).", t.KeyType))
	}
	rows.Key = s
	return &Plan{Kind: KindShard, Command: "INSERT", Tables: []string{t.Name}, Arrays: rows, Exact: a.exact}
}

// unnestedParams returns the arrays a plain SELECT unnests, each a
// parameter (possibly cast to an array type): SELECT * FROM unnest($1,
// $2), SELECT * FROM ROWS FROM (unnest($1), unnest($2)) or SELECT
// unnest($1), unnest($2), which all give rows of the arrays' elements in
// lockstep, or SELECT x.a, 'new', x.b, $3 FROM unnest($1, $2) AS x(a, b),
// which names the arrays' columns and adds constants or parameters (one of
// unknown type takes the inserted column's, as a staged INSERT ... SELECT
// needs: stage.go). cols gives, for each column the SELECT returns, the
// index of its array, or -1 for a constant. Anything else (a WHERE, an
// ORDER BY, an expression) is not such a SELECT.
func unnestedParams(sel *pg.SelectStmt) (args []*pg.Node, cols []int, ok bool) {
	if sel.Op != pg.SetOperation_SETOP_NONE || sel.WithClause != nil || len(sel.DistinctClause) > 0 || sel.WhereClause != nil ||
		len(sel.GroupClause) > 0 || sel.HavingClause != nil || len(sel.WindowClause) > 0 || len(sel.SortClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.LockingClause) > 0 || sel.IntoClause != nil || len(sel.ValuesLists) > 0 {
		return nil, nil, false
	}
	switch len(sel.FromClause) {
	case 0:
		for _, tgt := range sel.TargetList {
			call := tgt.GetResTarget().GetVal().GetFuncCall()
			if !isUnnest(call) || len(call.Args) != 1 {
				return nil, nil, false
			}
			cols = append(cols, len(args))
			args = append(args, call.Args[0])
		}
	case 1:
		rf := sel.FromClause[0].GetRangeFunction()
		if rf == nil || rf.Lateral || rf.Ordinality || len(rf.Coldeflist) > 0 {
			return nil, nil, false
		}
		for _, f := range rf.Functions {
			items := f.GetList().GetItems()
			if len(items) == 0 || len(items) > 1 && items[1] != nil && len(items[1].GetList().GetItems()) > 0 {
				return nil, nil, false
			}
			call := items[0].GetFuncCall()
			if !isUnnest(call) || len(rf.Functions) > 1 && len(call.Args) != 1 {
				return nil, nil, false
			}
			args = append(args, call.Args...)
		}
		if starOnly(sel.TargetList) {
			for k := range args {
				cols = append(cols, k)
			}
		} else if cols, ok = namedColumns(sel.TargetList, rf.Alias, len(args)); !ok || unnestedInList(sel.TargetList, args) {
			// (An array also selected whole would be cut to each shard's
			// rows there too.)
			return nil, nil, false
		}
	default:
		return nil, nil, false
	}
	for _, arg := range args {
		if paramOf(arg) <= 0 {
			return nil, nil, false
		}
		if tc := arg.GetTypeCast(); tc != nil {
			// A cast to a non-array type, or to box[], whose text
			// elements are separated by ';': not split here.
			if len(tc.TypeName.GetArrayBounds()) != 1 || typeBaseName(tc.TypeName) == "box" {
				return nil, nil, false
			}
		}
	}
	return args, cols, len(args) > 0
}

// namedColumns reads a select list of the columns alias names (n of them,
// x.a or a), constants and parameters: each item's column index, or -1.
func namedColumns(list []*pg.Node, alias *pg.Alias, n int) ([]int, bool) {
	if alias == nil || len(alias.Colnames) != n {
		return nil, false
	}
	names := make([]string, n)
	for k, c := range alias.Colnames {
		names[k] = c.GetString_().GetSval()
	}
	cols := make([]int, 0, len(list))
	for _, t := range list {
		v := t.GetResTarget().GetVal()
		if isConstant(v) || v.GetParamRef() != nil {
			cols = append(cols, -1) // the same in every row, on every shard
			continue
		}
		fields := v.GetColumnRef().GetFields()
		if len(fields) == 2 && fields[0].GetString_().GetSval() == alias.Aliasname {
			fields = fields[1:]
		}
		if len(fields) != 1 || len(t.GetResTarget().GetIndirection()) > 0 {
			return nil, false
		}
		k := slices.Index(names, fields[0].GetString_().GetSval())
		if k < 0 || slices.Index(names[k+1:], names[k]) >= 0 {
			return nil, false // not a column of the arrays, or ambiguous
		}
		cols = append(cols, k)
	}
	return cols, true
}

// unnestedInList reports whether a parameter of list is one of args.
func unnestedInList(list, args []*pg.Node) bool {
	for _, t := range list {
		if n := paramOf(t.GetResTarget().GetVal()); n > 0 && slices.ContainsFunc(args, func(a *pg.Node) bool { return paramOf(a) == n }) {
			return true
		}
	}
	return false
}

// isConstant reports whether n is a constant: a literal, NULL, or one
// cast to a type ('2024-01-01'::date).
func isConstant(n *pg.Node) bool {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	return n.GetAConst() != nil
}

// isUnnest reports whether call is a plain call of (pg_catalog.)unnest.
func isUnnest(call *pg.FuncCall) bool {
	if call == nil || call.AggStar || call.AggDistinct || call.FuncVariadic || call.Over != nil || call.AggFilter != nil || len(call.AggOrder) > 0 || len(call.Args) == 0 {
		return false
	}
	switch len(call.Funcname) {
	case 1:
	case 2:
		if call.Funcname[0].GetString_().GetSval() != "pg_catalog" {
			return false
		}
	default:
		return false
	}
	return call.Funcname[len(call.Funcname)-1].GetString_().GetSval() == "unnest"
}

// starOnly reports whether a target list is a lone *.
func starOnly(list []*pg.Node) bool {
	if len(list) != 1 {
		return false
	}
	rt := list[0].GetResTarget()
	fields := rt.GetVal().GetColumnRef().GetFields()
	return rt != nil && len(rt.Indirection) == 0 && len(fields) == 1 && fields[0].GetAStar() != nil
}

// typeBaseName is a type name's last part (int8 of pg_catalog.int8).
func typeBaseName(tn *pg.TypeName) string {
	if tn == nil || len(tn.Names) == 0 {
		return ""
	}
	return tn.Names[len(tn.Names)-1].GetString_().GetSval()
}

// hasSubLink reports whether any of nodes holds a subquery.
func hasSubLink(nodes []*pg.Node) bool {
	found := false
	for _, n := range nodes {
		if n == nil {
			continue
		}
		visit(n, func(c *pg.Node) bool {
			found = found || c.GetSubLink() != nil
			return !found
		})
	}
	return found
}

// ExtraParam is a parameter value a route made for one shard's statement
// (Route.Params refers to it as -1-i): an array cut down to that shard's
// rows, in the format and type of the client's parameter it replaces.
type ExtraParam struct {
	Value  []byte
	Of     int // the client's parameter (0-based) it stands in for
	Format int16
}

// splitArrays routes an arrayRows INSERT: each row goes to the shard owning
// its key, and a statement over several shards is sent to each with the
// arrays cut to its own rows.
func (p *Plan) splitArrays(ar *arrayRows, rt *Route, m *shard.Map, v values) *Route {
	t := ar.Table
	cols, n, e := readArrays(ar, v)
	if e != nil {
		return refuseRoute(rt, e)
	}
	if ar.Gen != nil {
		return splitGeneratedArrays(ar, cols, n, rt, m, v)
	}
	var key arrayParam
	for k, num := range ar.Arrays {
		if num == ar.Key.Param {
			key = cols[k]
		}
	}
	od, declared := arrayOIDDomain(key.oid, t.KeyType)
	if key.binary {
		od, declared = oidDomain(key.elemOID, t.KeyType)
	}
	d, as, ok := ar.Key.typed(od, declared)
	if !ok {
		return refuseRoute(rt, keyError(t, ErrAnyKey))
	}
	owner := make([]shard.ShardID, n)
	var order []shard.ShardID
	for r := range n {
		var e []byte
		if r < len(key.elems) {
			e = key.elems[r]
		}
		if e == nil {
			return refuseRoute(rt, &Error{Code: codeNullKey, Message: nullKeyMessage(t, r), Hint: "Every row of a sharded table needs a shard key."})
		}
		var pt shard.Point
		var err error
		if key.binary {
			pt, err = pointInBinary(t.KeyType, d, as, e)
		} else {
			pt, err = pointIn(t.KeyType, d, string(e))
		}
		if err != nil {
			return refuseRoute(rt, keyError(t, err))
		}
		owner[r] = m.Lookup(pt)
		if !containsShard(order, owner[r]) {
			order = append(order, owner[r])
		}
	}
	switch len(order) {
	case 0:
		rt.Shards = rt.only(m.Shards()[0]) // no rows: any shard inserts none
		return rt
	case 1:
		rt.Shards = rt.only(order[0])
		return rt
	}
	for _, id := range order {
		rows := rowsOf(owner, id)
		rt.Shards = append(rt.Shards, id)
		rt.Params = append(rt.Params, rt.cutArrays(ar, cols, rows, len(v.params)))
		rt.Rows = append(rt.Rows, rows)
	}
	return rt
}

// readArrays reads the arrays ar unnests from v's parameters, and the
// number of rows they make (the longest array's length).
func readArrays(ar *arrayRows, v values) ([]arrayParam, int, *Error) {
	cols := make([]arrayParam, len(ar.Arrays))
	n := 0
	for k, num := range ar.Arrays {
		i := num - 1
		if i < 0 || i >= len(v.params) {
			return nil, 0, &Error{Code: codeInvalidParam, Message: fmt.Sprintf("pgshard: there is no parameter $%d", num)}
		}
		c, err := readArrayParam(v, i)
		if err != nil {
			return nil, 0, &Error{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: cannot split array parameter $%d of INSERT into sharded table %s by shard: %v", num, ar.Table, err),
				Hint:    "Send one-dimensional arrays, or insert the rows with VALUES or COPY."}
		}
		cols[k] = c
		n = max(n, len(c.elems))
	}
	return cols, n, nil
}

// rowsOf lists the rows whose owner is id.
func rowsOf(owner []shard.ShardID, id shard.ShardID) []int {
	var rows []int
	for r, o := range owner {
		if o == id {
			rows = append(rows, r)
		}
	}
	return rows
}

// cutArrays adds to rt's Extra the arrays of ar (cols, as read) cut to
// rows, and returns the parameters of a shard's statement: the client's
// nparams, each array among them replaced by its cut (-1-i for Extra[i]).
func (rt *Route) cutArrays(ar *arrayRows, cols []arrayParam, rows []int, nparams int) []int {
	keep := make([]int, nparams)
	for i := range keep {
		keep[i] = i
	}
	for k, num := range ar.Arrays {
		i := num - 1
		if keep[i] < 0 {
			continue // the same array unnested twice
		}
		keep[i] = -1 - len(rt.Extra)
		rt.Extra = append(rt.Extra, ExtraParam{Value: cols[k].slice(rows), Of: i, Format: cols[k].format()})
	}
	return keep
}

func containsShard(ids []shard.ShardID, id shard.ShardID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// arrayParam is an array parameter read for splitting.
type arrayParam struct {
	elems   [][]byte // nil for NULL
	binary  bool
	oid     uint32 // the parameter's declared type
	elemOID uint32 // binary: the element type the array names
}

// readArrayParam reads parameter i (0-based) of v as a one-dimensional
// array; a NULL array has no elements, as unnest gives none.
func readArrayParam(v values, i int) (arrayParam, error) {
	var c arrayParam
	if i < len(v.oids) {
		c.oid = v.oids[i]
	}
	if c.oid == 1020 { // box[]: elements separated by ';'
		return c, errors.New("box arrays are not split")
	}
	c.binary = i < len(v.formats) && v.formats[i] == 1
	if v.params[i] == nil {
		return c, nil
	}
	var err error
	if c.binary {
		c.elems, c.elemOID, err = binaryArray(v.params[i])
		if err == nil && c.elemOID == 603 {
			err = errors.New("box arrays are not split")
		}
		return c, err
	}
	c.elems, err = arrayElements(string(v.params[i]))
	return c, err
}

func (c arrayParam) format() int16 {
	if c.binary {
		return 1
	}
	return 0
}

// slice encodes the array of the elements at rows, in the parameter's
// format; a row past the array's end is NULL, as unnest pads it.
func (c arrayParam) slice(rows []int) []byte {
	at := func(r int) []byte {
		if r < len(c.elems) {
			return c.elems[r]
		}
		return nil
	}
	if c.binary {
		out := make([]byte, 20, 20+8*len(rows))
		binary.BigEndian.PutUint32(out, 1)
		binary.BigEndian.PutUint32(out[8:], c.elemOID)
		binary.BigEndian.PutUint32(out[12:], uint32(len(rows)))
		binary.BigEndian.PutUint32(out[16:], 1)
		for _, r := range rows {
			e := at(r)
			if e == nil {
				binary.BigEndian.PutUint32(out[4:], 1) // has NULLs
				out = binary.BigEndian.AppendUint32(out, 0xffffffff)
				continue
			}
			out = binary.BigEndian.AppendUint32(out, uint32(len(e)))
			out = append(out, e...)
		}
		return out
	}
	var b strings.Builder
	b.WriteByte('{')
	for k, r := range rows {
		if k > 0 {
			b.WriteByte(',')
		}
		e := at(r)
		if e == nil {
			b.WriteString("NULL")
			continue
		}
		b.WriteByte('"')
		for _, ch := range e {
			if ch == '"' || ch == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(ch)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// arrayElements reads a one-dimensional array in PostgreSQL's text form,
// as array_in does for a type whose delimiter is ',': elements quoted or
// not, backslash escapes in both, white space around unquoted ones
// dropped, an unquoted NULL (any case) a null. Explicit bounds
// ([0:2]={...}) and nested arrays are refused: their rows could not be
// cut apart faithfully.
func arrayElements(s string) ([][]byte, error) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' }
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '{' {
		return nil, errors.New("not a one-dimensional array without explicit bounds")
	}
	i++
	var out [][]byte
	for first := true; ; first = false {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return nil, errors.New("unterminated array")
		}
		if first && s[i] == '}' {
			i++
			break
		}
		var elem []byte
		switch s[i] {
		case '{':
			return nil, errors.New("multi-dimensional arrays are not split")
		case '"':
			i++
			elem = []byte{}
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
					if i == len(s) {
						break
					}
				}
				elem = append(elem, s[i])
			}
			if i == len(s) {
				return nil, errors.New("unterminated quoted element")
			}
			i++
		default:
			escaped := false
			trail := 0 // length of elem up to its last escaped or non-space byte
			for ; i < len(s) && s[i] != ',' && s[i] != '}'; i++ {
				switch c := s[i]; {
				case c == '\\':
					i++
					if i == len(s) {
						return nil, errors.New("unterminated escape")
					}
					elem = append(elem, s[i])
					escaped, trail = true, len(elem)
				case c == '"' || c == '{':
					return nil, fmt.Errorf("unexpected %q in an unquoted element", c)
				default:
					elem = append(elem, c)
					if !isSpace(c) {
						trail = len(elem)
					}
				}
			}
			elem = elem[:trail]
			if len(elem) == 0 && !escaped {
				return nil, errors.New("empty unquoted element")
			}
			if !escaped && strings.EqualFold(string(elem), "null") {
				elem = nil
			}
		}
		out = append(out, elem)
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return nil, errors.New("unterminated array")
		}
		if s[i] == '}' {
			i++
			break
		}
		if s[i] != ',' {
			return nil, fmt.Errorf("unexpected %q after an element", s[i])
		}
		i++
	}
	for ; i < len(s); i++ {
		if !isSpace(s[i]) {
			return nil, errors.New("junk after the closing brace")
		}
	}
	return out, nil
}
