package wire

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/shard"
)

// A staged result names its columns' types by OID, and the OID of a type
// created by DDL (an enum, a domain) differs from shard to shard: each
// shard gave it its own when the DDL ran there. Its name is the same on
// every shard, so the stage's values are written in as that name, read
// from the catalog of the shard whose row description the stage used.

// typeNames maps the OIDs of a stage's user-defined column types to their
// schema-qualified, quoted names.
type typeNames map[uint32]string

// sqlName is a type's name as SQL can cast to it: a built-in type's, else
// a user-defined one's found for the stage.
func (n typeNames) sqlName(oid uint32) (string, bool) {
	if t, ok := sqlTypeName(oid); ok {
		return t, true
	}
	t, ok := n[oid]
	return t, ok
}

// userTypesQuery names the enums and domains among oids: the types whose
// values read back as themselves from their text form.
func userTypesQuery(oids []uint32) string {
	list := make([]string, len(oids))
	for i, o := range oids {
		list[i] = strconv.FormatUint(uint64(o), 10)
	}
	return "SELECT t.oid::text || ' ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname)" +
		" FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace" +
		" WHERE t.typtype IN ('e', 'd') AND t.oid IN (" + strings.Join(list, ", ") + ")"
}

// stageTypeNames reads the names of cols' types that are not built in
// from shard id, whose row description cols is. A type it cannot name
// (not an enum or a domain, or created in the client's open transaction,
// which pgshard's own query does not see) stays out, and the stage is
// refused as before.
func (s *session) stageTypeNames(ctx context.Context, id shard.ShardID, cols []pgproto3.FieldDescription) (typeNames, error) {
	var oids []uint32
	for _, c := range cols {
		if _, ok := sqlTypeName(c.DataTypeOID); !ok {
			oids = append(oids, c.DataTypeOID)
		}
	}
	if len(oids) == 0 {
		return nil, nil
	}
	read := func(sc *serverConn) ([]string, error) { return s.hiddenRows(sc, userTypesQuery(oids)) }
	var rows []string
	var err error
	if own, on := s.catalogConn(); own != nil && (on == id || on < 0 && s.shardOf(own) == id) {
		rows, err = read(own)
		var pe *pgError
		if err != nil && !errors.As(err, &pe) {
			own.broken = true
		}
	} else {
		rows, err = s.onShard(ctx, id, read)
	}
	if err != nil {
		return nil, err
	}
	names := typeNames{}
	for _, r := range rows {
		oid, name, ok := strings.Cut(r, " ")
		if n, err := strconv.ParseUint(oid, 10, 32); ok && err == nil {
			names[uint32(n)] = name
		}
	}
	return names, nil
}
