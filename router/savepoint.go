package router

import pg_query "github.com/pganalyze/pg_query_go/v6"

// SavepointName returns the savepoint a SAVEPOINT, RELEASE or ROLLBACK TO
// statement names, folded as PostgreSQL folds identifiers (lower case
// unless quoted); false for any other statement.
func SavepointName(stmt string) (string, bool) {
	tree, err := pg_query.Parse(stmt)
	if err != nil || len(tree.Stmts) != 1 {
		return "", false
	}
	ts := tree.Stmts[0].Stmt.GetTransactionStmt()
	if ts == nil || ts.SavepointName == "" {
		return "", false
	}
	return ts.SavepointName, true
}
