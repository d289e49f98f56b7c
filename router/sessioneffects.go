package router

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// SessionEffects is what a statement leaves behind on the server session
// that its first words do not show: set_config(name, value, false) calls,
// which change a setting for the rest of the session as SET does, and
// SELECT ... INTO TEMP, which creates a temporary table. In transaction
// pooling the server connection goes to another client next, so the wire
// layer carries the settings it can read here and refuses the rest.
type SessionEffects struct {
	// Settings are the session-level set_config calls, in order, when
	// the statement is a SELECT that makes exactly these calls once each
	// with constant arguments: pgshard can carry them like SETs.
	Settings []ConfigSetting
	// Unknown names a session-level set_config call pgshard cannot read:
	// an argument that is not a constant, or a call that may run any
	// number of times (in FROM, under WHERE, inside an expression).
	Unknown bool
	// Identity: a session-level set_config of role or
	// session_authorization, which RESET ALL does not undo.
	Identity bool
	// TempTable: SELECT ... INTO TEMP creates a temporary table.
	TempTable bool
}

// ConfigSetting is one constant set_config(name, value, false) call.
type ConfigSetting struct {
	Name  string // lower case, as PostgreSQL folds it
	Value string
	Reset bool // value NULL: back to the default, as RESET name
	// IfExists: the call sets the parameter only where the server has it
	// (pg_dump's SELECT set_config(name, 'v', false) FROM pg_settings
	// WHERE name = 'p'), and is replayed the same way.
	IfExists bool
	// ValueParam, when not 0, says the value is Bind parameter $n
	// (extended protocol): known at Bind (Bound). The name must be a
	// constant: as a parameter it could name role.
	ValueParam int
}

// Bound returns the setting with its value from a Bind's parameters (as
// sent: set_config's value is text, whose binary form is the text
// itself). A NULL value resets the setting. False when the Bind lacks
// the parameter, which the server refuses.
func (c ConfigSetting) Bound(params [][]byte) (ConfigSetting, bool) {
	if c.ValueParam == 0 {
		return c, true
	}
	if c.ValueParam > len(params) {
		return c, false
	}
	v := params[c.ValueParam-1]
	c.Value, c.Reset, c.ValueParam = string(v), v == nil, 0
	return c, true
}

// SessionEffectsOf parses stmt and reports its hidden session effects. It
// is for the few statements whose text mentions set_config or INTO ...
// TEMP: it parses, which the plan cache spares ordinary statements.
func SessionEffectsOf(stmt string) SessionEffects {
	var e SessionEffects
	if tooComplex(stmt) != "" {
		return e // the router refuses it before any server sees it
	}
	tree, err := pg.Parse(stmt)
	if err != nil {
		return e // the server will refuse it too
	}
	for _, raw := range tree.Stmts {
		root := raw.Stmt
		if into := root.GetSelectStmt().GetIntoClause(); into != nil && into.Rel.GetRelpersistence() == "t" {
			e.TempTable = true
		}
		if c, ok := settingIfExists(root.GetSelectStmt()); ok {
			e.Settings = append(e.Settings, c)
			continue
		}
		plain := plainSelect(root.GetSelectStmt())
		var calls []*pg.FuncCall
		visit(root, func(n *pg.Node) bool {
			if fc := n.GetFuncCall(); fc != nil && isSetConfig(fc) {
				calls = append(calls, fc)
			}
			return true
		})
		for _, fc := range calls {
			e.addCall(fc, plain)
		}
	}
	return e
}

// addCall records one set_config call; top says whether it is a target
// of a plain SELECT, so runs exactly once.
func (e *SessionEffects) addCall(fc *pg.FuncCall, top map[*pg.FuncCall]bool) {
	if len(fc.Args) != 3 {
		return // not PostgreSQL's set_config; the server refuses it
	}
	local, ok := constBool(fc.Args[2])
	if ok && local {
		return // ends with the transaction, like SET LOCAL
	}
	name, nameOK := constString(fc.Args[0])
	name = strings.ToLower(name)
	if nameOK && (name == "role" || name == "session_authorization") {
		e.Identity = true
		return
	}
	value, valueOK := constString(fc.Args[1])
	isNull := isNullConst(fc.Args[1])
	valueParam := paramNumber(fc.Args[1])
	if !ok || !nameOK || !(valueOK || isNull || valueParam > 0) || !top[fc] {
		e.Unknown = true
		return
	}
	e.Settings = append(e.Settings, ConfigSetting{Name: name, Value: value, Reset: isNull, ValueParam: valueParam})
}

// paramNumber is n for a bare $n, else 0.
func paramNumber(n *pg.Node) int {
	if p := n.GetParamRef(); p != nil {
		return int(p.Number)
	}
	return 0
}

// plainSelect returns the set_config calls that are whole target-list
// items of a SELECT with nothing that could run them other than once: no
// FROM, WHERE, grouping, set operation, LIMIT or CTE.
func plainSelect(s *pg.SelectStmt) map[*pg.FuncCall]bool {
	if s == nil || len(s.FromClause) > 0 || s.WhereClause != nil || len(s.GroupClause) > 0 ||
		s.HavingClause != nil || len(s.WindowClause) > 0 || len(s.ValuesLists) > 0 ||
		s.Larg != nil || s.Rarg != nil || s.WithClause != nil || s.LimitCount != nil ||
		s.LimitOffset != nil || s.IntoClause != nil || len(s.LockingClause) > 0 {
		return nil
	}
	top := map[*pg.FuncCall]bool{}
	for _, t := range s.TargetList {
		if fc := t.GetResTarget().GetVal().GetFuncCall(); fc != nil && isSetConfig(fc) &&
			fc.AggFilter == nil && fc.Over == nil && !fc.AggStar && !fc.AggDistinct && !fc.FuncVariadic {
			top[fc] = true
		}
	}
	return top
}

// settingIfExists recognises the statement pg_dump uses to set a
// parameter that older servers lack: exactly
// SELECT set_config(name, 'value', false) FROM [pg_catalog.]pg_settings
// WHERE name = 'parameter'.
func settingIfExists(s *pg.SelectStmt) (ConfigSetting, bool) {
	if s == nil || len(s.TargetList) != 1 || len(s.FromClause) != 1 || len(s.GroupClause) > 0 ||
		s.HavingClause != nil || len(s.WindowClause) > 0 || s.WithClause != nil || s.LimitCount != nil ||
		s.LimitOffset != nil || s.IntoClause != nil || len(s.LockingClause) > 0 || len(s.DistinctClause) > 0 {
		return ConfigSetting{}, false
	}
	rv := s.FromClause[0].GetRangeVar()
	if rv == nil || rv.Relname != "pg_settings" || rv.Schemaname != "" && rv.Schemaname != "pg_catalog" || rv.Alias != nil {
		return ConfigSetting{}, false
	}
	w := s.WhereClause.GetAExpr()
	if w == nil || w.Kind != pg.A_Expr_Kind_AEXPR_OP || len(w.Name) != 1 || w.Name[0].GetString_().GetSval() != "=" ||
		!isColumn(w.Lexpr, "name") {
		return ConfigSetting{}, false
	}
	param, ok := constString(w.Rexpr)
	fc := s.TargetList[0].GetResTarget().GetVal().GetFuncCall()
	if !ok || fc == nil || !isSetConfig(fc) || len(fc.Args) != 3 || !isColumn(fc.Args[0], "name") {
		return ConfigSetting{}, false
	}
	value, valueOK := constString(fc.Args[1])
	local, localOK := constBool(fc.Args[2])
	if !valueOK || !localOK || local {
		return ConfigSetting{}, false
	}
	return ConfigSetting{Name: strings.ToLower(param), Value: value, IfExists: true}, true
}

// isColumn reports whether n is the bare column reference name.
func isColumn(n *pg.Node, name string) bool {
	f := n.GetColumnRef().GetFields()
	return len(f) == 1 && f[0].GetString_().GetSval() == name
}

// isSetConfig reports whether fc calls set_config or
// pg_catalog.set_config.
func isSetConfig(fc *pg.FuncCall) bool {
	parts := fc.Funcname
	switch len(parts) {
	case 1:
		return strings.EqualFold(parts[0].GetString_().GetSval(), "set_config")
	case 2:
		return parts[0].GetString_().GetSval() == "pg_catalog" && parts[1].GetString_().GetSval() == "set_config"
	}
	return false
}

// constString is a string literal, possibly cast to a text type.
func constString(n *pg.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		if !textTypeName(tc.TypeName) {
			return "", false
		}
		n = tc.Arg
	}
	c := n.GetAConst()
	if c == nil || c.Isnull || c.GetSval() == nil {
		return "", false
	}
	return c.GetSval().Sval, true
}

func textTypeName(t *pg.TypeName) bool {
	if t == nil || len(t.Names) == 0 || len(t.ArrayBounds) > 0 {
		return false
	}
	switch t.Names[len(t.Names)-1].GetString_().GetSval() {
	case "text", "varchar", "bpchar", "name":
		return true
	}
	return false
}

func isNullConst(n *pg.Node) bool {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	c := n.GetAConst()
	return c != nil && c.Isnull
}

// constBool is a boolean constant as PostgreSQL reads one: true/false, or
// a string literal boolin accepts.
func constBool(n *pg.Node) (bool, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		names := tc.TypeName.GetNames()
		if len(names) == 0 || names[len(names)-1].GetString_().GetSval() != "bool" {
			return false, false
		}
		n = tc.Arg
	}
	c := n.GetAConst()
	switch {
	case c == nil || c.Isnull:
		return false, false
	case c.GetBoolval() != nil:
		return c.GetBoolval().Boolval, true
	case c.GetSval() != nil:
		return parseBool(c.GetSval().Sval)
	}
	return false, false
}

// parseBool is PostgreSQL's parse_bool: any unique prefix of true, false,
// yes, no; on, off; 1, 0; surrounding spaces ignored, case ignored.
func parseBool(s string) (bool, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return false, false
	}
	switch s {
	case "1":
		return true, true
	case "0":
		return false, true
	case "on":
		return true, true
	case "of", "off":
		return false, true
	case "o":
		return false, false // ambiguous between on and off
	}
	for word, v := range map[string]bool{"true": true, "false": false, "yes": true, "no": false} {
		if strings.HasPrefix(word, s) {
			return v, true
		}
	}
	return false, false
}
