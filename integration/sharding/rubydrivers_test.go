package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
	"github.com/pgshard/pgshard/internal/seqrange"
)

// A Rails application (ActiveRecord over the pg gem) over models sharded
// by their key gets through pgshard the answers one PostgreSQL gives:
// testdata/ruby/activerecord_sharded.rb creates its tables with the
// migration DSL, the shards' sequences get blocks of their own and pgshard
// is reloaded (what an operator does after a migration: `pgshard sequences
// --apply`, `pgshard reload`), and then ActiveRecord's transcript must
// match. Its statement cache is kept small, so it frees prepared
// statements with DEALLOCATE; insert_all sends ON CONFLICT DO NOTHING over
// a primary key on the sequence-filled id, which the confined sequences
// make safe across shards. Transaction pooling.
func TestActiveRecordOverShardsMatchesOnePostgres(t *testing.T) {
	rb := pgshardtest.NeedRuby(t, "active_record", "ruby-activerecord")
	pgshardtest.NeedRuby(t, "pg", "ruby-pg")
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	const script = "testdata/ruby/activerecord_sharded.rb"
	ref, through := single.Shards[0].Primary.DSN(), p.DSN("app", "app-secret")
	dropAtEnd(t, through, "ar_order", "ar_customer")
	rb.Run(t, ctx, script, ref, "schema")
	rb.Run(t, ctx, script, through, "schema")
	// Until the sequences are confined, each shard's could give an id
	// another shard's row has: insert_all's bare ON CONFLICT DO NOTHING
	// over the primary key is refused, naming the way out.
	c := connect(t, through)
	const insertAll = "INSERT INTO ar_order (customer_id, amount) SELECT 1, 1 WHERE false ON CONFLICT DO NOTHING"
	eventually(t, 10*time.Second, func() error {
		_, err := c.Exec(ctx, insertAll)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Hint, "pgshard sequences --apply") {
			return fmt.Errorf("before the sequences are confined: %v, want 0A000 with a hint naming pgshard sequences --apply", err)
		}
		return nil
	})
	confineSequences(ctx, t, "ar_customer", "ar_order")
	if _, err := p.Reload(t, pgshardYAML(pgshardtest.ShardsYAML(sharded))); err != nil {
		t.Fatal(err)
	}
	// The reload starts a catalog round, which reads the confined
	// sequences.
	eventually(t, 10*time.Second, func() error {
		_, err := c.Exec(ctx, insertAll)
		return err
	})
	rb.CompareTranscripts(t, ctx, script, ref, through, []string{
		"created [2, 3, 4, 5, 6] 30",
		"orders 47 47",
		"calculations 31 1399.5 92.0 45.1452",
		`joins [["c06", "150.0"]`,
		`includes [["c02", ["21.0", "22.0", "23.0"]], ["c03", []]]`,
		"inner transaction 23505",
		`after transaction ["6.0", "20.0"] 1`,
		"rolled back 0",
		"find_each 48 1214.0",
		"delete_all by key 3",
		`move orders 2 ["48.0", "49.0", "5.0", "6.0", "7.0"]`,
		"done",
	}, "run")
}

// confineSequences gives each shard's sequences of tables a block of
// their own, as `pgshard sequences --apply` does.
func confineSequences(ctx context.Context, t *testing.T, tables ...string) {
	t.Helper()
	primaries := shardPrimaries(ctx, t)
	var only []seqrange.Table
	for _, name := range tables {
		only = append(only, seqrange.Table{Name: name})
	}
	var out strings.Builder
	if _, err := seqrange.Arrange(ctx, primaries, only, true, &out); err != nil {
		t.Fatalf("sequences: %v\n%s", err, out.String())
	}
}

// shardPrimaries connects to every shard's primary, as `pgshard sequences`
// does; the connections close when the test ends.
func shardPrimaries(ctx context.Context, t *testing.T) []seqrange.Shard {
	t.Helper()
	var primaries []seqrange.Shard
	for i, sh := range sharded.Shards {
		pc, err := pgconn.Connect(ctx, sh.Primary.DSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close(context.Background()) })
		primaries = append(primaries, seqrange.Shard{Name: fmt.Sprint("s", i), Conn: pc})
	}
	return primaries
}

// dropAtEnd drops tables through pgshard and on the reference server when
// the test ends: their sequences, confined or not, would otherwise count
// in the catalog reads of tests that come later
// (TestSequenceColumnsOfShardedTablesAreReported).
func dropAtEnd(t *testing.T, through string, tables ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, dsn := range []string{through, single.Shards[0].Primary.DSN()} {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Errorf("dropping %v: %v", tables, err)
				continue
			}
			if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS "+strings.Join(tables, ", ")); err != nil {
				t.Errorf("dropping %v: %v", tables, err)
			}
			_ = c.Close(ctx)
		}
	})
}
