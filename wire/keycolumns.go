package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// An INSERT without a column list gives a sharded table's key by its
// position, and only the servers know the table's column order. pgshard
// reads it for every such statement rather than caching it: a column order
// changed by DDL that bypassed this pgshard process (another sidecar, a
// migration run on the shards) would otherwise send rows to the wrong shard
// without anyone noticing. Listing the columns avoids the extra round trip.

// keyColumns reads where the key is for each table in refs, on a
// connection the session already holds when it can (catalogConn: it sees
// tables its transaction created and holds the client's search_path), else
// on one borrowed from the default shard's primary; any shard would do, as
// a sharded table exists on every shard. A connection of the session's that
// fails is reported as lost (errOwnConnLost wraps the cause).
func (s *session) keyColumns(ctx context.Context, refs []*router.TableRef) (router.KeyColumns, error) {
	cols := router.KeyColumns{}
	for _, ref := range refs {
		if _, done := cols[ref.Table]; done {
			continue
		}
		read := func(sc *serverConn) ([]string, error) {
			return s.hiddenRows(sc, columnsQuery(ref.Schema, ref.Name))
		}
		var names []string
		var err error
		if own, parked := s.catalogConn(); own != nil {
			names, err = read(own)
			var pe *pgError
			if err != nil && !errors.As(err, &pe) {
				if parked >= 0 {
					if slices.Contains(s.txShards, parked) {
						own.broken = true // a participant: the transaction cannot commit now
					} else {
						s.dropParked(parked)
					}
					return nil, &pgError{Code: codeConnectionFailure, Message: "pgshard: lost a connection while reading the column order of " + ref.Name + ": " + err.Error()}
				}
				return nil, fmt.Errorf("%w: %w", errOwnConnLost, err)
			}
		} else {
			names, err = s.onShard(ctx, s.db.router.Schema().Default, read)
		}
		if err != nil {
			return nil, err
		}
		i, pe := keyIndex(names, ref.Table)
		if pe != nil {
			return nil, pe
		}
		cols[ref.Table] = i
	}
	return cols, nil
}

// errOwnConnLost: the session's attached connection failed pgshard's own
// query.
var errOwnConnLost = errors.New("the attached server connection failed")

// catalogConn is a connection of the session's on which pgshard may run a
// query of its own between the client's messages: the attached one when
// nothing of the current batch has reached it, else one set aside for
// another shard (session pooling, or a transaction over several shards:
// those owe the client nothing), preferably outside the transaction, with
// its shard (-1 for the attached one). nil when there is none: a pool
// connection must be borrowed, which session pooling may not have to spare.
func (s *session) catalogConn() (*serverConn, shard.ShardID) {
	if sc := s.sc; sc != nil && !sc.broken && !s.batchUsed && len(s.pending) == 0 {
		return sc, -1
	}
	var inTx *serverConn
	txID := shard.ShardID(-1)
	for id, sc := range s.parked {
		switch {
		case sc.broken:
		case !slices.Contains(s.txShards, id):
			return sc, id
		default:
			inTx, txID = sc, id
		}
	}
	return inTx, txID
}

// columnsQuery lists a table's columns in order. The cast to regclass
// fails, as the statement itself would, when the table does not exist.
func columnsQuery(schema, name string) string {
	id := pgx.Identifier{name}
	if schema != "" {
		id = pgx.Identifier{schema, name}
	}
	return "SELECT attname FROM pg_attribute WHERE attrelid = " + quoteLiteral(id.Sanitize()) +
		"::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
}

// keyIndex finds t's key among its columns.
func keyIndex(names []string, t *router.Table) (int, *pgError) {
	for i, c := range names {
		if c == t.Key {
			return i, nil
		}
	}
	return -1, &pgError{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: table %s has no column %s, its configured shard key", t, t.Key),
		Hint:    "Fix the table's shard key in pgshard's configuration, or the table."}
}

// needColumns lists the tables whose column order routing asked for.
func needColumns(stmts []router.Statement) []*router.TableRef {
	var refs []*router.TableRef
	for i := range stmts {
		if ref := stmts[i].Route.NeedColumns; ref != nil {
			refs = append(refs, ref)
		}
	}
	return refs
}

// asPgError is err as the client should see it when it came from a
// borrowed connection: a server's error as is, anything else as a
// connection failure naming what pgshard was doing.
func asPgError(err error, doing string) *pgError {
	var pe *pgError
	if errors.As(err, &pe) {
		return pe
	}
	return &pgError{Code: codeConnectionFailure, Message: "pgshard: " + doing + ": " + err.Error()}
}
