package router

import (
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/shard"
)

// Batch inserts from arrays that leave the key to its default: INSERT INTO
// users (name, email) SELECT * FROM unnest($1::text[], $2::text[]) into a
// table keyed by a bigserial, and the rows of a staged INSERT ... SELECT
// that leaves the key out (stage.go fills those in the same shape). As for
// INSERT ... VALUES (genkeys.go), the route asks for one key per row; with
// them, each shard is sent the statement with the key column added first to
// the list and an array of its own rows' keys unnested first, as one more
// parameter, and the other arrays cut to the same rows.

// arrayGen is where such an INSERT's text takes the key.
type arrayGen struct {
	colAt int // the column list's first column: the key's name goes before it
	at    int // where the keys' array goes among the unnested ones
	// call: at takes a whole unnest call (ROWS FROM, or unnest calls in
	// the select list) rather than one more argument of unnest.
	call bool
}

// arrayGenKeys plans arrayInsert's INSERT whose column list leaves out the
// key; nil when the arrays are not inserted whole and in order (a select
// list that names their columns would shift by the one added).
func (a *analyzer) arrayGenKeys(ins *pg.InsertStmt, t *Table, sel *pg.SelectStmt, args []*pg.Node, cols []int) *Plan {
	if len(cols) != len(args) || len(sel.FromClause) > 0 && !starOnly(sel.TargetList) {
		return nil
	}
	for k, c := range cols {
		if c != k {
			return nil
		}
	}
	g := &arrayGen{colAt: int(ins.Cols[0].GetResTarget().GetLocation()), at: -1}
	if len(sel.FromClause) == 0 { // SELECT unnest($1), unnest($2)
		g.at, g.call = int(sel.TargetList[0].GetResTarget().GetVal().GetFuncCall().GetLocation()), true
	} else if rf := sel.FromClause[0].GetRangeFunction(); rf.IsRowsfrom {
		g.at, g.call = int(rf.Functions[0].GetList().GetItems()[0].GetFuncCall().GetLocation()), true
	} else if n := args[0]; n != nil {
		if tc := n.GetTypeCast(); tc != nil {
			n = tc.Arg
		}
		g.at = int(n.GetParamRef().GetLocation())
	}
	if g.at <= g.colAt || g.colAt <= 0 {
		return nil
	}
	rows := &arrayRows{Table: t, Gen: g, Relation: TableRef{Table: t, Schema: ins.Relation.Schemaname, Name: ins.Relation.Relname}}
	for _, arg := range args {
		rows.Arrays = append(rows.Arrays, paramOf(arg))
	}
	a.exact = true // the text positions hold for this text only
	return &Plan{Kind: KindShard, Command: "INSERT", Tables: []string{t.Name}, Arrays: rows, Exact: true}
}

// splitGeneratedArrays routes an arrayRows INSERT whose keys the default
// gives: n rows (of arrays cols, as read), each to its key's shard, every
// shard sent the statement with the keys written in (even when one shard
// takes every row: the client's text lacks them).
func splitGeneratedArrays(ar *arrayRows, cols []arrayParam, n int, rt *Route, m *shard.Map, v values) *Route {
	t := ar.Table
	if n == 0 {
		rt.Shards = rt.only(m.Shards()[0]) // no rows: the statement as sent inserts none
		return rt
	}
	if v.gen == nil || len(v.gen.Values) != n {
		return needKeys(rt, ar.Relation, n)
	}
	owner := make([]shard.ShardID, n)
	var order []shard.ShardID
	for r, key := range v.gen.Values {
		pt, err := shard.PointFromText(t.KeyType, key)
		if err != nil {
			return refuseRoute(rt, keyError(t, err))
		}
		owner[r] = m.Lookup(pt)
		if !containsShard(order, owner[r]) {
			order = append(order, owner[r])
		}
	}
	keysParam := len(v.params) + 1
	sql, ok := ar.Gen.rewrite(v.text, t, keysParam, v.gen.Always)
	if !ok {
		return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: could not write the generated keys of %s into this INSERT", t),
			Hint:    fmt.Sprintf("Include %s in the column list and its array among the unnested ones.", t.Key)})
	}
	for _, id := range order {
		rows := rowsOf(owner, id)
		keep := rt.cutArrays(ar, cols, rows, len(v.params))
		keys := make([]string, len(rows))
		for i, r := range rows {
			keys[i] = v.gen.Values[r]
		}
		keep = append(keep, -1-len(rt.Extra))
		rt.Extra = append(rt.Extra, ExtraParam{Value: keysArray(keys), Of: keysParam - 1})
		rt.sendTo(id, sql, keep, rows)
	}
	if len(order) > 1 {
		rt.Kind = KindAll
	}
	return rt
}

// rewrite is text with the key column added to the column list and the
// array of keys, parameter $param, unnested first; with OVERRIDING SYSTEM
// VALUE before the SELECT for an identity GENERATED ALWAYS.
func (g *arrayGen) rewrite(text string, t *Table, param int, always bool) (string, bool) {
	if g.colAt <= 0 || g.at <= g.colAt || g.at >= len(text) {
		return "", false
	}
	override := -1
	if always {
		scan, err := pg.Scan(text)
		if err != nil {
			return "", false
		}
		for _, tok := range scan.Tokens {
			if tok.Token == pg.Token_SELECT && int(tok.Start) > g.colAt && int(tok.Start) < g.at {
				override = int(tok.Start)
				break
			}
		}
		if override < 0 {
			return "", false
		}
	}
	typ := "pg_catalog.text[]"
	switch t.KeyType {
	case shard.KeyInt:
		typ = "pg_catalog.int8[]"
	case shard.KeyUUID:
		typ = "pg_catalog.uuid[]"
	}
	keys := "$" + strconv.Itoa(param) + "::" + typ
	if g.call {
		keys = "pg_catalog.unnest(" + keys + ")"
	}
	head := text[g.colAt:g.at]
	if override >= 0 {
		at := override - g.colAt
		head = head[:at] + "OVERRIDING SYSTEM VALUE " + head[at:]
	}
	return text[:g.colAt] + quoteIdent(t.Key) + ", " + head + keys + ", " + text[g.at:], true
}

// arrayQuoter escapes an element of an array in text format, quoted.
var arrayQuoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// keysArray is values as an array in text format, each element quoted.
func keysArray(values []string) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(arrayQuoter.Replace(v))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return []byte(b.String())
}
