package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// routeConfig is two shards with users and orders sharded by user_id, a
// reference table and everything else on s0.
const routeConfig = `users: [{name: app, password: app}]
databases:
  - name: app
    server_user: postgres
    shards:
      - {name: s0, primary: {host: h0}}
      - {name: s1, primary: {host: h1}}
    sharding:
      tables:
        - {name: users, key: user_id}
        - {name: orders, key: user_id, key_type: bigint}
      reference_tables: [countries]
`

func writeRouteConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pgshard.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoute(t *testing.T) {
	cfg := writeRouteConfig(t, routeConfig)
	for _, tc := range []struct {
		name    string
		sql     string
		want    []string // substrings of the output, each required
		refused bool
	}{
		{
			name: "single shard by key",
			sql:  "SELECT * FROM users WHERE user_id = 9",
			want: []string{"route: shard\n", "shards: s1\n", "target: a replica within the lag limits (reads.replicas), else the primary\n", "keys on s1: users.user_id = 9\n", "kind=shard shards=[1] read"},
		},
		{
			name: "insert without a column list: routed at run time",
			sql:  "INSERT INTO users VALUES ('ann', 9)",
			want: []string{"route: shard\n", "shards: chosen at run time: pgshard reads the column order of users from a server to find shard key user_id", "target: primary\n"},
		},
		{
			name: "cursor over every shard",
			sql:  "DECLARE c CURSOR FOR SELECT * FROM users ORDER BY user_id",
			want: []string{"route: cursor\n", "pgshard runs it at DECLARE, merged", "kind=cursor read"},
		},
		{
			name: "join pinned through one key",
			sql:  "SELECT u.name, sum(o.amount) FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = 7 GROUP BY u.name",
			want: []string{"route: shard\n", "shards: s0\n", "keys on s0: users.user_id = 7\n"},
		},
		{
			name: "scatter with merge",
			sql:  "SELECT country, count(*), avg(balance) FROM users GROUP BY country ORDER BY 2 DESC",
			want: []string{"route: scatter\n", "shards: s0, s1\n",
				"sent: SELECT country, count(*), sum(balance) AS avg, count(balance) AS pgshard_1 FROM users GROUP BY country ORDER BY 2 DESC",
				"merge: group=[0] count(1) avg(2/3) order(1 desc nulls first)"},
		},
		{
			name: "multi-row insert split",
			sql:  "INSERT INTO users (user_id, name) VALUES (9, 'a'), (1, 'b'), (10, 'c')",
			want: []string{"shards: s1, s0\n",
				"keys on s0: users.user_id = 1\n", "keys on s1: users.user_id = 9, 10\n",
				"shard 1 (s1): INSERT INTO users (user_id, name) VALUES (9, 'a'), (10, 'c')\n",
				"shard 0 (s0): INSERT INTO users (user_id, name) VALUES (1, 'b')"},
		},
		{
			name: "key compared in numeric: matches no row",
			sql:  "SELECT * FROM users WHERE user_id = 42.5",
			want: []string{"keys on no shard (the value equals no key value: it matches no row): users.user_id = 42.5\n"},
		},
		{
			name: "key compared in float8 past 2^53: every shard",
			sql:  "SELECT * FROM users WHERE user_id::float8 = 1e17",
			want: []string{"shards: s0, s1\n", "keys on every shard (the value may equal several key values): users.user_id = 1e17\n"},
		},
		{
			name: "unsharded table on the default shard",
			sql:  "SELECT * FROM app_settings",
			want: []string{"route: default\n", "shards: s0\n"},
		},
		{
			name: "DDL on every shard",
			sql:  "CREATE TABLE t (a int)",
			want: []string{"route: all\n", "shards: s0, s1\n"},
		},
		{
			name:    "refused join not on the key",
			sql:     "SELECT * FROM users u JOIN orders o ON o.amount = u.user_id FOR UPDATE",
			want:    []string{"route: refuse\n", "refused: 0A000 pgshard: SELECT joins sharded tables users and orders", "hint: Join sharded tables on their shard key"},
			refused: true,
		},
		{
			name: "join not on the key, one side staged",
			sql:  "SELECT * FROM users u JOIN orders o ON o.amount = u.user_id WHERE u.name = 'x'",
			want: []string{"route: staged", "stage 0 (rows): SELECT * FROM users u WHERE u.name = 'x' LIMIT ",
				"then: SELECT * FROM (SELECT * FROM pgshard_stage_0) u JOIN orders o ON o.amount = u.user_id WHERE u.name = 'x'"},
		},
		{
			name: "several statements, one refused",
			sql:  "SELECT * FROM countries; DELETE FROM users WHERE name = 'x'",
			want: []string{"statement: SELECT * FROM countries\n  route: any\n", "default shard s0",
				"statement: DELETE FROM users WHERE name = 'x'\n  route: refuse\n  refused: 0A000 ", "hint: Add WHERE user_id"},
			refused: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := (&routeCmd{Config: cfg, SQL: tc.sql}).run(&out)
			if tc.refused != (err != nil) {
				t.Errorf("error %v, want refused=%v", err, tc.refused)
			}
			if err != nil && !errors.Is(err, errRefused) {
				t.Errorf("error %v is not a refusal", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestRouteWithParams: a statement with $n is routed as a prepared
// statement bound to the --param values, and its keys shown with them; a
// count that does not match, or several statements, is an error.
func TestRouteWithParams(t *testing.T) {
	cfg := writeRouteConfig(t, routeConfig)
	for _, tc := range []struct {
		sql     string
		params  []string
		want    []string
		wantErr string
	}{
		{"SELECT * FROM users WHERE user_id = $1", []string{"9"}, []string{"shards: s1\n", "keys on s1: users.user_id = 9 ($1)\n"}, ""},
		{"SELECT * FROM orders WHERE (user_id, order_id) IN (($1, $2), ($3, $4))", []string{"9", "1", "7", "2"},
			[]string{"shards: s0, s1\n", "keys on s0: orders.user_id = 7 ($3)\n", "keys on s1: orders.user_id = 9 ($1)\n"}, ""},
		{"SELECT * FROM users WHERE user_id = ANY($1)", []string{"{7,9,10}"},
			[]string{"keys on s0: users.user_id = 7\n", "keys on s1: users.user_id = 9, 10\n"}, ""},
		{"INSERT INTO users (user_id, name) VALUES ($1, $2), ($3, $4)", []string{"9", "a", "7", "b"},
			[]string{"shard 1 (s1): INSERT INTO users (user_id, name) VALUES ($1, $2) params=[0 1]", "shard 0 (s0): INSERT INTO users (user_id, name) VALUES ($1, $2) params=[2 3]"}, ""},
		{"SELECT * FROM users WHERE user_id = $1", nil, nil, "takes 1 parameter(s) and 0 --param were given"},
		{"SELECT * FROM users WHERE user_id = 3", []string{"3"}, nil, "takes 0 parameter(s) and 1 --param were given"},
		{"SELECT 1; SELECT * FROM users WHERE user_id = $1", []string{"3"}, nil, "routed alone"},
	} {
		var out bytes.Buffer
		err := (&routeCmd{Config: cfg, SQL: tc.sql, Params: tc.params}).run(&out)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %v: error %v, want one saying %q", tc.sql, tc.params, err, tc.wantErr)
			}
			continue
		case err != nil:
			t.Errorf("%s %v: %v", tc.sql, tc.params, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s %v: output lacks %q:\n%s", tc.sql, tc.params, w, out.String())
			}
		}
	}
}

// TestRouteCommandLine goes through kong, as `pgshard route` does: flags,
// the positional SQL and the choice of database.
func TestRouteCommandLine(t *testing.T) {
	one := writeRouteConfig(t, routeConfig)
	two := writeRouteConfig(t, routeConfig+`  - name: other
    server_user: postgres
    shards: [{primary: {host: h2}}]
`)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"route", "--config", one, "SELECT 1"}, ""},
		{[]string{"route", "--config", one, "SELECT * FROM users u JOIN orders o ON true FOR UPDATE"}, "1 of 1 statement(s) refused"},
		{[]string{"route", "--config", one}, `expected "<sql>"`},
		{[]string{"route", "SELECT 1"}, "missing flags: --config"},
		{[]string{"route", "--config", two, "SELECT 1"}, "configures 2 databases (app, other): choose one with --database"},
		{[]string{"route", "--config", two, "--database", "other", "SELECT * FROM users"}, ""},
		{[]string{"route", "--config", two, "--database", "nope", "SELECT 1"}, `configures no database "nope" (it has app, other)`},
		{[]string{"route", "--config", one, ""}, "no statement to route"},
		{[]string{"route", "--config", one, "--param", "7", "--param", "a,b", "SELECT * FROM users WHERE user_id = $1 AND name = $2"}, ""},
	} {
		var c cli
		parser, err := kong.New(&c, kong.Name("pgshard"), kong.Exit(func(int) {}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := parser.Parse(tc.args)
		if err == nil {
			err = ctx.Run()
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: got %v, want an error containing %q", tc.args, err, tc.wantErr)
		}
	}
}
