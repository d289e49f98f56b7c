package router

import pg "github.com/pganalyze/pg_query_go/v6"

// SQLPrepared is a SQL-level PREPARE, EXECUTE or DEALLOCATE of one named
// statement, as the wire layer needs it to keep such statements per
// client: in transaction pooling a client's next statement may run on
// another server connection, and over several shards on another shard.
type SQLPrepared struct {
	Kind string // "PREPARE", "EXECUTE" or "DEALLOCATE"
	Name string // folded as PostgreSQL folds identifiers
	// Query is PREPARE's statement, with its $n parameters, to plan as an
	// extended-protocol statement (Router.Prepare).
	Query string
	// OIDs are PREPARE's declared parameter types, as Parse would carry
	// them; a type pgshard does not know is OIDOther.
	OIDs []uint32
	// Params are EXECUTE's arguments in text form, nil for NULL; Constant
	// says whether every argument is a constant (else Params is nil).
	Params   [][]byte
	Constant bool
}

// SQLPreparedOf parses stmt and reports whether it is a PREPARE, EXECUTE
// or DEALLOCATE (not ALL) of a named statement.
func SQLPreparedOf(stmt string) (SQLPrepared, bool) {
	if tooComplex(stmt) != "" {
		return SQLPrepared{}, false
	}
	tree, err := pg.Parse(stmt)
	if err != nil || len(tree.Stmts) != 1 {
		return SQLPrepared{}, false
	}
	n := tree.Stmts[0].Stmt
	switch {
	case n.GetPrepareStmt() != nil:
		p := n.GetPrepareStmt()
		q, err := pg.Deparse(&pg.ParseResult{Version: tree.Version, Stmts: []*pg.RawStmt{{Stmt: p.Query}}})
		if err != nil {
			return SQLPrepared{}, false
		}
		out := SQLPrepared{Kind: "PREPARE", Name: p.Name, Query: q}
		for _, at := range p.Argtypes {
			out.OIDs = append(out.OIDs, typeOID(at.GetTypeName()))
		}
		return out, true
	case n.GetExecuteStmt() != nil:
		e := n.GetExecuteStmt()
		out := SQLPrepared{Kind: "EXECUTE", Name: e.Name, Constant: true}
		for _, arg := range e.Params {
			v, ok := argText(arg)
			if !ok {
				return SQLPrepared{Kind: "EXECUTE", Name: e.Name}, true
			}
			out.Params = append(out.Params, v)
		}
		return out, true
	case n.GetDeallocateStmt() != nil && !n.GetDeallocateStmt().Isall && n.GetDeallocateStmt().Name != "":
		return SQLPrepared{Kind: "DEALLOCATE", Name: n.GetDeallocateStmt().Name}, true
	}
	return SQLPrepared{}, false
}

// argText is a constant argument in the text form a Bind would carry (a
// cast of a constant keeps the constant's text): nil for NULL.
func argText(n *pg.Node) ([]byte, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	c := n.GetAConst()
	switch {
	case c == nil || c.GetBsval() != nil:
		return nil, false // a bit string's text is not its constant's
	case c.Isnull:
		return nil, true
	}
	return []byte(constText(c)), true
}

// OIDOther stands, in SQLPrepared.OIDs, for a declared type pgshard does
// not know: no key compares exactly with it, and it is no real OID.
const OIDOther = 1<<32 - 1

const oidOther = OIDOther

// typeOID is the OID of a PREPARE's parameter type among those key
// comparisons know (keydomain.go), else oidOther.
func typeOID(tn *pg.TypeName) uint32 {
	name, typmod, ok := builtinType(tn)
	if !ok || typmod {
		return oidOther
	}
	switch name {
	case "int2":
		return oidInt2
	case "int4":
		return oidInt4
	case "int8":
		return oidInt8
	case "text":
		return oidText
	case "varchar":
		return oidVarchar
	case "numeric":
		return oidNumeric
	case "float8":
		return oidFloat8
	case "uuid":
		return oidUUID
	}
	return oidOther
}
