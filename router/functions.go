package router

import (
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Routed functions. A function or procedure that works on the rows of one
// shard key (an application's place_order(user_id, ...)) names no sharded
// table in the statement that calls it, so that statement would go to the
// default shard and the function would write its rows there whatever their
// key. sharding.functions says which argument is the key: a call then
// counts as a reference to the table whose key it is, pinned to the
// argument when that is a constant or a parameter, or co-located with the
// row it is called for when the argument is that row's shard key column.
// A call that is neither is refused rather than run on the default shard.

// Function is a function or procedure routed by one of its arguments.
type Function struct {
	Schema string // "" when the configuration did not qualify the name
	Name   string
	KeyArg int // 0-based position of the key argument
	Table  *Table
}

func (f *Function) String() string {
	if f.Schema != "" {
		return f.Schema + "." + f.Name
	}
	return f.Name
}

// function returns the routed function a call names, or nil. An
// unqualified configured name matches a call in any schema, as for tables.
func (s *Schema) function(fc *pg.FuncCall) *Function {
	if len(s.functions) == 0 {
		return nil
	}
	schema := ""
	if n := len(fc.Funcname); n > 1 {
		schema = strings.ToLower(fc.Funcname[n-2].GetString_().GetSval())
	}
	for _, f := range s.functions[funcName(fc)] {
		if f.Schema == "" || f.Schema == schema || schema == "" && f.Schema == "public" {
			return f
		}
	}
	return nil
}

// routedCall records a call of fn as a relation of fn's table, pinned to
// or co-located by its key argument.
func (a *analyzer) routedCall(fc *pg.FuncCall, fn *Function, sc *scope) {
	i := a.newRel(rel{role: roleSharded, table: fn.Table, name: fn.String() + "()", key: fn.Table.Key})
	if fn.KeyArg >= len(fc.Args) {
		a.unroutedCall(fn, fmt.Sprintf("it is called with %d arguments and its key is argument %d", len(fc.Args), fn.KeyArg+1))
		return
	}
	for _, arg := range fc.Args[:fn.KeyArg+1] {
		if arg.GetNamedArgExpr() != nil {
			// Which parameter a name is depends on the function's
			// signature, which pgshard does not read.
			a.unroutedCall(fn, "its arguments up to the key are passed by name")
			return
		}
	}
	if c := a.callArgsOf(fc, fn); c != nil {
		a.addPin(i, []Source{{Lit: -1, assign: true, call: c}})
		return
	}
	arg := fc.Args[fn.KeyArg]
	if src, ok := a.keySource(arg, fn.Table.KeyType, domKey); ok {
		src.assign = true // converted to the parameter's type, as a stored key is
		a.addPin(i, []Source{src})
		return
	}
	if j, ok := a.keyColumn(arg, sc); ok && a.rels[j].table.KeyType == fn.Table.KeyType {
		a.union(j, i)
		return
	}
	a.unroutedCall(fn, "its key argument is neither a constant, a parameter nor the shard key of a table the query reads")
}

// callArgs picks a routed function's key argument at Bind. PostgreSQL
// drops the parameters a client declared of type void from a function's
// arguments (so pgjdbc can pass its placeholder for a CallableStatement's
// result, {? = call f(?)}, as f($1, $2) with $1 void): where the key is
// among the arguments depends on the types Parse declared.
type callArgs struct {
	key    int      // 0-based position among the arguments the server keeps
	params []int    // per argument: its $n when a bare parameter, else 0
	srcs   []Source // per argument: the key read from it, when ok
	ok     []bool
}

// callArgsOf returns the callArgs of a call with a bare parameter at or
// before its key argument, which may be declared void and so move the key
// to a later argument; nil when there is none and the key argument is
// known now.
func (a *analyzer) callArgsOf(fc *pg.FuncCall, fn *Function) *callArgs {
	c := &callArgs{key: fn.KeyArg}
	bare := false
	for i, arg := range fc.Args {
		n := 0
		if pr := arg.GetParamRef(); pr != nil {
			n, bare = int(pr.Number), bare || i <= fn.KeyArg
		}
		src, ok := a.keySource(arg, fn.Table.KeyType, domKey)
		src.assign = true
		c.params, c.srcs, c.ok = append(c.params, n), append(c.srcs, src), append(c.ok, ok)
	}
	if !bare {
		return nil
	}
	return c
}

// errCallKey: the argument that turned out to be the key at Bind is not a
// constant or a parameter.
var errCallKey = errors.New("the routed function's key argument is neither a constant nor a parameter")

// pick returns the key argument's source for one execution.
func (c *callArgs) pick(v *values) (Source, error) {
	n := 0
	for i, p := range c.params {
		if p > 0 && p <= len(v.oids) && v.oids[p-1] == oidVoid {
			continue
		}
		if n == c.key {
			if !c.ok[i] {
				return Source{}, errCallKey
			}
			return c.srcs[i], nil
		}
		n++
	}
	return Source{}, fmt.Errorf("the call has no argument %d besides parameters declared void", c.key+1)
}

func (a *analyzer) unroutedCall(fn *Function, why string) {
	if a.unrouted == "" {
		a.unrouted = fmt.Sprintf("pgshard: cannot route the call of %s, which works on the rows of one %s key: %s", fn, fn.Table, why)
		a.unroutedHint = fmt.Sprintf("Pass the key as argument %d, positionally, as a constant or a parameter; or route the statement with /* pgshard: shard_key=... */.", fn.KeyArg+1)
	}
}

// callPlan plans CALL: by its key argument for a routed procedure, else on
// the default shard.
func (a *analyzer) callPlan(c *pg.CallStmt) *Plan {
	if c.Funccall == nil {
		return &Plan{Kind: KindDefault}
	}
	a.expr(&pg.Node{Node: &pg.Node_FuncCall{FuncCall: c.Funccall}}, &scope{})
	if len(a.rels) == 0 && a.unrouted == "" {
		return &Plan{Kind: KindDefault}
	}
	p := a.decide("CALL")
	p.Exact = p.Exact || a.exact
	return p
}
