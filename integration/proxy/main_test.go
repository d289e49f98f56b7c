package proxy_test

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// pg is the package's cluster: one shard, a primary and a replica.
var pg *cluster.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	// TLS on the server side with the image's snakeoil certificate (from
	// Debian's ssl-cert, which postgresql depends on), so pgshard's
	// connections to servers can be tested over TLS too.
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 1, Replicas: 1, Settings: []string{
		"ssl=on", "ssl_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem", "ssl_key_file=/etc/ssl/private/ssl-cert-snakeoil.key"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		os.Exit(1)
	}
	pg = c
	code := m.Run()
	if err := c.Terminate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "terminate cluster:", err)
		code = 1
	}
	os.Exit(code)
}

// proxyOptions adjusts the YAML the proxy starts with.
type proxyOptions struct {
	pool  string // extra lines under pool:
	extra string // extra top-level YAML
	// primary overrides the shard's primary address (host:port).
	primary string
	// serverTLS is the primary's tls mode (libpq sslmode); default disable.
	serverTLS string
	// users is extra entries of the users: list.
	users string
	// database is extra keys of the database (indented lines).
	database string
}

// startProxy writes a configuration for the cluster's first shard and
// serves it in-process (pgshardtest.Start) until the test ends.
func startProxy(t testing.TB, opts proxyOptions) *pgshardtest.Proxy {
	t.Helper()
	return pgshardtest.Start(t, proxyYAML(opts))
}

// proxyYAML is the configuration startProxy serves.
func proxyYAML(opts proxyOptions) func(listen string) string {
	primary := opts.primary
	if primary == "" {
		primary = pg.Shards[0].Primary.Addr()
	}
	host, port, _ := net.SplitHostPort(primary)
	return func(listen string) string {
		return fmt.Sprintf(`listen: %s
shutdown_timeout: 5s
%s
pool:
%s
users:
  - name: app
    password: app-secret
  - name: legacy
    auth: md5
    password: legacy-secret
  - name: monitor
    auth: trust
%s
databases:
  - name: app
    server_database: postgres
    server_user: postgres
    server_password: %s
%s
    shards:
      - name: s0
        primary: {host: %s, port: %s, tls: %s}
`, listen, opts.extra, poolYAML(opts.pool), opts.users, cluster.Password, opts.database, host, port, cmp.Or(opts.serverTLS, "disable"))
	}
}

// poolYAML is the tests' pool section: small defaults, overridden key by
// key by extra ("key: value" lines).
func poolYAML(extra string) string {
	keys := []string{"mode", "size", "queue_timeout"}
	values := map[string]string{"mode": "transaction", "size": "5", "queue_timeout": "5s"}
	for _, line := range strings.Split(extra, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, seen := values[k]; !seen {
			keys = append(keys, k)
		}
		values[k] = strings.TrimSpace(v)
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, values[k])
	}
	return strings.TrimRight(b.String(), "\n")
}

func connect(t testing.TB, dsn string) *pgx.Conn { return pgshardtest.Connect(t, dsn) }

func ctxFor(t testing.TB, d time.Duration) context.Context { return pgshardtest.Context(t, d) }
