package wire

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// adminRoute answers "PGSHARD ROUTE <statement>" over the data port: where
// the statement would run, without running it — the same answer as
// `pgshard route` on the command line. It reveals nothing the client could
// not learn by running the statement.
func (s *session) adminRoute(q string) (bool, error) {
	if w := sqltext.FirstWords(q); !w.Is(0, "pgshard") || !w.Is(1, "route") {
		return false, nil
	}
	i := strings.Index(strings.ToLower(q), "route") + len("route")
	stmt := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(q[i:]), ";"))
	var lines []string
	for _, st := range s.db.router.Simple(stmt) {
		lines = append(lines, "statement: "+abbreviate(st.Text))
		rt := st.Route
		if len(rt.Shards) > 0 {
			names := make([]string, len(rt.Shards))
			for k, id := range rt.Shards {
				names[k] = s.db.cfg.Shards[id].Name
			}
			lines = append(lines, "shards: "+strings.Join(names, ", ")+" (primary)")
		}
		for _, l := range strings.Split(rt.Describe(), "\n") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		return true, s.refuse(errorf("42601", "pgshard: PGSHARD ROUTE needs a statement, e.g. PGSHARD ROUTE SELECT * FROM users WHERE user_id = 1"))
	}
	rd := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("route"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}}
	if err := writeMsg(s.w, &s.scratch, rd); err != nil {
		return true, errClientGone
	}
	for _, l := range lines {
		if err := writeMsg(s.w, &s.scratch, &pgproto3.DataRow{Values: [][]byte{[]byte(l)}}); err != nil {
			return true, errClientGone
		}
	}
	return true, s.complete(fmt.Sprintf("SELECT %d", len(lines)))
}
