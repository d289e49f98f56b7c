package wire

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// textOrder records whether a shard's database orders text bytewise by
// default, as pgshard's merges of ORDER BY, min and max do. It is learnt
// once per shard, on the first server connection opened to it.
type textOrder struct{ atomic.Int32 }

const (
	textOrderUnknown int32 = iota
	textOrderBytewise
	textOrderCollated
)

// textOrderProbe sorts strings that every linguistic collation (libc's
// en_US, ICU's) orders differently from their bytes — case, punctuation,
// accents — once by the database's default collation and once by "C". It
// asks how text sorts rather than which collation is set, so it holds for
// either collation provider and every PostgreSQL version.
const textOrderProbe = `SELECT array_agg(x ORDER BY x) = array_agg(x ORDER BY x COLLATE "C") ` +
	`FROM unnest(ARRAY['a', 'B', 'b', 'A', '_x', '-x', 'x', '1', ' ', 'e', 'é', 'f', 'Z', 'z']) AS t(x)`

// probeTextOrder runs textOrderProbe on a connection pgconn has just
// opened for p. A failure leaves the order unknown, which merges treat as
// bytewise, and is logged: the connection itself is fine.
func probeTextOrder(ctx context.Context, pc *pgconn.PgConn, p *pool) {
	// Bounded: a connection being opened must not wait on the probe.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	results, err := pc.Exec(ctx, textOrderProbe).ReadAll()
	if err == nil && (len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) != 1) {
		err = errUnexpectedProbe
	}
	if err != nil {
		p.log.Warn("could not learn how the shard's database orders text; merges order it bytewise",
			"shard", p.shard, "node", p.node.Name, "err", err)
		return
	}
	if string(results[0].Rows[0][0]) == "t" {
		p.textOrder.Store(textOrderBytewise)
	} else {
		p.textOrder.Store(textOrderCollated)
	}
}

var errUnexpectedProbe = errors.New("unexpected answer to the text order probe")
