package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgshard/pgshard/internal/config"
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
		reloadOnHangup(ctx, hup, path, srv, slog.New(slog.NewTextHandler(&logs, nil)))
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
