package wire

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/internal/config"
)

// ErrNeedsRestart is what Reload returns, wrapped with the settings' names,
// when the new configuration changes settings only a restart can apply.
var ErrNeedsRestart = errors.New("these settings change only with a restart")

// Reload puts cfg in force on a running server, all of it or nothing:
//
//   - users: added, removed, new passwords and auth methods, for the
//     connections that log in from now on (sessions already open stay);
//   - pool sizes (pool.size, users' and databases' pool_size,
//     max_db_connections) and timeouts (not the modes or
//     prepared_cache), for every pool at once;
//   - the TLS certificate and key, read again even if their paths did not
//     change, so a renewed certificate is picked up;
//   - tcp (keepalives, user timeout), for connections opened from now on;
//   - reads (replica lag limits, fallback), shutdown_timeout,
//     max_message_size, passthrough_auth and peers;
//   - a database's nodes: a shard's primary and replicas (address, TLS)
//     and the server credentials of the database or of users. Sessions
//     move to the new nodes between transactions (generation.go).
//
// Any other difference (listen address, peer_id, databases added, removed or
// renamed, their shards, server_database or sharding, pool modes, admin,
// monitor, two-phase settings) refuses the whole reload with
// ErrNeedsRestart naming the settings, as does a certificate that cannot
// be read; the configuration in force is then untouched. cfg must have
// been loaded and validated by config.Load. Reload returns the names of
// the settings it changed.
func (srv *Server) Reload(cfg *config.Config) ([]string, error) {
	srv.reloadMu.Lock()
	defer srv.reloadMu.Unlock()
	old := srv.conf()
	if fixed := fixedChanges(old, cfg); len(fixed) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrNeedsRestart, strings.Join(fixed, ", "))
	}
	l, err := load(cfg)
	if err != nil {
		return nil, err
	}
	moved := nodesMoved(old, cfg)
	next := make([]*database, 0, len(moved))
	for _, name := range moved {
		db, err := srv.nextGeneration(srv.database(name), cfg.Database(name), cfg)
		if err != nil {
			return nil, err
		}
		next = append(next, db)
	}
	changed := reloadableChanges(old, cfg)
	for _, name := range moved {
		changed = append(changed, "databases["+name+"] nodes")
	}
	srv.live.Store(l)
	srv.poolsMu.Lock()
	for key, p := range srv.pools {
		p.reconfigure(cfg.PoolOf(cfg.Database(key.db), cfg.User(key.user)), cfg.TCP)
	}
	for key, b := range srv.budgets {
		if d := cfg.Database(key.db); key.db != "" && d != nil {
			b.setLimit(d.MaxDBConnections)
		}
		if u := cfg.User(key.user); key.user != "" && u != nil {
			b.setLimit(u.MaxUserConnections)
		}
	}
	// A passthrough role's pools go when the role is now listed in users
	// or passthrough_auth is off: its sessions end at their next checkout.
	var unlisted []*pool
	for key, p := range srv.pools {
		if key.passthrough && (cfg.User(key.user) != nil || cfg.PassthroughAuth == config.PassthroughOff) {
			delete(srv.pools, key)
			p.mu.Lock()
			p.retiredWhy = fmt.Sprintf("a configuration reload listed role %q in users or turned passthrough_auth off; this session logged in by passthrough_auth", key.user)
			p.mu.Unlock()
			unlisted = append(unlisted, p)
		}
	}
	srv.poolsMu.Unlock()
	for _, p := range unlisted {
		p.retire()
	}
	srv.passthrough.forget()
	for _, db := range next {
		srv.swapIn(db)
	}
	for _, db := range srv.databases() {
		// Pools are cached per *config.User: forget the old configuration's
		// users, whose sessions still find their pools by name.
		db.primaries.Clear()
		db.shardPools.Clear()
		db.nodePools.Clear()
	}
	srv.warmPools()
	// And read the shards' catalogs again: what changed there without
	// DDL through pgshard (`pgshard sequences --apply` on the shards) is
	// known now rather than at the next round.
	srv.schemaChanged()
	return changed, nil
}

// differences collects the names of settings whose values differ.
type differences []string

func (d *differences) check(name string, a, b any) {
	if !reflect.DeepEqual(a, b) {
		*d = append(*d, name)
	}
}

// fixedChanges names the settings that differ between old and cfg and that
// Reload cannot apply.
func fixedChanges(old, cfg *config.Config) []string {
	var out differences
	out.check("listen", old.Listen, cfg.Listen)
	out.check("unix_socket_dir", old.UnixSocketDir, cfg.UnixSocketDir)
	out.check("unix_socket_permissions", old.UnixSocketPermissions, cfg.UnixSocketPermissions)
	out.check("unix_socket_group", old.UnixSocketGroup, cfg.UnixSocketGroup)
	out.check("so_reuseport", old.SOReusePort, cfg.SOReusePort)
	out.check("proxy_protocol", old.ProxyProtocol, cfg.ProxyProtocol)
	// Open sessions' process IDs carry the peer id they were given.
	out.check("peer_id", old.PeerID, cfg.PeerID)
	out.check("pool.mode", old.Pool.Mode, cfg.Pool.Mode)
	out.check("pool.prepared_cache", old.Pool.PreparedCache, cfg.Pool.PreparedCache)
	for i := range cfg.Users {
		// A session's pool mode is fixed at its login, and a pool is
		// shared by its user's sessions: one mode per user while pgshard runs.
		if was := old.User(cfg.Users[i].Name); was != nil && old.PoolFor(was).Mode != cfg.PoolFor(&cfg.Users[i]).Mode && old.Pool.Mode == cfg.Pool.Mode {
			out = append(out, "users["+was.Name+"].pool_mode")
		}
	}
	out.check("two_phase", old.TwoPhase, cfg.TwoPhase)
	out.check("admin", old.Admin, cfg.Admin)
	out.check("monitor", old.Monitor, cfg.Monitor)
	if len(old.Databases) != len(cfg.Databases) {
		out = append(out, "databases (added or removed)")
	} else {
		for i := range old.Databases {
			was, now := &old.Databases[i], &cfg.Databases[i]
			if was.Name != now.Name {
				out = append(out, "databases["+was.Name+"] (renamed)")
				continue
			}
			// The nodes may move; the shards and how rows are placed on
			// them may not.
			out.check("databases["+was.Name+"].server_database", was.ServerDatabase, now.ServerDatabase)
			out.check("databases["+was.Name+"].sharding", was.Sharding, now.Sharding)
			out.check("databases["+was.Name+"].shards (added, removed or renamed)", shardNames(was), shardNames(now))
		}
	}
	return out
}

// reloadableChanges names the settings Reload applies that differ between
// old and cfg. The TLS files count only if their paths changed: their
// contents are read again in any case.
func reloadableChanges(old, cfg *config.Config) []string {
	var out differences
	out.check("tls", old.TLS, cfg.TLS)
	out.check("pool", old.Pool, cfg.Pool)
	out.check("tcp", old.TCP, cfg.TCP)
	out.check("reads", old.Reads, cfg.Reads)
	out.check("shutdown_timeout", old.ShutdownTimeout, cfg.ShutdownTimeout)
	out.check("max_message_size", old.MaxMessageSize, cfg.MaxMessageSize)
	out.check("max_client_conn", old.MaxClientConn, cfg.MaxClientConn)
	out.check("idle_transaction_timeout", old.IdleTransactionTimeout, cfg.IdleTransactionTimeout)
	out.check("client_idle_timeout", old.ClientIdleTimeout, cfg.ClientIdleTimeout)
	out.check("log_connections", old.LogConnections, cfg.LogConnections)
	out.check("log_slow_requests", old.LogSlowRequests, cfg.LogSlowRequests)
	out.check("peers", old.Peers, cfg.Peers)
	for i := range cfg.Users {
		now := &cfg.Users[i]
		was := old.User(now.Name)
		switch {
		case was == nil:
			out = append(out, "users["+now.Name+"] added")
		case !reflect.DeepEqual(*was, *now):
			out = append(out, "users["+now.Name+"] changed")
		}
	}
	for i := range old.Users {
		if cfg.User(old.Users[i].Name) == nil {
			out = append(out, "users["+old.Users[i].Name+"] removed")
		}
	}
	for i := range cfg.Databases {
		if was := old.Database(cfg.Databases[i].Name); was != nil {
			out.check("databases["+was.Name+"].pool_size", was.PoolSize, cfg.Databases[i].PoolSize)
			out.check("databases["+was.Name+"].max_db_connections", was.MaxDBConnections, cfg.Databases[i].MaxDBConnections)
		}
	}
	out.check("passthrough_auth", old.PassthroughAuth, cfg.PassthroughAuth)
	slices.Sort(out)
	return out
}
