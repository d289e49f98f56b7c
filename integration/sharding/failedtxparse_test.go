package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestPreparingInAFailedTransaction: in a failed transaction PostgreSQL
// refuses to parse anything but its end, with 25P02, before it looks at
// the statement's name, and keeps nothing. pgx prepares a batch's
// statements before it runs them, forgets every statement of a batch that
// failed, and cannot close them while the transaction is failed: it
// prepares them again under the same names. Through pgshard that must get
// 25P02 as from one server, not "prepared statement already exists", and
// after ROLLBACK the statements work again.
func TestPreparingInAFailedTransaction(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	through, direct := loadedPair(ctx, t, p)
	const read = `SELECT name FROM users WHERE user_id = $1`
	batch := func(c *pgx.Conn, queries ...string) []string {
		b := &pgx.Batch{}
		for _, q := range queries {
			if strings.Contains(q, "$1") {
				b.Queue(q, int64(6))
			} else {
				b.Queue(q)
			}
		}
		br := c.SendBatch(ctx, b)
		var out []string
		for range queries {
			_, err := br.Exec()
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe):
				out = append(out, pe.Code)
			case err != nil:
				out = append(out, err.Error())
			default:
				out = append(out, "ok")
			}
		}
		_ = br.Close()
		return append(out, string(c.PgConn().TxStatus()))
	}
	for name, c := range map[string]*pgx.Conn{"pgshard": through, "PostgreSQL": direct} {
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		steps := [][]string{
			batch(c, read, `INSERT INTO users (user_id, name) VALUES ($1, 'taken')`), // fails: the transaction too
			batch(c, read), // prepared again, in the failed transaction
			batch(c, `ROLLBACK TO SAVEPOINT nowhere`),
		}
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, batch(c, read))
		want := [][]string{{"ok", "23505", "E"}, {"25P02", "E"}, {"3B001", "E"}, {"ok", "I"}}
		for i := range want {
			if len(steps[i]) != len(want[i]) || steps[i][0] != want[i][0] || steps[i][len(want[i])-1] != want[i][len(want[i])-1] {
				t.Errorf("%s: batch %d answered %v, want %v", name, i, steps[i], want[i])
			}
		}
	}
}
