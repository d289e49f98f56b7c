package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/wire"
)

type serveCmd struct {
	Config     string     `required:"" type:"existingfile" help:"Configuration file (YAML)."`
	LogLevel   slog.Level `default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat  string     `default:"text" enum:"text,json" help:"Log format: text or json."`
	CPUProfile string     `name:"cpuprofile" type:"path" help:"Write a CPU profile to this file until shutdown."`
	PeerID     *int       `name:"peer-id" env:"PGSHARD_PEER_ID" help:"This pgshard's peer_id, in place of the configuration file's: members of a peering group that share one file each get their own (1-127)."`
}

// Run serves until SIGINT or SIGTERM, then drains (see wire.Server.Serve).
// SIGHUP reloads the configuration file (see wire.Server.Reload).
func (c *serveCmd) Run() error {
	keepSysmonAwake()
	file := configFile{path: c.Config, peerID: c.PeerID}
	cfg, err := file.load()
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

	// SIGHUP is caught from here on, so one sent while pgshard starts
	// waits for the reloader instead of ending the process.
	hup, stopHangups := notifyHangup()
	defer stopHangups()
	srv, err := wire.NewServer(cfg, log)
	if err != nil {
		return err
	}
	// The admin listener's view: the server counts statements and reports
	// its pools and the lag monitor's nodes at scrape time.
	reg := metrics.New()
	srv.UseMetrics(reg)
	var listening atomic.Bool
	topo := &admin.Topology{Config: srv.Config, Listening: listening.Load, Nodes: srv, Pools: srv, Schema: srv, Paused: srv.Paused}

	ln, err := wire.Listen(context.Background(), cfg.Listen, cfg.SOReusePort)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if w := wire.ResetWarning(); cfg.SOReusePort && w != "" {
		log.Warn("so_reuseport: " + w)
	}
	if cfg.ProxyProtocol != nil {
		ln = wire.ProxyProtocol(ln, cfg.ProxyProtocol)
	}
	if cfg.UnixSocketDir != "" {
		// Named after the port actually bound (listen may say :0).
		port := ln.Addr().(*net.TCPAddr).Port
		uln, err := wire.ListenUnix(context.Background(), wire.UnixSocketOf(cfg, port))
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on the Unix socket: %w", err)
		}
		log.Info("pgshard listening on a Unix socket", "path", wire.UnixSocketPath(cfg.UnixSocketDir, port))
		ln = wire.Listeners(ln, uln)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The admin listener outlives the data port's drain, so /readyz says
	// "not ready" and /metrics stays readable while sessions finish.
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	adm := admin.New(cfg.Admin, reg, topo, log)
	adm.HandleReload(func() ([]string, error) { return reload(file, srv, log) })
	adm.HandleClients(srv.Clients)
	adm.HandleConfig(srv.Config)
	adm.HandleServers(srv.Servers)
	adm.HandleTerminate(srv.Terminate)
	adm.HandlePause(srv)
	var adminDone sync.WaitGroup
	defer adminDone.Wait()
	if cfg.Admin.Enabled() {
		aln, err := wire.Listen(context.Background(), cfg.Admin.Listen, cfg.SOReusePort)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		adminDone.Go(func() {
			if err := adm.Serve(adminCtx, aln); err != nil {
				log.Error("admin listener stopped", "err", err)
			}
		})
		log.Info("pgshard admin listening", "addr", aln.Addr().String(), "token", cfg.Admin.Token != "")
	}
	if cfg.Admin.ConsoleEnabled() {
		cln, err := wire.Listen(context.Background(), cfg.Admin.Console, cfg.SOReusePort)
		if err != nil {
			_ = ln.Close()
			stopAdmin()
			return fmt.Errorf("admin console listen: %w", err)
		}
		adminDone.Go(func() {
			if err := srv.ServeConsole(adminCtx, cln, adm.Console); err != nil {
				log.Error("admin console stopped", "err", err)
			}
		})
		log.Info("pgshard admin console listening", "addr", cln.Addr().String())
	}
	listening.Store(true)
	context.AfterFunc(ctx, func() { listening.Store(false) })
	reloadCtx, stopReloads := context.WithCancel(ctx)
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		reloadOnHangup(reloadCtx, hup, file, srv, log)
	}()
	defer func() { stopReloads(); <-reloads }()
	log.Info("pgshard listening", "addr", ln.Addr().String(), "pool_mode", string(cfg.Pool.Mode), "databases", len(cfg.Databases))
	switch {
	case cfg.PeerID != 0:
		log.Info("peering: cancel requests for other peers' clients are passed on", "peer_id", cfg.PeerID, "peers", len(cfg.Peers))
	case len(cfg.Peers) > 0:
		log.Warn("peers are listed but peer_id is 0, so peering is off: set peer_id, --peer-id or PGSHARD_PEER_ID")
	}
	err = srv.Serve(ctx, ln)
	stopAdmin()
	adminDone.Wait()
	log.Info("pgshard stopped")
	return err
}
