package wire

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// resolveInDoubt finishes two-phase transactions left prepared by a
// pgshard that crashed or lost a connection mid-commit, at start and then
// every two_phase.resolve_interval, until ctx ends. See twophase.go for the
// rule.
func (srv *Server) resolveInDoubt(ctx context.Context) {
	t := time.NewTicker(srv.conf().TwoPhase.ResolveInterval)
	defer t.Stop()
	for {
		for _, db := range srv.databases() {
			srv.resolveDatabase(ctx, db)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resolverUser picks the client user whose server credentials the resolver
// uses on db: any user works, since pools log in with server credentials.
func (srv *Server) resolverUser(db *database) *config.User {
	return resolverUserIn(srv.conf(), db.cfg)
}

// resolverUserIn is resolverUser for database d of cfg.
func resolverUserIn(cfg *config.Config, d *config.Database) *config.User {
	for i := range cfg.Users {
		if u, _ := d.ServerCredentials(&cfg.Users[i]); u != "" {
			return &cfg.Users[i]
		}
	}
	return nil
}

func (srv *Server) resolveDatabase(ctx context.Context, db *database) {
	u := srv.resolverUser(db)
	if u == nil || len(db.cfg.Shards) < 2 {
		return
	}
	s := &session{srv: srv, db: db, user: u, log: srv.log}
	age := strconv.FormatFloat(srv.conf().TwoPhase.ResolveAfter.Seconds(), 'f', 3, 64)
	for i := range db.cfg.Shards {
		id := shard.ShardID(i)
		gids, err := s.onShard(ctx, id, func(sc *serverConn) ([]string, error) {
			return s.hiddenRows(sc, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE '"+gidPrefix+"%'"+
				" AND prepared < now() - interval '"+age+" seconds'")
		})
		if err != nil {
			srv.log.Debug("two-phase resolver: listing prepared transactions", "shard", db.cfg.Shards[i].Name, "err", err)
			continue
		}
		for _, gid := range gids {
			srv.resolveOne(ctx, s, id, gid)
		}
	}
}

// resolveOne commits gid on shard id if its coordinator recorded the commit
// decision, and rolls it back otherwise.
func (srv *Server) resolveOne(ctx context.Context, s *session, id shard.ShardID, gid string) {
	rest := strings.TrimPrefix(gid, gidPrefix)
	n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, ':'), 0)])
	if err != nil || n < 0 || n >= len(s.db.cfg.Shards) {
		srv.log.Warn("two-phase resolver: unknown transaction id, left alone", "gid", gid)
		return
	}
	// Created if missing: then nothing was ever decided there.
	decisions, pe := srv.ensureDecisions(ctx, s, shard.ShardID(n))
	if pe != nil {
		srv.log.Warn("two-phase resolver: cannot read the decision", "gid", gid, "err", pe)
		return
	}
	decided, err := s.onShard(ctx, shard.ShardID(n), func(sc *serverConn) ([]string, error) {
		return s.hiddenRows(sc, "SELECT 1 FROM "+decisions+" WHERE gid = "+quoteLiteral(gid))
	})
	if err != nil {
		srv.log.Warn("two-phase resolver: cannot read the decision", "gid", gid, "err", err)
		return
	}
	verb := "ROLLBACK PREPARED "
	if len(decided) > 0 {
		verb = "COMMIT PREPARED "
	}
	_, err = s.onShard(ctx, id, func(sc *serverConn) ([]string, error) {
		return nil, s.hiddenQuery(sc, verb+quoteLiteral(gid), 1)
	})
	if err != nil {
		srv.log.Warn("two-phase resolver: resolving failed", "gid", gid, "shard", s.db.cfg.Shards[id].Name, "err", err)
		return
	}
	srv.log.Info("two-phase resolver: resolved an in-doubt transaction", "gid", gid, "shard", s.db.cfg.Shards[id].Name, "outcome", strings.TrimSpace(verb))
}

// onShard runs f on a connection to shard id's primary.
func (s *session) onShard(ctx context.Context, id shard.ShardID, f func(*serverConn) ([]string, error)) ([]string, error) {
	p, err := s.shardPool(id)
	if err != nil {
		return nil, err
	}
	sc, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	// The resolver's statements are short: a server that does not answer
	// within resolverTimeout, or a shutdown, ends the wait (the
	// connection is then closed) instead of holding the resolver, and
	// with it pgshard's shutdown, for as long as the socket lives.
	ctx, cancel := context.WithTimeout(ctx, resolverTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = sc.conn.SetDeadline(time.Now()) })
	out, err := f(sc)
	var pe *pgError
	if !stop() || err != nil && !errors.As(err, &pe) {
		sc.broken = true
	}
	p.release(sc)
	return out, err
}

// resolverTimeout bounds each statement of the two-phase resolver.
const resolverTimeout = 30 * time.Second
