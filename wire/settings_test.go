package wire

import (
	"testing"

	"github.com/pgshard/pgshard/internal/sqltext"
)

func TestSettingChangeOf(t *testing.T) {
	cases := []struct {
		in      string
		carried bool
		want    settingChange
	}{
		{"SET search_path TO a, b", true, settingChange{setting: setting{name: "search_path", stmt: "SET search_path TO a, b"}}},
		{"set session statement_timeout = 5", true, settingChange{setting: setting{name: "statement_timeout", stmt: "set session statement_timeout = 5"}}},
		{"SET TIME ZONE 'UTC'", true, settingChange{setting: setting{name: "timezone", stmt: "SET TIME ZONE 'UTC'"}}},
		{"SET LOCAL work_mem = '1MB'", false, settingChange{}},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", false, settingChange{}},
		{"RESET ALL", true, settingChange{reset: true, setting: setting{name: "*"}}},
		{"RESET work_mem", true, settingChange{reset: true, setting: setting{name: "work_mem"}}},
	}
	for _, c := range cases {
		got, ok := settingChangeOf(c.in, sqltext.LeadingWords(c.in, 3))
		if ok != c.carried || got != c.want {
			t.Errorf("settingChangeOf(%q) = %+v %v, want %+v %v", c.in, got, ok, c.want, c.carried)
		}
	}
}

func TestStartupParametersBecomeSettings(t *testing.T) {
	ss := newSessionSettings(map[string]string{
		"user": "u", "database": "d", "application_name": "it's", "DateStyle": "ISO",
		"options": `-c search_path=a\ b --work-mem=4MB`, "bad name": "x",
	})
	want := "SET application_name = 'it''s';\nSET datestyle = 'ISO';\nSET search_path = 'a b';\nSET work_mem = '4MB';\n"
	if ss.fp != want {
		t.Fatalf("fingerprint:\n%s\nwant:\n%s", ss.fp, want)
	}
	// The same parameters in any order give the same fingerprint.
	again := newSessionSettings(map[string]string{"DateStyle": "ISO", "application_name": "it's", "options": `--work-mem=4MB -c search_path=a\ b`})
	if again.fp != ss.fp {
		t.Fatalf("fingerprint depends on order:\n%s\n%s", again.fp, ss.fp)
	}
}

func TestUnsupportedInTransactionMode(t *testing.T) {
	refused := []string{"LISTEN x", "PREPARE p AS SELECT 1", "EXECUTE p", "DEALLOCATE p", "SET ROLE r", "RESET ROLE",
		"SET SESSION AUTHORIZATION u", "DECLARE c CURSOR WITH HOLD FOR SELECT 1", "CREATE TEMP TABLE t (i int)", "SELECT pg_try_advisory_lock(1)"}
	allowed := []string{"SELECT 1", "DEALLOCATE ALL", "SET search_path = a", "CREATE TEMP TABLE t (i int) ON COMMIT DROP",
		"SELECT pg_advisory_xact_lock(1)", "UNLISTEN *", "SELECT 'listen'"}
	for _, q := range refused {
		if unsupportedInTransactionMode(q) == nil {
			t.Errorf("%q: not refused", q)
		}
	}
	for _, q := range allowed {
		if pe := unsupportedInTransactionMode(q); pe != nil {
			t.Errorf("%q: refused: %v", q, pe)
		}
	}
}
