package proxy_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/wire"
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

// proxy is a running in-process pgshard.
type proxy struct {
	Addr string
	cfg  *config.Config
	stop func()
}

// DSN is a libpq URL for user/password through the proxy.
func (p *proxy) DSN(user, password string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/app?sslmode=disable", user, password, p.Addr)
}

// proxyOptions adjusts the YAML the proxy starts with.
type proxyOptions struct {
	pool  string // extra lines under pool:
	extra string // extra top-level YAML
	// primary overrides the shard's primary address (host:port).
	primary string
	// serverTLS is the primary's tls mode (libpq sslmode); default disable.
	serverTLS string
}

// startProxy writes a configuration for the cluster's first shard, loads it
// with the real loader, and serves it on a free loopback port until the
// test ends.
func startProxy(t testing.TB, opts proxyOptions) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	primary := opts.primary
	if primary == "" {
		primary = pg.Shards[0].Primary.Addr()
	}
	host, port, _ := net.SplitHostPort(primary)
	yaml := fmt.Sprintf(`listen: %s
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
databases:
  - name: app
    server_database: postgres
    server_user: postgres
    server_password: %s
    shards:
      - name: s0
        primary: {host: %s, port: %s, tls: %s}
`, ln.Addr(), opts.extra, poolYAML(opts.pool), cluster.Password, host, port, cmp.Or(opts.serverTLS, "disable"))
	path := t.TempDir() + "/pgshard.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := wire.NewServer(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	p := &proxy{Addr: ln.Addr().String(), cfg: cfg}
	var once bool
	p.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("proxy did not stop within 30s")
		}
	}
	t.Cleanup(p.stop)
	return p
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

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
