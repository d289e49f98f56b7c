package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// INSERTs that leave the shard key to its default. A table keyed by a
// serial or identity column (users.user_id bigserial) is inserted into
// without the key — INSERT INTO users (name) VALUES ($1) RETURNING
// user_id, or with DEFAULT in its place, as Sequelize writes — and the
// server fills it in. Which shard the row belongs to depends on that
// value, so pgshard takes it first: the route asks for keys
// (Route.NeedKeys), the wire layer evaluates the column's default on the
// default shard (one sequence for every shard, so the keys are unique, as
// Citus's coordinator and Vitess's sequence tables give them), and the
// route is made again with them written into the statement, each row
// sent to its key's shard.

// genKeys is where an INSERT ... VALUES leaves its key to the default.
type genKeys struct {
	// missing: the column list leaves the key out; colAt is where it goes
	// in the list (before the first column).
	missing bool
	colAt   int
	// defaults are the text positions of each DEFAULT given as a key,
	// when the list names the key.
	defaults []int
	// defaultValues: INSERT ... DEFAULT VALUES, one row whose every
	// column takes its default; colAt is then where the table's name
	// is, after which the clause is looked for.
	defaultValues bool
}

// KeyRequest asks the wire layer for keys an INSERT leaves to its key
// column's default (Route.NeedKeys).
type KeyRequest struct {
	Table TableRef
	Rows  int // how many keys
}

// GeneratedKeys are the keys the default shard gave for a KeyRequest, in
// text, and whether the key column is GENERATED ALWAYS AS IDENTITY (the
// INSERT then needs OVERRIDING SYSTEM VALUE to give them).
type GeneratedKeys struct {
	Values []string
	Always bool
	// Type is the key column's type OID, for writing the keys in binary
	// (a binary COPY's rows).
	Type uint32
}

// generatedRows reads the VALUES rows of ins, whose key is left to its
// default (missing from the column list when keyCol < 0, else DEFAULT in
// some rows), as row sources: a generated key is Source.gen, numbered
// from 1 in row order. ok false when a row gives its key otherwise than
// pgshard can route (refused as before).
func (a *analyzer) generatedRows(ins *pg.InsertStmt, t *Table, sel *pg.SelectStmt, keyCol int) ([]Source, *genKeys, *Error) {
	g := &genKeys{missing: keyCol < 0}
	if g.missing {
		g.colAt = int(ins.Cols[0].GetResTarget().Location)
	}
	rows := make([]Source, 0, len(sel.ValuesLists))
	for n, row := range sel.ValuesLists {
		items := row.GetList().GetItems()
		switch {
		case g.missing:
			rows = append(rows, Source{Lit: -1, gen: len(rows) + 1, assign: true})
			continue
		case keyCol >= len(items):
			return nil, nil, &Error{Code: codeSyntax, Message: "INSERT has more target columns than expressions"}
		case items[keyCol].GetSetToDefault() != nil:
			g.defaults = append(g.defaults, int(items[keyCol].GetSetToDefault().Location))
			rows = append(rows, Source{Lit: -1, gen: len(g.defaults), assign: true})
			continue
		case items[keyCol].GetAConst() != nil && items[keyCol].GetAConst().Isnull:
			return nil, nil, &Error{Code: codeNullKey, Message: nullKeyMessage(t, n), Hint: "Every row of a sharded table needs a shard key."}
		}
		src, ok := a.keySource(items[keyCol], t.KeyType, domKey)
		if !ok {
			return nil, nil, &Error{Code: codeFeatureNotSupported, Message: keyExpressionMessage(t, n), Hint: "Compute the key in the application and pass it as a value."}
		}
		src.assign = true
		rows = append(rows, src)
	}
	a.exact = true // the text positions hold for this text only
	return rows, g, nil
}

// defaultValuesPlan plans INSERT ... DEFAULT VALUES (Rails's create
// with no attributes, SQLAlchemy's insert of no columns): a row whose key,
// like every other column, comes from its default, which pgshard takes
// first; the row is then sent as INSERT ... (key) VALUES (its key).
func (a *analyzer) defaultValuesPlan(p *Plan, ins *pg.InsertStmt, t *Table) *Plan {
	rows := []Source{{Lit: -1, gen: 1, assign: true}}
	if _, refused := a.rowReads(ins, t, rows); refused != nil {
		return refused
	}
	a.exact = true // the clause is found in this text
	p.Kind = KindShard
	p.Insert = &insertSplit{Table: t, Rows: rows,
		Gen:      &genKeys{defaultValues: true, colAt: int(ins.Relation.Location)},
		Relation: TableRef{Table: t, Schema: ins.Relation.Schemaname, Name: ins.Relation.Relname}}
	p.Exact = true
	return p
}

// keys is how many keys g needs for rows rows.
func (g *genKeys) keys(rows int) int {
	if g.missing || g.defaultValues {
		return rows
	}
	return len(g.defaults)
}

// generated is the value of generated key n (from 1).
func (v *values) generated(n int) (string, error) {
	if v.gen == nil || n > len(v.gen.Values) {
		return "", fmt.Errorf("no generated key %d", n)
	}
	return v.gen.Values[n-1], nil
}

// needKeys is the refusal a route with generated keys gets until the keys
// are given: the wire layer reads them and routes again.
func needKeys(rt *Route, table TableRef, rows int) *Route {
	t := table.Table
	rt.NeedKeys = &KeyRequest{Table: table, Rows: rows}
	return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: INSERT into sharded table %s leaves its shard key %s to the column's default, which pgshard evaluates first only for an INSERT sent as a query of its own, not among other statements in one query string", t, t.Key),
		Hint:    fmt.Sprintf("Send the INSERT on its own, or include %s in the column list.", t.Key)})
}

// rewrite writes the generated keys into the statement's head (the
// text before the first row: the key column, and OVERRIDING SYSTEM VALUE
// for an identity column GENERATED ALWAYS) and rows (each key in its row),
// given the rows' spans in v.text.
func (g *genKeys) rewrite(v *values, key string, rows [][2]int) (head string, texts []string, err error) {
	text := v.text
	head = text[:rows[0][0]]
	if g.missing {
		if g.colAt <= 0 || g.colAt >= len(head) {
			return "", nil, fmt.Errorf("the column list is not where it was planned")
		}
		head = head[:g.colAt] + quoteIdent(key) + ", " + head[g.colAt:]
	}
	if v.gen.Always {
		i := strings.LastIndex(strings.ToLower(head), "values")
		if i < 0 {
			return "", nil, fmt.Errorf("no VALUES keyword before the rows")
		}
		head = head[:i] + "OVERRIDING SYSTEM VALUE " + head[i:]
	}
	texts = make([]string, len(rows))
	next := 1
	for i, r := range rows {
		row := text[r[0]:r[1]]
		if g.missing {
			val, err := v.generated(i + 1)
			if err != nil {
				return "", nil, err
			}
			texts[i] = "(" + quoteLiteral(val) + ", " + row[1:]
			continue
		}
		var b strings.Builder
		from := r[0]
		for next <= len(g.defaults) && g.defaults[next-1] < r[1] {
			at := g.defaults[next-1]
			if at < from || !strings.EqualFold(text[at:min(at+7, len(text))], "DEFAULT") {
				return "", nil, fmt.Errorf("DEFAULT is not where it was planned")
			}
			val, err := v.generated(next)
			if err != nil {
				return "", nil, err
			}
			b.WriteString(text[from:at])
			b.WriteString(quoteLiteral(val))
			from = at + 7
			next++
		}
		b.WriteString(text[from:r[1]])
		texts[i] = b.String()
	}
	return head, texts, nil
}

// rewriteDefaultValues is INSERT ... DEFAULT VALUES written as INSERT ...
// (key) VALUES (its generated key): the other columns still take their
// defaults.
func (g *genKeys) rewriteDefaultValues(v *values, key string) (string, error) {
	val, err := v.generated(1)
	if err != nil {
		return "", err
	}
	scan, err := pg.Scan(v.text)
	if err != nil {
		return "", err
	}
	toks := scan.Tokens
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].Token != pg.Token_DEFAULT || toks[i+1].Token != pg.Token_VALUES || int(toks[i].Start) < g.colAt {
			continue
		}
		over := ""
		if v.gen.Always {
			over = "OVERRIDING SYSTEM VALUE "
		}
		return v.text[:toks[i].Start] + "(" + quoteIdent(key) + ") " + over + "VALUES (" + quoteLiteral(val) + ")" + v.text[toks[i+1].End:], nil
	}
	return "", fmt.Errorf("DEFAULT VALUES is not where it was planned")
}

// splitGenerated routes an INSERT whose keys were generated: every row's
// shard from its key, and for each shard the statement with the keys
// written in and only its rows, even when there is one shard (the client's
// text lacks the keys).
func (p *Plan) splitGenerated(ins *insertSplit, rt *Route, m *shard.Map, v values) *Route {
	if v.gen == nil || len(v.gen.Values) != ins.Gen.keys(len(ins.Rows)) {
		return needKeys(rt, ins.Relation, ins.Gen.keys(len(ins.Rows)))
	}
	owner := make([]shard.ShardID, len(ins.Rows))
	var order []shard.ShardID
	for i, s := range ins.Rows {
		pt, err := v.point(s, ins.Table.KeyType)
		if err != nil {
			return refuseRoute(rt, keyError(ins.Table, err))
		}
		owner[i] = m.Lookup(pt)
		if !containsShard(order, owner[i]) {
			order = append(order, owner[i])
		}
	}
	if ins.Gen.defaultValues {
		sql, err := ins.Gen.rewriteDefaultValues(&v, ins.Table.Key)
		if err != nil {
			return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: could not write the generated key of %s into this INSERT ... DEFAULT VALUES: %v", ins.Table, err),
				Hint:    fmt.Sprintf("Write INSERT INTO %s (%s) VALUES (DEFAULT).", ins.Table, ins.Table.Key)})
		}
		sql, params := v.renumbered(sql)
		rt.sendTo(owner[0], sql, params, []int{0})
		return rt
	}
	rows, ok := sqltext.ValuesRows(v.text)
	var head string
	var texts []string
	var err error
	if ok && len(rows) == len(ins.Rows) {
		head, texts, err = ins.Gen.rewrite(&v, ins.Table.Key, rows)
	}
	if !ok || len(rows) != len(ins.Rows) || err != nil {
		return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: could not write the generated keys of %s into this INSERT", ins.Table),
			Hint:    fmt.Sprintf("Include %s in the column list: a row's key decides its shard.", ins.Table.Key)})
	}
	tail := v.text[rows[len(rows)-1][1]:]
	for _, id := range order {
		var b strings.Builder
		b.WriteString(head)
		var positions []int
		for i, t := range texts {
			if owner[i] != id {
				continue
			}
			if len(positions) > 0 {
				b.WriteString(", ")
			}
			positions = append(positions, i)
			b.WriteString(t)
		}
		b.WriteString(tail)
		sql, params := v.renumbered(b.String())
		rt.sendTo(id, sql, params, positions)
	}
	if len(order) > 1 {
		rt.Kind = KindAll
	}
	return rt
}

// quoteLiteral is s as an SQL string constant.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent is name as an SQL identifier, quoted when it must be.
func quoteIdent(name string) string {
	plain := name != ""
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			plain = false
		}
	}
	if plain {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// withSequenceKey is sel wrapped so each row leads with a key from the
// sequence behind rel's key column (serial or identity): SELECT
// nextval(...), s.* FROM (sel) s, the rows in sel's order. A column with no
// such sequence fails the SELECT naming it, rather than giving NULL keys.
func withSequenceKey(sel *pg.SelectStmt, rel *pg.RangeVar, key string) (*pg.SelectStmt, bool) {
	name := quoteIdent(rel.Relname)
	if rel.Schemaname != "" {
		name = quoteIdent(rel.Schemaname) + "." + name
	}
	missing := fmt.Sprintf("pgshard: no sequence behind %s.%s", name, key)
	tree, err := pg.Parse(fmt.Sprintf("SELECT pg_catalog.nextval(COALESCE(pg_catalog.pg_get_serial_sequence(%s, %s), %s)), s.* FROM (SELECT 1) s",
		quoteLiteral(name), quoteLiteral(key), quoteLiteral(missing)))
	if err != nil || len(tree.Stmts) != 1 {
		return nil, false
	}
	outer := tree.Stmts[0].Stmt.GetSelectStmt()
	sub := outer.FromClause[0].GetRangeSubselect()
	if sub == nil {
		return nil, false
	}
	sub.Subquery = &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}
	return outer, true
}
