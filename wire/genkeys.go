package wire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// Keys an INSERT leaves to the key column's default (router/genkeys.go).
// pgshard evaluates the default on the default shard — one sequence for
// every shard, so no two shards give the same key — and routes the rows
// by what it gave. Only defaults that give a new value each time and read
// nothing qualify: a sequence (serial, identity, nextval('seq')) and
// gen_random_uuid(). One query reads what the default is and evaluates
// it, once per key.

// generatedKeys takes req.Rows keys for req's table from its key column's
// default on the default shard: on the session's own connection there
// when it holds one (it resolves the table by the client's search_path
// and sees a table the client's transaction created), else on one
// borrowed from the default shard's pool.
func (s *session) generatedKeys(ctx context.Context, req *router.KeyRequest) (*router.GeneratedKeys, error) {
	if gen := s.cachedKeys(req); gen != nil {
		return gen, nil
	}
	q := keysQuery(req, s.mayCacheKeys())
	read := func(sc *serverConn) ([]string, error) { return s.hiddenRows(sc, q) }
	def := s.db.router.Schema().Default
	var rows []string
	var err error
	if own, parked := s.connOn(def); own != nil {
		rows, err = read(own)
		var pe *pgError
		if err != nil && !errors.As(err, &pe) {
			if parked >= 0 {
				own.broken = true
				return nil, &pgError{Code: codeConnectionFailure, Message: "pgshard: lost a connection while taking the shard keys of " + req.Table.Name + ": " + err.Error()}
			}
			return nil, fmt.Errorf("%w: %w", errOwnConnLost, err)
		}
	} else {
		rows, err = s.onShard(ctx, def, read)
	}
	if err != nil {
		return nil, err
	}
	return s.readKeys(req, rows)
}

// pooledKeys is generatedKeys on a connection borrowed from the default
// shard's pool, for a session whose own connections are busy (a COPY).
func (s *session) pooledKeys(ctx context.Context, req *router.KeyRequest) (*router.GeneratedKeys, error) {
	if gen := s.cachedKeys(req); gen != nil {
		return gen, nil
	}
	rows, err := s.onShard(ctx, s.db.router.Schema().Default, func(sc *serverConn) ([]string, error) {
		return s.hiddenRows(sc, keysQuery(req, s.mayCacheKeys()))
	})
	var pe *pgError
	if errors.As(err, &pe) && pe.Code == codeUndefinedTable && s.txStatus != 'I' {
		// Most likely made by the open transaction, which the borrowed
		// connection does not see.
		return nil, &pgError{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: %s; pgshard takes this statement's shard keys for %s on another connection to the default shard, which does not see a table created in the open transaction", pe.Message, req.Table.Name),
			Hint:    fmt.Sprintf("Commit the CREATE TABLE first, or include %s in the column list.", req.Table.Table.Key)}
	}
	if err != nil {
		return nil, err
	}
	return s.readKeys(req, rows)
}

// readKeys reads keysQuery's rows: req's keys, and those taken ahead kept.
func (s *session) readKeys(req *router.KeyRequest, rows []string) (*router.GeneratedKeys, error) {
	if len(rows) == 0 {
		_, pe := keyIndex(nil, req.Table.Table)
		return nil, pe
	}
	gen := &router.GeneratedKeys{Values: make([]string, 0, len(rows))}
	for _, r := range rows {
		// identity kind, type OID, key (absent when the default is
		// none of those pgshard evaluates)
		f := strings.SplitN(r, "\x1f", 3)
		if len(f) < 3 || f[2] == "" {
			t := req.Table.Table
			return nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: INSERT into sharded table %s does not set its shard key %s, and the column's default is not one pgshard can evaluate first (a sequence, an identity, gen_random_uuid())", t, t.Key),
				Hint:    fmt.Sprintf("Include %s in the column list: a row's key decides its shard.", t.Key)}
		}
		typ, _ := strconv.ParseUint(f[1], 10, 32)
		gen.Always, gen.Type = f[0] == "a", uint32(typ)
		gen.Values = append(gen.Values, f[2])
	}
	if len(gen.Values) < req.Rows {
		return nil, &pgError{Code: codeInternalError, Message: fmt.Sprintf("pgshard: asked for %d shard keys of %s, got %d", req.Rows, req.Table.Name, len(gen.Values))}
	}
	return s.keepKeys(req, gen), nil
}

// connOn is a connection of the session's on shard id on which pgshard
// may run a query of its own between the client's messages (see
// catalogConn), with its shard as catalogConn gives it (-1 for the
// attached one); nil when the session holds none there. One inside the
// client's transaction sees what the transaction created.
func (s *session) connOn(id shard.ShardID) (*serverConn, shard.ShardID) {
	if sc := s.sc; sc != nil && !sc.broken && !s.batchUsed && len(s.pending) == 0 && s.shardOf(sc) == id {
		return sc, -1
	}
	if sc := s.parked[id]; sc != nil && !sc.broken {
		return sc, id
	}
	return nil, -1
}

// keysQuery evaluates the key column's default once per key: the
// identity's sequence, a nextval of a named sequence, or
// gen_random_uuid(); NULL for any other default. When ahead, a sequence
// with a CACHE above the keys wanted gives that many, the rest kept
// (keycache.go). The
// cast to regclass fails, as the INSERT would, when the table does not
// exist.
func keysQuery(req *router.KeyRequest, ahead bool) string {
	most := 1 // no more keys than wanted
	if ahead {
		most = keyCacheMax
	}
	id := pgx.Identifier{req.Table.Name}
	if req.Table.Schema != "" {
		id = pgx.Identifier{req.Table.Schema, req.Table.Name}
	}
	rel, col := quoteLiteral(id.Sanitize()), quoteLiteral(req.Table.Table.Key)
	return fmt.Sprintf(`SELECT pg_catalog.concat_ws(E'\x1f', a.attidentity::pg_catalog.text, a.atttypid::pg_catalog.text, CASE
  WHEN a.attidentity <> '' THEN pg_catalog.nextval(pg_catalog.pg_get_serial_sequence(%[1]s, %[2]s))::pg_catalog.text
  WHEN e.expr ~ '^nextval\(''[^'']+''::regclass\)$' THEN pg_catalog.nextval(pg_catalog.substring(e.expr, '^nextval\(''([^'']+)''::regclass\)$')::pg_catalog.regclass)::pg_catalog.text
  WHEN e.expr IN ('gen_random_uuid()', 'uuid_generate_v4()') THEN pg_catalog.gen_random_uuid()::pg_catalog.text
  END)
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr) e
CROSS JOIN LATERAL (SELECT CASE
  WHEN a.attidentity <> '' THEN pg_catalog.pg_get_serial_sequence(%[1]s, %[2]s)::pg_catalog.regclass
  WHEN e.expr ~ '^nextval\(''[^'']+''::regclass\)$' THEN pg_catalog.substring(e.expr, '^nextval\(''([^'']+)''::regclass\)$')::pg_catalog.regclass
  END AS seq) q
CROSS JOIN pg_catalog.generate_series(1, GREATEST(%[3]d, LEAST(%[4]d, COALESCE((SELECT s.seqcache FROM pg_catalog.pg_sequence s WHERE s.seqrelid = q.seq), 1))))
WHERE a.attrelid = %[1]s::pg_catalog.regclass AND a.attname = %[2]s AND NOT a.attisdropped`, rel, col, req.Rows, most)
}
