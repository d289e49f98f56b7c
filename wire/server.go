package wire

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
)

// Server accepts client connections and owns the pools behind them.
type Server struct {
	// live is the configuration in force and what is derived from it;
	// Reload replaces it.
	live atomic.Pointer[loaded]
	// reloadMu serialises reloads.
	reloadMu sync.Mutex
	log      *slog.Logger
	// dbs holds each configured database's generation in force: a reload
	// that moves its nodes swaps in a new one (generation.go). The names
	// never change while the server runs.
	dbs map[string]*atomic.Pointer[database]

	poolsMu sync.Mutex
	pools   map[poolKey]*pool
	budgets map[budgetKey]*connBudget
	// passthrough are the roles logged in by passthrough_auth.
	passthrough passthroughRoles

	sessMu   sync.Mutex
	sessions map[uint32]*session
	// clients counts sessions logged in or logging in, against
	// max_client_conn (admitClient).
	clients atomic.Int64
	// pauses hold databases' new transactions back (pause.go); pausing
	// says whether any does, for the sessions' fast path.
	pauses  pauses
	pausing atomic.Bool
	// perUser counts each user's sessions (user name → *atomic.Int64),
	// against users[].max_client_conn.
	perUser sync.Map

	metrics *metrics.Registry // nil: nothing counted

	// decisionsReady maps (database/shard) where the two-phase commit
	// decisions table exists to its schema-qualified name.
	decisionsReady sync.Map
	decisionsOnce  singleflight.Group

	draining atomic.Bool
	hardEnd  atomic.Int64 // unix nanos after which draining sessions are cut

	// monCtx, set by Serve, is what lag monitors run under, those of
	// generations a reload makes later too; monitors waits for them.
	monMu    sync.Mutex
	monCtx   context.Context
	monitors sync.WaitGroup

	// ddl asks refreshTextOrder for rounds (schemaChanged).
	ddl ddlRounds

	// localPeers is the cancel socket the other processes of a shared
	// port (so_reuseport) pass CancelRequests to, while Serve runs.
	localPeers atomic.Pointer[localPeers]
}

// database is a configured logical database at run time.
type database struct {
	cfg *config.Database
	// primaries caches route's answer per user (*config.User → *pool):
	// pools live as long as the server, and this spares every transaction
	// a key built with a string concatenation and a lock.
	primaries sync.Map
	// router plans each statement; shardPools caches the pool of each
	// (user, shard) primary (shardPoolKey → *pool) for the same reason.
	router     *router.Router
	shardPools sync.Map
	nodePools  sync.Map // nodePoolKey → *pool, for replicas
	// topo is the lag monitor's view of the nodes; nil when the database
	// has no user to poll with.
	topo *topology
	// hub is the generation's notification hub, while one is alive
	// (notify.go).
	hubMu sync.Mutex
	hub   *notifyHub
	dbm   *metrics.Database
	// parsed are the statements a server has checked at a Parse
	// (parsecheck.go); generations share them.
	parsed *parsedStatements
	// textOrder is, per shard, whether its database's default collation
	// orders text bytewise as merges do (see probeTextOrder). Generations
	// share it: the shards' data is the same whatever node serves it.
	textOrder []textOrder
	// seqColumns are the sharded tables' columns filled from a sequence,
	// as last read (sequences.go); uniques are the sharded tables' unique
	// indexes without their shard key (uniques.go). refreshTextOrder's
	// goroutine stores them; /status reads them (SchemaWarnings).
	seqColumns atomic.Pointer[[]string]
	// seqApart are the columns (schema.table.column) whose sequences
	// every shard keeps to a block of its own (sequences.go).
	seqApart atomic.Pointer[map[string]bool]
	uniques  atomic.Pointer[[]string]
	// keys are shard keys taken ahead from sequences with a CACHE
	// (keycache.go).
	keys keyCache
	// replaced is set once a reload put a newer generation in force; its
	// pools are retired and no new ones are made for it.
	replaced atomic.Bool
}

// backendKey is the BackendKeyData pgshard gives a client, to find the
// session a CancelRequest is for.
type backendKey struct {
	pid    uint32
	secret [4]byte
}

// NewServer prepares a server for cfg: TLS material is loaded and SCRAM
// credentials derived once, not per connection.
func NewServer(cfg *config.Config, log *slog.Logger) (*Server, error) {
	srv := &Server{
		log:      log,
		dbs:      map[string]*atomic.Pointer[database]{},
		pools:    map[poolKey]*pool{},
		budgets:  map[budgetKey]*connBudget{},
		sessions: map[uint32]*session{},
		ddl:      ddlRounds{kick: make(chan struct{}, 1)},
	}
	l, err := load(cfg)
	if err != nil {
		return nil, err
	}
	srv.live.Store(l)
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		rt, err := newRouter(d, cfg.Pool.PreparedCache*16+1024)
		if err != nil {
			return nil, err
		}
		db := &database{cfg: d, router: rt, textOrder: make([]textOrder, len(d.Shards)),
			parsed: newParsedStatements(cfg.Pool.PreparedCache*16 + 1024)}
		if u := srv.resolverUser(db); u != nil {
			if db.topo, err = newTopology(d, u, cfg.Monitor); err != nil {
				return nil, err
			}
		}
		srv.dbs[d.Name] = &atomic.Pointer[database]{}
		srv.dbs[d.Name].Store(db)
	}
	return srv, nil
}

// Serve accepts connections on ln until ctx is cancelled, then drains: no
// new connections, idle sessions are told the server is shutting down,
// open transactions may finish until shutdown_timeout, then every
// connection is closed.
func (srv *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	connCtx, cancelConns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelConns()
	go srv.maintain(connCtx)
	resolved := make(chan struct{})
	go func() {
		defer close(resolved)
		srv.resolveInDoubt(connCtx)
	}()
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		srv.refreshTextOrder(connCtx)
	}()
	detected := make(chan struct{})
	go func() {
		defer close(detected)
		srv.detectDeadlocks(connCtx)
	}()
	srv.runMonitors(connCtx)

	// The cancel socket stays open while sessions drain: the process
	// taking over the port passes on their clients' cancels.
	stopPeers := srv.startLocalPeers(ln)
	defer stopPeers()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var acceptErr error
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && retryableAccept(err) {
				// Out of file descriptors or memory for a moment (a burst
				// of connections): wait and accept again, as net/http
				// does, rather than end every open session.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				srv.log.Warn("accepting a connection failed; trying again", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			if ctx.Err() == nil {
				acceptErr = fmt.Errorf("accept: %w", err)
			}
			break
		}
		backoff = 0
		if tc, ok := rawConn(conn).(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		watchClient(rawConn(conn), srv.conf().TCP)
		wg.Go(func() {
			defer srv.recoverSession(conn)
			s := srv.handshake(connCtx, conn)
			if s == nil {
				return
			}
			// The session runs on a goroutine of its own: the handshake's
			// (TLS, SCRAM) grew this one's stack, which an idle session
			// would otherwise keep until a GC shrinks it.
			wg.Go(func() {
				defer srv.recoverSession(conn)
				s.run(connCtx)
			})
		})
	}

	srv.drain(&wg)
	stopPeers()
	cancelConns()
	<-resolved
	<-refreshed
	<-detected
	srv.monitors.Wait()
	srv.closePools()
	return acceptErr
}

// drain waits for sessions to finish, up to the shutdown timeout.
func (srv *Server) drain(wg *sync.WaitGroup) {
	hard := time.Now().Add(srv.conf().ShutdownTimeout)
	srv.hardEnd.Store(hard.UnixNano())
	srv.draining.Store(true)
	// Transactions a pause holds run now, so that their sessions can end.
	_, _ = srv.resume(nil, nil)
	srv.eachSession(func(s *session) { _ = s.conn.SetReadDeadline(time.Now()) })
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(time.Until(hard)):
	}
	srv.log.Warn("shutdown timeout reached; closing remaining sessions")
	// Closing a client does not end a session waiting on a server (a
	// long query, a server that stopped answering): its server work is
	// cancelled and its reads from servers end now.
	var aborts sync.WaitGroup
	srv.eachSession(func(s *session) {
		_ = s.conn.Close()
		aborts.Go(s.abortServerWork)
	})
	aborts.Wait()
	<-done
}

// busyConnsLocked lists the server connections the session may be running
// something on: its attached one and those of a statement over several
// shards. The caller holds s.mu.
func (s *session) busyConnsLocked() []*serverConn {
	conns := make([]*serverConn, 0, 1+len(s.multi))
	if s.sc != nil {
		conns = append(conns, s.sc)
	}
	for _, c := range s.multi {
		if c.sc != s.sc {
			conns = append(conns, c.sc)
		}
	}
	return conns
}

// abortServerWork, at the shutdown deadline, sends a CancelRequest for
// what the session's server connections run and makes their pending reads
// fail at once, so the session ends whatever the servers do. It holds the
// session's lock as cancelStatement does: no connection it cancels can go
// back to a pool meanwhile.
func (s *session) abortServerWork() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.busyConnsLocked() {
		_ = sc.conn.SetReadDeadline(time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = sc.cancel(ctx)
		cancel()
	}
}

func (srv *Server) hardDeadline() time.Time { return time.Unix(0, srv.hardEnd.Load()) }

// recoverSession keeps a bug in one session from taking the proxy down.
func (srv *Server) recoverSession(conn net.Conn) {
	if r := recover(); r != nil {
		srv.log.Error("session panic", "remote", clientAddress(conn), "panic", r)
		_ = conn.Close()
	}
}

// poolList is a snapshot of the pools, to go through without holding
// poolsMu.
func (srv *Server) poolList() []*pool {
	srv.poolsMu.Lock()
	defer srv.poolsMu.Unlock()
	pools := make([]*pool, 0, len(srv.pools))
	for _, p := range srv.pools {
		pools = append(pools, p)
	}
	return pools
}

// maintain runs pool upkeep every few seconds until ctx ends.
func (srv *Server) maintain(ctx context.Context) {
	srv.warmPools()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		for _, p := range srv.poolList() {
			p.maintain(ctx)
		}
	}
}

// warmPools creates the primaries' pools of every user when min_idle asks
// for open connections, so that the next maintenance round opens them and
// the first clients find them ready.
func (srv *Server) warmPools() {
	cfg := srv.conf()
	if cfg.Pool.MinIdle == 0 {
		return
	}
	for _, db := range srv.databases() {
		for i := range cfg.Users {
			for k := range db.cfg.Shards {
				sh := &db.cfg.Shards[k]
				srv.pool(db, &cfg.Users[i], sh, &sh.Primary)
			}
		}
	}
}

func (srv *Server) closePools() {
	srv.poolsMu.Lock()
	defer srv.poolsMu.Unlock()
	for _, p := range srv.pools {
		p.close()
	}
}

// route picks the pool for a session's next transaction. Until the router
// decides per statement, every transaction runs on the primary of the
// database's first shard.
func (srv *Server) route(db *database, u *config.User) (*pool, error) {
	if len(db.cfg.Shards) == 0 {
		return nil, errorf(codeInternalError, fmt.Sprintf("database %q has no shards", db.cfg.Name))
	}
	if p, ok := db.primaries.Load(u); ok {
		return p.(*pool), nil
	}
	sh := &db.cfg.Shards[0]
	p := srv.pool(db, u, sh, &sh.Primary)
	db.primaries.Store(u, p)
	return p, nil
}

// pool returns the pool for (database, user, node), creating it on first use.
// For a generation a reload replaced, the pool is a retired one that only
// refuses checkouts: its sessions move to the new generation between
// transactions.
func (srv *Server) pool(db *database, u *config.User, sh *config.Shard, node *config.Node) *pool {
	key := poolKey{db: db.cfg.Name, user: u.Name, node: sh.Name + "/" + node.Name, passthrough: u.Auth == config.AuthPassthrough}
	srv.poolsMu.Lock()
	defer srv.poolsMu.Unlock()
	// A passthrough role logs in with the password it last logged in with.
	user, password := db.cfg.ServerCredentials(srv.passthrough.latest(u))
	// The user's settings in force, not those of the configuration the
	// session logged in under.
	cfg := srv.conf()
	settings := cfg.PoolOf(cfg.Database(db.cfg.Name), cfg.User(u.Name))
	if db.replaced.Load() {
		p := newPool(key, sh.Name, node, user, password, db.cfg.ServerDatabase, settings, cfg.TCP)
		p.closed, p.retired = true, true
		return p
	}
	if key.passthrough && (cfg.User(u.Name) != nil || cfg.PassthroughAuth == config.PassthroughOff) {
		p := newPool(key, sh.Name, node, user, password, db.cfg.ServerDatabase, settings, cfg.TCP)
		p.closed, p.retired = true, true
		p.retiredWhy = fmt.Sprintf("a configuration reload listed role %q in users or turned passthrough_auth off; this session logged in by passthrough_auth", u.Name)
		return p
	}
	if p := srv.pools[key]; p != nil {
		return p
	}
	p := newPool(key, sh.Name, node, user, password, db.cfg.ServerDatabase, settings, cfg.TCP)
	p.log = srv.log
	p.owner = db
	dbLimit, userLimit := 0, 0
	if d := cfg.Database(db.cfg.Name); d != nil {
		dbLimit = d.MaxDBConnections
	}
	if cu := cfg.User(u.Name); cu != nil {
		userLimit = cu.MaxUserConnections
	}
	p.budgets = budgets{
		srv.budgetLocked(budgetKey{user: key.user, node: p.addr}, userLimit),
		srv.budgetLocked(budgetKey{db: key.db, node: key.node}, dbLimit),
	}
	for _, b := range p.budgets {
		b.join(p)
	}
	for i := range db.cfg.Shards {
		if &db.cfg.Shards[i] == sh {
			p.textOrder = &db.textOrder[i]
		}
	}
	srv.pools[key] = p
	return p
}

// register gives a session a unique BackendKeyData (s.key).
func (srv *Server) register(s *session) {
	srv.sessMu.Lock()
	defer srv.sessMu.Unlock()
	for {
		var k backendKey
		var b [4]byte
		_, _ = rand.Read(b[:])
		_, _ = rand.Read(k.secret[:])
		k.pid = newPID(srv.conf().PeerID, binary.BigEndian.Uint32(b[:]))
		if _, taken := srv.sessions[k.pid]; !taken && k.pid != 0 {
			// Set under sessMu: the cancel path and the admin listener
			// read it from sessions they find in the map.
			s.key = k
			srv.sessions[k.pid] = s
			return
		}
	}
}

func (srv *Server) forget(s *session) {
	srv.sessMu.Lock()
	defer srv.sessMu.Unlock()
	if srv.sessions[s.key.pid] == s {
		delete(srv.sessions, s.key.pid)
	}
}

func (srv *Server) eachSession(f func(*session)) {
	srv.sessMu.Lock()
	list := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.sessMu.Unlock()
	for _, s := range list {
		f(s)
	}
}

// cancelStatement sends a CancelRequest to the server connection the
// session holds now. The session cannot release that connection until the
// cancel is delivered, so it never reaches another client's query.
func (s *session) cancelStatement() {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	busy := s.busyConnsLocked()
	if len(busy) == 0 && s.working.Load() {
		// The client's statement has not reached a server yet (a
		// connection is being opened or waited for): it is cancelled
		// when it would be sent.
		s.cancelPending.Store(true)
	}
	for _, sc := range busy {
		if err := sc.cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.srv.log.Warn("cancel request failed", "pool", sc.pool.name(), "err", err)
		}
	}
}
