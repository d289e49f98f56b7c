package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/wire"
)

// recordingServer stands in for wire.Server: it records the configurations
// it is asked to put in force.
type recordingServer struct {
	mu   sync.Mutex
	got  []*config.Config
	seen chan struct{}
}

func (r *recordingServer) Reload(cfg *config.Config) ([]string, error) {
	r.mu.Lock()
	r.got = append(r.got, cfg)
	r.mu.Unlock()
	r.seen <- struct{}{}
	return []string{"pool"}, nil
}

// syncBuffer is a log destination the test reads while the reloader writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSIGHUPReloadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pgshard.yaml")
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(string(data), "size: 40", "size: 7", 1))
	var logs syncBuffer
	srv := &recordingServer{seen: make(chan struct{}, 1)}
	hup, stop := notifyHangup()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadOnHangup(ctx, hup, configFile{path: path}, srv, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	defer func() { cancel(); <-done }()

	hangup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hangup()
	select {
	case <-srv.seen:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not reload the configuration")
	}
	srv.mu.Lock()
	size := srv.got[0].Pool.Size
	srv.mu.Unlock()
	if size != 7 {
		t.Errorf("reloaded pool.size = %d, want 7 (the file as it is now)", size)
	}
	waitLog := func(text string) {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(logs.String(), text) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLog("configuration reloaded")
	if !strings.Contains(logs.String(), "configuration reloaded") {
		t.Errorf("log:\n%s\nwant a line saying the configuration was reloaded", logs.String())
	}

	// A file that does not load is logged and never reaches the server.
	write("pool: {mode: sessoin}\n")
	hangup()
	waitLog("not reloaded")
	if !strings.Contains(logs.String(), `pool.mode: \"sessoin\"`) {
		t.Errorf("log:\n%s\nwant the reason the file did not load", logs.String())
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.got) != 1 {
		t.Errorf("the server was asked to reload %d times, want 1", len(srv.got))
	}
}

// TestReloadCommand runs `pgshard reload` against an admin listener in
// front of a real wire.Server reading a file.
func TestReloadCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pgshard.yaml")
	conf := func(listen, poolSize string) {
		text := "listen: " + listen + `
admin: {listen: "127.0.0.1:0", token: s3cret-token}
pool: {size: ` + poolSize + `}
users: [{name: app, password: pw}]
databases:
  - name: app
    server_user: app
    shards: [{name: s0, primary: {host: 127.0.0.1, port: 1, tls: disable}}]
`
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf("127.0.0.1:6432", "5")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := wire.NewServer(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	adm := admin.New(cfg.Admin, nil, nil, nil)
	adm.HandleReload(func() ([]string, error) { return reload(configFile{path: path}, srv, slog.New(slog.DiscardHandler)) })
	hs := httptest.NewServer(adm.Handler())
	t.Cleanup(hs.Close)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := &reloadCmd{adminFlags{Admin: hs.URL, TokenFile: tokenFile, Timeout: 5 * time.Second}}
	run := func() (string, error) {
		var out bytes.Buffer
		err := cmd.run(&out)
		return out.String(), err
	}

	if out, err := run(); err != nil || out != "reloaded: nothing changed\n" {
		t.Errorf("same file: %q, %v", out, err)
	}
	conf("127.0.0.1:6432", "9")
	if out, err := run(); err != nil || out != "reloaded; changed: pool\n" {
		t.Errorf("pool size changed: %q, %v", out, err)
	}
	if got := srv.Config().Pool.Size; got != 9 {
		t.Errorf("pool size in force: %d, want 9", got)
	}
	conf("127.0.0.1:7777", "9")
	if out, err := run(); err == nil || !strings.Contains(err.Error(), "not reloaded") || !strings.Contains(err.Error(), "listen") || out != "" {
		t.Errorf("listen changed: %q, %v; want an error naming listen", out, err)
	}
	if got := srv.Config().Listen; got != "127.0.0.1:6432" {
		t.Errorf("listen in force after a refused reload: %s", got)
	}

	t.Setenv(tokenEnv, "")
	noToken := &reloadCmd{adminFlags{Admin: hs.URL, Timeout: 5 * time.Second}}
	if err := noToken.run(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without the token: %v, want 401", err)
	}
	elsewhere := &reloadCmd{adminFlags{Admin: hs.URL + "/nowhere", TokenFile: tokenFile, Timeout: 5 * time.Second}}
	if err := elsewhere.run(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no configuration file to reload") {
		t.Errorf("no /reload there: %v, want 404 with an explanation", err)
	}
	resp, err := http.Get(hs.URL + "/reload")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /reload: %s, want 405", resp.Status)
	}
}

// --peer-id (or PGSHARD_PEER_ID) replaces the file's peer_id, at start and
// at every reload, so members of a group can share one file.
func TestPeerIDFromTheCommandLine(t *testing.T) {
	for _, c := range []struct {
		flag *int
		want int
		err  string
	}{
		{nil, 0, ""},
		{ptr(5), 5, ""},
		{ptr(config.MaxPeerID), config.MaxPeerID, ""},
		{ptr(128), 0, "--peer-id: peer id 128 is not from 0 to 127"},
		{ptr(-1), 0, "--peer-id: peer id -1 is not from 0 to 127"},
	} {
		cfg, err := configFile{path: example, peerID: c.flag}.load()
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("--peer-id %d: %v, want %q", *c.flag, err, c.err)
			}
		case err != nil:
			t.Errorf("load: %v", err)
		case cfg.PeerID != c.want:
			t.Errorf("peer_id = %d, want %d", cfg.PeerID, c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
