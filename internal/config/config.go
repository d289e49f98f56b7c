package config

import (
	"fmt"
	"net/netip"
	"os"
	osuser "os/user"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a whole pgshard configuration file.
type Config struct {
	Listen string `yaml:"listen"` // client address, default 127.0.0.1:6432
	// UnixSocketDir, when set, makes pgshard listen on a Unix socket in
	// this directory too, named as PostgreSQL names its own:
	// .s.PGSQL.<listen's port>. Default: none.
	UnixSocketDir string `yaml:"unix_socket_dir"`
	// UnixSocketPermissions is the socket file's mode, in octal as
	// PostgreSQL's unix_socket_permissions (0770: owner and group only);
	// default 0777. UnixSocketGroup, a group name or number, owns the file,
	// as unix_socket_group; default the process's group.
	UnixSocketPermissions string        `yaml:"unix_socket_permissions"`
	UnixSocketGroup       string        `yaml:"unix_socket_group"`
	ShutdownTimeout       time.Duration `yaml:"shutdown_timeout"` // on SIGTERM, how long open transactions may finish; default 30s
	MaxMessageSize        int           `yaml:"max_message_size"` // largest client message in bytes; default 64 MiB
	// MaxClientConn bounds the client sessions open at once; a login past
	// it gets 53300, as from a PostgreSQL at max_connections. Default 10000.
	MaxClientConn int `yaml:"max_client_conn"`
	// IdleTransactionTimeout ends a session whose client leaves a
	// transaction open and sends nothing for longer (25P03, as
	// PostgreSQL's idle_in_transaction_session_timeout), so it cannot hold
	// a pooled server connection and its locks indefinitely. 0: no limit.
	IdleTransactionTimeout time.Duration `yaml:"idle_transaction_timeout"`
	// ClientIdleTimeout ends a session whose client sends nothing for
	// longer outside a transaction (57P05, as PostgreSQL's
	// idle_session_timeout). 0: no limit.
	ClientIdleTimeout time.Duration `yaml:"client_idle_timeout"`
	// LogConnections logs each client login and disconnection at info
	// level, with who, from where and why it ended. Default true.
	LogConnections bool `yaml:"log_connections"`
	// LogSlowRequests logs, at warn level, a request (a Query, or an
	// extended batch up to its Sync) answered in this long or longer,
	// with its first statement's literals taken out, as PostgreSQL's
	// log_min_duration_statement. 0: off.
	LogSlowRequests time.Duration `yaml:"log_slow_requests"`
	// SOReusePort shares the client and admin listeners' addresses with
	// another pgshard doing the same (Linux SO_REUSEPORT), for restarts and
	// upgrades without refused connections. Default false.
	SOReusePort bool `yaml:"so_reuseport"`
	// ProxyProtocol, when set, takes client addresses from the PROXY
	// protocol header (v1 or v2) that trusted load balancers send.
	ProxyProtocol *ProxyProtocol `yaml:"proxy_protocol"`
	// PeerID is this pgshard's number in a group of pgshards behind one
	// address (a load balancer, SO_REUSEPORT): it is written into the
	// BackendKeyData of every client, so that a CancelRequest that reaches
	// another member of the group is passed on to this one. 1 to MaxPeerID;
	// 0 (default) turns peering off.
	PeerID int `yaml:"peer_id"`
	// Peers are the members of the group, with the address each serves
	// clients on; this pgshard's own entry may be listed too, so that every
	// member can share one list.
	Peers []Peer `yaml:"peers"`
	// PassthroughAuth lets roles that are not in Users log in with their
	// PostgreSQL password, which pgshard checks by logging in to the
	// database's first shard with it and then uses for the role's own
	// server connections. Default off.
	PassthroughAuth PassthroughMode `yaml:"passthrough_auth"`
	TLS             *TLS            `yaml:"tls"` // TLS offered to clients; nil: SSLRequest answered 'N'
	Pool            Pool            `yaml:"pool"`
	TCP             TCP             `yaml:"tcp"` // dead-peer detection on client and server sockets
	TwoPhase        TwoPhase        `yaml:"two_phase"`
	Admin           Admin           `yaml:"admin"`   // admin HTTP listener: /metrics, /healthz, /readyz, /status
	Reads           Reads           `yaml:"reads"`   // when reads go to replicas, for every database
	Monitor         Monitor         `yaml:"monitor"` // node health and replication lag polling
	Users           []User          `yaml:"users"`
	Databases       []Database      `yaml:"databases"`
}

// ProxyProtocol says which peers of the client listener are load
// balancers that send a PROXY protocol header with the client's address.
type ProxyProtocol struct {
	// Trusted lists those peers (CIDR prefixes or addresses): a connection
	// from one must start with a header; a header from anyone else is
	// refused, and their connections are taken as they come.
	Trusted []string `yaml:"trusted"`
}

// MaxPeerID is the largest peer_id: the id takes the top 7 bits of a
// client's 31-bit process ID.
const MaxPeerID = 127

// Peer is one pgshard of a peering group.
type Peer struct {
	ID      int    `yaml:"id" json:"id"`           // its peer_id
	Address string `yaml:"address" json:"address"` // host:port of its client listener
}

// Peer returns the peer with id, or nil.
func (c *Config) Peer(id int) *Peer {
	for i := range c.Peers {
		if c.Peers[i].ID == id {
			return &c.Peers[i]
		}
	}
	return nil
}

// GroupSize is how many pgshards share the servers: the members of the
// peering group (peers and this one), or 1 without peering.
func (c *Config) GroupSize() int {
	ids := map[int]bool{}
	if c.PeerID != 0 {
		ids[c.PeerID] = true
	}
	for _, p := range c.Peers {
		ids[p.ID] = true
	}
	return max(1, len(ids))
}

// SetPeerID puts id in force as peer_id, in place of the file's (the
// serve command's --peer-id), checked as Load checks the file's.
func (c *Config) SetPeerID(id int) error {
	if id < 0 || id > MaxPeerID {
		return fmt.Errorf("peer id %d is not from 0 to %d", id, MaxPeerID)
	}
	c.PeerID = id
	return nil
}

// TLS is the certificate pgshard presents to clients, and the CA their
// own certificates are verified against (auth: cert).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, makes pgshard ask clients for a certificate
	// during the TLS handshake and verify one that is given against these
	// CAs (PostgreSQL's ssl_ca_file); users with auth: cert must give one.
	ClientCAFile string `yaml:"client_ca_file"`
}

// PoolMode says when a server connection returns to its pool.
type PoolMode string

const (
	PoolTransaction PoolMode = "transaction" // at the end of each transaction (default)
	PoolSession     PoolMode = "session"     // when the client disconnects
)

// Pool holds the settings of every (database, user, node) pool.
type Pool struct {
	Mode           PoolMode      `yaml:"mode"`            // default transaction
	Size           int           `yaml:"size"`            // server connections per pool, default 20
	MinIdle        int           `yaml:"min_idle"`        // kept open when idle, default 0
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // opening a server connection, default 5s
	QueueTimeout   time.Duration `yaml:"queue_timeout"`   // a client waiting for a connection, default 10s
	IdleTimeout    time.Duration `yaml:"idle_timeout"`    // close connections idle longer, default 10m; 0 keeps them
	ServerLifetime time.Duration `yaml:"server_lifetime"` // close connections older than this when released, default 1h; 0 keeps them
	PreparedCache  int           `yaml:"prepared_cache"`  // prepared statements kept per server connection (LRU), default 256
	// ReserveSize more connections may be opened for a pool whose clients
	// have waited ReserveTimeout, to absorb bursts (PgBouncer's
	// reserve_pool_size and reserve_pool_timeout). Defaults 0 and 5s.
	ReserveSize    int           `yaml:"reserve_size"`
	ReserveTimeout time.Duration `yaml:"reserve_timeout"`
	// PrepareSimple runs single simple-protocol SELECT, INSERT, UPDATE and
	// DELETE statements outside transactions as server-side prepared
	// statements, their literals as parameters. Default false.
	PrepareSimple bool `yaml:"prepare_simple"`
	// CursorMaxMiB bounds the rows of one cursor pgshard holds (a cursor
	// over several shards, or WITH HOLD in transaction pooling), in MiB;
	// 0: no bound. Default 64.
	CursorMaxMiB int `yaml:"cursor_max_mib"`
	// SessionState is what transaction pooling does with a statement that
	// leaves state in the server session: refuse it (default) or pin the
	// session to its server connections.
	SessionState SessionState `yaml:"session_state"`
}

// TCP tunes how pgshard finds out that the other end of a client or server
// connection is gone without having closed it (a dead host, a network
// cut, a laptop that went to sleep).
type TCP struct {
	// Keepalive probes start after KeepaliveIdle of silence and are sent
	// KeepaliveInterval apart; KeepaliveCount unanswered ones end the
	// connection. Defaults 15s, 5s and 3. KeepaliveIdle 0s turns
	// keepalives off.
	KeepaliveIdle     time.Duration `yaml:"keepalive_idle"`
	KeepaliveInterval time.Duration `yaml:"keepalive_interval"`
	KeepaliveCount    int           `yaml:"keepalive_count"`
	// UserTimeout bounds how long data pgshard sent may stay
	// unacknowledged before the connection counts as dead (Linux
	// TCP_USER_TIMEOUT). It also cuts a live peer that stops reading for
	// that long, so it is off by default (0: the kernel's default, about
	// 15 minutes of retransmissions).
	UserTimeout time.Duration `yaml:"user_timeout"`
}

// TwoPhase tunes transactions over several shards: the resolution of
// in-doubt two-phase transactions (those a crashed or disconnected pgshard
// left prepared on the shards) and the detection of deadlocks across
// shards.
type TwoPhase struct {
	// ResolveAfter is how old a prepared transaction must be before pgshard
	// resolves it: longer than any pgshard takes between its PREPAREs and
	// its first COMMIT PREPARED. Default 30s.
	ResolveAfter time.Duration `yaml:"resolve_after"`
	// ResolveInterval is how often the shards are checked. Default 15s.
	ResolveInterval time.Duration `yaml:"resolve_interval"`
	// DeadlockTimeout is how long a statement waits for a lock before
	// pgshard looks for a deadlock through several shards, which no one
	// server can see (PostgreSQL's deadlock_timeout for one server).
	// Default 1s; 0 turns the detection off.
	DeadlockTimeout time.Duration `yaml:"deadlock_timeout"`
}

// AdminOff is the admin.listen value that disables the admin listener.
const AdminOff = "off"

// Admin is the admin HTTP listener, separate from the data port.
type Admin struct {
	// Listen is the listener's host:port, default 127.0.0.1:6433; AdminOff
	// ("off") disables it.
	Listen string `yaml:"listen"`
	// Token is the bearer token /metrics and /status require
	// ("Authorization: Bearer <token>"); /healthz and /readyz stay open.
	// Required when Listen is not a loopback address; empty: no
	// authentication.
	Token Secret `yaml:"token"`
	// Console is the host:port of the admin console, where psql run by a
	// user with Admin set gets SHOW POOLS and the like (PgBouncer's admin
	// console, on a port of its own); AdminOff ("off", the default)
	// disables it.
	Console string `yaml:"console"`
}

// ConsoleEnabled reports whether the admin console is to be started.
func (a *Admin) ConsoleEnabled() bool { return a.Console != "" && a.Console != AdminOff }

// Enabled reports whether the admin listener is to be started.
func (a *Admin) Enabled() bool { return a.Listen != AdminOff }

// ReadFallback is what a read does when no replica qualifies.
type ReadFallback string

const (
	FallbackPrimary ReadFallback = "primary" // run it on the primary (default)
	FallbackError   ReadFallback = "error"   // answer an error naming the shard
)

// Reads decides when a read may run on a replica. It applies to every
// database.
type Reads struct {
	// Replicas sends reads to replicas that qualify; false keeps every
	// statement on the primaries. Default true.
	Replicas bool `yaml:"replicas"`
	// MaxLagBytes is the most WAL a replica may be behind its primary
	// (primary's current LSN minus the replica's replay LSN) and still take
	// reads. Default 16 MiB; 0 tolerates no lag.
	MaxLagBytes int64 `yaml:"max_lag_bytes"`
	// MaxLag is the most replay delay, in time, a replica may have. Default
	// 1s; 0 tolerates none.
	MaxLag time.Duration `yaml:"max_lag"`
	// Fallback is what happens when no replica qualifies. Default primary.
	Fallback ReadFallback `yaml:"fallback"`
	// ReadYourWrites sends a session's reads to a replica only once it has
	// replayed the session's last commit. Default true.
	ReadYourWrites bool `yaml:"read_your_writes"`
	// ReadYourWritesWait bounds how long a read waits for a replica to catch
	// up with the session's last commit before falling back; 0 falls back
	// at once. Default 0s.
	ReadYourWritesWait time.Duration `yaml:"read_your_writes_wait"`
}

// Monitor tunes the polling of every node for health and replication lag,
// and the bans after connection failures.
type Monitor struct {
	Interval time.Duration `yaml:"interval"` // between polls of one node, default 250ms
	Timeout  time.Duration `yaml:"timeout"`  // one poll (connect and query), default 1s
	// BanBase is how long a node is kept out of routing after a
	// connection-level failure; each further failure doubles it, up to
	// BanMax. Defaults 1s and 30s.
	BanBase time.Duration `yaml:"ban_base"`
	BanMax  time.Duration `yaml:"ban_max"`
	// FollowPromotion sends a shard's writes to one of its configured
	// replicas once that replica accepts writes (it was promoted) and the
	// configured primary does not (it is down or in recovery).
	FollowPromotion bool `yaml:"follow_promotion"`
}

// AuthMethod is how pgshard authenticates a client.
type AuthMethod string

const (
	AuthSCRAM AuthMethod = "scram-sha-256" // default
	AuthMD5   AuthMethod = "md5"
	AuthTrust AuthMethod = "trust"
	// AuthCert: the client's TLS certificate, verified against
	// tls.client_ca_file, whose common name is the user's name
	// (PostgreSQL's cert method); no password.
	AuthCert AuthMethod = "cert"
)

// PassthroughMode is passthrough_auth: whether, and over which
// connections, a role not listed in users may log in with its
// PostgreSQL password, which the client sends in clear text.
type PassthroughMode string

const (
	PassthroughOff PassthroughMode = "off" // default
	// PassthroughTLS: only over TLS, which keeps the password off the wire.
	PassthroughTLS PassthroughMode = "tls"
	// PassthroughAny: over any connection (a sidecar on loopback).
	PassthroughAny PassthroughMode = "any"
)

// AuthPassthrough is the method of a role logged in by passthrough_auth;
// not a value users[].auth takes.
const AuthPassthrough AuthMethod = "passthrough"

// SessionState is pool.session_state: what transaction pooling does with
// a statement that leaves state in the server session (a session advisory
// lock, LISTEN, a temporary table, SET ROLE).
type SessionState string

const (
	// SessionStateRefuse answers such a statement with 0A000 (default).
	SessionStateRefuse SessionState = "refuse"
	// SessionStatePin runs it and keeps the session's server connections
	// for the rest of the session, as session pooling would.
	SessionStatePin SessionState = "pin"
)

// ClientCertMode is users[].client_cert; "" requires no certificate.
type ClientCertMode string

const (
	ClientCertVerifyCA   ClientCertMode = "verify-ca"
	ClientCertVerifyFull ClientCertMode = "verify-full"
)

// User is a client role allowed to connect to pgshard.
type User struct {
	Name     string     `yaml:"name"`
	Password Secret     `yaml:"password"` // plain text or a SCRAM-SHA-256$ verifier (scram) / md5 hash (md5)
	Auth     AuthMethod `yaml:"auth"`     // default scram-sha-256
	// Credentials pgshard uses on the servers for this user's pools; empty
	// means the database's server_user/server_password.
	ServerUser     string `yaml:"server_user"`
	ServerPassword Secret `yaml:"server_password"`
	// PoolMode and PoolSize override pool.mode and pool.size for this
	// user's sessions and pools (a migration tool that needs session
	// pooling beside applications in transaction pooling, a reporting
	// role kept to a few connections); empty and 0 inherit them.
	PoolMode PoolMode `yaml:"pool_mode"`
	PoolSize int      `yaml:"pool_size"`
	// MaxClientConn bounds this user's client sessions open at once
	// (PostgreSQL's role CONNECTION LIMIT); 0: only the global
	// max_client_conn applies.
	MaxClientConn int `yaml:"max_client_conn"`
	// MaxUserConnections bounds the server connections all this user's
	// pools hold to one server (host and port) together, across databases
	// and shards (PgBouncer's max_user_connections); 0: no bound.
	MaxUserConnections int `yaml:"max_user_connections"`
	// Networks lists the addresses (CIDR prefixes or single IPs) this
	// user may connect from, as pg_hba.conf's address column, and "local"
	// for the Unix socket (pg_hba.conf's local lines); empty: any.
	Networks []string `yaml:"networks"`
	// RequireTLS refuses this user's logins over plain TCP, as a
	// pg_hba.conf hostssl line.
	RequireTLS bool `yaml:"require_tls"`
	// ClientCert requires a client certificate verified against
	// tls.client_ca_file on top of the auth method, as pg_hba.conf's
	// clientcert option: verify-ca any such certificate, verify-full one
	// whose common name is the user's name.
	ClientCert ClientCertMode `yaml:"client_cert"`
	// Admin lets the user log in to the admin console (admin.console), as
	// PgBouncer's admin_users.
	Admin bool `yaml:"admin"`
}

// AllowsFrom reports whether u may connect from addr (users[].networks).
// The prefixes were checked by Load.
func (u *User) AllowsFrom(addr netip.Addr) bool {
	return len(u.Networks) == 0 || inNetworks(u.Networks, addr)
}

// LocalNetwork is the users[].networks entry for clients of the Unix
// socket (unix_socket_dir).
const LocalNetwork = "local"

// AllowsLocal reports whether u may connect over the Unix socket.
func (u *User) AllowsLocal() bool {
	return len(u.Networks) == 0 || slices.Contains(u.Networks, LocalNetwork)
}

// Trusts reports whether a connection from addr comes from a load
// balancer that sends PROXY headers. The prefixes were checked by Load.
func (p *ProxyProtocol) Trusts(addr netip.Addr) bool { return inNetworks(p.Trusted, addr) }

// inNetworks reports whether addr is in one of list's prefixes or
// addresses.
func inNetworks(list []string, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, n := range list {
		if p, err := parseNetwork(n); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseNetwork reads a CIDR prefix, or a single address as a prefix of
// its full length.
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// PoolFor is the pool settings of u's sessions and pools: pool with u's
// overrides. min_idle is capped at u's pool_size. u may be nil.
// PoolOf is the settings of user u's pools in database d: PoolFor, with
// the database's pool_size where the user sets none.
func (c *Config) PoolOf(d *Database, u *User) Pool {
	p := c.PoolFor(u)
	if d != nil && d.PoolSize > 0 && (u == nil || u.PoolSize == 0) {
		p.Size = d.PoolSize
		p.MinIdle = min(p.MinIdle, p.Size)
	}
	return p
}

func (c *Config) PoolFor(u *User) Pool {
	p := c.Pool
	if u == nil {
		return p
	}
	if u.PoolMode != "" {
		p.Mode = u.PoolMode
	}
	if u.PoolSize > 0 {
		p.Size = u.PoolSize
		p.MinIdle = min(p.MinIdle, p.Size)
	}
	return p
}

// Database is a logical database clients connect to, spread over shards.
type Database struct {
	Name           string `yaml:"name"`
	ServerDatabase string `yaml:"server_database"` // database name on the servers; default Name
	ServerUser     string `yaml:"server_user"`
	ServerPassword Secret `yaml:"server_password"`
	// PoolSize, when set, is pool.size for this database's pools, as
	// PgBouncer's per-database pool_size; a user's pool_size still wins.
	PoolSize int `yaml:"pool_size"`
	// MaxDBConnections, when set, bounds the server connections all users'
	// pools of this database hold to each node, as PgBouncer's
	// max_db_connections.
	MaxDBConnections int      `yaml:"max_db_connections"`
	Shards           []Shard  `yaml:"shards"`
	Sharding         Sharding `yaml:"sharding"`
}

// Sharding says where each table's rows live.
type Sharding struct {
	// Tables split across the shards by the hash of a key column.
	Tables []ShardedTable `yaml:"tables"`
	// Tables with a full copy on every shard: reads go to one shard, writes
	// to all of them in one transaction.
	ReferenceTables []string `yaml:"reference_tables"`
	// Shard holding every table not listed; default the first shard.
	DefaultShard string `yaml:"default_shard"`
	// What an UPDATE or DELETE of a sharded table without its key does.
	KeylessWrites KeylessWrites `yaml:"keyless_writes"`
	// What an UPDATE that gives rows a shard key another shard owns does.
	KeyUpdates KeyUpdates `yaml:"key_updates"`
	// Functions, beyond the built-in list, that never write: a SELECT
	// calling only read-only functions may be sent to a replica.
	ReadOnlyFunctions []string `yaml:"read_only_functions"`
	// Functions and procedures routed by one of their arguments, the
	// shard key of the rows they work on.
	Functions []RoutedFunction `yaml:"functions"`
}

// RoutedFunction is a function or procedure that works on the rows of one
// shard key, passed as one of its arguments: a call whose key argument is
// a constant or a parameter runs on that key's shard.
type RoutedFunction struct {
	Name   string `yaml:"name"`    // function name, optionally schema-qualified
	KeyArg int    `yaml:"key_arg"` // 1-based position of the key argument
	Table  string `yaml:"table"`   // a sharded table whose key the argument is
}

// ShardedTable is a table whose rows are placed by the hash of one column.
type ShardedTable struct {
	Name    string `yaml:"name"`     // table name, optionally schema-qualified
	Key     string `yaml:"key"`      // the shard key column
	KeyType string `yaml:"key_type"` // bigint (any integer width), text or uuid; default bigint
}

// KeylessWrites is the policy for writes that name no shard key.
type KeylessWrites string

const (
	KeylessRefuse    KeylessWrites = "refuse"     // answer 0A000 naming the table and key (default)
	KeylessAllShards KeylessWrites = "all_shards" // run the write on every shard
)

// KeyUpdates is the policy for an UPDATE that sets rows' shard key to a
// value another shard owns.
type KeyUpdates string

const (
	KeyUpdatesMove   KeyUpdates = "move"   // move the rows to that shard in one two-phase transaction (default)
	KeyUpdatesRefuse KeyUpdates = "refuse" // answer 0A000 naming both shards
)

// Shard is one primary and its streaming replicas.
type Shard struct {
	Name     string `yaml:"name"` // default s<index>
	Primary  Node   `yaml:"primary"`
	Replicas []Node `yaml:"replicas"`
}

// Node is one PostgreSQL server.
type Node struct {
	Name    string    `yaml:"name"` // default <shard>-primary, <shard>-replica<n>
	Host    string    `yaml:"host"`
	Port    int       `yaml:"port"` // default 5432
	TLSMode ServerTLS `yaml:"tls"`  // default prefer
	CAFile  string    `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate pgshard presents to
	// the node (libpq's sslcert and sslkey), for servers that
	// authenticate it by certificate (pg_hba.conf's cert, clientcert).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DSN is the libpq connection string for the node, logging in as user to
// database dbname. It holds the password: never log it.
func (n *Node) DSN(user string, password Secret, dbname string) string {
	dsn := strings.Join([]string{
		"host=" + dsnQuote(n.Host),
		"port=" + strconv.Itoa(n.Port),
		"user=" + dsnQuote(user),
		"password=" + dsnQuote(password.Reveal()),
		"dbname=" + dsnQuote(dbname),
		"sslmode=" + string(n.TLSMode),
	}, " ")
	if n.CAFile != "" {
		dsn += " sslrootcert=" + dsnQuote(n.CAFile)
	}
	if n.CertFile != "" {
		dsn += " sslcert=" + dsnQuote(n.CertFile) + " sslkey=" + dsnQuote(n.KeyFile)
	}
	return dsn
}

// dsnQuote quotes a value for a libpq keyword/value connection string.
func dsnQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ServerTLS is libpq's sslmode for connections to a server.
type ServerTLS string

const (
	ServerTLSDisable    ServerTLS = "disable"
	ServerTLSPrefer     ServerTLS = "prefer"
	ServerTLSRequire    ServerTLS = "require"
	ServerTLSVerifyCA   ServerTLS = "verify-ca"
	ServerTLSVerifyFull ServerTLS = "verify-full"
)

// Database returns the database called name, or nil.
func (c *Config) Database(name string) *Database {
	for i := range c.Databases {
		if c.Databases[i].Name == name {
			return &c.Databases[i]
		}
	}
	return nil
}

// User returns the user called name, or nil.
func (c *Config) User(name string) *User {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i]
		}
	}
	return nil
}

// ServerCredentials returns the role and password pgshard logs in with on
// d's servers when serving u. A user's server_user, when set, overrides the
// database's, and then the user's server_password goes with it: the two are
// a pair, so a user's role is never combined with the database role's
// password. A nil u gets the database's credentials.
func (d *Database) ServerCredentials(u *User) (user string, password Secret) {
	if u != nil && u.ServerUser != "" {
		return u.ServerUser, u.ServerPassword
	}
	return d.ServerUser, d.ServerPassword
}

// Nodes returns the number of servers in d: every primary and replica.
func (d *Database) Nodes() int {
	n := 0
	for _, s := range d.Shards {
		n += 1 + len(s.Replicas)
	}
	return n
}

// DefaultUnixSocketPermissions is PostgreSQL's default
// unix_socket_permissions: who may connect is decided by the directory's
// permissions and by authentication.
const DefaultUnixSocketPermissions = "0777"

// UnixSocketMode is unix_socket_permissions as a file mode; Load checked
// it.
func (c *Config) UnixSocketMode() os.FileMode {
	m, err := strconv.ParseUint(c.UnixSocketPermissions, 8, 32)
	if err != nil {
		m = 0o777
	}
	return os.FileMode(m) & os.ModePerm
}

// LookupGroup finds a group by name or number, as unix_socket_group names
// it.
func LookupGroup(name string) (gid int, err error) {
	g, err := osuser.LookupGroup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr != nil {
			return 0, err
		}
		if g, err = osuser.LookupGroupId(name); err != nil {
			return 0, err
		}
	}
	return strconv.Atoi(g.Gid)
}
