package router

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// splitInsert routes a multi-row INSERT: each shard is sent only its own
// rows, as a statement of its own built from the client's text.
func (p *Plan) splitInsert(ins *insertSplit, rt *Route, m *shard.Map, v values) *Route {
	owner := make([]shard.ShardID, len(ins.Rows))
	var order []shard.ShardID
	seen := map[shard.ShardID]bool{}
	for i, s := range ins.Rows {
		pt, err := v.point(s, ins.Table.KeyType)
		if errors.Is(err, shard.ErrNullKey) {
			what := "INSERT into"
			if ins.merge {
				what = "the VALUES source of MERGE into"
			}
			return refuseRoute(rt, &Error{Code: codeNullKey,
				Message: fmt.Sprintf("pgshard: null value in shard key column %s of row %d of %s %s", ins.Table.Key, i+1, what, ins.Table),
				Hint:    "Every row of a sharded table needs a shard key."})
		}
		if err != nil {
			return refuseRoute(rt, keyError(ins.Table, err))
		}
		owner[i] = m.Lookup(pt)
		if !seen[owner[i]] {
			seen[owner[i]] = true
			order = append(order, owner[i])
		}
	}
	if len(order) == 1 {
		rt.Shards = order
		return rt
	}
	rows, ok := sqltext.ValuesRows(v.text)
	if ins.merge {
		rows, ok = sqltext.FirstValuesRows(v.text)
	}
	if !ok || len(rows) != len(ins.Rows) {
		return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
			Message: "pgshard: could not split this multi-row INSERT by shard",
			Hint:    "Send one row per statement, or rows of one shard key per statement."})
	}
	head, tail := v.text[:rows[0][0]], v.text[rows[len(rows)-1][1]:]
	for _, id := range order {
		var b strings.Builder
		b.WriteString(head)
		first := true
		for i, r := range rows {
			if owner[i] != id {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(v.text[r[0]:r[1]])
		}
		b.WriteString(tail)
		sql, params := v.renumbered(b.String())
		var positions []int
		for i := range rows {
			if owner[i] == id {
				positions = append(positions, i)
			}
		}
		rt.sendTo(id, sql, params, positions)
	}
	return rt
}

// sendTo adds shard id to rt with its own statement text, its
// parameters (the client's, by index) and the rows it takes.
func (rt *Route) sendTo(id shard.ShardID, sql string, params, rows []int) {
	rt.Shards = append(rt.Shards, id)
	rt.SQL = append(rt.SQL, sql)
	rt.Params = append(rt.Params, params)
	rt.Rows = append(rt.Rows, rows)
}

// renumbered is sql, one shard's part of a split statement, with its $n
// numbered from 1 when the statement came with Bind parameters, and which
// of the client's parameters (0-based) it takes, in order.
func (v *values) renumbered(sql string) (string, []int) {
	if v.params == nil {
		return sql, nil
	}
	sql, old := sqltext.Renumber(sql)
	params := make([]int, len(old))
	for k, n := range old {
		params[k] = n - 1
	}
	return sql, params
}
