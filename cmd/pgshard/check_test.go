package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/wire"
)

const example = "../../docs/pgshard.example.yaml"

func TestCheckExample(t *testing.T) {
	c := &checkCmd{Config: example}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	want := "database app: 2 shards, 5 nodes\ndatabase analytics: 1 shard, 1 node\nconfig OK\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestCheckBroken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pgshard.yaml")
	broken := "users: [{name: u, password: pw}]\n" +
		"pool:\n" +
		"  mode: sessoin\n" +
		"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]\n"
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	err := (&checkCmd{Config: path}).Run()
	want := path + `:3: pool.mode: "sessoin" is not one of transaction, session`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestCheckCommandLine goes through kong, as `pgshard check --config FILE`
// does, so the subcommand's wiring in cli is covered too.
func TestCheckCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"check", "--config", example}, ""},
		{[]string{"check"}, "missing flags: --config"},
		{[]string{"check", "--config", "no-such-file.yaml"}, "no-such-file.yaml"},
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

// printPreflight: one line per node and role, problems and warnings, and
// an error counting the problems (warnings alone pass).
func TestPrintPreflight(t *testing.T) {
	pf := wire.Preflight{
		Nodes: []wire.NodeCheck{
			{Database: "app", Shard: "s0", Node: "s0-primary", Role: "primary", Address: "10.0.0.10:5432", User: "pgshard", Version: "15.8", MaxPrepared: 0},
			{Database: "app", Shard: "s0", Node: "s0-replica1", Role: "replica", Address: "10.0.0.11:5432", User: "pgshard", Version: "15.8"},
			{Database: "app", Shard: "s1", Node: "s1-primary", Role: "primary", Address: "10.0.0.20:5432", User: "pgshard", Err: errors.New("cannot connect as pgshard: refused")},
		},
		NoTwoPhase: []string{"app"},
		Overbooked: []wire.Overbooking{
			{Address: "10.0.0.10:5432", Need: 121, Limit: 97},
			{Address: "10.0.0.11:5432", Role: "pgshard", Need: 60, Limit: 50},
			{Address: "10.0.0.12:5432", Need: 363, Limit: 97, Members: 3},
			{Address: "10.0.0.12:5432", Role: "pgshard", Need: 180, Limit: 50, Members: 3},
		},
		Schema: []metrics.SchemaWarning{
			{Database: "app", Kind: "key_type_mismatch", Object: "public.orders.user_id", Detail: "numeric, not bigint"},
			{Database: "app", Kind: "unique_without_key", Object: "public.users users_email_key", Detail: "enforced per shard"},
		},
	}
	var out bytes.Buffer
	err := printPreflight(&out, pf)
	want := `app/s0/s0-primary (10.0.0.10:5432, primary) as pgshard: ok, PostgreSQL 15.8, max_prepared_transactions 0
problem: app/s0/s0-replica1 (10.0.0.11:5432, replica) as pgshard: configured as a replica, but it is not in recovery: reads would not follow its primary
problem: app/s1/s1-primary (10.0.0.20:5432, primary) as pgshard: cannot connect as pgshard: refused
warning: database app: a primary has max_prepared_transactions = 0, so writes that span shards are refused (0A000); set it above the cross-shard commits that may run at once
warning: server 10.0.0.10:5432: this pgshard may open up to 121 connections to it (each user's pool at pool.size plus reserve_size, the lag monitor's and, on a primary, the notification hub's), but it accepts 97 from pgshard's roles (max_connections less its reserved slots); raise max_connections or lower the pool sizes, counting other clients and other pgshard processes too
warning: server 10.0.0.11:5432: the pools logging in as pgshard may open up to 60 connections, but the role's CONNECTION LIMIT is 50; raise it (ALTER ROLE pgshard CONNECTION LIMIT ...) or lower the pool sizes
warning: server 10.0.0.12:5432: the 3 pgshards of the peering group may open up to 363 connections to it (each user's pool at pool.size plus reserve_size, the lag monitor's and, on a primary, the notification hub's), but it accepts 97 from pgshard's roles (max_connections less its reserved slots); raise max_connections or lower the pool sizes, counting other clients and other pgshard processes too
warning: server 10.0.0.12:5432: the pools of the 3 pgshards of the peering group logging in as pgshard may open up to 180 connections, but the role's CONNECTION LIMIT is 50; raise it (ALTER ROLE pgshard CONNECTION LIMIT ...) or lower the pool sizes
problem: database app: key_type_mismatch public.orders.user_id: numeric, not bigint
warning: database app: unique_without_key public.users users_email_key: enforced per shard
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if err == nil || err.Error() != "3 problems found" {
		t.Errorf("error %v, want 3 problems found", err)
	}

	out.Reset()
	pf.Nodes, pf.Schema = pf.Nodes[:1], pf.Schema[1:]
	if err := printPreflight(&out, pf); err != nil || !strings.HasSuffix(out.String(), "servers OK\n") {
		t.Errorf("warnings only: %v\n%s", err, out.String())
	}
}

// check --connect against a node that refuses connections: the config is
// fine, the server is a problem, and the command fails.
func TestCheckConnectToANodeDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "down.yaml")
	if err := os.WriteFile(path, []byte(`
pool: {connect_timeout: 2s}
users: [{name: app, password: pw}]
databases: [{name: app, server_user: pgshard, server_password: secret, shards: [{primary: {host: 127.0.0.1, port: 1, tls: disable}}]}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := (&checkCmd{Config: path, Connect: true}).run(&out)
	if err == nil || !strings.Contains(out.String(), "config OK\nproblem: app/s0/s0-primary (127.0.0.1:1, primary) as pgshard: cannot connect as pgshard") {
		t.Errorf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "secret") {
		t.Errorf("the server password reached the output:\n%s", out.String())
	}
}

// check passes on what so_reuseport restarts do on this machine
// (wire.ResetWarning), and only when the configuration asks for them.
func TestCheckWarnsOfResetsOnRestart(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "pgshard.yaml")
		conf := fmt.Sprintf("so_reuseport: %v\nusers: [{name: u, password: pw}]\ndatabases: [{name: d, server_user: s, shards: [{name: s0, primary: {host: h}}]}]\n", reuse)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := (&checkCmd{Config: path}).run(&out); err != nil {
			t.Fatal(err)
		}
		want := reuse && wire.ResetWarning() != ""
		if got := strings.Contains(out.String(), "warning: so_reuseport on this machine: net.ipv4.tcp_migrate_req is 0"); got != want {
			t.Errorf("so_reuseport %v: output %q; want the warning: %v", reuse, out.String(), want)
		}
	}
}

func TestCheckPeers(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = down.Close()
	var out bytes.Buffer
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	checkPeers(&out, []config.Peer{{ID: 1, Address: up.Addr().String()}, {ID: 2, Address: down.Addr().String()}}, func() time.Time { return fixed })
	want := fmt.Sprintf("peer 1 (%s): reachable in 0s\nwarning: peer 2 (%s): dial tcp %s: connect: connection refused; a CancelRequest for its clients that reaches this pgshard would be lost\n",
		up.Addr(), down.Addr(), down.Addr())
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestCheckNotesPeersWithoutAnID(t *testing.T) {
	for _, id := range []int{0, 2} {
		path := filepath.Join(t.TempDir(), "pgshard.yaml")
		conf := fmt.Sprintf("peer_id: %d\npeers: [{id: 1, address: \"10.0.0.1:6432\"}]\nusers: [{name: u, password: pw}]\ndatabases: [{name: d, server_user: s, shards: [{name: s0, primary: {host: h}}]}]\n", id)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := (&checkCmd{Config: path}).run(&out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "note: peers are listed but peer_id is 0"); got != (id == 0) {
			t.Errorf("peer_id %d: output %q", id, out.String())
		}
	}
}
