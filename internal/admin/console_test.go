package admin

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
)

func TestConsoleWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  SHOW\tPools \n", []string{"show", "pools"}},
		{"PAUSE app, Sales", []string{"pause", "app", "sales"}},
		{`PAUSE "Sales",app`, []string{"pause", "Sales", "app"}},
		{`RESUME "My DB"`, []string{"resume", "My DB"}},
		{`RESUME "open`, []string{"resume", "open"}},
	} {
		if got := consoleWords(c.in); !slices.Equal(got, c.want) {
			t.Errorf("consoleWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// GET /config and SHOW CONFIG give the configuration in force with
// defaults filled in and no secret: the token and passwords are redacted.
func TestConfigRedactsSecrets(t *testing.T) {
	f := newFixture(t, config.Admin{Listen: "127.0.0.1:0", Token: token})
	if code, _, _ := f.get(t, "/config", ""); code != 401 {
		t.Fatalf("/config without the token: %d, want 401", code)
	}
	code, h, body := f.get(t, "/config", "Bearer "+token)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/yaml") {
		t.Fatalf("/config: %d %v", code, h)
	}
	for _, secret := range []string{token, "pw"} {
		if strings.Contains(body, ": "+secret+"\n") {
			t.Errorf("/config shows the secret %q:\n%s", secret, body)
		}
	}
	for _, want := range []string{"listen: 127.0.0.1:6432\n", "token: <redacted>\n", "password: <redacted>\n", "queue_timeout: 10s\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/config lacks %q:\n%s", want, body)
		}
	}

	tbl, err := configTable(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]*string{}
	for _, r := range tbl.rows {
		rows[*r[0]] = r[1]
	}
	for key, want := range map[string]string{
		"pool.size":         "20",
		"users[0].password": "<redacted>",
		"admin.token":       "<redacted>",
		"databases[0].shards[0].replicas[0].port": "5433",
		"databases[1].shards[0].primary.host":     "10.0.0.9",
	} {
		if got := rows[key]; got == nil || *got != want {
			t.Errorf("SHOW CONFIG %s = %v, want %s", key, got, want)
		}
	}
	if got, ok := rows["tls"]; !ok || got != nil {
		t.Errorf("SHOW CONFIG tls = %v, want NULL (no tls section)", got)
	}
}
