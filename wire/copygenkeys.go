package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/router"
)

// COPY into a sharded table whose column list leaves out the shard key
// (router.CopyIn.GenKey): COPY users (name, email) FROM STDIN into a table
// keyed by a bigserial. Each row takes its key from the column's default,
// evaluated first on the default shard as for INSERT (genkeys.go): exactly
// one key per data row, in row order, so the keys are those one
// PostgreSQL's COPY would give. The COPY goes to the shards with the key
// column first in its list, and each row with its key in front. Keys are
// asked for once per CopyData message (psql and drivers send a few hundred
// rows in each) on a connection borrowed from the default shard's pool,
// since the session's own connections are busy with the COPY.

// copyKeys writes generated keys into COPY rows.
type copyKeys struct {
	s     *session
	ci    *router.CopyIn
	req   router.KeyRequest
	batch []copyRow
}

// newCopyKeys returns the COPY statement text with the key column added to
// its column list, and what writes the keys into its rows.
func newCopyKeys(s *session, ci *router.CopyIn, text string) (*copyKeys, string, *pgError) {
	text, ok := router.WithKeyColumn(text, ci)
	if !ok {
		return nil, "", &pgError{Code: codeFeatureNotSupported, Message: "pgshard: could not add shard key " + ci.Table.Key + " to this COPY's column list",
			Hint: "Include the key column in the COPY column list."}
	}
	return &copyKeys{s: s, ci: ci, req: router.KeyRequest{Table: router.TableRef{Table: ci.Table, Schema: ci.Schema, Name: ci.Name}}}, text, nil
}

// place takes the rows the last CopyData completed, all together so their
// keys are asked for at once, and places them.
func (k *copyKeys) place(ctx context.Context, split copyRows, place func([]byte, bool) *pgError) *pgError {
	k.batch = k.batch[:0]
	for {
		row, everywhere, ok, pe := split.next()
		if pe != nil {
			return pe
		}
		if !ok {
			break
		}
		k.batch = append(k.batch, copyRow{row, everywhere})
	}
	return k.placeRows(ctx, k.batch, place)
}

// placeRows writes the keys into rows and places them.
func (k *copyKeys) placeRows(ctx context.Context, rows []copyRow, place func([]byte, bool) *pgError) *pgError {
	if pe := k.fill(ctx, rows); pe != nil {
		return pe
	}
	for _, r := range rows {
		if pe := place(r.row, r.everywhere); pe != nil {
			return pe
		}
	}
	return nil
}

// fill puts a new key in front of each data row of rows, and the key
// column's name in front of a header row (HEADER MATCH compares the names
// with the column list, which now starts with the key); the end marker
// stays as it is.
func (k *copyKeys) fill(ctx context.Context, rows []copyRow) *pgError {
	n := 0
	for _, r := range rows {
		if !r.everywhere {
			n++
		}
	}
	var keys []string
	var typ uint32
	if n > 0 {
		k.req.Rows = n
		gen, err := k.s.pooledKeys(ctx, &k.req)
		var pe *pgError
		switch {
		case errors.As(err, &pe):
			return pe
		case err != nil:
			return &pgError{Code: codeConnectionFailure, Message: "pgshard: taking the shard keys of " + k.ci.Name + " for COPY: " + err.Error()}
		}
		keys, typ = gen.Values, gen.Type
	}
	for i, r := range rows {
		var field string
		switch {
		case k.ci.Binary && r.everywhere:
			continue // the header and the trailer name no columns
		case k.ci.Binary:
			tuple, pe := k.binaryTuple(keys[0], typ, r.row)
			if pe != nil {
				return pe
			}
			rows[i].row, keys = tuple, keys[1:]
			continue
		case !r.everywhere:
			field, keys = keys[0], keys[1:]
		case isEndMarker(r.row):
			continue
		default:
			field = k.ci.Table.Key
		}
		f, pe := k.field(field)
		if pe != nil {
			return pe
		}
		rows[i].row = append(append(f, k.ci.Delim), r.row...)
	}
	return nil
}

// field is s written as a COPY field: quoted in CSV when it must be; in
// text format a key holds no character that needs escaping unless the
// delimiter is one of its own (a digit, a hex letter, '-').
func (k *copyKeys) field(s string) ([]byte, *pgError) {
	ci := k.ci
	if !ci.CSV {
		if bytes.IndexByte([]byte(s), ci.Delim) >= 0 || bytes.IndexByte([]byte(s), '\\') >= 0 {
			return nil, &pgError{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: COPY into %s: the generated key %s holds the COPY delimiter %q", ci.Table, s, ci.Delim),
				Hint:    "Use another delimiter, or include the key column in the COPY column list."}
		}
		return []byte(s), nil
	}
	if !bytes.ContainsAny([]byte(s), string([]byte{ci.Delim, ci.Quote, ci.Escape, '\r', '\n'})) && s != ci.Null {
		return []byte(s), nil
	}
	out := []byte{ci.Quote}
	for i := 0; i < len(s); i++ {
		if s[i] == ci.Quote || s[i] == ci.Escape {
			out = append(out, ci.Escape)
		}
		out = append(out, s[i])
	}
	return append(out, ci.Quote), nil
}

// binaryTuple is a binary COPY tuple with key, of the key column's type
// typ, as a first field.
func (k *copyKeys) binaryTuple(key string, typ uint32, tuple []byte) ([]byte, *pgError) {
	var val []byte
	switch typ {
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID:
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil, &pgError{Code: codeInternalError, Message: fmt.Sprintf("pgshard: generated key %q of %s is not an integer", key, k.ci.Table)}
		}
		switch typ {
		case pgtype.Int8OID:
			val = binary.BigEndian.AppendUint64(nil, uint64(n))
		case pgtype.Int4OID:
			val = binary.BigEndian.AppendUint32(nil, uint32(int32(n)))
		default:
			val = binary.BigEndian.AppendUint16(nil, uint16(int16(n)))
		}
	case pgtype.UUIDOID:
		var u pgtype.UUID
		if err := u.Scan(key); err != nil || !u.Valid {
			return nil, &pgError{Code: codeInternalError, Message: fmt.Sprintf("pgshard: generated key %q of %s is not a uuid", key, k.ci.Table)}
		}
		val = u.Bytes[:]
	case pgtype.TextOID, pgtype.VarcharOID:
		val = []byte(key)
	default:
		return nil, &pgError{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: binary COPY into %s leaves out shard key %s, whose type (OID %d) pgshard does not write in binary", k.ci.Table, k.ci.Table.Key, typ),
			Hint:    "Include the key column in the COPY column list, or use FORMAT text or csv."}
	}
	fields := binary.BigEndian.Uint16(tuple)
	out := make([]byte, 0, len(tuple)+6+len(val))
	out = binary.BigEndian.AppendUint16(out, fields+1)
	out = binary.BigEndian.AppendUint32(out, uint32(len(val)))
	out = append(out, val...)
	return append(out, tuple[2:]...), nil
}
