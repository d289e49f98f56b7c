package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Role is what a node is in its shard's replication.
type Role string

const (
	RolePrimary Role = "primary"
	RoleReplica Role = "replica"
)

const pgPort = "5432/tcp"

// Node is one PostgreSQL server in a container.
type Node struct {
	Name  string // e.g. s0_primary, s0_replica1; also cluster_name and slot name
	Shard *Shard

	cluster *Cluster
	mu      sync.Mutex
	role    Role
	ctr     *testcontainers.DockerContainer
	dsn     string // refreshed on each start: the mapped port changes
}

func (c *Cluster) newNode(s *Shard, role Role, name string) *Node {
	return &Node{Name: name, Shard: s, cluster: c, role: role}
}

// Role reports the node's current role (a promoted replica is a primary).
func (n *Node) Role() Role {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.role
}

// DSN is a libpq URL reaching the node from the host as the superuser.
func (n *Node) DSN() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dsn
}

// Addr is the node's host:port as seen from the host.
func (n *Node) Addr() string {
	u, err := url.Parse(n.DSN())
	if err != nil {
		return ""
	}
	return u.Host
}

// alias is the node's name on the replication network (DNS names take no '_').
func (n *Node) alias() string {
	return strings.ReplaceAll(n.Name, "_", "-") + "-" + n.cluster.ID
}

// Connect opens a pgx connection to the node as the superuser.
func (n *Node) Connect(ctx context.Context) (*pgx.Conn, error) {
	dsn := n.DSN()
	if dsn == "" {
		return nil, fmt.Errorf("node %s has not started", n.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", n.Name, err)
	}
	return conn, nil
}

// Exec runs one statement on the node in its own connection.
func (n *Node) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := n.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	return nil
}

// QueryValue runs a query returning one value on the node.
func QueryValue[T any](ctx context.Context, n *Node, sql string, args ...any) (T, error) {
	var v T
	conn, err := n.Connect(ctx)
	if err != nil {
		return v, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		return v, fmt.Errorf("%s: %w", n.Name, err)
	}
	return v, nil
}

func (n *Node) create(ctx context.Context) error {
	c := n.cluster
	env := map[string]string{
		"PGDATA":           "/var/lib/postgresql/pgshard",
		"PGSHARD_ROLE":     string(n.role),
		"PGSHARD_NODE":     n.Name,
		"PGSHARD_PASSWORD": Password,
	}
	if n.role == RoleReplica {
		env["PGSHARD_PRIMARY_HOST"] = n.Shard.Primary.alias()
	}
	ctr, err := testcontainers.Run(ctx, c.image,
		testcontainers.WithName(fmt.Sprintf("pgshard-%s-%s", c.ID, strings.ReplaceAll(n.Name, "_", "-"))),
		testcontainers.WithLabels(map[string]string{LabelHarness: "true", LabelCluster: c.ID}),
		testcontainers.WithEnv(env),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader: strings.NewReader(entrypoint), ContainerFilePath: "/pgshard-entrypoint.sh", FileMode: 0o755,
		}),
		testcontainers.WithEntrypoint("/pgshard-entrypoint.sh"),
		testcontainers.WithCmd(settingsArgs(c.spec.Settings)...),
		testcontainers.WithExposedPorts(pgPort),
		// The official image runs as root by default; Postgres refuses to.
		// SIGINT is Postgres's fast shutdown; Docker's SIGTERM would wait for
		// every client to leave.
		testcontainers.WithConfigModifier(func(cfg *container.Config) {
			cfg.User = "postgres"
			cfg.StopSignal = "SIGINT"
		}),
		// Publish on loopback only: these servers have a known password.
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{network.MustParsePort(pgPort): {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), HostPort: "0"}}}
		}),
		// bridge carries the published port; the internal network carries
		// replication and can be cut alone.
		testcontainers.CustomizeRequestOption(func(req *testcontainers.GenericContainerRequest) error {
			req.Networks = []string{"bridge", c.net.Name}
			req.NetworkAliases = map[string][]string{c.net.Name: {n.alias()}}
			return nil
		}),
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute,
			wait.ForExec([]string{"pg_isready", "-q", "-h", "/tmp", "-p", "5432"}).
				WithPollInterval(200*time.Millisecond).WithStartupTimeout(3*time.Minute)),
	)
	n.mu.Lock()
	n.ctr = ctr // set even on error, so Terminate removes a half-started container
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	return n.refreshDSN(ctx)
}

const loopback = "127.0.0.1"

func (n *Node) refreshDSN(ctx context.Context) error {
	port, err := n.container().MappedPort(ctx, pgPort)
	if err != nil {
		return fmt.Errorf("%s: mapped port: %w", n.Name, err)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", Password),
		Host:     net.JoinHostPort(loopback, port.Port()),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	n.mu.Lock()
	n.dsn = u.String()
	n.mu.Unlock()
	return nil
}

func (n *Node) container() *testcontainers.DockerContainer {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ctr
}

func (n *Node) terminate(ctx context.Context) error {
	ctr := n.container()
	if ctr == nil {
		return nil
	}
	if err := ctr.Terminate(ctx, testcontainers.StopTimeout(5*time.Second)); err != nil {
		return fmt.Errorf("remove %s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.ctr = nil
	n.mu.Unlock()
	return nil
}
