package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgshard/pgshard/internal/config"
)

// reloader is what a reload applies a configuration to (wire.Server).
type reloader interface {
	Reload(*config.Config) ([]string, error)
}

// notifyHangup starts catching SIGHUP, whose default action would end
// pgshard, and returns the channel it arrives on and a function that stops
// catching it.
func notifyHangup() (<-chan os.Signal, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// reloadOnHangup reads path again and applies it to srv on every signal
// from hup, until ctx ends. A file that does not load, or that changes
// settings only a restart can, is logged and leaves the running
// configuration as it was.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, path string, srv reloader, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(path, srv, log)
		}
	}
}

func reload(path string, srv reloader, log *slog.Logger) {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("configuration not reloaded; the running one stays in force", "err", err)
		return
	}
	changed, err := srv.Reload(cfg)
	if err != nil {
		log.Error("configuration not reloaded; the running one stays in force", "err", err)
		return
	}
	log.Info("configuration reloaded", "changed", changed)
}
