package seqrange

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
)

// Shard is one shard's primary, connected, at its position in the
// configuration (which decides its block).
type Shard struct {
	Name string
	Conn *pgconn.PgConn
}

// Arrange confines every sequence of tables' columns on every shard to
// that shard's block, printing to w what it does (or, when apply is false,
// what it would do). It returns how many sequences it altered (or would)
// and every column it could not arrange; the others are arranged anyway.
func Arrange(ctx context.Context, shards []Shard, tables []Table, apply bool, w io.Writer) (int, error) {
	q := ColumnsQuery(tables)
	var errs []error
	changed := 0
	for i, sh := range shards {
		res, err := sh.Conn.Exec(ctx, q).ReadAll()
		if err != nil {
			return changed, fmt.Errorf("shard %s: reading its sequence columns: %w", sh.Name, err)
		}
		done := map[string]bool{} // a sequence several columns draw from
		for _, r := range res[len(res)-1].Rows {
			c, err := Parse(string(r[0]))
			if err != nil {
				return changed, fmt.Errorf("shard %s: %w", sh.Name, err)
			}
			if c.Sequence != "" && done[c.Sequence] {
				continue
			}
			done[c.Sequence] = true
			stmt, what, err := Confine(c, i)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("shard %s: %w", sh.Name, err))
				fmt.Fprintf(w, "%s: %s: cannot confine: %v\n", sh.Name, c.Column, err)
				continue
			case stmt == "":
				fmt.Fprintf(w, "%s: %s: %s keeps to its block already\n", sh.Name, c.Column, c.Sequence)
				continue
			}
			changed++
			if !apply {
				fmt.Fprintf(w, "%s: %s: would set %s\n  %s;\n", sh.Name, c.Column, what, stmt)
				continue
			}
			if _, err := sh.Conn.Exec(ctx, stmt).ReadAll(); err != nil {
				errs = append(errs, fmt.Errorf("shard %s: %s: %w", sh.Name, stmt, err))
				fmt.Fprintf(w, "%s: %s: failed: %v\n", sh.Name, c.Column, err)
				continue
			}
			fmt.Fprintf(w, "%s: %s: set %s\n", sh.Name, c.Column, what)
		}
	}
	return changed, errors.Join(errs...)
}
