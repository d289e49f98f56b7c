package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/wire"
)

type serveCmd struct {
	Config     string     `required:"" type:"existingfile" help:"Configuration file (YAML)."`
	LogLevel   slog.Level `default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat  string     `default:"text" enum:"text,json" help:"Log format: text or json."`
	CPUProfile string     `name:"cpuprofile" type:"path" help:"Write a CPU profile to this file until shutdown."`
}

// Run serves until SIGINT or SIGTERM, then drains (see wire.Server.Serve).
func (c *serveCmd) Run() error {
	cfg, err := config.Load(c.Config)
	if err != nil {
		return err
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if c.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(handler)

	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	srv, err := wire.NewServer(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("pgshard listening", "addr", ln.Addr().String(), "pool_mode", string(cfg.Pool.Mode), "databases", len(cfg.Databases))
	err = srv.Serve(ctx, ln)
	log.Info("pgshard stopped")
	return err
}
