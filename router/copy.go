package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// CopyIn describes COPY ... FROM STDIN into a sharded table: enough to find
// each data row's shard key.
type CopyIn struct {
	Table   *Table
	Schema  string   // as written, for looking up the column order
	Name    string   // as written
	Columns []string // the column list; empty means every column in order
	KeyCol  int      // index of the key in Columns; -1 when Columns is empty
	CSV     bool
	Delim   byte
	Quote   byte
	Escape  byte
	Null    string
	Header  bool
	Binary  bool
	// Broadcast: a reference table, every row goes to every shard.
	Broadcast bool
	// GenKey: the column list leaves out the shard key, so each row takes
	// it from the column's default, which pgshard evaluates first, as for
	// INSERT (genkeys.go): the COPY is sent with the key column added in
	// front (WithKeyColumn) and each row with its key (KeyCol is then 0).
	GenKey bool
}

func copyInPlan(c *pg.CopyStmt, t *Table) *Plan {
	if c.Filename != "" || c.IsProgram {
		return &Plan{Kind: KindAll, Command: "COPY"}
	}
	ci := &CopyIn{Table: t, Schema: c.Relation.Schemaname, Name: c.Relation.Relname, KeyCol: -1, Delim: '\t', Null: `\N`}
	for i, a := range c.Attlist {
		col := strings.ToLower(a.GetString_().GetSval())
		ci.Columns = append(ci.Columns, col)
		if t != nil && col == t.Key {
			ci.KeyCol = i
		}
	}
	applyCopyOptions(ci, c.Options)
	if t != nil && len(ci.Columns) > 0 && ci.KeyCol < 0 {
		ci.GenKey, ci.KeyCol = true, 0
	}
	return &Plan{Kind: KindCopyIn, Command: "COPY", Tables: []string{strings.ToLower(c.Relation.Relname)}, Copy: ci}
}

func defElemString(d *pg.DefElem) string {
	if d.Arg == nil {
		return ""
	}
	if s := d.Arg.GetString_(); s != nil {
		return s.Sval
	}
	if b := d.Arg.GetBoolean(); b != nil {
		if b.Boolval {
			return "true"
		}
		return "false"
	}
	if i := d.Arg.GetInteger(); i != nil {
		return fmt.Sprint(i.Ival)
	}
	return ""
}

func firstByte(s string, def byte) byte {
	if s == "" {
		return def
	}
	return s[0]
}

// applyCopyOptions reads COPY's WITH options that shape the data stream:
// format, delimiter, quote, escape, NULL string, header.
func applyCopyOptions(ci *CopyIn, options []*pg.Node) {
	for _, o := range options {
		d := o.GetDefElem()
		val := defElemString(d)
		switch strings.ToLower(d.Defname) {
		case "format":
			switch strings.ToLower(val) {
			case "csv":
				ci.CSV = true
				ci.Delim, ci.Quote, ci.Escape, ci.Null = ',', '"', '"', ""
			case "binary":
				ci.Binary = true
			}
		case "delimiter":
			ci.Delim = firstByte(val, ci.Delim)
		case "quote":
			ci.Quote = firstByte(val, ci.Quote)
		case "escape":
			ci.Escape = firstByte(val, ci.Escape)
		case "null":
			ci.Null = val
		case "header":
			ci.Header = val == "" || strings.EqualFold(val, "true") || strings.EqualFold(val, "on") || val == "1" || strings.EqualFold(val, "match")
		}
	}
	// Options may come before FORMAT csv; apply the CSV defaults only where
	// the statement set nothing.
	if ci.CSV {
		for _, o := range options {
			d := o.GetDefElem()
			val := defElemString(d)
			switch strings.ToLower(d.Defname) {
			case "delimiter":
				ci.Delim = firstByte(val, ',')
			case "quote":
				ci.Quote = firstByte(val, '"')
			case "escape":
				ci.Escape = firstByte(val, ci.Quote)
			case "null":
				ci.Null = val
			}
		}
	}
}

// WithKeyColumn is the statement text of a COPY whose column list leaves
// out the key (CopyIn.GenKey) with the key column added first in the
// list; false when the list is not found.
func WithKeyColumn(text string, ci *CopyIn) (string, bool) {
	scan, err := pg.Scan(text)
	if err != nil {
		return "", false
	}
	for _, tok := range scan.Tokens {
		if tok.Token == pg.Token_ASCII_40 { // the first "(" opens the column list
			at := int(tok.End)
			return text[:at] + quoteIdent(ci.Table.Key) + ", " + text[at:], true
		}
	}
	return "", false
}
