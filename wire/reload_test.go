package wire

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/config"
)

// closedPort returns a loopback port nothing listens on: pgshard's logins
// do not need a server (start-up parameters fall back to defaults), and
// pool tests see a refused connection at once.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// parseConfig parses a configuration as config.Load would read it.
func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "pgshard.yaml")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	return cfg
}

// serve runs srv on a loopback listener until the test ends and returns
// its address.
func serve(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, srv, ln)
	return ln.Addr().String()
}

// serveOn runs srv on ln until stop is called or the test ends.
func serveOn(t testing.TB, srv *Server, ln net.Listener) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(stop)
	return stop
}

func newTestServer(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// login connects as user with password and returns the connection, or the
// SQLSTATE the login failed with.
func login(t *testing.T, addr, user, password string) (*pgconn.PgConn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/app?sslmode=disable", user, password, addr))
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return nil, pe.Code
		}
		t.Fatalf("login as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, ""
}

const reloadUsersBase = `
admin: {listen: "off"}
pool: {connect_timeout: 1s}
databases:
  - name: app
    server_user: app
    shards:
      - {name: s0, primary: {host: 127.0.0.1, port: %d, tls: disable}}
`

func TestReloadUsers(t *testing.T) {
	port := closedPort(t)
	base := fmt.Sprintf(reloadUsersBase, port)
	srv := newTestServer(t, parseConfig(t, base+`
users:
  - {name: alice, password: first}
  - {name: carol, auth: trust}
`))
	addr := serve(t, srv)

	kept, code := login(t, addr, "alice", "first")
	if code != "" {
		t.Fatalf("alice before the reload: %s", code)
	}
	if _, code := login(t, addr, "bob", "bob-pw"); code != codeInvalidPassword {
		t.Fatalf("bob before the reload: got %q, want %s", code, codeInvalidPassword)
	}

	changed, err := srv.Reload(parseConfig(t, base+`
users:
  - {name: alice, password: second}
  - {name: bob, password: bob-pw, auth: md5}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"users[alice] changed", "users[bob] added", "users[carol] removed"}
	if !slices.Equal(changed, want) {
		t.Errorf("changed = %q, want %q", changed, want)
	}

	for _, c := range []struct{ user, password, code string }{
		{"alice", "first", codeInvalidPassword},
		{"alice", "second", ""},
		{"bob", "bob-pw", ""},
		{"carol", "", codeInvalidPassword},
	} {
		if _, code := login(t, addr, c.user, c.password); code != c.code {
			t.Errorf("after the reload, %s/%q: got %q, want %q", c.user, c.password, code, c.code)
		}
	}
	// A session opened before the reload stays.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := kept.Exec(ctx, ";").ReadAll(); err != nil {
		t.Errorf("alice's session from before the reload: %v", err)
	}
}

func TestReloadNeedingRestartChangesNothing(t *testing.T) {
	port := closedPort(t)
	srv := newTestServer(t, parseConfig(t, fmt.Sprintf(reloadUsersBase, port)+`
users: [{name: alice, password: first, server_user: app, server_password: x}]
`))
	addr := serve(t, srv)
	before := srv.conf()

	_, err := srv.Reload(parseConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:7777
unix_socket_dir: /tmp
admin: {listen: "off"}
peer_id: 3
peers: [{id: 1, address: "10.0.0.1:6432"}]
pool: {mode: session, size: 3}
databases:
  - name: app
    server_user: app
    shards:
      - {name: s0, primary: {host: 127.0.0.1, port: %d, tls: disable}}
    sharding: {reference_tables: [countries]}
users:
  - {name: alice, password: first, server_user: app, server_password: y}
  - {name: bob, password: bob-pw}
`, port+1)))
	if !errors.Is(err, ErrNeedsRestart) {
		t.Fatalf("Reload: %v, want ErrNeedsRestart", err)
	}
	for _, name := range []string{"listen", "unix_socket_dir", "peer_id", "pool.mode", "databases[app].sharding"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
	// A new primary, pool size, user and server password are reloadable.
	for _, name := range []string{"pool.size", "users[", "primary", "nodes", "peers"} {
		if strings.Contains(err.Error(), name) {
			t.Errorf("the error names reloadable settings (%s): %v", name, err)
		}
	}
	if srv.conf() != before {
		t.Error("a refused reload replaced the configuration")
	}
	if db := srv.database("app"); db.replaced.Load() || db.cfg.Shards[0].Primary.Port != port {
		t.Error("a refused reload moved the primary")
	}
	if _, code := login(t, addr, "bob", "bob-pw"); code != codeInvalidPassword {
		t.Errorf("bob, added by a refused reload: got %q, want %s", code, codeInvalidPassword)
	}
}

// writeCert writes a fresh self-signed certificate for localhost and its
// key to dir/server.crt and dir/server.key and returns its serial number.
func writeCert(t *testing.T, dir string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return serial
}

// servedSerial asks pgshard for TLS as a client does (SSLRequest) and
// returns the serial number of the certificate it presents.
func servedSerial(t *testing.T, addr string) *big.Int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], 80877103)
	if _, err := conn.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil || answer[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v", answer[0], err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the certificate, it does not trust it
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestReloadRereadsCertificate(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir)
	yaml := fmt.Sprintf(reloadUsersBase, closedPort(t)) + fmt.Sprintf(`
users: [{name: alice, password: first}]
tls: {cert_file: %s, key_file: %s}
`, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	srv := newTestServer(t, parseConfig(t, yaml))
	addr := serve(t, srv)
	if got := servedSerial(t, addr); got.Cmp(first) != 0 {
		t.Fatalf("served serial %v, want %v", got, first)
	}

	// Renewed in place: same paths, new contents.
	second := writeCert(t, dir)
	changed, err := srv.Reload(parseConfig(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 0 {
		t.Errorf("changed = %q, want none (the paths are the same)", changed)
	}
	if got := servedSerial(t, addr); got.Cmp(second) != 0 {
		t.Errorf("after the reload, served serial %v, want the renewed %v", got, second)
	}

	// A key that no longer loads (replaced after the file was checked)
	// refuses the reload; the renewed certificate stays.
	checked := parseConfig(t, yaml)
	if err := os.WriteFile(filepath.Join(dir, "server.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Reload(checked); err == nil {
		t.Error("a reload with a broken key file succeeded")
	}
	if got := servedSerial(t, addr); got.Cmp(second) != 0 {
		t.Errorf("after a failed reload, served serial %v, want %v", got, second)
	}
}

func TestReconfigureResizesPool(t *testing.T) {
	port := silentServer(t)
	cfg := config.Pool{Size: 1, ConnectTimeout: 5 * time.Second, QueueTimeout: 10 * time.Second, PreparedCache: 8}
	node := &config.Node{Name: "s0-primary", Host: "127.0.0.1", Port: port, TLSMode: config.ServerTLSDisable}
	p := newPool(poolKey{db: "app", user: "app", node: "s0/s0-primary"}, "s0", node, "app", "", "app", cfg, config.TCP{})
	t.Cleanup(p.close)
	ctx := context.Background()
	counts := func() (total, idle int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.total, len(p.idle)
	}

	first, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	var sc2 *serverConn
	go func() {
		var err error
		sc2, err = p.acquire(ctx)
		second <- err
	}()
	// The second client waits for the only connection...
	for p.settings().Size == 1 {
		p.mu.Lock()
		waiting := len(p.waiters)
		p.mu.Unlock()
		if waiting == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// ...until the pool grows: it then opens its own, long before the
	// queue timeout.
	cfg.Size = 2
	p.reconfigure(cfg, config.TCP{})
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("the waiting client: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting client still waits after the pool grew")
	}
	if total, _ := counts(); total != 2 {
		t.Fatalf("total = %d, want 2", total)
	}

	// Shrinking while both are busy closes one as it comes back.
	cfg.Size = 1
	p.reconfigure(cfg, config.TCP{})
	p.release(first)
	if total, idle := counts(); total != 1 || idle != 0 {
		t.Errorf("after one release: total %d idle %d, want 1 and 0", total, idle)
	}
	p.release(sc2)
	if total, idle := counts(); total != 1 || idle != 1 {
		t.Errorf("after both releases: total %d idle %d, want 1 and 1", total, idle)
	}

	// Shrinking with idle connections closes the extra ones at once.
	cfg.Size = 3
	p.reconfigure(cfg, config.TCP{})
	var held []*serverConn
	for range 3 {
		sc, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, sc)
	}
	for _, sc := range held {
		p.release(sc)
	}
	cfg.Size = 1
	p.reconfigure(cfg, config.TCP{})
	if total, idle := counts(); total != 1 || idle != 1 {
		t.Errorf("after shrinking an idle pool: total %d idle %d, want 1 and 1", total, idle)
	}
}

// TestReloadWhileClientsLogIn: reloads racing with logins (run with -race)
// neither fail a login nor mix two configurations in one.
func TestReloadWhileClientsLogIn(t *testing.T) {
	base := strings.Replace(fmt.Sprintf(reloadUsersBase, closedPort(t)), "pool: {connect_timeout: 1s}", "pool: {connect_timeout: 1s, size: %d}", 1)
	file := func(i int) *config.Config {
		base := fmt.Sprintf(base, 1+i%3)
		return parseConfig(t, base+fmt.Sprintf(`
users:
  - {name: alice, password: pw%d}
  - {name: carol, password: carol-pw}
`, i))
	}
	srv := newTestServer(t, file(0))
	addr := serve(t, srv)
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := pgconn.Connect(ctx, "postgres://carol:carol-pw@"+addr+"/app?sslmode=disable")
				if err == nil {
					_, err = c.Exec(ctx, ";").ReadAll()
					_ = c.Close(ctx)
				}
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 1; i <= 30; i++ {
		if _, err := srv.Reload(file(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("a login during reloads: %v", err)
		}
	}
}
