package wire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const movingNodesConfig = `
admin: {listen: "off"}
pool: {connect_timeout: 1s}
users: [{name: alice, password: pw}]
databases:
  - name: app
    server_user: app
    shards:
      - {name: s0, primary: {host: 127.0.0.1, port: %d, tls: disable}}
      - {name: s1, primary: {host: 127.0.0.1, port: %d, tls: disable}}
    sharding:
      tables: [{name: users, key: user_id}]
`

// queryError runs sql on c and returns the error the server sent.
func queryError(t *testing.T, c *pgconn.PgConn, sql string) *pgconn.PgError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Exec(ctx, sql).ReadAll()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %v, want an error from pgshard", sql, err)
	}
	return pe
}

func TestReloadMovesAPrimary(t *testing.T) {
	a0, a1, b0 := closedPort(t), closedPort(t), closedPort(t)
	srv := newTestServer(t, parseConfig(t, fmt.Sprintf(movingNodesConfig, a0, a1)))
	addr := serve(t, srv)
	before, _ := login(t, addr, "alice", "pw")
	// A key of each shard: the connect error names the node it tried.
	keyOn := map[string]int{}
	for k := 0; len(keyOn) < 2; k++ {
		pe := queryError(t, before, fmt.Sprintf("SELECT * FROM users WHERE user_id = %d", k))
		for _, port := range []int{a0, a1} {
			if strings.Contains(pe.Message, ":"+strconv.Itoa(port)+")") {
				keyOn[strconv.Itoa(port)] = k
			}
		}
	}
	s0Key, s1Key := keyOn[strconv.Itoa(a0)], keyOn[strconv.Itoa(a1)]

	changed, err := srv.Reload(parseConfig(t, fmt.Sprintf(movingNodesConfig, b0, a1)))
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !strings.Contains(strings.Join(changed, ","), "databases[app] nodes") {
		t.Errorf("Reload reported %v, want databases[app] nodes among them", changed)
	}
	after, _ := login(t, addr, "alice", "pw")
	for name, c := range map[string]*pgconn.PgConn{"session from before the reload": before, "new session": after} {
		pe := queryError(t, c, fmt.Sprintf("SELECT * FROM users WHERE user_id = %d", s0Key))
		if pe.Code != codeCannotConnect || !strings.Contains(pe.Message, fmt.Sprintf("node s0-primary (127.0.0.1:%d)", b0)) {
			t.Errorf("%s, shard s0: got %s %q, want 08001 naming port %d", name, pe.Code, pe.Message, b0)
		}
		pe = queryError(t, c, fmt.Sprintf("SELECT * FROM users WHERE user_id = %d", s1Key))
		if !strings.Contains(pe.Message, fmt.Sprintf("(127.0.0.1:%d)", a1)) {
			t.Errorf("%s, shard s1 (unchanged): got %q, want port %d", name, pe.Message, a1)
		}
	}
	if got := srv.database("app").cfg.Shards[0].Primary.Port; got != b0 {
		t.Errorf("database in force has s0 on port %d, want %d", got, b0)
	}
}

func TestReloadRefusesReshaping(t *testing.T) {
	p0, p1 := closedPort(t), closedPort(t)
	base := fmt.Sprintf(movingNodesConfig, p0, p1)
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"shard renamed", "name: s1,", "name: s9,", "databases[app].shards"},
		{"shard removed", fmt.Sprintf("      - {name: s1, primary: {host: 127.0.0.1, port: %d, tls: disable}}\n", p1), "", "databases[app].shards"},
		{"sharding changed", "key: user_id", "key: id", "databases[app].sharding"},
		{"server database changed", "server_user: app", "server_user: app\n    server_database: other", "databases[app].server_database"},
		{"database renamed", "name: app", "name: app2", "databases[app] (renamed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, parseConfig(t, base))
			before := srv.database("app")
			_, err := srv.Reload(parseConfig(t, strings.Replace(base, tc.from, tc.to, 1)))
			if !errors.Is(err, ErrNeedsRestart) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload: %v, want ErrNeedsRestart naming %s", err, tc.want)
			}
			if srv.database("app") != before || before.replaced.Load() {
				t.Error("a refused reload replaced the database")
			}
		})
	}
}
