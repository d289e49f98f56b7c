package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults for keys that are absent (or null) in the file.
const (
	DefaultListen            = "127.0.0.1:6432"
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxMessageSize    = 64 << 20 // 64 MiB
	DefaultMaxClientConn     = 10000
	DefaultIdleTransaction   = time.Duration(0)
	DefaultClientIdle        = time.Duration(0)
	DefaultLogConnections    = true
	DefaultPoolMode          = PoolTransaction
	DefaultPoolSize          = 20
	DefaultPoolMinIdle       = 0
	DefaultConnectTimeout    = 5 * time.Second
	DefaultQueueTimeout      = 10 * time.Second
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultServerLifetime    = time.Hour
	DefaultPreparedCache     = 256
	DefaultCursorMaxMiB      = 64
	DefaultReserveTimeout    = 5 * time.Second
	DefaultKeepaliveIdle     = 15 * time.Second
	DefaultKeepaliveInterval = 5 * time.Second
	DefaultKeepaliveCount    = 3
	DefaultTCPUserTimeout    = time.Duration(0)
	DefaultAuth              = AuthSCRAM
	DefaultPort              = 5432
	DefaultServerTLS         = ServerTLSPrefer
	DefaultKeyType           = "bigint"
	DefaultResolveAfter      = 30 * time.Second
	DefaultDeadlockTimeout   = time.Second
	DefaultResolveInterval   = 15 * time.Second
	DefaultKeylessWrites     = KeylessRefuse
	DefaultKeyUpdates        = KeyUpdatesMove

	DefaultAdminListen        = "127.0.0.1:6433"
	DefaultReadReplicas       = true
	DefaultMaxLagBytes        = 16 << 20 // 16 MiB
	DefaultMaxLag             = time.Second
	DefaultReadFallback       = FallbackPrimary
	DefaultReadYourWrites     = true
	DefaultReadYourWritesWait = 0
	DefaultMonitorInterval    = 250 * time.Millisecond
	DefaultMonitorTimeout     = time.Second
	DefaultBanBase            = time.Second
	DefaultBanMax             = 30 * time.Second
)

var (
	poolModes       = []PoolMode{PoolTransaction, PoolSession}
	authMethods     = []AuthMethod{AuthSCRAM, AuthMD5, AuthTrust, AuthCert}
	clientCertModes = []ClientCertMode{ClientCertVerifyCA, ClientCertVerifyFull}
	passthroughs    = []PassthroughMode{PassthroughOff, PassthroughTLS, PassthroughAny}
	sessionStates   = []SessionState{SessionStateRefuse, SessionStatePin}
	serverTLSModes  = []ServerTLS{ServerTLSDisable, ServerTLSPrefer, ServerTLSRequire, ServerTLSVerifyCA, ServerTLSVerifyFull}
	keylessWrites   = []KeylessWrites{KeylessRefuse, KeylessAllShards}
	keyUpdates      = []KeyUpdates{KeyUpdatesMove, KeyUpdatesRefuse}
	readFallbacks   = []ReadFallback{FallbackPrimary, FallbackError}
	// Column types a shard key may have; the router canonicalizes integer
	// widths so 42 hashes alike as int2, int4 or int8.
	keyTypes = []string{"bigint", "int8", "integer", "int4", "int", "smallint", "int2", "text", "varchar", "uuid"}
)

// applyDefaults fills in keys the file leaves out. It asks the index rather
// than testing for zero values because several zeros are meaningful
// (idle_timeout: 0 keeps idle connections; port: 0 must be reported, not
// replaced). Relative file names are anchored at the file's directory.
func applyDefaults(c *Config, ix *index, file string) {
	set := func(path string, apply func()) {
		if !ix.has(path) {
			apply()
		}
	}
	set("listen", func() { c.Listen = DefaultListen })
	set("shutdown_timeout", func() { c.ShutdownTimeout = DefaultShutdownTimeout })
	set("max_message_size", func() { c.MaxMessageSize = DefaultMaxMessageSize })
	set("max_client_conn", func() { c.MaxClientConn = DefaultMaxClientConn })
	set("idle_transaction_timeout", func() { c.IdleTransactionTimeout = DefaultIdleTransaction })
	set("client_idle_timeout", func() { c.ClientIdleTimeout = DefaultClientIdle })
	set("log_connections", func() { c.LogConnections = DefaultLogConnections })
	set("passthrough_auth", func() { c.PassthroughAuth = PassthroughOff })
	set("two_phase.resolve_after", func() { c.TwoPhase.ResolveAfter = DefaultResolveAfter })
	set("two_phase.resolve_interval", func() { c.TwoPhase.ResolveInterval = DefaultResolveInterval })
	set("two_phase.deadlock_timeout", func() { c.TwoPhase.DeadlockTimeout = DefaultDeadlockTimeout })
	set("unix_socket_permissions", func() { c.UnixSocketPermissions = DefaultUnixSocketPermissions })
	set("admin.listen", func() { c.Admin.Listen = DefaultAdminListen })
	set("admin.console", func() { c.Admin.Console = AdminOff })
	r := &c.Reads
	set("reads.replicas", func() { r.Replicas = DefaultReadReplicas })
	set("reads.max_lag_bytes", func() { r.MaxLagBytes = DefaultMaxLagBytes })
	set("reads.max_lag", func() { r.MaxLag = DefaultMaxLag })
	set("reads.fallback", func() { r.Fallback = DefaultReadFallback })
	set("reads.read_your_writes", func() { r.ReadYourWrites = DefaultReadYourWrites })
	set("reads.read_your_writes_wait", func() { r.ReadYourWritesWait = DefaultReadYourWritesWait })
	m := &c.Monitor
	set("monitor.interval", func() { m.Interval = DefaultMonitorInterval })
	set("monitor.timeout", func() { m.Timeout = DefaultMonitorTimeout })
	set("monitor.ban_base", func() { m.BanBase = DefaultBanBase })
	set("monitor.ban_max", func() { m.BanMax = DefaultBanMax })
	p := &c.Pool
	set("pool.mode", func() { p.Mode = DefaultPoolMode })
	set("pool.size", func() { p.Size = DefaultPoolSize })
	set("pool.min_idle", func() { p.MinIdle = DefaultPoolMinIdle })
	set("pool.connect_timeout", func() { p.ConnectTimeout = DefaultConnectTimeout })
	set("pool.queue_timeout", func() { p.QueueTimeout = DefaultQueueTimeout })
	set("pool.idle_timeout", func() { p.IdleTimeout = DefaultIdleTimeout })
	set("pool.server_lifetime", func() { p.ServerLifetime = DefaultServerLifetime })
	set("pool.prepared_cache", func() { p.PreparedCache = DefaultPreparedCache })
	set("pool.cursor_max_mib", func() { p.CursorMaxMiB = DefaultCursorMaxMiB })
	set("pool.session_state", func() { p.SessionState = SessionStateRefuse })
	set("pool.reserve_timeout", func() { p.ReserveTimeout = DefaultReserveTimeout })
	tc := &c.TCP
	set("tcp.keepalive_idle", func() { tc.KeepaliveIdle = DefaultKeepaliveIdle })
	set("tcp.keepalive_interval", func() { tc.KeepaliveInterval = DefaultKeepaliveInterval })
	set("tcp.keepalive_count", func() { tc.KeepaliveCount = DefaultKeepaliveCount })
	set("tcp.user_timeout", func() { tc.UserTimeout = DefaultTCPUserTimeout })

	for i := range c.Users {
		u := &c.Users[i]
		set(fmt.Sprintf("users[%d].auth", i), func() { u.Auth = DefaultAuth })
	}
	dir := filepath.Dir(file)
	if c.TLS != nil {
		c.TLS.CertFile = anchor(dir, c.TLS.CertFile)
		c.TLS.KeyFile = anchor(dir, c.TLS.KeyFile)
		if c.TLS.ClientCAFile != "" {
			c.TLS.ClientCAFile = anchor(dir, c.TLS.ClientCAFile)
		}
	}
	node := func(n *Node, path, name string) {
		set(path+".name", func() { n.Name = name })
		set(path+".port", func() { n.Port = DefaultPort })
		set(path+".tls", func() { n.TLSMode = DefaultServerTLS })
		n.CAFile = anchor(dir, n.CAFile)
		n.CertFile = anchor(dir, n.CertFile)
		n.KeyFile = anchor(dir, n.KeyFile)
	}
	for i := range c.Databases {
		d := &c.Databases[i]
		dp := fmt.Sprintf("databases[%d]", i)
		set(dp+".server_database", func() { d.ServerDatabase = d.Name })
		for j := range d.Shards {
			s := &d.Shards[j]
			sp := fmt.Sprintf("%s.shards[%d]", dp, j)
			set(sp+".name", func() { s.Name = "s" + strconv.Itoa(j) })
			node(&s.Primary, sp+".primary", s.Name+"-primary")
			for k := range s.Replicas {
				node(&s.Replicas[k], fmt.Sprintf("%s.replicas[%d]", sp, k), fmt.Sprintf("%s-replica%d", s.Name, k+1))
			}
		}
		sh := &d.Sharding
		set(dp+".sharding.keyless_writes", func() { sh.KeylessWrites = DefaultKeylessWrites })
		set(dp+".sharding.key_updates", func() { sh.KeyUpdates = DefaultKeyUpdates })
		set(dp+".sharding.default_shard", func() {
			if len(d.Shards) > 0 {
				sh.DefaultShard = d.Shards[0].Name
			}
		})
		for j := range sh.Tables {
			t := &sh.Tables[j]
			set(fmt.Sprintf("%s.sharding.tables[%d].key_type", dp, j), func() { t.KeyType = DefaultKeyType })
		}
	}
}

func anchor(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// validator collects every problem rather than stopping at the first, so a
// single run shows all there is to fix.
type validator struct {
	file string
	ix   *index
	errs []*Error
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.ix.line(path), Key: path, Msg: fmt.Sprintf(format, args...)})
}

func oneOf[T ~string](v *validator, path string, val T, valid []T) {
	if slices.Contains(valid, val) {
		return
	}
	names := make([]string, len(valid))
	for i, x := range valid {
		names[i] = string(x)
	}
	v.errorf(path, "%q is not one of %s", val, strings.Join(names, ", "))
}

// unique reports a name already seen (recording its path otherwise) and an
// explicitly empty one; what is unique is the name within kind.
func (v *validator) unique(seen map[string]string, path, kind, name string) {
	switch first, dup := seen[name]; {
	case name == "":
		v.errorf(path, "must not be empty")
	case dup:
		v.errorf(path, "%s %q is already defined at line %d", kind, name, v.ix.line(first))
	default:
		seen[name] = path
	}
}

func (v *validator) validate(c *Config) {
	v.listenAddr("listen", c.Listen)
	if c.TwoPhase.ResolveAfter <= 0 {
		v.errorf("two_phase.resolve_after", "%v must be more than 0", c.TwoPhase.ResolveAfter)
	}
	if c.TwoPhase.ResolveInterval <= 0 {
		v.errorf("two_phase.resolve_interval", "%v must be more than 0", c.TwoPhase.ResolveInterval)
	}
	if c.TwoPhase.DeadlockTimeout < 0 {
		v.errorf("two_phase.deadlock_timeout", "%v is negative (0 turns the detection off)", c.TwoPhase.DeadlockTimeout)
	}
	if c.ShutdownTimeout < 0 {
		v.errorf("shutdown_timeout", "%v is negative", c.ShutdownTimeout)
	}
	if c.MaxMessageSize < 1 {
		v.errorf("max_message_size", "%d is not a positive number of bytes", c.MaxMessageSize)
	}
	if c.MaxClientConn < 1 {
		v.errorf("max_client_conn", "%d must be at least 1", c.MaxClientConn)
	}
	if c.IdleTransactionTimeout < 0 {
		v.errorf("idle_transaction_timeout", "%v is negative (0s means no limit)", c.IdleTransactionTimeout)
	}
	if c.ClientIdleTimeout < 0 {
		v.errorf("client_idle_timeout", "%v is negative (0s means no limit)", c.ClientIdleTimeout)
	}
	if c.LogSlowRequests < 0 {
		v.errorf("log_slow_requests", "%v is negative (0s turns the log off)", c.LogSlowRequests)
	}
	if c.TLS != nil {
		v.serverCertificate(c.TLS)
	}
	oneOf(v, "passthrough_auth", c.PassthroughAuth, passthroughs)
	if c.PassthroughAuth == PassthroughTLS && c.TLS == nil {
		v.errorf("passthrough_auth", "tls needs a tls section: clients send their password in clear text, over TLS only (or set any)")
	}
	v.unixSocket(c)
	if pp := c.ProxyProtocol; pp != nil {
		if len(pp.Trusted) == 0 {
			v.errorf("proxy_protocol.trusted", "list the load balancers that send PROXY headers (addresses or CIDR prefixes)")
		}
		v.networks("proxy_protocol.trusted", pp.Trusted, false)
	}
	v.peers(c)
	v.pool(&c.Pool)
	v.tcp(&c.TCP)
	v.admin(c)
	v.reads(&c.Reads)
	v.monitor(&c.Monitor)
	v.users(c.Users, c.TLS)
	v.databases(c)
}

func (v *validator) reads(r *Reads) {
	oneOf(v, "reads.fallback", r.Fallback, readFallbacks)
	if r.MaxLagBytes < 0 {
		v.errorf("reads.max_lag_bytes", "%d is negative", r.MaxLagBytes)
	}
	if r.MaxLag < 0 {
		v.errorf("reads.max_lag", "%v is negative", r.MaxLag)
	}
	switch {
	case r.ReadYourWritesWait < 0:
		v.errorf("reads.read_your_writes_wait", "%v is negative", r.ReadYourWritesWait)
	case r.ReadYourWritesWait > 0 && !r.ReadYourWrites:
		v.errorf("reads.read_your_writes_wait", "%v has no effect with read_your_writes: false", r.ReadYourWritesWait)
	}
}

func (v *validator) monitor(m *Monitor) {
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"monitor.interval", m.Interval},
		{"monitor.timeout", m.Timeout},
		{"monitor.ban_base", m.BanBase},
		{"monitor.ban_max", m.BanMax},
	} {
		if d.val <= 0 {
			v.errorf(d.key, "%v must be more than 0", d.val)
		}
	}
	if m.BanBase > 0 && m.BanMax > 0 && m.BanMax < m.BanBase {
		v.errorf("monitor.ban_max", "%v is less than monitor.ban_base %v", m.BanMax, m.BanBase)
	}
}

func (v *validator) serverCertificate(t *TLS) {
	certOK := v.existingFile("tls.cert_file", t.CertFile)
	keyOK := v.existingFile("tls.key_file", t.KeyFile)
	if certOK && keyOK {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.errorf("tls", "cert_file and key_file do not load as a certificate and its key: %v", err)
		}
	}
	if t.ClientCAFile != "" && v.existingFile("tls.client_ca_file", t.ClientCAFile) {
		if _, err := LoadCAs(t.ClientCAFile); err != nil {
			v.errorf("tls.client_ca_file", "%v", err)
		}
	}
}

// existingFile checks that a file named at path is set and is a readable
// file, and reports whether it is.
func (v *validator) existingFile(path, name string) bool {
	if name == "" {
		v.errorf(path, "required")
		return false
	}
	f, err := os.Open(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		v.errorf(path, "%q: %v", name, err)
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		v.errorf(path, "%q is not a regular file", name)
		return false
	}
	return true
}

func (v *validator) pool(p *Pool) {
	oneOf(v, "pool.mode", p.Mode, poolModes)
	if p.Size < 1 {
		v.errorf("pool.size", "%d is less than 1", p.Size)
	}
	switch {
	case p.MinIdle < 0:
		v.errorf("pool.min_idle", "%d is negative", p.MinIdle)
	case p.Size >= 1 && p.MinIdle > p.Size:
		v.errorf("pool.min_idle", "%d is more than pool.size %d", p.MinIdle, p.Size)
	}
	// A zero connect or queue timeout has no useful meaning (fail at once, or
	// wait forever by accident), so both must be positive; idle_timeout and
	// server_lifetime document 0 as "no limit".
	for _, d := range []struct {
		key    string
		val    time.Duration
		zeroOK bool
	}{
		{"pool.connect_timeout", p.ConnectTimeout, false},
		{"pool.queue_timeout", p.QueueTimeout, false},
		{"pool.reserve_timeout", p.ReserveTimeout, true},
		{"pool.idle_timeout", p.IdleTimeout, true},
		{"pool.server_lifetime", p.ServerLifetime, true},
	} {
		switch {
		case d.val < 0:
			v.errorf(d.key, "%v is negative", d.val)
		case d.val == 0 && !d.zeroOK:
			v.errorf(d.key, "must be more than 0")
		}
	}
	if p.PreparedCache < 0 {
		v.errorf("pool.prepared_cache", "%d is negative", p.PreparedCache)
	}
	oneOf(v, "pool.session_state", p.SessionState, sessionStates)
	if p.CursorMaxMiB < 0 {
		v.errorf("pool.cursor_max_mib", "%d is negative", p.CursorMaxMiB)
	}
	if p.ReserveSize < 0 {
		v.errorf("pool.reserve_size", "%d is negative", p.ReserveSize)
	}
}

// tcp checks the dead-peer settings: keepalive_idle 0s turns keepalives
// off and user_timeout 0s keeps the kernel's default, but an interval or a
// count of 0 has no meaning.
func (v *validator) tcp(t *TCP) {
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"tcp.keepalive_idle", t.KeepaliveIdle},
		{"tcp.keepalive_interval", t.KeepaliveInterval},
		{"tcp.user_timeout", t.UserTimeout},
	} {
		if d.val < 0 {
			v.errorf(d.key, "%v is negative", d.val)
		}
	}
	if t.KeepaliveInterval == 0 {
		v.errorf("tcp.keepalive_interval", "must be more than 0")
	}
	if t.KeepaliveCount < 1 {
		v.errorf("tcp.keepalive_count", "%d is less than 1", t.KeepaliveCount)
	}
}

const scramPrefix = "SCRAM-SHA-256$"

func (v *validator) databases(c *Config) {
	if len(c.Databases) == 0 {
		v.errorf("databases", "at least one database is required")
	}
	seen := map[string]string{}
	for i := range c.Databases {
		d := &c.Databases[i]
		p := fmt.Sprintf("databases[%d]", i)
		if !v.ix.has(p + ".name") {
			v.errorf(p+".name", "required")
		} else {
			v.unique(seen, p+".name", "database", d.Name)
		}
		if v.ix.has(p+".server_database") && d.ServerDatabase == "" {
			v.errorf(p+".server_database", "must not be empty")
		}
		if d.ServerPassword != "" && d.ServerUser == "" {
			v.errorf(p+".server_password", "set without server_user; the two go together")
		}
		if v.ix.has(p+".pool_size") && d.PoolSize < 1 {
			v.errorf(p+".pool_size", "%d is less than 1 (leave it out to use pool.size)", d.PoolSize)
		}
		if v.ix.has(p+".max_db_connections") && d.MaxDBConnections < 1 {
			v.errorf(p+".max_db_connections", "%d is less than 1 (leave it out for no bound)", d.MaxDBConnections)
		}
		if d.ServerUser == "" {
			v.serverUsers(p, d, c.Users)
		}
		if len(d.Shards) == 0 {
			v.errorf(p+".shards", "at least one shard is required")
		}
		shards, nodes := map[string]string{}, map[string]string{}
		for j := range d.Shards {
			s := &d.Shards[j]
			sp := fmt.Sprintf("%s.shards[%d]", p, j)
			v.unique(shards, sp+".name", "shard", s.Name)
			if !v.ix.has(sp + ".primary") {
				v.errorf(sp+".primary", "required: every shard has a primary")
			} else {
				v.node(nodes, sp+".primary", &s.Primary)
			}
			for k := range s.Replicas {
				v.node(nodes, fmt.Sprintf("%s.replicas[%d]", sp, k), &s.Replicas[k])
			}
		}
		v.sharding(p+".sharding", d)
	}
}

// sharding checks table roles: each table has one role, keys are named,
// and the default shard exists.
func (v *validator) sharding(path string, d *Database) {
	sh := &d.Sharding
	oneOf(v, path+".keyless_writes", sh.KeylessWrites, keylessWrites)
	oneOf(v, path+".key_updates", sh.KeyUpdates, keyUpdates)
	if sh.DefaultShard != "" && !slices.ContainsFunc(d.Shards, func(s Shard) bool { return s.Name == sh.DefaultShard }) {
		v.errorf(path+".default_shard", "no shard is called %q", sh.DefaultShard)
	}
	tables := map[string]string{}
	for i := range sh.Tables {
		t := &sh.Tables[i]
		tp := fmt.Sprintf("%s.tables[%d]", path, i)
		if t.Name == "" {
			v.errorf(tp+".name", "required")
		} else {
			v.unique(tables, tp+".name", "table", strings.ToLower(t.Name))
		}
		if t.Key == "" {
			v.errorf(tp+".key", "required: the column whose hash places each row")
		}
		if !slices.Contains(keyTypes, strings.ToLower(t.KeyType)) {
			v.errorf(tp+".key_type", "%q is not a supported shard key type; use one of %s", t.KeyType, strings.Join(keyTypes, ", "))
		}
	}
	for i, name := range sh.ReferenceTables {
		rp := fmt.Sprintf("%s.reference_tables[%d]", path, i)
		if name == "" {
			v.errorf(rp, "must not be empty")
			continue
		}
		v.unique(tables, rp, "table", strings.ToLower(name))
	}
	functions := map[string]string{}
	for i := range sh.Functions {
		f := &sh.Functions[i]
		fp := fmt.Sprintf("%s.functions[%d]", path, i)
		if f.Name == "" {
			v.errorf(fp+".name", "required")
		} else {
			v.unique(functions, fp+".name", "function", strings.ToLower(f.Name))
		}
		if f.KeyArg < 1 {
			v.errorf(fp+".key_arg", "required: the position (from 1) of the argument that is the shard key")
		}
		switch {
		case f.Table == "":
			v.errorf(fp+".table", "required: the sharded table whose key the argument is")
		case !slices.ContainsFunc(sh.Tables, func(t ShardedTable) bool { return strings.EqualFold(t.Name, f.Table) }):
			v.errorf(fp+".table", "%q is not one of sharding.tables", f.Table)
		}
	}
}

// serverUsers reports the users that would have no role on the servers of
// d, which has no server_user of its own, in one error naming them all.
func (v *validator) serverUsers(path string, d *Database, users []User) {
	var missing []string
	for i, u := range users {
		if u.ServerUser == "" {
			missing = append(missing, fmt.Sprintf("%q (line %d)", u.Name, v.ix.line(fmt.Sprintf("users[%d]", i))))
		}
	}
	if len(missing) > 0 {
		v.errorf(path+".server_user", "database %q has no server_user and neither has user %s; set it on the database or on every user",
			d.Name, strings.Join(missing, ", "))
	}
}

func (v *validator) node(seen map[string]string, path string, n *Node) {
	v.unique(seen, path+".name", "node", n.Name)
	if n.Host == "" {
		v.errorf(path+".host", "required")
	}
	if n.Port < 1 || n.Port > 65535 {
		v.errorf(path+".port", "%d is out of range 1-65535", n.Port)
	}
	oneOf(v, path+".tls", n.TLSMode, serverTLSModes)
	if (n.TLSMode == ServerTLSVerifyCA || n.TLSMode == ServerTLSVerifyFull) && n.CAFile == "" {
		v.errorf(path+".tls", "%s needs ca_file, the CA certificate the server's certificate is verified against", n.TLSMode)
	}
	if n.CAFile != "" && v.existingFile(path+".ca_file", n.CAFile) {
		if _, err := LoadCAs(n.CAFile); err != nil {
			v.errorf(path+".ca_file", "%v", err)
		}
	}
	switch {
	case n.CertFile == "" && n.KeyFile == "":
	case n.CertFile == "" || n.KeyFile == "":
		v.errorf(path, "cert_file and key_file go together: the client certificate pgshard presents and its key")
	case n.TLSMode == ServerTLSDisable:
		v.errorf(path+".cert_file", "a client certificate needs TLS to the node; tls is disable")
	default:
		certOK := v.existingFile(path+".cert_file", n.CertFile)
		if keyOK := v.existingFile(path+".key_file", n.KeyFile); certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(n.CertFile, n.KeyFile); err != nil {
				v.errorf(path, "cert_file and key_file do not load as a certificate and its key: %v", err)
			}
		}
	}
}
