package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Stop shuts the node down (fast shutdown) keeping its data directory.
func (n *Node) Stop(ctx context.Context) error {
	timeout := 30 * time.Second
	if err := n.container().Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop %s: %w", n.Name, err)
	}
	return nil
}

// Start starts a stopped or killed node on its existing data and waits until
// it accepts connections. The published port changes, and with it DSN.
func (n *Node) Start(ctx context.Context) error {
	if err := n.container().Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	return n.refreshDSN(ctx)
}

// Kill sends SIGKILL to the node's postmaster: no shutdown checkpoint, the
// next Start runs crash recovery.
func (n *Node) Kill(ctx context.Context) error {
	_, err := n.cluster.docker.ContainerKill(ctx, n.container().GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"})
	if err != nil {
		return fmt.Errorf("kill %s: %w", n.Name, err)
	}
	return poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		st, err := n.container().State(ctx)
		if err != nil {
			return false, err
		}
		return !st.Running, nil
	}, "%s to exit", n.Name)
}

// Running reports whether the node's container is running.
func (n *Node) Running(ctx context.Context) (bool, error) {
	st, err := n.container().State(ctx)
	if err != nil {
		return false, fmt.Errorf("state of %s: %w", n.Name, err)
	}
	return st.Running, nil
}

// Ping reports whether the node answers a query now.
func (n *Node) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := QueryValue[int](ctx, n, "SELECT 1")
	return err
}

// PauseReplay pauses WAL replay on a replica and returns once the pause is in
// effect (pg_wal_replay_pause only requests it). WAL is still received.
func (n *Node) PauseReplay(ctx context.Context) error {
	if n.Role() != RoleReplica {
		return fmt.Errorf("pause replay on %s: %w", n.Name, errNoReplica)
	}
	if err := n.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		state, err := QueryValue[string](ctx, n, "SELECT pg_get_wal_replay_pause_state()")
		return state == "paused", err
	}, "replay on %s to pause", n.Name)
}

// ResumeReplay resumes WAL replay on a replica.
func (n *Node) ResumeReplay(ctx context.Context) error {
	if n.Role() != RoleReplica {
		return fmt.Errorf("resume replay on %s: %w", n.Name, errNoReplica)
	}
	return n.Exec(ctx, "SELECT pg_wal_replay_resume()")
}

// LagBytes is how far a replica's replayed WAL trails its shard's primary,
// in bytes: primary pg_current_wal_lsn() minus replica pg_last_wal_replay_lsn().
func (n *Node) LagBytes(ctx context.Context) (int64, error) {
	if n.Role() != RoleReplica {
		return 0, fmt.Errorf("lag of %s: %w", n.Name, errNoReplica)
	}
	primaryLSN, err := QueryValue[string](ctx, n.Shard.Primary, "SELECT pg_current_wal_lsn()::text")
	if err != nil {
		return 0, err
	}
	return QueryValue[int64](ctx, n, "SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::bigint", primaryLSN)
}

// Disconnect cuts the node off the replication network. Its published port
// stays reachable from the host.
func (n *Node) Disconnect(ctx context.Context) error {
	_, err := n.cluster.docker.NetworkDisconnect(ctx, n.cluster.net.ID, client.NetworkDisconnectOptions{
		Container: n.container().GetContainerID(), Force: true,
	})
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", n.Name, err)
	}
	return nil
}

// Reconnect heals Disconnect, restoring the node's alias on the network.
func (n *Node) Reconnect(ctx context.Context) error {
	_, err := n.cluster.docker.NetworkConnect(ctx, n.cluster.net.ID, client.NetworkConnectOptions{
		Container:      n.container().GetContainerID(),
		EndpointConfig: &network.EndpointSettings{Aliases: []string{n.alias()}},
	})
	if err != nil {
		return fmt.Errorf("reconnect %s: %w", n.Name, err)
	}
	return nil
}

// Promote turns a replica into a primary (pg_promote, waiting for it to
// finish). The shard's old primary is left running: what happens to it is the
// test's business.
func (n *Node) Promote(ctx context.Context) error {
	if n.Role() != RoleReplica {
		return fmt.Errorf("promote %s: %w", n.Name, errNoReplica)
	}
	ok, err := QueryValue[bool](ctx, n, "SELECT pg_promote(true, 60)")
	if err != nil {
		return fmt.Errorf("promote %s: %w", n.Name, err)
	}
	if !ok {
		return fmt.Errorf("promote %s: pg_promote returned false", n.Name)
	}
	n.mu.Lock()
	n.role = RolePrimary
	n.mu.Unlock()
	return nil
}
