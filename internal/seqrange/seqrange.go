package seqrange

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Table is a sharded table as the configuration names it.
type Table struct {
	Schema string // "" when unqualified: any schema but the system ones
	Name   string
}

// sep separates the fields of a ColumnsQuery row (one text column, so
// callers that read only a row's first column can use it).
const sep = "\x1f"

// ColumnsQuery lists, one text row each, the columns of tables that are
// identity columns or default to nextval(), with the sequence they draw
// from and its type, bounds and last value (Parse reads a row).
func ColumnsQuery(tables []Table) string {
	vals := make([]string, 0, len(tables))
	for _, t := range tables {
		schema := "NULL"
		if t.Schema != "" {
			schema = literal(t.Schema)
		}
		vals = append(vals, fmt.Sprintf("(%s, %s)", schema, literal(t.Name)))
	}
	return `WITH k(nsp, rel) AS (VALUES ` + strings.Join(vals, ", ") + `),
cols AS (
  SELECT DISTINCT n.nspname, c.relname, a.attname,
    COALESCE(pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), a.attname)::pg_catalog.regclass,
      (SELECT dep.refobjid::pg_catalog.regclass FROM pg_catalog.pg_depend dep
       JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
       WHERE dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dep.objid = d.oid
       ORDER BY dep.refobjid LIMIT 1)) AS seq
  FROM k JOIN pg_catalog.pg_class c ON c.relname = k.rel AND c.relkind IN ('r', 'p')
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND (k.nsp IS NULL OR n.nspname = k.nsp)
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  WHERE a.attidentity <> '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) ~ '^nextval\('
)
SELECT pg_catalog.concat_ws(E'\x1f', cols.nspname || '.' || cols.relname || '.' || cols.attname,
  COALESCE(cols.seq::pg_catalog.text, ''), COALESCE(t.typname::pg_catalog.text, ''),
  COALESCE(s.seqmin::pg_catalog.text, ''), COALESCE(s.seqmax::pg_catalog.text, ''),
  COALESCE(ps.last_value::pg_catalog.text, ''))
FROM cols
LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = cols.seq
LEFT JOIN pg_catalog.pg_type t ON t.oid = s.seqtypid
LEFT JOIN pg_catalog.pg_class sc ON sc.oid = cols.seq
LEFT JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
LEFT JOIN pg_catalog.pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = sc.relname
ORDER BY 1`
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Column is a row of ColumnsQuery: a column and the sequence it draws from
// on one shard.
type Column struct {
	Column   string // schema.table.column
	Sequence string // as regclass prints it; "" when pgshard could not tell
	Type     string // int2, int4, int8
	Min, Max int64
	Last     int64 // the last value given out; 0 when none yet
	Used     bool  // whether Last is set
}

// Parse reads a ColumnsQuery row.
func Parse(row string) (Column, error) {
	f := strings.Split(row, sep)
	if len(f) != 6 {
		return Column{}, fmt.Errorf("seqrange: %d fields in %q, want 6", len(f), row)
	}
	c := Column{Column: f[0], Sequence: f[1], Type: f[2]}
	if c.Sequence == "" {
		return c, nil
	}
	var err error
	if c.Min, err = strconv.ParseInt(f[3], 10, 64); err != nil {
		return c, fmt.Errorf("seqrange: minimum of %s: %w", c.Sequence, err)
	}
	if c.Max, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return c, fmt.Errorf("seqrange: maximum of %s: %w", c.Sequence, err)
	}
	if f[5] != "" {
		if c.Last, err = strconv.ParseInt(f[5], 10, 64); err != nil {
			return c, fmt.Errorf("seqrange: last value of %s: %w", c.Sequence, err)
		}
		c.Used = true
	}
	return c, nil
}

// Block is the values shard i's sequences of type typ (int2, int4, int8)
// may give: [lo, hi]. ok is false where the type has no room for a block
// per shard (smallint, or more shards than blocks).
func Block(typ string, i int) (lo, hi int64, ok bool) {
	var bits uint
	switch typ {
	case "int8":
		bits = 48 // 32,767 shards of 2^48 values
	case "int4":
		bits = 24 // 127 shards of 16,777,216 values
	default:
		return 0, 0, false
	}
	size := int64(1) << bits
	limit := int64(math.MaxInt64)
	if typ == "int4" {
		limit = math.MaxInt32
	}
	if i < 0 || int64(i) >= limit/size {
		return 0, 0, false
	}
	return int64(i)*size + 1, (int64(i) + 1) * size, true
}

// Apart reports whether the sequences of one column, one per shard, give
// values no other shard's can: their [Min, Max] ranges do not overlap.
func Apart(perShard []Column) bool {
	for i, a := range perShard {
		if a.Sequence == "" {
			return false
		}
		for _, b := range perShard[i+1:] {
			if b.Sequence == "" || a.Min <= b.Max && b.Min <= a.Max {
				return false
			}
		}
	}
	return true
}

// Confine is the ALTER SEQUENCE that keeps c's sequence on shard i within
// its block, and what it does in words; "" when the sequence is confined
// already or cannot be (no block for its type, or values already given
// past the block's end, which a restart cannot undo).
func Confine(c Column, i int) (stmt, why string, err error) {
	if c.Sequence == "" {
		return "", "", fmt.Errorf("%s: the sequence it draws from is not known", c.Column)
	}
	lo, hi, ok := Block(c.Type, i)
	if !ok {
		return "", "", fmt.Errorf("%s: a %s sequence has no block of values for shard %d; use bigint", c.Column, c.Type, i)
	}
	if c.Min == lo && c.Max == hi {
		return "", "", nil
	}
	if c.Used && c.Last >= hi {
		return "", "", fmt.Errorf("%s: %s has given %d already, past shard %d's block [%d, %d]", c.Column, c.Sequence, c.Last, i, lo, hi)
	}
	next := lo
	if c.Used && c.Last >= lo {
		next = c.Last + 1
	}
	stmt = fmt.Sprintf("ALTER SEQUENCE %s MINVALUE %d MAXVALUE %d START WITH %d RESTART WITH %d", c.Sequence, lo, hi, lo, next)
	return stmt, fmt.Sprintf("%s on shard %d: values %d to %d, next %d", c.Sequence, i, lo, hi, next), nil
}
