package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
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
