package cluster

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"golang.org/x/sync/errgroup"
)

// Labels put on every container and network the harness creates, so a sweep
// can find what a killed run left behind.
const (
	LabelHarness = "pgshard.harness"
	LabelCluster = "pgshard.cluster"
)

// Password is the superuser password of every node (user postgres).
const Password = "pgshard-test"

//go:embed entrypoint.sh
var entrypoint string

// Spec describes the topology to start.
type Spec struct {
	Shards   int      // number of shards, at least 1
	Replicas int      // streaming replicas per shard, 0 or more
	Image    string   // PostgreSQL image; empty means PGSHARD_PG_IMAGE or DefaultImage
	Settings []string // extra postgres settings, "name=value", applied to every node
}

// Cluster is a running topology. Terminate removes it.
type Cluster struct {
	ID     string
	Shards []*Shard

	image  string
	spec   Spec
	net    *testcontainers.DockerNetwork
	docker *client.Client
}

// Shard is one primary and its streaming replicas.
type Shard struct {
	Index    int
	Primary  *Node
	Replicas []*Node
}

// Nodes returns the primary followed by the replicas.
func (s *Shard) Nodes() []*Node { return append([]*Node{s.Primary}, s.Replicas...) }

// Start creates the replication network and every node, and returns once each
// replica streams from its primary. On error it removes what it created.
func Start(ctx context.Context, spec Spec) (c *Cluster, err error) {
	if spec.Shards < 1 || spec.Replicas < 0 {
		return nil, fmt.Errorf("cluster: need at least 1 shard and 0 or more replicas, got %d and %d", spec.Shards, spec.Replicas)
	}
	configureTestcontainers()
	c = &Cluster{ID: randomID(), spec: spec, image: spec.Image}
	if c.image == "" {
		c.image = imageFromEnv()
	}
	dc, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: docker client: %w", err)
	}
	c.docker = dc.Client
	if err := checkLocalImage(ctx, c.docker, c.image); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Terminate(context.WithoutCancel(ctx)))
			c = nil
		}
	}()

	// Replication runs on a network of its own so a test can cut it without
	// touching the published ports, which stay on the default bridge.
	c.net, err = network.New(ctx, network.WithInternal(),
		network.WithLabels(map[string]string{LabelHarness: "true", LabelCluster: c.ID}))
	if err != nil {
		return nil, fmt.Errorf("cluster: replication network: %w", err)
	}

	for i := range spec.Shards {
		s := &Shard{Index: i}
		s.Primary = c.newNode(s, RolePrimary, fmt.Sprintf("s%d_primary", i))
		for r := range spec.Replicas {
			s.Replicas = append(s.Replicas, c.newNode(s, RoleReplica, fmt.Sprintf("s%d_replica%d", i, r+1)))
		}
		c.Shards = append(c.Shards, s)
	}
	// Primaries first: a replica's pg_basebackup needs its primary up.
	if err := c.startAll(ctx, func(s *Shard) []*Node { return []*Node{s.Primary} }); err != nil {
		return c, err
	}
	if err := c.startAll(ctx, func(s *Shard) []*Node { return s.Replicas }); err != nil {
		return c, err
	}
	return c, c.WaitStreaming(ctx)
}

func (c *Cluster) startAll(ctx context.Context, pick func(*Shard) []*Node) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range c.Shards {
		for _, n := range pick(s) {
			g.Go(func() error { return n.create(gctx) })
		}
	}
	return g.Wait()
}

// Nodes returns every node, shard by shard, primary first.
func (c *Cluster) Nodes() []*Node {
	var out []*Node
	for _, s := range c.Shards {
		out = append(out, s.Nodes()...)
	}
	return out
}

// WaitStreaming waits until every current replica of every shard shows as
// streaming in its primary's pg_stat_replication.
func (c *Cluster) WaitStreaming(ctx context.Context) error {
	for _, s := range c.Shards {
		if err := s.WaitStreaming(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WaitStreaming waits until each replica of the shard (that is still a
// replica) streams from the primary, identified by its cluster_name.
func (s *Shard) WaitStreaming(ctx context.Context) error {
	var want []string
	for _, r := range s.Replicas {
		if r.Role() == RoleReplica {
			want = append(want, r.Name)
		}
	}
	return poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		got, err := s.Primary.StreamingReplicas(ctx)
		if err != nil {
			return false, nil // the primary may still be starting
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false, nil
			}
		}
		return true, nil
	}, "shard %d replicas %v streaming", s.Index, want)
}

// StreamingReplicas lists the application_name of each walsender in state
// streaming on this node.
func (n *Node) StreamingReplicas(ctx context.Context) ([]string, error) {
	conn, err := n.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Terminate removes every container and the network of the cluster. It is
// safe to call more than once and on a partly started cluster.
func (c *Cluster) Terminate(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes() {
		if n != nil {
			errs = append(errs, n.terminate(ctx))
		}
	}
	if c.net != nil {
		errs = append(errs, c.net.Remove(ctx))
		c.net = nil
	}
	if c.docker != nil {
		errs = append(errs, c.docker.Close())
		c.docker = nil
	}
	return errors.Join(errs...)
}

// LogEnv names the environment variable that, set to 1, keeps
// testcontainers' own progress log (one line per container event).
const LogEnv = "PGSHARD_HARNESS_LOG"

// configureTestcontainers turns off testcontainers' reaper unless the caller
// chose otherwise: its image cannot be pulled without a registry.
// testcontainers reads the setting once, so this runs before its first call.
func configureTestcontainers() {
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if os.Getenv(LogEnv) != "1" {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// poll calls check every 100ms until it reports done, returns an error, or
// the timeout passes; the timeout error names what was awaited.
func poll(ctx context.Context, timeout time.Duration, check func(context.Context) (bool, error), what string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := check(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", fmt.Sprintf(what, args...), err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", fmt.Sprintf(what, args...), ctx.Err())
		case <-tick.C:
		}
	}
}

func settingsArgs(settings []string) []string {
	var args []string
	for _, s := range settings {
		args = append(args, "-c", strings.TrimSpace(s))
	}
	return args
}

// WaitStreamingGone waits until the primary no longer lists r as streaming.
func (s *Shard) WaitStreamingGone(ctx context.Context, r *Node) error {
	return poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		got, err := s.Primary.StreamingReplicas(ctx)
		return err == nil && !slices.Contains(got, r.Name), nil
	}, "%s to leave shard %d's pg_stat_replication", r.Name, s.Index)
}
