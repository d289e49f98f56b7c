package wire

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router/merge"
)

// textOrder is what a shard's catalog says of how its text orders, which
// pgshard's merges of ORDER BY, min and max need: they compare text by its
// bytes, PostgreSQL's order under the C collation only. Two facts: whether
// the database's default collation orders that way (learnt once, on the
// first server connection opened to the shard: it cannot change), and
// which columns have a collation of their own that does not (learnt then
// too, and again by refreshTextOrder: DDL changes them).
type textOrder struct {
	def  atomic.Int32
	cols atomic.Pointer[collatedColumns]
}

const (
	textOrderUnknown int32 = iota
	textOrderBytewise
	textOrderCollated
)

// collatedColumns are the columns of a shard's tables, views and types
// whose collation orders text otherwise than by its bytes.
type collatedColumns struct {
	// set holds each such column, true where its collation is
	// nondeterministic: it may hold text of different bytes equal.
	set map[columnRef]bool
	// overflow: more than maxCollatedColumns; every column counts.
	overflow bool
	// nondeterministic: the shard has a nondeterministic collation, which
	// a query may also name or an expression inherit.
	nondeterministic bool
}

// columnRef is a column as a RowDescription names it.
type columnRef struct {
	rel uint32
	att uint16
}

// maxCollatedColumns bounds what pgshard keeps of a shard's catalog.
const maxCollatedColumns = 10000

// collationOf says how the text of a result column with field f orders on
// a shard with these columns: a column of a table or view (the
// RowDescription names it) by its own collation; anything else (an
// expression, an aggregate) by a collation pgshard cannot tell once the
// shard has any column collated otherwise than its default.
func (c *collatedColumns) collationOf(f *pgproto3.FieldDescription) merge.Collation {
	switch {
	case c == nil || !c.overflow && len(c.set) == 0:
		return merge.CollateDefault
	case f.TableOID == 0:
		return merge.CollateUnknown
	case c.overflow:
		return merge.CollateNamed
	}
	if _, ok := c.set[columnRef{f.TableOID, f.TableAttributeNumber}]; ok {
		return merge.CollateNamed
	}
	return merge.CollateDefault
}

// mayHoldUnequalBytesEqual says whether the text of a result column with
// field f may be compared by a nondeterministic collation: a column that
// has one, or anything pgshard cannot trace to a column (an expression, a
// COLLATE the query names) once the shard has one at all.
func (c *collatedColumns) mayHoldUnequalBytesEqual(f *pgproto3.FieldDescription) bool {
	switch {
	case c == nil || !c.nondeterministic:
		return false
	case f.TableOID == 0 || c.overflow:
		return true
	}
	return c.set[columnRef{f.TableOID, f.TableAttributeNumber}]
}

// textOrderProbe sorts strings that every linguistic collation (libc's
// en_US, ICU's) orders differently from their bytes — case, punctuation,
// accents — once by the database's default collation and once by "C". It
// asks how text sorts rather than which collation is set, so it holds for
// either collation provider and every PostgreSQL version.
const textOrderProbe = `SELECT array_agg(x ORDER BY x) = array_agg(x ORDER BY x COLLATE "C") ` +
	`FROM unnest(ARRAY['a', 'B', 'b', 'A', '_x', '-x', 'x', '1', ' ', 'e', 'é', 'f', 'Z', 'z']) AS t(x)`

// collatedColumnsQuery lists the user columns (of tables, views, composite
// types; system ones have OIDs below 16384) whose collation is neither the
// database's default, which textOrderProbe covers, nor one ordering by
// bytes: libc's C and POSIX, ucs_basic; with each, whether its collation
// is nondeterministic. A domain's collation is its columns' attcollation
// too. A first row says whether the shard has any nondeterministic
// collation at all.
const collatedColumnsQuery = `SELECT 'nondeterministic ' || (EXISTS (SELECT FROM pg_collation WHERE NOT collisdeterministic))::text ` +
	`UNION ALL (SELECT a.attrelid::int8 || ' ' || a.attnum || ' ' || (NOT c.collisdeterministic)::text FROM pg_attribute a ` +
	`JOIN pg_collation c ON c.oid = a.attcollation ` +
	`WHERE a.attrelid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped AND a.attcollation <> 100 ` +
	`AND NOT coalesce(c.collprovider = 'c' AND c.collcollate IN ('C', 'POSIX'), false) AND c.collname <> 'ucs_basic' ` +
	`LIMIT 10001)`

// parseCollatedColumns reads collatedColumnsQuery's rows.
func parseCollatedColumns(rows []string) (*collatedColumns, error) {
	c := &collatedColumns{set: make(map[columnRef]bool, len(rows))}
	columns := 0
	for _, r := range rows {
		f := strings.Fields(r)
		switch {
		case len(f) == 2 && f[0] == "nondeterministic":
			c.nondeterministic = f[1] == "true"
			continue
		case len(f) != 3:
			return nil, errUnexpectedProbe
		}
		if columns++; columns > maxCollatedColumns {
			c.overflow = true
			continue
		}
		relID, err1 := strconv.ParseUint(f[0], 10, 32)
		attNum, err2 := strconv.ParseUint(f[1], 10, 16)
		if err1 != nil || err2 != nil {
			return nil, errUnexpectedProbe
		}
		c.set[columnRef{uint32(relID), uint16(attNum)}] = f[2] == "true"
	}
	return c, nil
}

// probeTextOrder learns both facts on a connection pgconn has just opened
// for p. A failure leaves what is unknown unknown, which merges treat as
// bytewise, and is logged: the connection itself is fine.
func probeTextOrder(ctx context.Context, pc *pgconn.PgConn, p *pool) {
	// Bounded: a connection being opened must not wait on the probe.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	results, err := pc.Exec(ctx, textOrderProbe+"; "+collatedColumnsQuery).ReadAll()
	if err == nil && (len(results) != 2 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) != 1) {
		err = errUnexpectedProbe
	}
	var cols *collatedColumns
	if err == nil {
		rows := make([]string, len(results[1].Rows))
		for i, r := range results[1].Rows {
			rows[i] = string(r[0])
		}
		cols, err = parseCollatedColumns(rows)
	}
	if err != nil {
		p.log.Warn("could not learn how the shard's database orders text; merges order it bytewise",
			"shard", p.shard, "node", p.node.Name, "err", err)
		return
	}
	p.textOrder.def.Store(defaultOrder(string(results[0].Rows[0][0])))
	p.textOrder.cols.Store(cols)
}

// defaultOrder reads textOrderProbe's answer.
func defaultOrder(answer string) int32 {
	if answer == "t" {
		return textOrderBytewise
	}
	return textOrderCollated
}

var errUnexpectedProbe = errors.New("unexpected answer to the text order probe")
