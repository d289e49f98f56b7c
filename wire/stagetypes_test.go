package wire

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestTypeNamesSQLName: built-in types keep their pg_catalog names, a
// user type found for the stage takes its catalog name, others none.
func TestTypeNamesSQLName(t *testing.T) {
	names := typeNames{16410: `public.mood`}
	for _, tc := range []struct {
		oid  uint32
		want string
		ok   bool
	}{
		{pgtype.Int8OID, `pg_catalog."int8"`, true},
		{16410, `public.mood`, true},
		{16999, "", false},
	} {
		if got, ok := names.sqlName(tc.oid); got != tc.want || ok != tc.ok {
			t.Errorf("sqlName(%d) = %q, %v; want %q, %v", tc.oid, got, ok, tc.want, tc.ok)
		}
	}
	if got, ok := typeNames(nil).sqlName(16410); ok {
		t.Errorf("no names found: sqlName(16410) = %q, want none", got)
	}
}
