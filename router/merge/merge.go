package merge

import (
	"cmp"
	"container/heap"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// OutColumns returns the RowDescription the client must see: the first
// spec.Output columns, with each AggAvg column's TypeOID replaced by the
// avg result type (numeric or float8) and each AggCountDistinct column's
// by int8. For a changed column the wire layer
// must also send typlen TypeLen(oid) and typmod -1.
func OutColumns(cols []Column, spec *Spec) []Column {
	n := min(max(spec.Output, 0), len(cols))
	out := slices.Clone(cols[:n])
	setAggTypes(out, spec)
	return out
}

// setAggTypes gives aggregate columns whose merged type differs from the
// shards' column their merged type.
func setAggTypes(cols []Column, spec *Spec) {
	for _, a := range spec.Aggs {
		if a.Col < 0 || a.Col >= len(cols) {
			continue
		}
		switch a.Kind {
		case AggAvg:
			cols[a.Col].TypeOID = avgOutOID(a, cols[a.Col].TypeOID)
		case AggCountDistinct:
			cols[a.Col].TypeOID = oidInt8
		case AggSumDistinct, AggAvgDistinct:
			if out, ok := distinctOutOID(a.Kind, cols[a.Col].TypeOID); ok {
				cols[a.Col].TypeOID = out
			}
		}
	}
}

// TypeLen is pg_type.typlen for the OIDs OutColumns can produce (and the
// other built-in types this package knows); -1 (varlena) otherwise.
func TypeLen(oid uint32) int16 {
	switch oid {
	case oidBool, oidChar:
		return 1
	case oidInt2:
		return 2
	case oidInt4, oidOID, oidFloat4, oidDate:
		return 4
	case oidInt8, oidFloat8, oidTime, oidTimestamp, oidTimestamptz:
		return 8
	case oidInterval, oidUUID:
		return 16
	case oidName:
		return 64
	}
	return -1
}

// mergedColumns is the type of every column after aggregation: the shard's
// type, except avg columns which now hold the average.
func mergedColumns(cols []Column, spec *Spec) []Column {
	out := slices.Clone(cols)
	setAggTypes(out, spec)
	return out
}

// Merge combines the shards' rows into the rows a single server holding
// all the data would return. parts[i] is shard i's result; for a plain
// ORDER BY (no GroupBy, Aggs, Distinct or Having) each part must already be
// sorted by spec.OrderBy, and Merge does a k-way merge that stops after
// Offset+Limit rows (falling back to a full sort if a part turns out not to
// be sorted). Rows returned on the plain paths share field bytes with the
// input. Errors are *Error.
func Merge(cols []Column, parts [][]Row, spec *Spec) ([]Row, error) {
	if err := validate(cols, parts, spec); err != nil {
		return nil, err
	}
	m := mapPool.Get().(*pgtype.Map)
	defer mapPool.Put(m)

	aggregated := len(spec.GroupBy) > 0 || len(spec.Aggs) > 0
	if !aggregated && !spec.Distinct && spec.DistinctOn == 0 && spec.Having == nil {
		if len(spec.OrderBy) == 0 {
			return concatLimit(parts, spec), nil
		}
		rows, sorted, err := kMerge(m, cols, parts, spec)
		if err != nil || sorted {
			return rows, err
		}
	}

	var rows []Row
	if aggregated {
		var err error
		if rows, err = aggregate(m, cols, parts, spec); err != nil {
			return nil, err
		}
	} else {
		for _, p := range parts {
			rows = append(rows, p...)
		}
	}
	merged := mergedColumns(cols, spec)
	if len(spec.Derived) > 0 {
		if err := derive(m, merged, rows, spec.Derived); err != nil {
			return nil, err
		}
	}
	if spec.Having != nil {
		var err error
		if rows, err = filterHaving(m, merged, rows, spec.Having); err != nil {
			return nil, err
		}
	}
	if spec.Distinct {
		var err error
		if rows, err = distinct(m, merged[:spec.Output], rows); err != nil {
			return nil, err
		}
	}
	if len(spec.OrderBy) > 0 {
		var err error
		if rows, err = sortRows(m, merged, rows, spec.OrderBy); err != nil {
			return nil, err
		}
	}
	if spec.DistinctOn > 0 {
		var err error
		if rows, err = distinctOn(m, merged, rows, spec.OrderBy[:spec.DistinctOn]); err != nil {
			return nil, err
		}
	}
	rows, err := window(m, merged, rows, spec)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		rows[i] = r[:spec.Output:spec.Output]
	}
	return rows, nil
}

func validate(cols []Column, parts [][]Row, spec *Spec) error {
	if spec.Output < 0 || spec.Output > len(cols) {
		return errorf(CodeInternal, "Output "+strconv.Itoa(spec.Output)+" exceeds the "+strconv.Itoa(len(cols))+" columns")
	}
	if spec.DistinctOn < 0 || spec.DistinctOn > len(spec.OrderBy) {
		return errorf(CodeInternal, "DISTINCT ON "+strconv.Itoa(spec.DistinctOn)+" exceeds the ORDER BY keys")
	}
	for _, k := range spec.OrderBy {
		if k.Col < 0 || k.Col >= len(cols) {
			return errorf(CodeInternal, "ORDER BY column "+strconv.Itoa(k.Col)+" out of range")
		}
	}
	if err := checkTextOrder(cols, spec); err != nil {
		return err
	}
	if err := checkTextEquality(cols, spec); err != nil {
		return err
	}
	for _, p := range parts {
		for _, r := range p {
			if len(r) != len(cols) {
				return errorf(CodeInternal, "shard row has "+strconv.Itoa(len(r))+" fields, RowDescription has "+strconv.Itoa(len(cols)))
			}
		}
	}
	return nil
}

// bounds turns Offset/Limit into [lo, hi) over n rows.
func bounds(n int, spec *Spec) (lo, hi int) {
	lo = int(min(max(spec.Offset, 0), int64(n)))
	hi = n
	if spec.Limit >= 0 && spec.Limit < int64(hi-lo) {
		hi = lo + int(spec.Limit)
	}
	return lo, hi
}

// window keeps the rows within OFFSET and LIMIT of the sorted rows, and
// with WITH TIES the rows after them equal to the last on the ORDER BY.
func window(m *pgtype.Map, cols []Column, rows []Row, spec *Spec) ([]Row, error) {
	lo, hi := bounds(len(rows), spec)
	if spec.WithTies && hi > lo && hi < len(rows) {
		decs, err := sortDecoders(m, cols, spec.OrderBy)
		if err != nil {
			return nil, err
		}
		last := make([]value, len(spec.OrderBy))
		next := make([]value, len(spec.OrderBy))
		if err := decodeKeys(last, decs, spec.OrderBy, rows[hi-1]); err != nil {
			return nil, err
		}
		for ; hi < len(rows); hi++ {
			if err := decodeKeys(next, decs, spec.OrderBy, rows[hi]); err != nil {
				return nil, err
			}
			if compareKeys(last, next, spec.OrderBy) != 0 {
				break
			}
		}
	}
	return rows[lo:hi], nil
}

// concatLimit is the no-ORDER-BY case: any order is correct, so shard order
// is kept and only the rows inside the window are touched.
func concatLimit(parts [][]Row, spec *Spec) []Row {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	lo, hi := bounds(total, spec)
	out := make([]Row, 0, hi-lo)
	i := 0
	for _, p := range parts {
		for _, r := range p {
			if i >= hi {
				return out
			}
			if i >= lo {
				out = append(out, r[:spec.Output:spec.Output])
			}
			i++
		}
	}
	return out
}

func sortDecoders(m *pgtype.Map, cols []Column, keys []SortKey) ([]decoder, error) {
	decs := make([]decoder, len(keys))
	for i, k := range keys {
		if !orderable(cols[k.Col].TypeOID) {
			e := unorderable("ORDER BY", cols[k.Col])
			e.ServerSorts = true
			return nil, e
		}
		d, err := newDecoder(m, cols[k.Col].TypeOID, cols[k.Col].Format, true)
		if err != nil {
			return nil, err
		}
		decs[i] = d
	}
	return decs, nil
}

func decodeKeys(dst []value, decs []decoder, keys []SortKey, row Row) error {
	for i, k := range keys {
		v, err := decs[i](row[k.Col])
		if err != nil {
			return err
		}
		dst[i] = v
	}
	return nil
}

func compareKeys(a, b []value, keys []SortKey) int {
	for i, k := range keys {
		if c := compareSortKey(a[i], b[i], k); c != 0 {
			return c
		}
	}
	return 0
}

func sortRows(m *pgtype.Map, cols []Column, rows []Row, keys []SortKey) ([]Row, error) {
	decs, err := sortDecoders(m, cols, keys)
	if err != nil {
		return nil, err
	}
	type keyed struct {
		row  Row
		keys []value
	}
	all := make([]value, len(rows)*len(keys))
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		kv := all[i*len(keys) : (i+1)*len(keys)]
		if err := decodeKeys(kv, decs, keys, r); err != nil {
			return nil, err
		}
		ks[i] = keyed{r, kv}
	}
	// Stable, so ties keep shard order and the output is deterministic.
	slices.SortStableFunc(ks, func(a, b keyed) int { return compareKeys(a.keys, b.keys, keys) })
	out := make([]Row, len(ks))
	for i, k := range ks {
		out[i] = k.row
	}
	return out, nil
}

// cursor is one part's read position in the k-way merge.
type cursor struct {
	part, pos int
	keys      []value
}

type cursorHeap struct {
	cs   []*cursor
	keys []SortKey
}

func (h *cursorHeap) Len() int { return len(h.cs) }
func (h *cursorHeap) Less(i, j int) bool {
	if c := compareKeys(h.cs[i].keys, h.cs[j].keys, h.keys); c != 0 {
		return c < 0
	}
	return h.cs[i].part < h.cs[j].part
}
func (h *cursorHeap) Swap(i, j int) { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *cursorHeap) Push(x any)    { h.cs = append(h.cs, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
}

// kMerge merges pre-sorted parts, decoding only the rows it pops. sorted is
// false when some part was found out of order; the caller then sorts.
func kMerge(m *pgtype.Map, cols []Column, parts [][]Row, spec *Spec) (rows []Row, sorted bool, err error) {
	keys := spec.OrderBy
	decs, err := sortDecoders(m, cols, keys)
	if err != nil {
		return nil, false, err
	}
	total := 0
	h := &cursorHeap{keys: keys}
	for i, p := range parts {
		total += len(p)
		if len(p) == 0 {
			continue
		}
		c := &cursor{part: i, keys: make([]value, len(keys))}
		if err := decodeKeys(c.keys, decs, keys, p[0]); err != nil {
			return nil, false, err
		}
		h.cs = append(h.cs, c)
	}
	heap.Init(h)
	lo, hi := bounds(total, spec)
	out := make([]Row, 0, hi-lo)
	next := make([]value, len(keys))
	var last []value // WITH TIES: the keys of the window's last row so far
	for i := 0; len(h.cs) > 0; i++ {
		c := h.cs[0]
		if i >= hi && (last == nil || compareKeys(c.keys, last, keys) != 0) {
			break
		}
		if i >= lo {
			out = append(out, parts[c.part][c.pos][:spec.Output:spec.Output])
			if spec.WithTies {
				last = append(last[:0], c.keys...)
			}
		}
		c.pos++
		if c.pos == len(parts[c.part]) {
			heap.Pop(h)
			continue
		}
		if err := decodeKeys(next, decs, keys, parts[c.part][c.pos]); err != nil {
			return nil, false, err
		}
		if compareKeys(c.keys, next, keys) > 0 {
			return nil, false, nil
		}
		c.keys, next = next, c.keys
		heap.Fix(h, 0)
	}
	return out, true, nil
}

func rowDecoders(m *pgtype.Map, cols []Column, needOrder bool) ([]decoder, error) {
	decs := make([]decoder, len(cols))
	for i, c := range cols {
		d, err := newDecoder(m, c.TypeOID, c.Format, needOrder)
		if err != nil {
			return nil, err
		}
		decs[i] = d
	}
	return decs, nil
}

func filterHaving(m *pgtype.Map, cols []Column, rows []Row, e Expr) ([]Row, error) {
	types := make([]uint32, len(cols))
	for i, c := range cols {
		types[i] = c.TypeOID
	}
	eval, err := compileExpr(m, e, types)
	if err != nil {
		return nil, err
	}
	// Only the columns the predicate reads are decoded: the others may be
	// of types we cannot decode, and skipping them is cheaper.
	used := exprCols(e, nil)
	decs := make([]decoder, len(used))
	for i, c := range used {
		if decs[i], err = newDecoder(m, cols[c].TypeOID, cols[c].Format, true); err != nil {
			return nil, err
		}
	}
	vals := make([]value, len(cols))
	out := rows[:0:0]
	for _, r := range rows {
		for i, c := range used {
			if vals[c], err = decs[i](r[c]); err != nil {
				return nil, err
			}
		}
		v, err := eval(vals)
		if err != nil {
			return nil, err
		}
		if v.k == vBool && v.i != 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// distinct keeps the first row of each set of rows equal on cols (the
// client-visible columns), comparing by type so numeric 1.0 = 1.00.
func distinct(m *pgtype.Map, cols []Column, rows []Row) ([]Row, error) {
	decs, err := rowDecoders(m, cols, true)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]struct{}, len(rows))
	out := rows[:0:0]
	var key []byte
	for _, r := range rows {
		key = key[:0]
		for i, d := range decs {
			v, err := d(r[i])
			if err != nil {
				return nil, err
			}
			key = appendKey(key, v)
		}
		if _, dup := seen[string(key)]; dup {
			continue
		}
		seen[string(key)] = struct{}{}
		out = append(out, r)
	}
	return out, nil
}

// distinctOn keeps the first of each run of sorted rows equal on keys.
func distinctOn(m *pgtype.Map, cols []Column, rows []Row, keys []SortKey) ([]Row, error) {
	decs, err := sortDecoders(m, cols, keys)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	prev, cur := make([]value, len(keys)), make([]value, len(keys))
	for i, r := range rows {
		if err := decodeKeys(cur, decs, keys, r); err != nil {
			return nil, err
		}
		if i == 0 || compareKeys(prev, cur, keys) != 0 {
			out = append(out, r)
			prev, cur = cur, prev
		}
	}
	return out, nil
}

// checkTextOrder refuses the merges that would order text by a collation
// other than its bytes, the default one under CollatedText or one the
// query names: pgshard compares text bytewise, which is only PostgreSQL's
// order under the C collation.
func checkTextOrder(cols []Column, spec *Spec) error {
	collated := func(c int) bool { return Textual(cols[c].TypeOID) }
	// why is how column col's text would be ordered under the query's
	// collation c, or "" where bytewise is right.
	why := func(c Collation, col int) string {
		if c == CollateDefault {
			switch cols[col].Collation {
			case CollateNamed:
				return "its column has a collation other than C"
			case CollateUnknown:
				return "the shards have columns with collations other than C and pgshard cannot tell which orders it"
			}
		}
		switch {
		case c == CollateNamed:
			return "the query orders it by a collation other than C"
		case c == CollateDefault && spec.CollatedText:
			return "the shards order text by a collation other than C"
		}
		return ""
	}
	for _, k := range spec.OrderBy {
		if w := why(k.Collation, k.Col); w != "" && collated(k.Col) {
			e := errorf(CodeFeatureUnsupported, "pgshard: cannot merge ORDER BY column "+strconv.Quote(cols[k.Col].Name)+
				" across shards: "+w+", and pgshard compares text bytewise; "+
				`order by it with COLLATE "C", or pin the query to one shard key`)
			// Under the database's collation a server orders the rows as
			// the query means.
			e.ServerSorts = k.Collation == CollateDefault && cols[k.Col].Collation == CollateDefault
			return e
		}
	}
	for _, a := range spec.Aggs {
		if a.Kind != AggMin && a.Kind != AggMax || a.Col < 0 || a.Col >= len(cols) {
			continue
		}
		if w := why(a.Collation, a.Col); w != "" && collated(a.Col) {
			return errorf(CodeFeatureUnsupported, "pgshard: cannot merge min or max of text column "+strconv.Quote(cols[a.Col].Name)+
				" across shards: "+w+", and pgshard compares text bytewise; "+
				`use min(x COLLATE "C"), or pin the query to one shard key`)
		}
	}
	return nil
}

// Textual says whether values of type oid have a collation.
func Textual(oid uint32) bool {
	switch oid {
	case oidText, oidVarchar, oidBPChar, oidUnknown:
		return true
	}
	return false
}

// checkTextEquality refuses the merges that would compare text of a
// nondeterministic collation for equality: pgshard compares bytes, so
// values such a collation holds equal ('a' and 'A' under a case-insensitive
// one) would stay apart when they come from different shards.
func checkTextEquality(cols []Column, spec *Spec) error {
	check := func(c int, what string) error {
		if c < 0 || c >= len(cols) || !cols[c].Nondeterministic || !Textual(cols[c].TypeOID) {
			return nil
		}
		return errorf(CodeFeatureUnsupported, "pgshard: cannot merge "+what+" on text column "+strconv.Quote(cols[c].Name)+
			" across shards: its collation may hold different text equal (a nondeterministic collation), and pgshard compares text bytewise; "+
			"pin the query to one shard key")
	}
	var err error
	for _, g := range spec.GroupBy {
		err = cmp.Or(err, check(g, "GROUP BY"))
	}
	if spec.Distinct {
		for c := range min(spec.Output, len(cols)) {
			err = cmp.Or(err, check(c, "DISTINCT"))
		}
	}
	for i := 0; i < spec.DistinctOn && i < len(spec.OrderBy); i++ {
		err = cmp.Or(err, check(spec.OrderBy[i].Col, "DISTINCT ON"))
	}
	for _, a := range spec.Aggs {
		switch a.Kind {
		case AggCountDistinct, AggSumDistinct, AggAvgDistinct:
			err = cmp.Or(err, check(a.Col, "an aggregate over DISTINCT values"))
		}
	}
	return err
}
