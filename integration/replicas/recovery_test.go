package replicas_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestPrimaryInRecoveryIsNeverWrittenTo configures a replica as a shard's
// primary (as after a failover the configuration did not follow): writes
// get a clear error from pgshard, never reach the node.
func TestPrimaryInRecoveryIsNeverWrittenTo(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	host, port, _ := net.SplitHostPort(pg.Shards[0].Replicas[0].Addr())
	p := pgshardtest.Start(t, func(listen string) string {
		return fmt.Sprintf(`listen: %s
monitor: {interval: 100ms}
users: [{name: app, password: app-secret}]
databases:
  - name: app
    server_database: postgres
    server_user: postgres
    server_password: %s
    shards:
      - name: s0
        primary: {name: not-a-primary, host: %s, port: %s, tls: disable}
`, listen, cluster.Password, host, port)
	})
	conn := connect(t, p.DSN("app", "app-secret"))
	var pe *pgconn.PgError
	waitFor(t, 5*time.Second, "pgshard refusing the write itself", func() bool {
		_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS never_here (x int)`, pgx.QueryExecModeSimpleProtocol)
		return errors.As(err, &pe) && pe.Code == "25006" && len(pe.Message) > 8 && pe.Message[:8] == "pgshard:"
	})
	t.Logf("write refused: %s", pe.Message)
}
