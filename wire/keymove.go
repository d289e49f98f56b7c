package wire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// Running a key move (router/keymove.go): an UPDATE whose rows, all on one
// shard, get a key another shard owns. runMulti holds both shards'
// connections inside one transaction (its own, committed with two-phase
// commit, or the client's); the steps run one after the other:
//
//  1. the table's columns, read on the rows' shard, and its foreign keys:
//     one whose ON UPDATE or ON DELETE action changes other rows
//     (CASCADE, SET NULL, SET DEFAULT) would act on that shard's rows
//     only, so the move is refused;
//  2. the client's UPDATE there with the key left as it is, returning
//     each updated row whole and the new key, built-in types in binary
//     (exact, whatever the session's extra_float_digits) and the rest as
//     text (a type created by DDL has its own OID on each shard);
//  3. DELETE of those row versions there;
//  4. INSERT of the rows with the new key on the new key's shard, in
//     statements of at most 65,535 parameters, returning what the
//     client's RETURNING asked for.
//
// The client gets what one server's UPDATE returns: the RETURNING rows in
// its result formats and UPDATE n.

// maxMoveParams is the most parameters one INSERT of a move takes (the
// protocol counts them in 16 bits).
const maxMoveParams = 65535

// keyOIDs are the types a move's UPDATE returns the new key as
// (router.MoveForm.Update).
var keyOIDs = map[shard.KeyType]uint32{shard.KeyInt: 20, shard.KeyText: 25, shard.KeyUUID: 2950}

// movedFirst is the position of a moved row's first column in what the
// move's UPDATE returns: tableoid, ctid and the new key come first.
const movedFirst = 3

// firstUserOID is PostgreSQL's FirstNormalObjectId: types below it are
// built in, with the same OID on every server.
const firstUserOID = 16384

// moveColumn is a column of the moved table.
type moveColumn struct {
	name      string
	oid       uint32
	generated bool // GENERATED ALWAYS AS (...) STORED: the INSERT recomputes it
}

// moveColumnsQuery lists the columns of the table named by $1, in order,
// each with the constraints whose referential actions forbid a move, the
// table's OID and whether it is partitioned.
const moveColumnsQuery = `SELECT a.attname, a.atttypid::pg_catalog.int8, a.attgenerated <> '',
  (SELECT pg_catalog.string_agg(c.conrelid::pg_catalog.regclass || ' (' || c.conname || ')', ', ')
   FROM pg_catalog.pg_constraint c WHERE c.confrelid = r.oid AND c.contype = 'f'
     AND (c.confupdtype NOT IN ('a', 'r') OR c.confdeltype NOT IN ('a', 'r'))),
  r.oid::pg_catalog.oid::pg_catalog.int8,
  (SELECT t.relkind = 'p' FROM pg_catalog.pg_class t WHERE t.oid = r.oid)
FROM (SELECT $1::pg_catalog.regclass AS oid) r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// runKeyMove runs j's key move on conns, the connections of its shards in
// shard order, and returns each shard's part of the answer: an error on
// every shard when any step failed, so that the client hears the
// statement failed as a whole. Rows already on the new key's shard are
// updated there first, as the client sent the UPDATE, so that rows moved
// in are not updated twice.
func (s *session) runKeyMove(conns []multiConn, j *multiJob) []*shardResult {
	mv := j.route.KeyMove
	results := make([]*shardResult, len(conns))
	m := &keyMover{s: s, mv: mv, j: j}
	for i, c := range conns {
		results[i] = &shardResult{id: c.id, tag: "UPDATE 0"}
		if c.id == mv.To {
			m.to, m.dst, m.toIndex = c, results[i], i
		}
	}
	fail := func(pe *pgError) []*shardResult {
		for _, r := range results {
			r.err = pe
		}
		return results
	}
	if mv.Stay {
		if pe := m.inPlace(); pe != nil {
			return fail(pe)
		}
	}
	for i, c := range conns {
		if c.id == mv.To {
			continue
		}
		if pe := m.moveFrom(c, results[i]); pe != nil {
			return fail(pe)
		}
	}
	if m.dst.cols == nil && mv.Returning != "" {
		if pe := m.describe(); pe != nil {
			return fail(pe)
		}
	}
	m.dst.tag = "UPDATE " + strconv.Itoa(m.updated)
	if m.moved > 0 {
		s.dbm.KeyMoved(m.moved)
	}
	return results
}

// keyMover runs the steps of one key move.
type keyMover struct {
	s       *session
	mv      *router.KeyMove
	j       *multiJob
	to      multiConn    // the new key's shard
	dst     *shardResult // its answer, which gathers every row returned
	toIndex int          // its position in the job's shards
	updated int          // rows updated in place or moved
	moved   int          // rows moved
}

// step runs one statement on c and reads its answer; res notes how c's
// transaction stands after it.
func (m *keyMover) step(c multiConn, res *shardResult, sql string, b *pgproto3.Bind, oids []uint32) *shardResult {
	out := &shardResult{id: c.id}
	job := &multiJob{route: &router.Route{}, sql: []string{sql}, bind: b, oids: oids}
	m.send(c, job, 0, out)
	res.txEnd = out.txEnd
	return out
}

// send sends statement i of job to c and reads its answer into out.
func (m *keyMover) send(c multiConn, job *multiJob, i int, out *shardResult) {
	s := m.s
	if err := s.sendMulti(c, job, i); err != nil {
		c.sc.broken = true
		out.err = s.lostShard(c, err)
		return
	}
	if err := s.readMulti(c, out, job.bind != nil && s.midBatch(c)); err != nil {
		c.sc.broken = true
		if out.err == nil || out.err == errStageOverBudget {
			out.err = s.lostShard(c, err)
		}
	}
}

// inPlace runs the client's UPDATE, as sent, on the new key's shard,
// whose rows it matches keep their shard.
func (m *keyMover) inPlace() *pgError {
	out := &shardResult{id: m.to.id}
	m.send(m.to, m.j, m.toIndex, out)
	m.dst.txEnd = out.txEnd
	if out.err != nil {
		return out.err
	}
	m.gather(out, "UPDATE ")
	return nil
}

// gather adds out's rows and count (its tag after prefix) to the answer.
func (m *keyMover) gather(out *shardResult, prefix string) {
	if m.dst.cols == nil {
		m.dst.cols = out.cols
	}
	m.dst.rows = append(m.dst.rows, out.rows...)
	if n, err := strconv.Atoi(strings.TrimPrefix(out.tag, prefix)); err == nil {
		m.updated += n
	}
}

// moveFrom moves the rows the UPDATE matches on c, another shard than the
// new key's: res notes how c's transaction stands.
func (m *keyMover) moveFrom(c multiConn, res *shardResult) *pgError {
	s, mv, j := m.s, m.mv, m.j
	from, to := s.db.cfg.Shards[c.id].Name, s.db.cfg.Shards[mv.To].Name

	// 1. Columns and foreign keys.
	r := m.step(c, res, moveColumnsQuery, &pgproto3.Bind{Parameters: [][]byte{[]byte(mv.Relation)}}, nil)
	if r.err != nil {
		return r.err
	}
	cols, pe := moveColumns(mv, r.rows)
	if pe != nil {
		return pe
	}
	table, partitioned := string(r.rows[0][4]), string(r.rows[0][5]) == "t"

	// 2. The UPDATE, returning tableoid, ctid, the new key and the rows.
	formats := make([]int16, movedFirst+len(cols))
	formats[2] = 1
	for i, c := range cols {
		if c.oid < firstUserOID {
			formats[movedFirst+i] = 1
		}
	}
	update := &pgproto3.Bind{ResultFormatCodes: formats}
	var oids []uint32
	if j.bind != nil {
		update.Parameters, update.ParameterFormatCodes, oids = j.bind.Parameters, j.bind.ParameterFormatCodes, j.oids
	}
	s.rowBudget = maxMove
	r = m.step(c, res, mv.Update, update, oids)
	over := s.rowBudget < 0
	s.rowBudget = 0
	if over {
		return &pgError{Code: codeProgramLimitExceeded,
			Message: fmt.Sprintf("pgshard: the rows the UPDATE moves from shard %s to shard %s pass %d MiB; nothing was moved", from, to, maxMove>>20),
			Hint:    "Move fewer rows per statement (a narrower WHERE)."}
	}
	if r.err != nil {
		return r.err
	}
	rows := r.rows
	for _, row := range rows {
		if len(row) != movedFirst+len(cols) {
			return errorf(codeInternalError, fmt.Sprintf("pgshard: the UPDATE returned %d columns where the table has %d", len(row)-movedFirst, len(cols)))
		}
		if !partitioned && string(row[0]) != table {
			// An INSERT into the parent would not put it back in its
			// child table; a partitioned table routes it.
			return &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: cannot move rows of %s to shard %s: some are in an inheritance child of it", mv.Relation, to),
				Hint:    "Delete the rows and insert them with the new key yourself, in one transaction."}
		}
	}
	if len(rows) == 0 {
		return nil
	}

	// 3. DELETE of exactly those row versions.
	tids, ids := make([]string, len(rows)), make([]string, len(rows))
	for i, row := range rows {
		tids[i] = string(row[1])
		ids[i] = string(row[0]) + ":" + string(row[1])
	}
	del := fmt.Sprintf(`DELETE FROM %s WHERE ctid = ANY($1::pg_catalog.tid[]) AND (tableoid::pg_catalog.text || ':' || ctid::pg_catalog.text) = ANY($2::pg_catalog.text[])`, mv.Relation)
	r = m.step(c, res, del, &pgproto3.Bind{Parameters: [][]byte{textArray(tids), textArray(ids)}}, nil)
	if r.err != nil {
		return r.err
	}
	if r.tag != "DELETE "+strconv.Itoa(len(rows)) {
		return &pgError{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: moving the updated rows of %s to shard %s: deleting %d rows on shard %s gave %q (a trigger or a row security policy?); nothing was moved",
				mv.Relation, to, len(rows), from, r.tag),
			Hint: "Delete the rows and insert them with the new key yourself, in one transaction."}
	}

	// 4. INSERT on the new key's shard.
	for start := 0; start < len(rows); {
		sql, b, oids, n := moveInsert(mv, cols, rows[start:], j)
		r = m.step(m.to, m.dst, sql, b, oids)
		if r.err != nil {
			return r.err
		}
		m.gather(r, "INSERT 0 ")
		start += n
	}
	m.moved += len(rows)
	return nil
}

// describe gives an UPDATE that matched no row the RETURNING list's
// columns, read from the new key's shard, where the rows would have gone.
func (m *keyMover) describe() *pgError {
	b := &pgproto3.Bind{}
	if m.j.bind != nil {
		b.ResultFormatCodes = m.j.bind.ResultFormatCodes
	}
	r := m.step(m.to, m.dst, "SELECT "+m.mv.Returning+" FROM "+m.mv.Relation+moveAlias(m.mv)+" WHERE false", b, nil)
	if r.err != nil {
		return r.err
	}
	m.dst.cols = r.cols
	return nil
}

// moveColumns reads moveColumnsQuery's rows, refusing a table whose
// foreign keys would act on other rows.
func moveColumns(mv *router.KeyMove, rows []merge.Row) ([]moveColumn, *pgError) {
	cols := make([]moveColumn, 0, len(rows))
	for _, row := range rows {
		if len(row) != 6 {
			return nil, errorf(codeInternalError, fmt.Sprintf("pgshard: reading the columns of %s: %d fields in a row", mv.Relation, len(row)))
		}
		if row[3] != nil {
			return nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: UPDATE gives rows of %s a shard key that another shard owns, and moving them there would run the ON UPDATE or ON DELETE action of foreign key %s on one shard only", mv.Relation, row[3]),
				Hint:    "Move the rows and the rows referencing them yourself (delete and insert with the new key, in one transaction), or make those foreign keys NO ACTION or RESTRICT."}
		}
		oid, err := strconv.ParseUint(string(row[1]), 10, 32)
		if err != nil {
			return nil, errorf(codeInternalError, fmt.Sprintf("pgshard: reading the columns of %s: type %q", mv.Relation, row[1]))
		}
		cols = append(cols, moveColumn{name: string(row[0]), oid: uint32(oid), generated: string(row[2]) == "t"})
	}
	if !slices.ContainsFunc(cols, func(c moveColumn) bool { return c.name == mv.Table.Key && !c.generated }) {
		return nil, &pgError{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: cannot move rows of %s to their new key's shard: it has no column %q to write the key into", mv.Relation, mv.Table.Key),
			Hint:    "Check the table's key column in sharding.tables."}
	}
	return cols, nil
}

// moveInsert makes the INSERT of the first rows of rows (as the move's
// UPDATE returned them: tableoid, ctid, the new key, then every column)
// that fit in one statement, with the new key in the key column, and says
// how many it takes.
func moveInsert(mv *router.KeyMove, cols []moveColumn, rows []merge.Row, j *multiJob) (string, *pgproto3.Bind, []uint32, int) {
	var names []string
	var take []int // the columns inserted, by position in cols
	for i, c := range cols {
		if !c.generated {
			names = append(names, quoteIdent(c.name))
			take = append(take, i)
		}
	}
	n := min(len(rows), maxMoveParams/len(take))
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s%s (%s) OVERRIDING SYSTEM VALUE VALUES ", mv.Relation, moveAlias(mv), strings.Join(names, ", "))
	bind := &pgproto3.Bind{Parameters: make([][]byte, 0, n*len(take)), ParameterFormatCodes: make([]int16, 0, n*len(take))}
	oids := make([]uint32, 0, n*len(take))
	for r, row := range rows[:n] {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for k, i := range take {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", len(bind.Parameters)+1)
			if cols[i].name == mv.Table.Key {
				bind.Parameters = append(bind.Parameters, row[2])
				bind.ParameterFormatCodes = append(bind.ParameterFormatCodes, 1)
				oids = append(oids, keyOIDs[mv.Table.KeyType])
				continue
			}
			bind.Parameters = append(bind.Parameters, row[movedFirst+i])
			if cols[i].oid < firstUserOID {
				bind.ParameterFormatCodes = append(bind.ParameterFormatCodes, 1)
				oids = append(oids, cols[i].oid)
			} else {
				// Text of an unknown type, which takes the column's.
				bind.ParameterFormatCodes = append(bind.ParameterFormatCodes, 0)
				oids = append(oids, 0)
			}
		}
		b.WriteByte(')')
	}
	if mv.Returning != "" {
		b.WriteString(" RETURNING " + mv.Returning)
		if j.bind != nil {
			bind.ResultFormatCodes = j.bind.ResultFormatCodes
		}
	}
	return b.String(), bind, oids, n
}

// moveAlias is " AS alias" when the UPDATE named its table by an alias,
// which its RETURNING list may use.
func moveAlias(mv *router.KeyMove) string {
	if mv.Alias == "" {
		return ""
	}
	return " AS " + quoteIdent(mv.Alias)
}

// textArray is values as a text array literal, each element quoted.
func textArray(values []string) []byte {
	b := []byte{'{'}
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for _, c := range []byte(v) {
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		b = append(b, '"')
	}
	return append(b, '}')
}
