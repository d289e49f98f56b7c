package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pgshard/pgshard/internal/admin"
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

// configFile is the configuration file serve runs with, and the command
// line's overrides of it.
type configFile struct {
	path   string
	peerID *int // --peer-id, or nil
}

// load reads the file, applies the overrides and checks them.
func (f configFile) load() (*config.Config, error) {
	cfg, err := config.Load(f.path)
	if err != nil {
		return nil, err
	}
	if f.peerID != nil {
		if err := cfg.SetPeerID(*f.peerID); err != nil {
			return nil, fmt.Errorf("--peer-id: %w", err)
		}
	}
	return cfg, nil
}

// reloadOnHangup reads the file again and applies it to srv on every signal
// from hup, until ctx ends. A file that does not load, or that changes
// settings only a restart can, is logged and leaves the running
// configuration as it was.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, file configFile, srv reloader, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_, _ = reload(file, srv, log)
		}
	}
}

// reload reads the file and applies it to srv, logging the outcome; SIGHUP
// and the admin listener's POST /reload both come here.
func reload(file configFile, srv reloader, log *slog.Logger) ([]string, error) {
	cfg, err := file.load()
	if err == nil {
		var changed []string
		if changed, err = srv.Reload(cfg); err == nil {
			log.Info("configuration reloaded", "changed", changed)
			return changed, nil
		}
	}
	log.Error("configuration not reloaded; the running one stays in force", "err", err)
	return nil, err
}

// reloadCmd asks a running pgshard to reload its configuration file, as
// SIGHUP does, through its admin listener, and prints the outcome.
type reloadCmd struct {
	adminFlags `embed:""`
}

func (c *reloadCmd) Run() error { return c.run(os.Stdout) }

func (c *reloadCmd) run(w io.Writer) error {
	body, err := c.call(http.MethodPost, "/reload", http.StatusOK, http.StatusConflict)
	if ae := (*answerError)(nil); errors.As(err, &ae) && ae.code == http.StatusNotFound {
		return fmt.Errorf("%w (this pgshard has no configuration file to reload, as pgshard-demo, or predates /reload; send SIGHUP to an older one)", err)
	}
	if err != nil {
		return err
	}
	var res admin.ReloadResult
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("%s: the answer is not pgshard's: %w", c.url("/reload"), err)
	}
	if !res.Reloaded {
		return fmt.Errorf("configuration not reloaded; the running one stays in force: %s", res.Error)
	}
	if len(res.Changed) == 0 {
		_, err = fmt.Fprintln(w, "reloaded: nothing changed")
		return err
	}
	_, err = fmt.Fprintln(w, "reloaded; changed:", strings.Join(res.Changed, ", "))
	return err
}
