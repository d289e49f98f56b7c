package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
)

// SQL-level prepared statements (PREPARE, EXECUTE, DEALLOCATE) live in a
// server session. In transaction pooling a client's next statement may get
// another server connection, and over several shards another shard, so
// pgshard keeps each client's statements itself: PREPARE runs on the
// connection the client has then and is recorded; EXECUTE is routed by
// the statement's plan with its constant arguments, and the PREPARE is
// replayed first on a connection that lacks it (or holds another client's
// statement of that name); an EXECUTE whose statement runs on several
// shards runs it there as Parse/Bind/Execute, merged like any statement
// over shards; DEALLOCATE is answered by pgshard. pg_dump prepares its
// catalog queries this way.

// sqlStatement is one client's SQL-level prepared statement.
type sqlStatement struct {
	prepare string   // the client's PREPARE, run as is where it is missing
	query   string   // its statement, planned as an extended-protocol one
	oids    []uint32 // its declared parameter types (router.SQLPrepared.OIDs)
	// serverOIDs are its parameter types as the server resolved them,
	// read when oids holds a type pgshard does not know: running it over
	// several shards sends them in Parse.
	serverOIDs []uint32
	plan       *router.Plan
	protocol   *statement // asProtocol's
}

// asProtocol is the statement as Bind and Describe use one of Parse's,
// made once: its parameter types are PREPARE's (as the server resolved
// them, where pgshard does not know a type's name).
func (sq *sqlStatement) asProtocol(r *router.Router) *statement {
	if sq.protocol == nil {
		oids := sq.oids
		if slices.Contains(oids, router.OIDOther) {
			oids = sq.serverOIDs
		}
		sq.protocol = &statement{query: sq.query, oids: oids, key: statementKey(sq.query, oids),
			setsConfig: router.MentionsSessionEffects(sq.query), plan: r.Prepare(sq.query), planGen: r.CatalogGen()}
		sq.protocol.server = "pgshard_" + sq.protocol.key
	}
	return sq.protocol
}

// protocolAsSQL is a statement of Parse's as EXECUTE runs one of
// PREPARE's (they share one namespace on a server): the PREPARE that makes
// it where it is missing declares Parse's parameter types, "unknown" for
// those Parse left to the server, which infers them again.
func protocolAsSQL(name string, st *statement) (*sqlStatement, *pgError) {
	prepare := "PREPARE " + quoteIdent(name)
	if len(st.oids) > 0 {
		types := make([]string, len(st.oids))
		for i, oid := range st.oids {
			t, ok := sqlTypeName(oid)
			switch {
			case oid == 0:
				t = "unknown"
			case !ok:
				return nil, &pgError{Code: codeFeatureNotSupported,
					Message: fmt.Sprintf("pgshard: EXECUTE of %s, prepared through the protocol with a parameter type pgshard cannot name (OID %d), is not supported", name, oid),
					Hint:    "Run it with Bind and Execute, or prepare it with PREPARE."}
			}
			types[i] = t
		}
		prepare += "(" + strings.Join(types, ", ") + ")"
	}
	return &sqlStatement{prepare: prepare + " AS " + st.query, query: st.query, oids: st.oids, plan: st.plan}, nil
}

// emulateSQLPrepared says whether pgshard keeps the session's SQL-level
// prepared statements: unless one server session serves the client
// throughout (session pooling over one shard).
func (s *session) emulateSQLPrepared() bool {
	return s.mode == config.PoolTransaction || s.pinned || len(s.db.cfg.Shards) > 1
}

// sqlPrepared prepares a lone PREPARE, EXECUTE or DEALLOCATE of a named
// statement: it returns the route to run it on, or whether pgshard has
// answered it. For EXECUTE it returns the statement to ensure on the
// server connection before it runs.
func (s *session) sqlPrepared(st *router.Statement) (op *router.SQLPrepared, stmt *sqlStatement, pe *pgError) {
	w := sqltext.FirstWords(st.Text)
	if !(w.Is(0, "prepare") || w.Is(0, "execute") || w.Is(0, "deallocate")) || !s.emulateSQLPrepared() {
		return nil, nil, nil
	}
	parsed, ok := router.SQLPreparedOf(st.Text)
	if !ok {
		return nil, nil, nil // DEALLOCATE ALL, a syntax error: as routed
	}
	if s.txStatus == 'E' {
		return nil, nil, errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	switch parsed.Kind {
	case "PREPARE":
		if s.sqlStmts[parsed.Name] != nil || s.stmts[parsed.Name] != nil {
			// One namespace with Parse's statements, as on a server.
			return nil, nil, errorf(codeDuplicatePreparedStmt, fmt.Sprintf("prepared statement %q already exists", parsed.Name))
		}
		plan := s.db.router.Prepare(parsed.Query)
		if plan.Kind == router.KindRefuse {
			return nil, nil, routeError(plan.Err)
		}
		// Checked by a server where the session is (else the default
		// shard): the schema is the same on every shard.
		st.Route = &router.Route{Plan: &router.Plan{Kind: router.KindAny}, Kind: router.KindAny}
		return &parsed, &sqlStatement{prepare: st.Text, query: parsed.Query, oids: parsed.OIDs, plan: plan}, nil
	case "EXECUTE":
		stmt := s.sqlStmts[parsed.Name]
		if st := s.stmts[parsed.Name]; stmt == nil && st != nil && parsed.Name != "" {
			if stmt, pe = protocolAsSQL(parsed.Name, st); pe != nil {
				return nil, nil, pe
			}
		}
		if stmt == nil {
			return nil, nil, errorf(codeInvalidSQLStatementName, fmt.Sprintf("prepared statement %q does not exist", parsed.Name))
		}
		if !parsed.Constant && stmt.plan.UsesParams() {
			return nil, nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: EXECUTE %s with arguments that are not constants cannot be routed", parsed.Name),
				Hint:    "Pass constants (literals) to EXECUTE, or use protocol-level prepared statements."}
		}
		formats := make([]int16, len(parsed.Params))
		rt := s.db.router.BindKeyed(stmt.plan, stmt.query, router.Params{Values: parsed.Params, Formats: formats, OIDs: stmt.oids}, s.shardKey())
		switch {
		case rt.NeedKeys != nil:
			t := rt.NeedKeys.Table.Table
			return nil, nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: EXECUTE %s inserts into sharded table %s leaving its shard key %s to the column's default, which pgshard takes first only for an INSERT it is sent itself (as a query, or through Parse and Bind)", parsed.Name, t, t.Key),
				Hint:    fmt.Sprintf("Use protocol-level prepared statements (as drivers do), or include %s in the column list.", t.Key)}
		case rt.Err != nil:
			return nil, nil, routeError(rt.Err)
		case sqlOverShards(rt):
			// Run over the shards as Parse/Bind/Execute of the statement
			// (executeOverShards), which needs the arguments' values and
			// types.
			if !parsed.Constant || slices.Contains(stmt.oids, router.OIDOther) && stmt.serverOIDs == nil {
				return nil, nil, &pgError{Code: codeFeatureNotSupported,
					Message: fmt.Sprintf("pgshard: EXECUTE %s runs over several shards, which needs constant arguments of types pgshard knows (integers, numeric, float8, text, varchar, uuid)", parsed.Name),
					Hint:    "Pass constants, declare the parameters with those types, or use protocol-level prepared statements (Parse/Bind/Execute, as drivers do)."}
			}
		}
		st.Route = rt
		return &parsed, stmt, nil
	default: // DEALLOCATE
		switch {
		case s.sqlStmts[parsed.Name] != nil:
			delete(s.sqlStmts, parsed.Name)
		case s.stmts[parsed.Name] != nil:
			// PREPARE and Parse name statements in one namespace, and
			// drivers free protocol-level statements so (Rails' statement
			// cache, PHP's PDO): as Close does, the server-side twin stays
			// cached for other clients.
			delete(s.stmts, parsed.Name)
		default:
			return nil, nil, errorf(codeInvalidSQLStatementName, fmt.Sprintf("prepared statement %q does not exist", parsed.Name))
		}
		return &parsed, nil, nil
	}
}

// ensureSQLPrepared makes sc hold the client's statement before its
// EXECUTE runs there, or frees the name before its PREPARE does.
func (s *session) ensureSQLPrepared(sc *serverConn, op *router.SQLPrepared, stmt *sqlStatement) error {
	have, held := sc.sqlStmts[op.Name]
	var script string
	switch {
	case op.Kind == "EXECUTE" && held && have == stmt.prepare:
		return nil
	case held:
		script = "DEALLOCATE " + quoteIdent(op.Name)
	}
	if op.Kind == "EXECUTE" {
		if script != "" {
			script += ";\n"
		}
		script += stmt.prepare
	}
	if script == "" {
		return nil
	}
	delete(sc.sqlStmts, op.Name)
	if err := s.hiddenQuery(sc, script, 1); err != nil {
		return err
	}
	if op.Kind == "EXECUTE" {
		sc.keepSQLStatement(op.Name, stmt.prepare)
	}
	return nil
}

// sqlPreparedFailed answers a statement whose PREPARE could not be put on
// its server connection: the server's error, as if the statement had
// failed, or the connection's loss.
func (s *session) sqlPreparedFailed(err error) error {
	var pe *pgError
	if errors.As(err, &pe) {
		return s.refuse(pe)
	}
	return s.serverLost(err, true)
}

// keepSQLStatement records a statement prepared on the connection.
func (sc *serverConn) keepSQLStatement(name, prepare string) {
	if sc.sqlStmts == nil {
		sc.sqlStmts = map[string]string{}
	}
	sc.sqlStmts[name] = prepare
}

// quoteIdent quotes an identifier as PostgreSQL does.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// executeOverShards runs a SQL-level EXECUTE whose statement runs on
// several shards: the statement with the arguments bound, as a
// protocol-level statement over those shards, merged as its plan says.
// The answer is EXECUTE's: the statement's rows and command tag.
func (s *session) executeOverShards(ctx context.Context, rt *router.Route, stmt *sqlStatement, op *router.SQLPrepared) error {
	if pe := s.multiAllowed(rt); pe != nil {
		return s.refuse(pe)
	}
	j := newMultiJob(rt, stmt.query)
	j.bind = &pgproto3.Bind{Parameters: op.Params}
	j.oids = stmt.oids
	if slices.Contains(j.oids, router.OIDOther) {
		j.oids = stmt.serverOIDs
	}
	return s.answerMulti(ctx, rt, j, stmt.query)
}

// noteServerTypes reads, on sc where the client's PREPARE just ran, the
// parameter types the server gave statement name, when its declaration
// names types pgshard does not know (a date, a domain, an array).
func (s *session) noteServerTypes(sc *serverConn, name string, stmt *sqlStatement) {
	if !slices.Contains(stmt.oids, router.OIDOther) {
		return
	}
	rows, err := s.hiddenRows(sc, "SELECT parameter_types::pg_catalog.oid[]::pg_catalog.text FROM pg_catalog.pg_prepared_statements WHERE name = "+quoteLiteral(name))
	if err != nil || len(rows) != 1 {
		var pe *pgError
		if err != nil && !errors.As(err, &pe) {
			sc.broken = true
		}
		return
	}
	var oids []uint32
	for _, f := range strings.Split(strings.Trim(rows[0], "{}"), ",") {
		oid, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return
		}
		oids = append(oids, uint32(oid))
	}
	stmt.serverOIDs = oids
}

// sqlOverShards says whether an EXECUTE's route runs its statement on
// several shards.
func sqlOverShards(rt *router.Route) bool {
	return rt.Kind != router.KindAny && rt.Kind != router.KindSession && !rt.Single()
}
