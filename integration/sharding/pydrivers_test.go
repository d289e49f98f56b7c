package sharding_test

import (
	"testing"
	"time"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// Python applications over sharded tables get through pgshard exactly the
// answers one PostgreSQL gives: each script under testdata/python (its
// header lists the driver's habits it covers) runs against both, and the
// transcripts must match. psycopg 3 (extended protocol, pipelines, named
// cursors it describes as portals, key moves by a prepared UPDATE), asyncpg (named statements and portals
// it moves through with MOVE, binary COPY) and psycopg2 (simple protocol,
// several statements per query string, Django's WITH HOLD cursors), in
// both pool modes.
func TestPythonDriversOverShardsMatchOnePostgres(t *testing.T) {
	drivers := []struct {
		module, debian, script string
		mustHave               []string
	}{
		{"psycopg", "python3-psycopg", "psycopg3_sharded.py", []string{
			"failing executemany 23505",
			"after failing executemany 0",
			"pipeline 23505",
			"after failing pipeline 0",
			"pipeline in a transaction (40, Decimal('205.00'))",
			"moved 103 [(9103, 103, Decimal('25.76'))]",
			"named cursor ['id', 'balance'] [(25, Decimal('92.50'))",
			"scrollable cursor (11,) (9,) [(10,), (11,)]",
			"with hold cursor [('owner-1', 22)",
			"with hold on one shard [(9, 'owner-2')]",
			"after rollback 34000 cursor \"gone\" does not exist",
			"after commit [(141,), (142,)]",
			"inner transaction 23505",
			"after copy (180, Decimal('8934.00')) (70, Decimal('634.45'))",
			"stream 25 206",
			"done",
		}},
		{"asyncpg", "python3-asyncpg", "asyncpg_sharded.py", []string{
			"failing executemany 23505",
			"after failing executemany 0",
			"prepared ['id', 'owner', 'balance']",
			"cursor 38 [(81, Decimal('99.70'))",
			"cursor fetch [150, 149, 148] 10 137",
			"inner transaction 23505",
			"after failing transaction 0",
			"copy records COPY 40 597.60",
			"pool 8780.00 180",
			"notifications [('apjobs', 'one'), ('apjobs', 'two')]",
			"after remove_listener 1 0",
			"done",
		}},
		{"psycopg2", "python3-psycopg2", "psycopg2_sharded.py", []string{
			"execute_batch (Decimal('1450.50'),)",
			"failing batch 23505",
			"after failing batch (0,)",
			"named cursor 100",
			"with hold in autocommit [('owner-0', 20, Decimal('991.00'))",
			"with hold on one shard [(42, 'owner-2')]",
			"after rollback 34000 cursor \"gone\" does not exist",
			"then 25P02",
			"after rollback (130,)",
			"notifications [('p2jobs', 'one'), ('p2jobs', 'two')]",
			"done",
		}},
	}
	for _, d := range drivers {
		t.Run(d.module, func(t *testing.T) {
			py := pgshardtest.NeedPython(t, d.module, d.debian)
			for _, mode := range []string{"transaction", "session"} {
				t.Run(mode+" pooling", func(t *testing.T) {
					ctx := ctxFor(t, 3*time.Minute)
					p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
					py.CompareTranscripts(t, ctx, "testdata/python/"+d.script,
						single.Shards[0].Primary.DSN(), p.DSN("app", "app-secret"), d.mustHave)
				})
			}
		})
	}
}

// A Django application (the ORM over psycopg2) over models sharded by
// their key gets through pgshard the answers one PostgreSQL gives:
// testdata/python/django_sharded.py creates its tables with Django's
// schema editor, the shards' sequences get blocks of their own (what
// `pgshard sequences --apply` does after a migration), and then the ORM's
// reads, writes, atomic blocks and iterator() must print the same
// transcript both ways. Transaction pooling, the mode Django's docs warn
// about (its iterator() declares WITH HOLD cursors in autocommit).
func TestDjangoOverShardsMatchesOnePostgres(t *testing.T) {
	py := pgshardtest.NeedPython(t, "django", "python3-django")
	pgshardtest.NeedPython(t, "psycopg2", "python3-psycopg2")
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	const script = "testdata/python/django_sharded.py"
	ref, through := single.Shards[0].Primary.DSN(), p.DSN("app", "app-secret")
	dropAtEnd(t, through, "dj_order", "dj_customer", "dj_country")
	py.Run(t, ctx, script, ref, "schema")
	py.Run(t, ctx, script, through, "schema")
	confineSequences(ctx, t, "dj_customer", "dj_order")
	py.CompareTranscripts(t, ctx, script, ref, through, []string{
		"bulk_create [2, 3, 4, 5, 6] 40",
		"orders 60 60",
		"aggregate {'n': 41, 'total': Decimal('1843.50'), 'top': Decimal('93.00')}",
		"annotate join [('c06', 3, Decimal('150.00'))",
		"select_related [('c02', Decimal('21.00'))",
		"prefetch [('c03', []), ('c04', [Decimal('35.00')])]",
		"inner atomic 23505",
		"after atomic [Decimal('6.00'), Decimal('20.00')] 1",
		"rolled back 0",
		"iterator 61 1611.00",
		"delete by key (3, {'shop.Order': 3})",
		"get_or_create again False new",
		"bulk_update [Decimal('10.50'), Decimal('4.00'), Decimal('6.00')",
		"annotated count 19",
		"subquery [('c02', Decimal('23.00')), ('c03', None)]",
		"exists 30",
		"delete many (3, {'shop.Order': 3})",
		"done",
	}, "run")
}
