package replicas_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
	"github.com/pgshard/pgshard/internal/admin"
)

// failoverYAML configures one shard with primary and replicas (nodes of
// the test's own cluster) for pgshard listening on listen.
func failoverYAML(primary *cluster.Node, replicas ...*cluster.Node) func(listen string) string {
	node := func(n *cluster.Node) string {
		host, port, _ := net.SplitHostPort(n.Addr())
		return fmt.Sprintf("{name: %s, host: %s, port: %s, tls: disable}", n.Name, host, port)
	}
	var reps []string
	for _, r := range replicas {
		reps = append(reps, node(r))
	}
	return func(listen string) string {
		return fmt.Sprintf(`listen: %s
pool: {size: 4, connect_timeout: 2s}
monitor: {interval: 100ms, timeout: 1s}
users: [{name: app, password: app-secret}]
databases:
  - name: app
    server_database: postgres
    server_user: postgres
    server_password: %s
    shards:
      - name: s0
        primary: %s
        replicas: [%s]
`, listen, cluster.Password, node(primary), strings.Join(reps, ", "))
	}
}

// TestFailoverByReload follows a failover without a restart: the shard's
// replica is promoted after its primary dies, and a reload (SIGHUP) points
// the shard's primary at it. Client sessions opened before stay open and
// write to the new primary; a transaction open across a reload finishes
// on the node it began on.
func TestFailoverByReload(t *testing.T) {
	ctx := ctxFor(t, 4*time.Minute)
	// Promotion leaves the cluster with two primaries: it is the test's own.
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 1, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	oldPrimary, replica := c.Shards[0].Primary, c.Shards[0].Replicas[0]
	p := pgshardtest.Start(t, failoverYAML(oldPrimary, replica))
	idle := connect(t, p.DSN("app", "app-secret"))
	inTx := connect(t, p.DSN("app", "app-secret"))
	exec := func(conn *pgx.Conn, sql string) error {
		_, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	if err := exec(idle, `CREATE TABLE accounts (id int PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}

	// A reload that moves nodes while a transaction is open: here it only
	// drops the replica, so the old primary stays a primary.
	if err := exec(inTx, `BEGIN; INSERT INTO accounts VALUES (1, 'begun before the reload')`); err != nil {
		t.Fatal(err)
	}
	changed, err := p.Reload(t, failoverYAML(oldPrimary))
	if err != nil || !strings.Contains(strings.Join(changed, ","), "databases[app] nodes") {
		t.Fatalf("reload dropping the replica: changed %v, err %v", changed, err)
	}
	if err := exec(inTx, `INSERT INTO accounts VALUES (2, 'after the reload'); COMMIT`); err != nil {
		t.Fatalf("the transaction open across the reload: %v", err)
	}
	if n, err := cluster.QueryValue[int64](ctx, oldPrimary, `SELECT count(*) FROM accounts`); err != nil || n != 2 {
		t.Fatalf("rows on the primary after the transaction: %d, %v; want 2", n, err)
	}
	waitFor(t, 20*time.Second, "the replica to replay both rows", func() bool {
		n, err := cluster.QueryValue[int64](ctx, replica, `SELECT count(*) FROM accounts`)
		return err == nil && n == 2
	})

	// The primary dies. Writes fail with pgshard's error until the
	// configuration follows the promotion.
	if err := oldPrimary.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exec(idle, `INSERT INTO accounts VALUES (3, 'primary down')`); err == nil {
		t.Fatal("a write with the primary down succeeded")
	} else {
		t.Logf("write with the primary down: %v", err)
	}
	if err := replica.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	changed, err = p.Reload(t, failoverYAML(replica))
	if err != nil {
		t.Fatalf("reload naming the promoted replica: %v", err)
	}
	t.Logf("reload after promotion changed %v", changed)

	// Both sessions from before, without reconnecting, now write to the
	// promoted node.
	for i, conn := range []*pgx.Conn{idle, inTx} {
		sql := fmt.Sprintf(`INSERT INTO accounts VALUES (%d, 'after failover')`, 10+i)
		if err := exec(conn, sql); err != nil {
			t.Fatalf("session %d after the failover reload: %v", i, err)
		}
		var node string
		if err := conn.QueryRow(ctx, `SELECT current_setting('cluster_name')`).Scan(&node); err != nil || node != replica.Name {
			t.Errorf("session %d is served by %q (%v), want the promoted %s", i, node, err, replica.Name)
		}
	}
	if n, err := cluster.QueryValue[int64](ctx, replica, `SELECT count(*) FROM accounts`); err != nil || n != 4 {
		t.Errorf("rows on the promoted node: %d, %v; want 4 (2 from before, 2 after)", n, err)
	}

	// The admin listener reports the nodes now configured: the promoted
	// node as the shard's primary, up, and pgshard ready.
	waitFor(t, 10*time.Second, "the status to show the promoted node as an up primary", func() bool {
		st, err := adminStatus(ctx, p.Admin)
		if err != nil || !st.Ready || len(st.Databases) != 1 || len(st.Databases[0].Shards) != 1 {
			return false
		}
		nodes := st.Databases[0].Shards[0].Nodes
		return len(nodes) == 1 && nodes[0].Name == replica.Name && nodes[0].Role == "primary" && nodes[0].State == admin.StateUp
	})
}

// adminStatus reads pgshard's /status.
func adminStatus(ctx context.Context, base string) (*admin.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st admin.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// TestFollowPromotion: with monitor.follow_promotion, when the shard's
// primary dies and a replica is promoted (by an HA manager; here by the
// test), writes go to the promoted node without a reload, sessions from
// before included; and when two nodes accept writes, writes are refused
// rather than sent to either.
func TestFollowPromotion(t *testing.T) {
	ctx := ctxFor(t, 4*time.Minute)
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 1, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	primary, r1, r2 := c.Shards[0].Primary, c.Shards[0].Replicas[0], c.Shards[0].Replicas[1]
	yaml := failoverYAML(primary, r1, r2)
	p := pgshardtest.Start(t, func(listen string) string {
		return strings.Replace(yaml(listen), "monitor: {interval: 100ms, timeout: 1s}",
			"monitor: {interval: 100ms, timeout: 1s, follow_promotion: true}", 1)
	})
	conn := connect(t, p.DSN("app", "app-secret"))
	n := 0
	write := func() error {
		n++
		_, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO accounts VALUES (%d, 'row')`, n), pgx.QueryExecModeSimpleProtocol)
		return err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*cluster.Node{r1, r2} {
		waitFor(t, 20*time.Second, r.Name+" to replay the first row", func() bool {
			n, err := cluster.QueryValue[int64](ctx, r, `SELECT count(*) FROM accounts`)
			return err == nil && n == 1
		})
	}

	if err := primary.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r1.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 15*time.Second, "writes to reach the promoted replica", func() bool { return write() == nil })
	t.Logf("writes followed the promotion after %v", took)
	var node string
	if err := conn.QueryRow(ctx, `SELECT current_setting('cluster_name')`).Scan(&node); err != nil || node != r1.Name {
		t.Errorf("after the promotion the session is served by %q (%v), want %s", node, err, r1.Name)
	}
	if got, err := cluster.QueryValue[int64](ctx, r1, `SELECT count(*) FROM accounts WHERE id = $1`, n); err != nil || got != 1 {
		t.Errorf("the last write is not on the promoted node: %d, %v", got, err)
	}
	// The admin listener shows whom writes follow, and pgshard stays ready.
	waitFor(t, 10*time.Second, "the status to show r1 promoted and pgshard ready", func() bool {
		st, err := adminStatus(ctx, p.Admin)
		if err != nil || !st.Ready || len(st.Databases) != 1 || len(st.Databases[0].Shards) != 1 {
			return false
		}
		states := map[string]string{}
		for _, n := range st.Databases[0].Shards[0].Nodes {
			states[n.Name] = n.State
		}
		return states[r1.Name] == admin.StatePromoted && states[primary.Name] == admin.StateDown
	})

	// Both replicas promoted: no write goes to either.
	if err := r2.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "writes to be refused with two writable nodes", func() bool {
		err := write()
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "25006" && strings.Contains(pe.Message, "several nodes")
	})
	if got, err := cluster.QueryValue[int64](ctx, r2, `SELECT count(*) FROM accounts WHERE id > 1`); err != nil || got != 0 {
		t.Errorf("writes reached the second promoted node: %d, %v", got, err)
	}
}
