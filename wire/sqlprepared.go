package wire

import (
	"errors"
	"fmt"
	"strings"

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
// statement of that name); DEALLOCATE is answered by pgshard. pg_dump
// prepares its catalog queries this way.

// sqlStatement is one client's SQL-level prepared statement.
type sqlStatement struct {
	prepare string   // the client's PREPARE, run as is where it is missing
	query   string   // its statement, planned as an extended-protocol one
	oids    []uint32 // its declared parameter types
	plan    *router.Plan
}

// emulateSQLPrepared says whether pgshard keeps the session's SQL-level
// prepared statements: unless one server session serves the client
// throughout (session pooling over one shard).
func (s *session) emulateSQLPrepared() bool {
	return s.mode == config.PoolTransaction || len(s.db.cfg.Shards) > 1
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
		if s.sqlStmts[parsed.Name] != nil {
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
		case rt.Err != nil:
			return nil, nil, routeError(rt.Err)
		case rt.Kind != router.KindAny && rt.Kind != router.KindSession && !rt.Single():
			return nil, nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: SQL-level EXECUTE of a statement over several shards is not supported (%s)", parsed.Name),
				Hint:    "Use protocol-level prepared statements (Parse/Bind/Execute, as drivers do), which pgshard runs and merges over shards."}
		}
		st.Route = rt
		return &parsed, stmt, nil
	default: // DEALLOCATE
		if s.sqlStmts[parsed.Name] == nil {
			return nil, nil, errorf(codeInvalidSQLStatementName, fmt.Sprintf("prepared statement %q does not exist", parsed.Name))
		}
		delete(s.sqlStmts, parsed.Name)
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
