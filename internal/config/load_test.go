package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../../docs/pgshard.example.yaml"

// TestExample loads the documented example and checks every value, the
// written ones and the defaulted ones.
func TestExample(t *testing.T) {
	got, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	node := func(name, host string, port int, mode ServerTLS) Node {
		return Node{Name: name, Host: host, Port: port, TLSMode: mode}
	}
	want := &Config{
		Listen:                 "0.0.0.0:6432",
		UnixSocketPermissions:  "0777",
		ShutdownTimeout:        time.Minute,
		MaxMessageSize:         64 << 20,
		MaxClientConn:          10000,
		IdleTransactionTimeout: 5 * time.Minute,
		LogConnections:         true,
		PassthroughAuth:        PassthroughOff,
		Pool: Pool{
			Mode: PoolTransaction, Size: 40, MinIdle: 2,
			ConnectTimeout: 3 * time.Second, QueueTimeout: 10 * time.Second,
			IdleTimeout: 10 * time.Minute, ServerLifetime: time.Hour, PreparedCache: 512, CursorMaxMiB: 64,
			ReserveTimeout: 5 * time.Second, SessionState: SessionStateRefuse,
		},
		TCP:      TCP{KeepaliveIdle: 15 * time.Second, KeepaliveInterval: 5 * time.Second, KeepaliveCount: 3},
		TwoPhase: TwoPhase{ResolveAfter: 30 * time.Second, ResolveInterval: 15 * time.Second, DeadlockTimeout: time.Second},
		Admin:    Admin{Listen: "0.0.0.0:6433", Token: "replace-with-a-long-random-string", Console: "127.0.0.1:6434"},
		Reads: Reads{
			Replicas: true, MaxLagBytes: 8 << 20, MaxLag: time.Second, Fallback: FallbackPrimary,
			ReadYourWrites: true, ReadYourWritesWait: 100 * time.Millisecond,
		},
		Monitor: Monitor{Interval: 500 * time.Millisecond, Timeout: time.Second, BanBase: time.Second, BanMax: 30 * time.Second},
		Users: []User{
			{Name: "app", Auth: AuthSCRAM, Password: "SCRAM-SHA-256$4096:5WiFhIGpxXWMvcHyQs7BEQ==$iLepsnh1Zf7aHr5+MEqshAmP0I5jOYL3zLeMzQd8wrY=:Kq5GDzVix+ldiHU5CRR7Epj6aCEo/GBOa2dkDWnQbxA="},
			{Name: "legacy", Auth: AuthMD5, Password: "md5571c0c2fe9ae5e2c5f2a88d6bc0d98e3"},
			{Name: "reporting", Auth: AuthSCRAM, Password: "reporting-secret", ServerUser: "reporting_ro", ServerPassword: "reporting-ro-secret", PoolSize: 5,
				Networks: []string{"10.20.0.0/16"}},
			{Name: "migrator", Auth: AuthSCRAM, Password: "migrator-secret", PoolMode: PoolSession, MaxClientConn: 2, MaxUserConnections: 4},
			{Name: "monitor", Auth: AuthTrust},
			{Name: "ops", Auth: AuthSCRAM, Password: "ops-secret", Admin: true, Networks: []string{"10.0.9.0/24"}},
		},
		Databases: []Database{
			{
				Name: "app", ServerDatabase: "app_prod", ServerUser: "pgshard", ServerPassword: "pgshard-secret",
				Shards: []Shard{
					{Name: "s0", Primary: node("s0-primary", "10.0.0.10", 5432, ServerTLSPrefer), Replicas: []Node{
						node("s0-replica1", "10.0.0.11", 5432, ServerTLSRequire),
						node("s0-eu", "10.0.1.11", 5433, ServerTLSPrefer),
					}},
					{Name: "s1", Primary: node("s1-primary", "10.0.0.20", 5432, ServerTLSRequire), Replicas: []Node{
						node("s1-replica1", "10.0.0.21", 5432, ServerTLSPrefer),
					}},
				},
				Sharding: Sharding{
					Tables: []ShardedTable{
						{Name: "users", Key: "user_id", KeyType: "bigint"},
						{Name: "orders", Key: "user_id", KeyType: "bigint"},
						{Name: "public.sessions", Key: "token", KeyType: "uuid"},
					},
					ReferenceTables: []string{"countries", "currencies"},
					DefaultShard:    "s0",
					KeylessWrites:   KeylessRefuse,
					KeyUpdates:      KeyUpdatesMove,
					Functions:       []RoutedFunction{{Name: "place_order", KeyArg: 1, Table: "orders"}},
				},
			},
			{
				Name: "analytics", ServerDatabase: "analytics", ServerUser: "pgshard", ServerPassword: "pgshard-secret", PoolSize: 5, MaxDBConnections: 12,
				Shards:   []Shard{{Name: "s0", Primary: node("s0-primary", "analytics-db.internal", 5432, ServerTLSPrefer)}},
				Sharding: Sharding{DefaultShard: "s0", KeylessWrites: KeylessRefuse, KeyUpdates: KeyUpdatesMove},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ") // secrets are redacted, but the rest shows
		t.Fatalf("example loaded as\n%s", g)
	}

	// The helpers the proxy uses.
	app, reporting := got.Database("app"), got.User("reporting")
	if app == nil || reporting == nil || got.Database("nope") != nil || got.User("nope") != nil {
		t.Fatal("Database/User lookups wrong")
	}
	if u, p := app.ServerCredentials(reporting); u != "reporting_ro" || p.Reveal() != "reporting-ro-secret" {
		t.Errorf("reporting's server credentials: %s", u)
	}
	if u, p := app.ServerCredentials(got.User("app")); u != "pgshard" || p.Reveal() != "pgshard-secret" {
		t.Errorf("app's server credentials: %s", u)
	}
	if n := app.Nodes(); n != 5 {
		t.Errorf("app has %d nodes, want 5", n)
	}
}

// TestExampleInDocs keeps the copy of the example in configuration.md
// identical to the file the tests load.
func TestExampleInDocs(t *testing.T) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	const open = "<!-- example: docs/pgshard.example.yaml -->\n```yaml\n"
	_, rest, ok := bytes.Cut(md, []byte(open))
	if !ok {
		t.Fatalf("configuration.md has no %q", open)
	}
	block, _, ok := bytes.Cut(rest, []byte("```\n"))
	if !ok || !bytes.Equal(block, example) {
		t.Fatal("the example in docs/configuration.md differs from docs/pgshard.example.yaml; copy the file into the block")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pool
	if c.Listen != "127.0.0.1:6432" || c.ShutdownTimeout != 30*time.Second || c.MaxMessageSize != 67108864 || c.TLS != nil ||
		c.MaxClientConn != 10000 || c.IdleTransactionTimeout != 0 || c.ClientIdleTimeout != 0 || !c.LogConnections ||
		p.Mode != PoolTransaction || p.Size != 20 || p.MinIdle != 0 || p.ConnectTimeout != 5*time.Second ||
		p.QueueTimeout != 10*time.Second || p.IdleTimeout != 10*time.Minute || p.ServerLifetime != time.Hour || p.PreparedCache != 256 ||
		p.ReserveSize != 0 || p.ReserveTimeout != 5*time.Second ||
		c.TCP != (TCP{KeepaliveIdle: 15 * time.Second, KeepaliveInterval: 5 * time.Second, KeepaliveCount: 3}) {
		t.Errorf("top-level defaults: %+v", c)
	}
	if c.UnixSocketPermissions != "0777" || c.UnixSocketMode() != 0o777 || c.UnixSocketGroup != "" {
		t.Errorf("unix socket defaults: %q %v %q", c.UnixSocketPermissions, c.UnixSocketMode(), c.UnixSocketGroup)
	}
	if c.Admin != (Admin{Listen: "127.0.0.1:6433", Console: AdminOff}) || !c.Admin.Enabled() || c.Admin.ConsoleEnabled() {
		t.Errorf("admin defaults: %+v", c.Admin)
	}
	if c.Reads != (Reads{Replicas: true, MaxLagBytes: 16 << 20, MaxLag: time.Second, Fallback: FallbackPrimary, ReadYourWrites: true}) {
		t.Errorf("reads defaults: %+v", c.Reads)
	}
	if c.Monitor != (Monitor{Interval: 250 * time.Millisecond, Timeout: time.Second, BanBase: time.Second, BanMax: 30 * time.Second}) {
		t.Errorf("monitor defaults: %+v", c.Monitor)
	}
	d := c.Databases[0]
	if c.Users[0].Auth != AuthSCRAM || d.ServerDatabase != "app" || d.Shards[0].Name != "s0" ||
		d.Shards[0].Primary != (Node{Name: "s0-primary", Host: "localhost", Port: 5432, TLSMode: ServerTLSPrefer}) {
		t.Errorf("item defaults: %+v", c)
	}

	// Zero where zero means something stays zero; null takes the default;
	// merged keys count as set.
	c, err = Parse([]byte(lines(
		"pool: {idle_timeout: 0s, server_lifetime: ~, min_idle: 0}",
		"users: [{name: u, password: pw}]",
		"databases:",
		"  - name: d",
		"    server_user: s",
		"    shards:",
		"      - primary: &p {host: h, port: 6000, tls: disable}",
		"      - primary: {<<: *p, host: h2}",
	)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Pool.IdleTimeout != 0 || c.Pool.ServerLifetime != time.Hour {
		t.Errorf("pool: %+v", c.Pool)
	}
	if n := c.Databases[0].Shards[1].Primary; n.Port != 6000 || n.TLSMode != ServerTLSDisable || n.Host != "h2" {
		t.Errorf("merged node: %+v", n)
	}
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// valid is a correct configuration after the given lines, which therefore
// are lines 1, 2, ... of the file.
func valid(first ...string) string {
	return lines(first...) + lines(
		"users:",
		"  - name: u",
		"    password: pw",
		"databases:",
		"  - name: d",
		"    server_user: s",
		"    shards:",
		"      - primary:",
		"          host: h",
	)
}

// withNode is a correct configuration whose only node has the given extra
// lines (indented under primary) from line 9 on.
func withNode(extra ...string) string {
	for i, l := range extra {
		extra[i] = "          " + l
	}
	return lines(
		"users:",
		"  - name: u",
		"    password: pw",
		"databases:",
		"  - name: d",
		"    server_user: s",
		"    shards:",
		"      - primary:",
	) + lines(extra...)
}

// user is a correct configuration whose only user has the given lines,
// from line 3 on.
func user(l ...string) string {
	for i := range l {
		l[i] = "    " + l[i]
	}
	return lines(append([]string{"users:", "  - name: u"}, l...)...) + lines(
		"databases:",
		"  - name: d",
		"    server_user: s",
		"    shards: [{primary: {host: h}}]",
	)
}

const (
	scramOK = "SCRAM-SHA-256$4096:5WiFhIGpxXWMvcHyQs7BEQ==$iLepsnh1Zf7aHr5+MEqshAmP0I5jOYL3zLeMzQd8wrY=:Kq5GDzVix+ldiHU5CRR7Epj6aCEo/GBOa2dkDWnQbxA="
	md5OK   = "md5571c0c2fe9ae5e2c5f2a88d6bc0d98e3"
)

// TestErrors has one case per kind of mistake. Each wanted string must
// start the error line for it, in order, and there must be no other errors.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "a")
	otherCert, _ := selfSigned(t, dir, "b")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		// The file as a whole.
		{"empty", "", []string{`t.yaml: empty configuration`}},
		{"only comments", "# nothing\n", []string{`t.yaml: empty configuration`}},
		{"null", "~\n", []string{`t.yaml:1: empty configuration`}},
		{"not a mapping", "- a\n", []string{`t.yaml:1: the configuration must be a mapping of keys to values, got a list`}},
		{"syntax", "pool:\n  mode: [\n", []string{`t.yaml:2: YAML syntax: did not find expected node content`}},
		{"two documents", valid() + "---\nlisten: x\n", []string{`t.yaml:11: a second YAML document`}},
		{"nothing configured", "{}\n", []string{
			`t.yaml:1: users: at least one user is required`,
			`t.yaml:1: databases: at least one database is required`}},

		// Decoding: unknown keys, types, durations.
		{"unknown key", valid("lisen: :6432"), []string{`t.yaml:1: lisen: unknown key; valid keys here are listen, unix_socket_dir, unix_socket_permissions, unix_socket_group, shutdown_timeout,`}},
		{"unknown nested key", valid("pool:", "  sise: 3"), []string{`t.yaml:2: pool.sise: unknown key; valid keys here are mode, size,`}},
		{"unknown user key", user("pasword: x"), []string{
			`t.yaml:2: users[0].password: required for auth scram-sha-256`,
			`t.yaml:3: users[0].pasword: unknown key`}},
		{"duplicate key", valid("pool:", "  size: 1", "  size: 2"), []string{`t.yaml:3: pool.size: key is set twice`}},
		{"wrong type", valid("pool:", "  size: lots"), []string{`t.yaml:2: pool.size: want an integer, got "lots"`}},
		{"wrong types on one line", valid("pool: {size: x, min_idle: x, idle_timeout: a long value}"), []string{
			`t.yaml:1: pool.size: want an integer, got "x"`,
			`t.yaml:1: pool.min_idle: want an integer, got "x"`,
			`t.yaml:1: pool.idle_timeout: want a duration with a unit, such as "500ms", "5s" or "10m", got "a long value"`}},
		{"wrong type for a section", valid("pool: [1]"), []string{`t.yaml:1: pool: want a mapping, got a list`}},
		{"wrong type for a list", lines("users: u", "databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"),
			[]string{`t.yaml:1: users: want a list, got "u"`}},
		{"duration without unit", valid("pool:", "  connect_timeout: 5"), []string{`t.yaml:2: pool.connect_timeout: want a duration with a unit, such as "500ms", "5s" or "10m", got 5`}},
		{"bad duration", valid("shutdown_timeout: 5 seconds"), []string{`t.yaml:1: shutdown_timeout: want a duration with a unit, such as "500ms", "5s" or "10m", got "5 seconds"`}},

		// Values.
		{"listen", valid("listen: 6432"), []string{`t.yaml:1: listen: "6432" is not host:port (missing port in address)`}},
		{"listen port", valid("listen: localhost:http"), []string{`t.yaml:1: listen: port "http" of "localhost:http" is not a number`}},
		{"negative duration", valid("shutdown_timeout: -1s"), []string{`t.yaml:1: shutdown_timeout: -1s is negative`}},
		{"negative size", valid("max_message_size: -5"), []string{`t.yaml:1: max_message_size: -5 is not a positive number of bytes`}},
		{"no clients", valid("max_client_conn: 0"), []string{`t.yaml:1: max_client_conn: 0 must be at least 1`}},
		{"negative idle transaction", valid("idle_transaction_timeout: -1s"), []string{`t.yaml:1: idle_transaction_timeout: -1s is negative (0s means no limit)`}},
		{"proxy protocol", valid("proxy_protocol: {trusted: [10.0.0.0/8, lb.internal]}"), []string{`t.yaml:1: proxy_protocol.trusted[1]: "lb.internal" is neither an address nor a CIDR prefix such as 10.0.0.0/8`}},
		{"proxy protocol trusts no socket", valid("proxy_protocol: {trusted: [local]}"), []string{`t.yaml:1: proxy_protocol.trusted[0]: "local" is neither an address nor a CIDR prefix such as 10.0.0.0/8`}},
		{"unix socket dir", valid("unix_socket_dir: /nonexistent/pgshard"), []string{`t.yaml:1: unix_socket_dir: stat /nonexistent/pgshard: no such file or directory`}},
		{"unix socket not a dir", valid("unix_socket_dir: /etc/passwd"), []string{`t.yaml:1: unix_socket_dir: /etc/passwd is not a directory`}},
		{"proxy protocol without peers", valid("proxy_protocol: {trusted: []}"), []string{`t.yaml:1: proxy_protocol.trusted: list the load balancers that send PROXY headers (addresses or CIDR prefixes)`}},
		{"peer id", valid("peer_id: 128"), []string{`t.yaml:1: peer_id: 128 is not from 1 to 127 (0 turns peering off)`}},
		{"peers", valid("peer_id: 1", "peers: [{id: 1, address: 10.0.0.1:6432}, {id: 1, address: 10.0.0.2}, {id: 0}]"), []string{
			`t.yaml:2: peers[1].id: 1 is listed twice`,
			`t.yaml:2: peers[1].address: "10.0.0.2" is not host:port (missing port in address)`,
			`t.yaml:2: peers[2].id: 0 is not from 1 to 127`,
			`t.yaml:2: peers[2].address: required: the host:port this peer serves clients on`}},
		{"negative client idle", valid("client_idle_timeout: -1s"), []string{`t.yaml:1: client_idle_timeout: -1s is negative (0s means no limit)`}},
		{"negative slow requests", valid("log_slow_requests: -1s"), []string{`t.yaml:1: log_slow_requests: -1s is negative (0s turns the log off)`}},
		{"pool mode", valid("pool:", "  mode: sessoin"), []string{`t.yaml:2: pool.mode: "sessoin" is not one of transaction, session`}},
		{"pool size", valid("pool:", "  size: 0"), []string{`t.yaml:2: pool.size: 0 is less than 1`}},
		{"database pool size", lines("users: [{name: u, password: pw}]", "databases: [{name: d, server_user: s, pool_size: 0, shards: [{primary: {host: h}}]}]"),
			[]string{`t.yaml:2: databases[0].pool_size: 0 is less than 1 (leave it out to use pool.size)`}},
		{"passthrough without tls", lines("passthrough_auth: tls", "users: [{name: u, password: pw}]", "databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"),
			[]string{`t.yaml:1: passthrough_auth: tls needs a tls section: clients send their password in clear text, over TLS only (or set any)`}},
		{"passthrough mode", lines("passthrough_auth: yes", "users: [{name: u, password: pw}]", "databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"),
			[]string{`t.yaml:1: passthrough_auth: "yes" is not one of off, tls, any`}},
		{"database connection bound", lines("users: [{name: u, password: pw}]", "databases: [{name: d, server_user: s, max_db_connections: 0, shards: [{primary: {host: h}}]}]"),
			[]string{`t.yaml:2: databases[0].max_db_connections: 0 is less than 1 (leave it out for no bound)`}},
		{"user networks and TLS", lines("users:", "  - name: u", "    password: pw", "    networks: [10.0.0.0/8, 192.168.1.7, 10.0.0.0/33, nowhere, local]", "    require_tls: true",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{
			`t.yaml:4: users[0].networks[2]: "10.0.0.0/33" is neither an address, a CIDR prefix such as 10.0.0.0/8, nor local (the Unix socket)`,
			`t.yaml:4: users[0].networks[3]: "nowhere" is neither an address, a CIDR prefix such as 10.0.0.0/8, nor local (the Unix socket)`,
			`t.yaml:5: users[0].require_tls: needs tls (cert_file and key_file) at the top level, so that clients can connect over TLS`,
		}},
		{"user pool overrides", lines("users:", "  - name: u", "    password: pw", "    pool_mode: statement", "    pool_size: 0", "    max_client_conn: 0",
			"    max_user_connections: -1", "databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{
			`t.yaml:4: users[0].pool_mode: "statement" is not one of transaction, session`,
			`t.yaml:5: users[0].pool_size: 0 is less than 1 (leave it out to use pool.size)`,
			`t.yaml:6: users[0].max_client_conn: 0 is less than 1 (leave it out for no limit of the user's own)`,
			`t.yaml:7: users[0].max_user_connections: -1 is less than 1 (leave it out for no bound)`,
		}},
		{"pool min_idle", valid("pool:", "  size: 2", "  min_idle: 3"), []string{`t.yaml:3: pool.min_idle: 3 is more than pool.size 2`}},
		{"pool negatives", valid("pool:", "  min_idle: -1", "  idle_timeout: -1m", "  prepared_cache: -1", "  queue_timeout: 0s"), []string{
			`t.yaml:2: pool.min_idle: -1 is negative`,
			`t.yaml:3: pool.idle_timeout: -1m0s is negative`,
			`t.yaml:4: pool.prepared_cache: -1 is negative`,
			`t.yaml:5: pool.queue_timeout: must be more than 0`}},

		// Admin listener, reads, monitor.
		{"admin off", valid("admin: {listen: off}"), nil},
		{"admin loopback without token", valid("admin:", "  listen: '[::1]:7000'"), nil},
		{"admin localhost without token", valid("admin:", "  listen: localhost:7000"), nil},
		{"admin public with token", valid("admin:", "  listen: 0.0.0.0:7000", "  token: s3cret-Token_1"), nil},
		{"admin empty listen", valid("admin:", "  listen: ''"), []string{`t.yaml:2: admin.listen: must not be empty; write "off" to disable`}},
		{"admin listen", valid("admin:", "  listen: 6433"), []string{`t.yaml:2: admin.listen: "6433" is not host:port (missing port in address)`}},
		{"admin listen port", valid("admin:", "  listen: localhost:admin"), []string{`t.yaml:2: admin.listen: port "admin" of "localhost:admin" is not a number`}},
		{"admin on the data port", valid("listen: 127.0.0.1:6432", "admin:", "  listen: 127.0.0.1:6432"), []string{`t.yaml:3: admin.listen: "127.0.0.1:6432" is the data port (listen)`}},
		{"admin public needs a token", valid("admin:", "  listen: 0.0.0.0:6433"), []string{`t.yaml:1: admin.token: required when admin.listen "0.0.0.0:6433" is not a loopback address`}},
		{"admin every interface needs a token", valid("admin:", "  listen: :6433"), []string{`t.yaml:1: admin.token: required when admin.listen ":6433" is not a loopback address`}},
		{"admin token empty", valid("admin:", "  token: ''"), []string{`t.yaml:2: admin.token: must not be empty`}},
		{"socket permissions ok", valid("unix_socket_permissions: 0770", "unix_socket_group: '0'"), nil},
		{"socket permissions in decimal", valid("unix_socket_permissions: 770"), []string{`t.yaml:1: unix_socket_permissions: "770" is not a mode in octal from 0000 to 0777, such as 0770`}},
		{"socket permissions too wide", valid("unix_socket_permissions: 01777"), []string{`t.yaml:1: unix_socket_permissions: "01777" is not a mode in octal`}},
		{"socket group unknown", valid("unix_socket_group: no-such-group-here"), []string{`t.yaml:1: unix_socket_group: "no-such-group-here" is not a group on this machine`}},
		{"console ok", lines("admin: {console: 127.0.0.1:6434}", "users: [{name: ops, password: pw, admin: true}]",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), nil},
		{"console empty", valid("admin:", "  console: ''"), []string{`t.yaml:2: admin.console: must not be empty; write "off" (the default) to disable the admin console`}},
		{"console without admins", valid("admin:", "  console: 127.0.0.1:6434"), []string{`t.yaml:2: admin.console: no user may log in to it: set admin: true on the users who may`}},
		{"console on the admin listener", lines("admin: {console: 127.0.0.1:6433}", "users: [{name: ops, password: pw, admin: true}]",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{`t.yaml:1: admin.console: "127.0.0.1:6433" is already listen or admin.listen`}},
		{"console trust on the network", lines("admin: {console: 0.0.0.0:6434, token: tok}", "users:", "  - name: ops", "    auth: trust", "    admin: true",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{`t.yaml:4: users[0].auth: trust for an admin user while admin.console "0.0.0.0:6434" is not a loopback address`}},
		{"console trust on loopback", lines("admin: {console: 127.0.0.1:6434}", "users: [{name: ops, auth: trust, admin: true}]",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), nil},

		{"admin token with a space", valid("admin:", "  token: two words"), []string{`t.yaml:2: admin.token: character 4 is not visible ASCII`}},
		{"admin unknown key", valid("admin:", "  tokn: x"), []string{`t.yaml:2: admin.tokn: unknown key; valid keys here are listen, token`}},
		{"tcp keepalive count 0", valid("tcp:", "  keepalive_count: 0"), []string{`t.yaml:2: tcp.keepalive_count: 0 is less than 1`}},
		{"tcp keepalive interval 0", valid("tcp:", "  keepalive_interval: 0s"), []string{`t.yaml:2: tcp.keepalive_interval: must be more than 0`}},
		{"tcp user timeout negative", valid("tcp:", "  user_timeout: -1s"), []string{`t.yaml:2: tcp.user_timeout: -1s is negative`}},
		{"deadlock timeout negative", valid("two_phase:", "  deadlock_timeout: -1s"), []string{`t.yaml:2: two_phase.deadlock_timeout: -1s is negative (0 turns the detection off)`}},
		{"reads mistakes", valid("reads:", "  fallback: replica", "  max_lag_bytes: -1", "  max_lag: -1s", "  read_your_writes_wait: -1s"), []string{
			`t.yaml:2: reads.fallback: "replica" is not one of primary, error`,
			`t.yaml:3: reads.max_lag_bytes: -1 is negative`,
			`t.yaml:4: reads.max_lag: -1s is negative`,
			`t.yaml:5: reads.read_your_writes_wait: -1s is negative`}},
		{"reads wait without read_your_writes", valid("reads:", "  read_your_writes: false", "  read_your_writes_wait: 1s"), []string{
			`t.yaml:3: reads.read_your_writes_wait: 1s has no effect with read_your_writes: false`}},
		{"reads zero lag", valid("reads: {max_lag_bytes: 0, max_lag: 0s, replicas: false}"), nil},
		{"reads types", valid("reads:", "  replicas: maybe", "  max_lag_bytes: 16MiB", "  max_lag: 1"), []string{
			`t.yaml:2: reads.replicas: want true or false, got "maybe"`,
			`t.yaml:3: reads.max_lag_bytes: want an integer, got "16MiB"`,
			`t.yaml:4: reads.max_lag: want a duration with a unit, such as "500ms", "5s" or "10m", got 1`}},
		{"reads unknown key", valid("reads:", "  max_lag_seconds: 1s"), []string{`t.yaml:2: reads.max_lag_seconds: unknown key; valid keys here are replicas, max_lag_bytes, max_lag, fallback, read_your_writes, read_your_writes_wait`}},
		{"monitor mistakes", valid("monitor:", "  interval: 0s", "  timeout: -1s", "  ban_base: 10s", "  ban_max: 5s"), []string{
			`t.yaml:2: monitor.interval: 0s must be more than 0`,
			`t.yaml:3: monitor.timeout: -1s must be more than 0`,
			`t.yaml:5: monitor.ban_max: 5s is less than monitor.ban_base 10s`}},
		{"monitor unknown key", valid("monitor:", "  ban: 1s"), []string{`t.yaml:2: monitor.ban: unknown key; valid keys here are interval, timeout, ban_base, ban_max`}},

		// Users and passwords.
		{"auth", user("auth: plain", "password: pw"), []string{`t.yaml:3: users[0].auth: "plain" is not one of scram-sha-256, md5, trust`}},
		{"password required", user("auth: md5"), []string{`t.yaml:2: users[0].password: required for auth md5`}},
		{"trust needs no password", user("auth: trust"), nil},
		{"md5 hash", user("auth: md5", "password: "+md5OK), nil},
		{"md5 hash malformed", user("auth: md5", "password: md5abc"), []string{`t.yaml:4: users[0].password: starts with "md5" but is not an md5 hash`}},
		{"md5 with verifier", user("auth: md5", "password: "+scramOK), []string{`t.yaml:4: users[0].password: is a SCRAM-SHA-256 verifier, which cannot check md5 logins`}},
		{"scram with md5 hash", user("password: " + md5OK), []string{`t.yaml:3: users[0].password: is an md5 hash, which cannot check scram-sha-256 logins`}},
		{"scram verifier", user("password: " + scramOK), nil},
		{"scram verifier shape", user("password: SCRAM-SHA-256$4096:c2FsdA==$abc"), []string{`t.yaml:3: users[0].password: is not a well-formed SCRAM-SHA-256 verifier: want SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>`}},
		{"scram verifier key", user("password: SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:c2FsdA=="), []string{`t.yaml:3: users[0].password: is not a well-formed SCRAM-SHA-256 verifier: the stored key is not 32 bytes in base64`}},
		{"scram verifier iterations", user("password: SCRAM-SHA-256$0:c2FsdA==$c2FsdA==:c2FsdA=="), []string{`t.yaml:3: users[0].password: is not a well-formed SCRAM-SHA-256 verifier: the iteration count`}},
		{"server_password alone", user("password: pw", "server_password: x"), []string{`t.yaml:4: users[0].server_password: set without server_user`}},
		{"duplicate user", lines("users:", "  - {name: u, password: a, server_user: x}", "  - {name: u, password: b, server_user: x}",
			"databases: [{name: d, shards: [{primary: {host: h}}]}]"), []string{`t.yaml:3: users[1].name: user "u" is already defined at line 2`}},
		{"user without name", lines("users:", "  - password: a", "databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"),
			[]string{`t.yaml:2: users[0].name: required`}},
		{"no server_user anywhere", lines("users:", "  - {name: u, password: a}", "  - {name: v, password: a, server_user: v}", "  - {name: w, password: a}",
			"databases:", "  - name: d", "    shards: [{primary: {host: h}}]"),
			[]string{`t.yaml:6: databases[0].server_user: database "d" has no server_user and neither has user "u" (line 2), "w" (line 4)`}},

		// Databases, shards, nodes.
		{"duplicate database", lines("users: [{name: u, password: pw}]", "databases:", "  - {name: d, server_user: s, shards: [{primary: {host: h}}]}", "  - {name: d, server_user: s, shards: [{primary: {host: h}}]}"),
			[]string{`t.yaml:4: databases[1].name: database "d" is already defined at line 3`}},
		{"no shards", lines("users: [{name: u, password: pw}]", "databases:", "  - name: d", "    server_user: s"),
			[]string{`t.yaml:3: databases[0].shards: at least one shard is required`}},
		{"no primary", lines("users: [{name: u, password: pw}]", "databases:", "  - name: d", "    server_user: s", "    shards:", "      - name: a", "        replicas: [{host: r}]"),
			[]string{`t.yaml:6: databases[0].shards[0].primary: required: every shard has a primary`}},
		{"duplicate shard and node", lines("users: [{name: u, password: pw}]", "databases:", "  - name: d", "    server_user: s", "    shards:",
			"      - {name: a, primary: {host: h}}", "      - {name: a, primary: {host: h, name: b}, replicas: [{host: r, name: b}]}"),
			[]string{`t.yaml:7: databases[0].shards[1].name: shard "a" is already defined at line 6`,
				`t.yaml:7: databases[0].shards[1].replicas[0].name: node "b" is already defined at line 7`}},
		{"node host", withNode("port: 5432"), []string{`t.yaml:8: databases[0].shards[0].primary.host: required`}},
		{"sharding mistakes", valid() + lines(
			"    sharding:",
			"      default_shard: s9",
			"      keyless_writes: sometimes",
			"      key_updates: rewrite",
			"      tables:",
			"        - {name: users, key: user_id, key_type: float8}",
			"        - {name: Users, key: id}",
			"        - {name: orders}",
			"      reference_tables: [orders, \"\"]",
		), []string{
			`t.yaml:12: databases[0].sharding.default_shard: no shard is called "s9"`,
			`t.yaml:13: databases[0].sharding.keyless_writes: "sometimes" is not one of refuse, all_shards`,
			`t.yaml:14: databases[0].sharding.key_updates: "rewrite" is not one of move, refuse`,
			`t.yaml:16: databases[0].sharding.tables[0].key_type: "float8" is not a supported shard key type; use one of bigint,`,
			`t.yaml:17: databases[0].sharding.tables[1].name: table "users" is already defined at line 16`,
			`t.yaml:18: databases[0].sharding.tables[2].key: required: the column whose hash places each row`,
			`t.yaml:19: databases[0].sharding.reference_tables[0]: table "orders" is already defined at line 18`,
			`t.yaml:19: databases[0].sharding.reference_tables[1]: must not be empty`}},
		{"routed function mistakes", valid() + lines(
			"    sharding:",
			"      tables: [{name: orders, key: user_id}]",
			"      functions:",
			"        - {name: place_order, key_arg: 1, table: orders}",
			"        - {name: Place_Order, key_arg: 2, table: orders}",
			"        - {name: f, table: users}",
			"        - {key_arg: 1}",
		), []string{
			`t.yaml:15: databases[0].sharding.functions[1].name: function "place_order" is already defined at line 14`,
			`t.yaml:16: databases[0].sharding.functions[2].key_arg: required: the position (from 1) of the argument that is the shard key`,
			`t.yaml:16: databases[0].sharding.functions[2].table: "users" is not one of sharding.tables`,
			`t.yaml:17: databases[0].sharding.functions[3].name: required`,
			`t.yaml:17: databases[0].sharding.functions[3].table: required: the sharded table whose key the argument is`}},
		{"node port", withNode("host: h", "port: 70000"), []string{`t.yaml:10: databases[0].shards[0].primary.port: 70000 is out of range 1-65535`}},
		{"node port zero", withNode("host: h", "port: 0"), []string{`t.yaml:10: databases[0].shards[0].primary.port: 0 is out of range`}},
		{"node tls", withNode("host: h", "tls: verify"), []string{`t.yaml:10: databases[0].shards[0].primary.tls: "verify" is not one of disable, prefer, require, verify-ca, verify-full`}},
		{"node tls needs ca", withNode("host: h", "tls: verify-full"), []string{`t.yaml:10: databases[0].shards[0].primary.tls: verify-full needs ca_file`}},
		{"node ca ok", withNode("host: h", "tls: verify-ca", "ca_file: "+cert), nil},
		{"node ca missing", withNode("host: h", "ca_file: "+missing), []string{`t.yaml:10: databases[0].shards[0].primary.ca_file: "` + missing + `": no such file or directory`}},
		{"node ca not PEM", withNode("host: h", "ca_file: "+notPEM), []string{`t.yaml:10: databases[0].shards[0].primary.ca_file: "` + notPEM + `" holds no PEM certificate`}},

		{"node client cert ok", withNode("host: h", "tls: require", "cert_file: "+cert, "key_file: "+key), nil},
		{"node client cert without key", withNode("host: h", "tls: require", "cert_file: "+cert), []string{`t.yaml:8: databases[0].shards[0].primary: cert_file and key_file go together`}},
		{"node client cert without TLS", withNode("host: h", "tls: disable", "cert_file: "+cert, "key_file: "+key), []string{`t.yaml:11: databases[0].shards[0].primary.cert_file: a client certificate needs TLS to the node; tls is disable`}},
		{"node client cert not a pair", withNode("host: h", "tls: require", "cert_file: "+otherCert, "key_file: "+key), []string{`t.yaml:8: databases[0].shards[0].primary: cert_file and key_file do not load as a certificate and its key`}},

		// Client TLS.
		{"tls ok", valid("tls:", "  cert_file: "+cert, "  key_file: "+key), nil},
		{"tls key missing", valid("tls:", "  cert_file: "+cert), []string{`t.yaml:1: tls.key_file: required`}},
		{"tls files missing", valid("tls: {cert_file: " + missing + ", key_file: " + missing + "}"), []string{
			`t.yaml:1: tls.cert_file: "` + missing + `": no such file or directory`,
			`t.yaml:1: tls.key_file: "` + missing + `": no such file or directory`}},
		{"tls not a pair", valid("tls:", "  cert_file: "+otherCert, "  key_file: "+key), []string{`t.yaml:1: tls: cert_file and key_file do not load as a certificate and its key: tls: private key does not match public key`}},
		{"tls client CA ok", valid("tls:", "  cert_file: "+cert, "  key_file: "+key, "  client_ca_file: "+cert), nil},
		{"tls client CA missing", valid("tls: {cert_file: " + cert + ", key_file: " + key + ", client_ca_file: " + missing + "}"), []string{`t.yaml:1: tls.client_ca_file: "` + missing + `": no such file or directory`}},
		{"tls client CA not PEM", valid("tls: {cert_file: " + cert + ", key_file: " + key + ", client_ca_file: " + notPEM + "}"), []string{`t.yaml:1: tls.client_ca_file: "` + notPEM + `" holds no PEM certificate`}},
		{"cert auth without client CA", lines("tls: {cert_file: "+cert+", key_file: "+key+"}", "users:", "  - name: u", "    auth: cert",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{
			`t.yaml:4: users[0].auth: cert needs tls.client_ca_file, the CA that client certificates are verified against`}},
		{"cert auth with a password", lines("tls: {cert_file: "+cert+", key_file: "+key+", client_ca_file: "+cert+"}", "users:", "  - name: u", "    auth: cert", "    password: pw",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{
			`t.yaml:5: users[0].password: not used with auth cert (the client's certificate is its credential); leave it out`}},
		{"client cert mistakes", lines("tls: {cert_file: "+cert+", key_file: "+key+"}", "users:",
			"  - {name: a, password: pw, client_cert: verify}",
			"  - {name: b, password: pw, client_cert: verify-ca}",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{
			`t.yaml:3: users[0].client_cert: "verify" is not one of verify-ca, verify-full`,
			`t.yaml:4: users[1].client_cert: needs tls.client_ca_file, the CA that client certificates are verified against`}},
		{"client cert with cert auth", lines("tls: {cert_file: "+cert+", key_file: "+key+", client_ca_file: "+cert+"}", "users:",
			"  - {name: a, auth: cert, client_cert: verify-ca}",
			"  - {name: b, auth: cert, client_cert: verify-full}",
			"  - {name: c, password: pw, client_cert: verify-ca}",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), []string{
			`t.yaml:3: users[0].client_cert: auth cert always checks the certificate's name: leave client_cert out, or set verify-full`}},
		{"cert auth ok", lines("tls: {cert_file: "+cert+", key_file: "+key+", client_ca_file: "+cert+"}", "users:", "  - name: u", "    auth: cert",
			"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "t.yaml")
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tc.want), err)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d:\n got  %s\n want %s...", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestAllErrorsInLineOrder checks that one file's problems of every stage
// (decoding, validation) come back together, sorted, and that a value that
// failed to decode is not reported twice.
func TestAllErrorsInLineOrder(t *testing.T) {
	_, err := Load("testdata/broken.yaml")
	want := []string{
		`testdata/broken.yaml:1: listen: "6432" is not host:port`,
		`testdata/broken.yaml:3: pool.mode: "sessoin" is not one of transaction, session`,
		`testdata/broken.yaml:4: pool.size: want an integer, got "lots"`,
		`testdata/broken.yaml:5: pool.min_idle: -1 is negative`,
		`testdata/broken.yaml:6: pool.idle_timout: unknown key`,
		`testdata/broken.yaml:8: users[0].password: required for auth md5`,
		`testdata/broken.yaml:10: users[1].name: user "app" is already defined at line 8`,
		`testdata/broken.yaml:13: databases[0].server_user: database "app" has no server_user`,
		`testdata/broken.yaml:16: databases[0].shards[0].primary.host: required`,
		`testdata/broken.yaml:17: databases[0].shards[0].primary.port: 70000 is out of range`,
		`testdata/broken.yaml:18: databases[0].shards[1].name: shard "s0" is already defined at line 15`,
		`testdata/broken.yaml:19: databases[0].shards[1].primary.name: node "s0-primary" is already defined at line 16`,
		`testdata/broken.yaml:21: databases[0].shards[1].primary.tls: verify-full needs ca_file`,
	}
	if err == nil {
		t.Fatal("broken.yaml loaded")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got  %s\n want %s...", i, got[i], want[i])
		}
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 || e.Key != "listen" || e.File != "testdata/broken.yaml" {
		t.Errorf("errors.As: %#v", e)
	}
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestRelativePaths: file names in the configuration are relative to the
// configuration's directory, not to the working directory.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir, "server")
	path := filepath.Join(dir, "pgshard.yaml")
	if err := os.WriteFile(path, []byte(valid("tls: {cert_file: server.crt, key_file: server.key, client_ca_file: server.crt}")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.CertFile != filepath.Join(dir, "server.crt") || c.TLS.ClientCAFile != c.TLS.CertFile {
		t.Errorf("cert_file = %s, client_ca_file = %s", c.TLS.CertFile, c.TLS.ClientCAFile)
	}
}

// selfSigned writes a throwaway certificate and key as dir/name.crt and
// dir/name.key, so no key is ever committed.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestSecretNeverPrints tries every common way a password could reach a log
// or a dump, alone and inside the structs that carry it.
func TestSecretNeverPrints(t *testing.T) {
	const pw = "hunter2-do-not-print"
	u := User{Name: "u", Password: pw, ServerUser: "s", ServerPassword: pw}
	c := &Config{Users: []User{u}, Databases: []Database{{Name: "d", ServerPassword: pw}}, Admin: Admin{Token: pw}}
	var outputs []string
	for _, v := range []any{Secret(pw), u, &u, c} {
		for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(j), string(y))
	}
	var text, js bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&js, nil)} {
		slog.New(h).Info("login", "password", Secret(pw), "user", u, slog.Any("config", c), slog.Group("g", "pw", Secret(pw)))
	}
	outputs = append(outputs, text.String(), js.String())
	for _, out := range outputs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret leaked: %s", out)
		}
		// encoding/json escapes < and >.
		if !strings.Contains(out, "<redacted>") && !strings.Contains(out, `\u003credacted\u003e`) && !strings.Contains(out, fmt.Sprintf("%x", "<redacted>")) {
			t.Errorf("no placeholder in: %s", out)
		}
	}
	if got := Secret(pw).Reveal(); got != pw {
		t.Errorf("Reveal = %q", got)
	}
	// No secret at all shows as none, so a dump tells the two apart.
	if y, err := yaml.Marshal(User{Name: "m", Auth: AuthTrust}); err != nil || !strings.Contains(string(y), "password: \"\"\n") {
		t.Errorf("a user without a password marshals as %q (%v), want an empty password", y, err)
	}
}

func TestPoolFor(t *testing.T) {
	c, err := Parse([]byte(lines(
		"pool: {mode: transaction, size: 20, min_idle: 4}",
		"users:",
		"  - {name: app, password: pw}",
		"  - {name: migrator, password: pw, pool_mode: session, pool_size: 2}",
		"databases: [{name: d, server_user: s, shards: [{primary: {host: h}}]}]",
	)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		user     *User
		mode     PoolMode
		size, mi int
	}{
		{c.User("app"), PoolTransaction, 20, 4},
		{c.User("migrator"), PoolSession, 2, 2}, // min_idle capped at the user's pool_size
		{nil, PoolTransaction, 20, 4},
	} {
		if p := c.PoolFor(x.user); p.Mode != x.mode || p.Size != x.size || p.MinIdle != x.mi || p.QueueTimeout != c.Pool.QueueTimeout {
			t.Errorf("PoolFor(%v) = %+v, want mode %s, size %d, min_idle %d", x.user, p, x.mode, x.size, x.mi)
		}
	}
}

func TestUserAllowsFrom(t *testing.T) {
	u := &User{Networks: []string{"10.1.0.0/16", "192.168.7.9", "fd00::/8", "::ffff:172.16.0.0/108"}}
	for addr, want := range map[string]bool{
		"10.1.200.3":      true,
		"10.2.0.1":        false,
		"192.168.7.9":     true,
		"192.168.7.10":    false,
		"::ffff:10.1.0.1": true, // an IPv4 client on a dual-stack listener
		"fd12::1":         true,
		"2001:db8::1":     false,
		"172.16.3.4":      true, // a 4-in-6 prefix matches IPv4 addresses
		"127.0.0.1":       false,
	} {
		if got := u.AllowsFrom(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsFrom(%s) = %v, want %v", addr, got, want)
		}
	}
	if !(&User{}).AllowsFrom(netip.MustParseAddr("203.0.113.1")) {
		t.Error("a user without networks may connect from anywhere")
	}
}

// A pool's size is the user's pool_size, else the database's, else
// pool.size; min_idle never exceeds it.
func TestPoolOf(t *testing.T) {
	c := &Config{Pool: Pool{Size: 20, MinIdle: 4}}
	small, sized := &User{Name: "a"}, &User{Name: "b", PoolSize: 7}
	db, plain := &Database{Name: "d", PoolSize: 3}, &Database{Name: "e"}
	for _, tc := range []struct {
		d          *Database
		u          *User
		size, idle int
	}{
		{plain, small, 20, 4},
		{db, small, 3, 3},
		{db, sized, 7, 4},
		{plain, sized, 7, 4},
		{nil, nil, 20, 4},
	} {
		if p := c.PoolOf(tc.d, tc.u); p.Size != tc.size || p.MinIdle != tc.idle {
			t.Errorf("PoolOf(%v, %v): size %d min_idle %d, want %d %d", tc.d, tc.u, p.Size, p.MinIdle, tc.size, tc.idle)
		}
	}
}

func TestGroupSize(t *testing.T) {
	for _, c := range []struct {
		id    int
		peers []int
		want  int
	}{
		{0, nil, 1},
		{2, nil, 1},
		{0, []int{1, 2, 3}, 3},    // --peer-id to come; the list names every member
		{2, []int{1, 2, 3}, 3},    // its own entry listed too
		{2, []int{1, 3}, 3},       // or not
		{4, []int{1, 2, 3, 4}, 4}, // and a member added
	} {
		cfg := &Config{PeerID: c.id}
		for _, id := range c.peers {
			cfg.Peers = append(cfg.Peers, Peer{ID: id, Address: "h:1"})
		}
		if got := cfg.GroupSize(); got != c.want {
			t.Errorf("peer_id %d, peers %v: %d members, want %d", c.id, c.peers, got, c.want)
		}
	}
}
