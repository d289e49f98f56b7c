package wire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// passthroughRoles are the roles logged in by passthrough_auth: roles of
// the servers that are not listed in users. Each keeps the password last
// verified, which its pools log in to the servers with.
type passthroughRoles struct {
	mu    sync.Mutex
	roles map[string]*config.User
	// asks records, per role, database and node, the nodes seen to ask
	// for a password: a node that lets a role in without one would let
	// any password through.
	asks map[string]bool
}

// latest is the role's entry with the password last verified; u itself
// when it is not a passthrough role.
func (pt *passthroughRoles) latest(u *config.User) *config.User {
	if u == nil || u.Auth != config.AuthPassthrough {
		return u
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if now := pt.roles[u.Name]; now != nil {
		return now
	}
	return u
}

// forget drops what is known of the roles, so that the next login checks
// again whether their server asks for a password: after a reload, which
// may point a database at other servers.
func (pt *passthroughRoles) forget() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.asks = nil
}

// passthroughLogin authenticates a role not listed in users, as
// passthrough_auth allows: the client sends its password in clear text
// (as to a server with password authentication), and pgshard logs in with
// it to a node of the database, whose answer decides. The role's
// server connections then log in as the role itself, with that password.
func (srv *Server) passthroughLogin(ctx context.Context, be *pgproto3.Backend, l *loaded, tlsOn bool, name, dbName string) (*config.User, error) {
	if l.cfg.PassthroughAuth == config.PassthroughTLS && !tlsOn {
		return nil, &pgError{Severity: "FATAL", Code: codeInvalidAuthorization,
			Message: fmt.Sprintf("pgshard: role %q must connect over TLS", name),
			Hint:    "Connect with sslmode=require (or verify-full): a role not listed in pgshard's users sends its password in clear text (passthrough_auth: tls)."}
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := be.Flush(); err != nil {
		return nil, err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return nil, err
	}
	msg, err := be.Receive()
	if err != nil {
		return nil, err
	}
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return nil, authFailed(name)
	}
	db := srv.database(dbName)
	if db == nil {
		return nil, fatalf(codeInvalidCatalogName, fmt.Sprintf("database %q does not exist", dbName))
	}
	check := func(n *config.Node, password string) error {
		ctx, cancel := context.WithTimeout(ctx, l.cfg.Pool.ConnectTimeout)
		defer cancel()
		cfg, err := pgconn.ParseConfig(n.DSN(name, config.Secret(password), db.cfg.ServerDatabase))
		if err != nil {
			return err
		}
		cfg.DialFunc = serverDialer(l.cfg.TCP)
		pc, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		return pc.Close(ctx)
	}
	var (
		node     passthroughNode
		unasked  []string
		answered bool
	)
	for _, node = range passthroughNodes(db) {
		if err = check(node.n, pm.Password); err == nil || decisive(err) {
			answered = true
			break
		}
		unasked = append(unasked, fmt.Sprintf("shard %s node %s: %s", node.shard, node.n.Name, errorText(err)))
	}
	if !answered {
		return nil, &pgError{Severity: "FATAL", Code: codeCannotConnect,
			Message: fmt.Sprintf("pgshard: cannot check the password of role %q: no node of database %q answered (%s)", name, dbName, strings.Join(unasked, "; ")),
			Hint:    "passthrough_auth checks passwords on any node of the database, healthy ones first: check that one is running and reachable, then connect again."}
	}
	if err != nil {
		return nil, passthroughRefusal(err)
	}
	probe := name + "\x00" + dbName + "\x00" + node.n.Name
	if !srv.passthrough.asked(probe) {
		// Once per role, node and configuration: a password nobody knows
		// must fail, or the node trusts pgshard's address for this role
		// and the check above proved nothing.
		var b [16]byte
		_, _ = rand.Read(b[:])
		if check(node.n, hex.EncodeToString(b[:])) == nil {
			srv.log.Error("passthrough_auth: the server lets this role in without a password; its logins are refused",
				"role", name, "shard", node.shard, "node", node.n.Name)
			return nil, &pgError{Severity: "FATAL", Code: codeInvalidAuthorization,
				Message: fmt.Sprintf("pgshard: cannot check the password of role %q: the server lets it in without one", name),
				Hint:    fmt.Sprintf("pg_hba.conf on shard %s node %s trusts pgshard's address for this role; passthrough_auth needs password authentication (scram-sha-256 or md5) there, or list the role in pgshard's users.", node.shard, node.n.Name)}
		}
		srv.passthrough.markAsked(probe)
	}
	return srv.passthroughRole(name, pm.Password), nil
}

// passthroughNode is a node that can check a role's password: any of the
// database's, since every node of every shard must let the role's pools in.
type passthroughNode struct {
	shard string
	n     *config.Node
}

// passthroughNodes lists db's nodes in the order they are asked: the
// primaries by shard, then the replicas (whose pg_authid is the primary's,
// streamed), those the lag monitor sees healthy before the others, so one
// node down costs a login nothing and an unreachable one its timeout at
// most until the monitor notices.
func passthroughNodes(db *database) []passthroughNode {
	var healthy, other []passthroughNode
	add := func(sh *config.Shard, n *config.Node, id shard.NodeID) {
		pn := passthroughNode{shard: sh.Name, n: n}
		if db.topo != nil {
			if st, ok := db.topo.mon.State(id); ok && (!st.Healthy || st.Banned) {
				other = append(other, pn)
				return
			}
		}
		healthy = append(healthy, pn)
	}
	for i := range db.cfg.Shards {
		sh := &db.cfg.Shards[i]
		add(sh, &sh.Primary, shard.NodeID{Shard: shard.ShardID(i), Name: sh.Primary.Name})
	}
	for i := range db.cfg.Shards {
		sh := &db.cfg.Shards[i]
		for k := range sh.Replicas {
			add(sh, &sh.Replicas[k], shard.NodeID{Shard: shard.ShardID(i), Name: sh.Replicas[k].Name})
		}
	}
	return append(healthy, other...)
}

// decisive reports whether a node's answer to a login settles it: it
// refused the role or its password, or the database is not there. Other
// errors (unreachable, starting up, too many connections) leave the
// question to the next node.
func decisive(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return strings.HasPrefix(pe.Code, "28") || strings.HasPrefix(pe.Code, "3D")
}

// passthroughRefusal relays a node's refusal of the role's login: a wrong
// password is 28P01, as from PostgreSQL.
func passthroughRefusal(err error) error {
	var pe *pgconn.PgError
	errors.As(err, &pe)
	return &pgError{Severity: "FATAL", Code: pe.Code, Message: pe.Message, Detail: pe.Detail, Hint: pe.Hint}
}

func (pt *passthroughRoles) asked(name string) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.asks[name]
}

func (pt *passthroughRoles) markAsked(name string) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.asks == nil {
		pt.asks = map[string]bool{}
	}
	pt.asks[name] = true
}

// passthroughRole is the role's entry for password, made anew when the
// password changed on the server: its pools open their next connections
// with the new one (connections already open stay, as on PostgreSQL).
func (srv *Server) passthroughRole(name, password string) *config.User {
	pt := &srv.passthrough
	pt.mu.Lock()
	u := pt.roles[name]
	if u != nil && subtle.ConstantTimeCompare([]byte(u.ServerPassword.Reveal()), []byte(password)) == 1 {
		pt.mu.Unlock()
		return u
	}
	u = &config.User{Name: name, Auth: config.AuthPassthrough, ServerUser: name, ServerPassword: config.Secret(password)}
	if pt.roles == nil {
		pt.roles = map[string]*config.User{}
	}
	pt.roles[name] = u
	pt.mu.Unlock()

	srv.poolsMu.Lock()
	defer srv.poolsMu.Unlock()
	for key, p := range srv.pools {
		if key.user == name && key.passthrough {
			p.setCredentials(name, u.ServerPassword)
		}
	}
	return u
}
