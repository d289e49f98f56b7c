// Package pgshardtest runs pgshard in-process for integration tests: a
// configuration written from the test's YAML, a listener on a free
// loopback port, and a stop that waits for the server to drain.
package pgshardtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/wire"
)

// Proxy is a running in-process pgshard.
type Proxy struct {
	Addr   string
	Config *config.Config
	Stop   func()
	// Admin is the admin listener's base URL (/metrics, /status ...),
	// served without a token.
	Admin string
	// Console is the admin console's address (admin.console), when the
	// configuration turns it on.
	Console string

	srv  *wire.Server
	path string
	log  *logTail
}

// Log is the end of the proxy's log so far (logTailSize bytes at most).
func (p *Proxy) Log() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return string(p.log.buf)
}

// Reload writes the configuration yaml returns for the proxy's listen
// address over the file the proxy started from and applies it as SIGHUP
// does (config.Load, then Server.Reload), returning what Reload did.
func (p *Proxy) Reload(t testing.TB, yaml func(listen string) string) ([]string, error) {
	t.Helper()
	if err := os.WriteFile(p.path, []byte(yaml(p.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p.path)
	if err != nil {
		return nil, err
	}
	return p.srv.Reload(cfg)
}

// DSN is a libpq URL for user/password to database app through the proxy.
func (p *Proxy) DSN(user, password string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/app?sslmode=disable", user, password, p.Addr)
}

// Start runs pgshard with the configuration yaml returns for its listen
// address; it stops when the test ends.
func Start(t testing.TB, yaml func(listen string) string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, yaml)
}

// StartSharing runs pgshard on addr with SO_REUSEPORT, as so_reuseport
// does: the first of a pair on "127.0.0.1:0", the second on the first's
// address, where the kernel spreads connections over both.
func StartSharing(t testing.TB, addr string, yaml func(listen string) string) *Proxy {
	t.Helper()
	ln, err := wire.Listen(context.Background(), addr, true)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, yaml)
}

// serve runs pgshard on ln.
func serve(t testing.TB, ln net.Listener, yaml func(listen string) string) *Proxy {
	t.Helper()
	text := yaml(ln.Addr().String())
	path := t.TempDir() + "/pgshard.yaml"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", text, err)
	}
	// The log is kept and printed only when the test fails, or streamed
	// with PGSHARD_TEST_LOG=1 and -v.
	tail := &logTail{}
	var out io.Writer = tail
	if testing.Verbose() && os.Getenv("PGSHARD_TEST_LOG") != "" {
		out = io.MultiWriter(os.Stderr, tail)
	} else {
		t.Cleanup(func() { tail.printIfFailed(t) })
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := wire.NewServer(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New()
	srv.UseMetrics(reg)
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.Token = ""
	adm := admin.New(cfg.Admin, reg, &admin.Topology{Config: srv.Config, Nodes: srv, Pools: srv, Schema: srv, Paused: srv.Paused}, log)
	adm.HandleClients(srv.Clients)
	adm.HandleConfig(srv.Config)
	adm.HandleServers(srv.Servers)
	adm.HandleTerminate(srv.Terminate)
	adm.HandlePause(srv)
	adm.HandleReload(func() ([]string, error) {
		cfg, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		return srv.Reload(cfg)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	adminDone := make(chan error, 2)
	consoleAddr := ""
	if cfg.Admin.ConsoleEnabled() {
		cln, err := net.Listen("tcp", cfg.Admin.Console)
		if err != nil {
			t.Fatal(err)
		}
		consoleAddr = cln.Addr().String()
		go func() { adminDone <- srv.ServeConsole(ctx, cln, adm.Console) }()
	} else {
		adminDone <- nil
	}
	var served net.Listener = ln
	if cfg.ProxyProtocol != nil {
		served = wire.ProxyProtocol(ln, cfg.ProxyProtocol)
	}
	if cfg.UnixSocketDir != "" {
		uln, err := wire.ListenUnix(context.Background(), wire.UnixSocketOf(cfg, ln.Addr().(*net.TCPAddr).Port))
		if err != nil {
			t.Fatal(err)
		}
		served = wire.Listeners(served, uln)
	}
	go func() { done <- srv.Serve(ctx, served) }()
	go func() { adminDone <- adm.Serve(ctx, aln) }()
	p := &Proxy{Addr: ln.Addr().String(), Config: cfg, Admin: "http://" + aln.Addr().String(), Console: consoleAddr, srv: srv, path: path, log: tail}
	stopped := false
	p.Stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		// pgshard lets sessions still in a transaction or a query finish
		// for shutdown_timeout, then closes them; past a few seconds the
		// test log gets the stacks of what it waits on, and only a proxy
		// still running after shutdown_timeout fails the test.
		slow := time.After(5 * time.Second)
		limit := time.After(cfg.ShutdownTimeout + 10*time.Second)
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
				break wait
			case <-slow:
				t.Logf("proxy still stopping after 5s; pgshard goroutines:\n%s", pgshardStacks())
			case <-limit:
				t.Errorf("proxy did not stop within shutdown_timeout (%s) + 10s; pgshard goroutines:\n%s", cfg.ShutdownTimeout, pgshardStacks())
				break wait
			}
		}
		for range 2 {
			if err := <-adminDone; err != nil {
				t.Errorf("admin: %v", err)
			}
		}
	}
	t.Cleanup(p.Stop)
	return p
}

// ShardsYAML lists c's shards (primaries and replicas) as a database's
// shards: section, indented for a database entry.
func ShardsYAML(c *cluster.Cluster) string {
	var b strings.Builder
	b.WriteString("    shards:\n")
	for _, sh := range c.Shards {
		host, port, _ := net.SplitHostPort(sh.Primary.Addr())
		fmt.Fprintf(&b, "      - name: s%d\n        primary: {host: %s, port: %s, tls: disable}\n", sh.Index, host, port)
		if len(sh.Replicas) > 0 {
			b.WriteString("        replicas:\n")
			for _, r := range sh.Replicas {
				host, port, _ := net.SplitHostPort(r.Addr())
				fmt.Fprintf(&b, "          - {host: %s, port: %s, tls: disable}\n", host, port)
			}
		}
	}
	return b.String()
}

// Connect opens a pgx connection, closed when the test ends.
func Connect(t testing.TB, dsn string) *pgx.Conn {
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

// Context is a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// pgshardStacks dumps the goroutines running pgshard's own code: the
// test's and the runtime's are noise.
func pgshardStacks() string {
	dump := make([]byte, 4<<20)
	dump = dump[:runtime.Stack(dump, true)]
	var keep []string
	for _, g := range strings.Split(string(dump), "\n\n") {
		if strings.Contains(g, "github.com/pgshard/pgshard/") && !strings.Contains(g, "integration/pgshardtest.Start") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

// Metric reads one series from the admin listener's /metrics, named as
// the exposition format writes it (`name{label="v",...}`); the test fails
// when it is missing.
func (p *Proxy) Metric(t testing.TB, series string) float64 {
	t.Helper()
	resp, err := http.Get(p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

// Status reads the admin listener's /status.
func (p *Proxy) Status(t testing.TB) admin.Status {
	t.Helper()
	resp, err := http.Get(p.Admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st admin.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return st
}

// Clients reads the admin listener's /clients.
func (p *Proxy) Clients(t testing.TB) []admin.ClientStatus {
	t.Helper()
	resp, err := http.Get(p.Admin + "/clients")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []admin.ClientStatus
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("/clients: %v", err)
	}
	return list
}

// Terminate ends the client session pid through the admin listener, as
// `pgshard terminate` does.
func (p *Proxy) Terminate(t testing.TB, pid uint32) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("%s/clients/terminate?pid=%d", p.Admin, pid), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("terminate %d: %s: %s", pid, resp.Status, body)
	}
}
